"""Liveness (no dependencies) and readiness (table and bucket reachable)."""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError
from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from yoto_smart_stream import __version__
from yoto_smart_stream.api.dependencies import AwsDep, SettingsDep
from yoto_smart_stream.core.storage import schema

router = APIRouter(prefix="/api", tags=["health"])


class Health(BaseModel):
    status: str
    version: str
    environment: str
    commit: str


class Readiness(BaseModel):
    status: str
    checks: dict[str, str]


@router.get("/health", response_model=Health)
async def health(settings: SettingsDep) -> Health:
    return Health(
        status="ok",
        version=__version__,
        environment=settings.environment,
        commit=settings.git_commit,
    )


@router.get("/ready", response_model=Readiness, responses={503: {"model": Readiness}})
def ready(settings: SettingsDep, aws: AwsDep) -> Readiness | JSONResponse:
    checks: dict[str, str] = {}
    try:
        # A keyed read proves the table exists and the role may read it (no DescribeTable
        # permission needed).
        aws.table.get_item(Key=schema.tokens_key(), ProjectionExpression=schema.PARTITION_KEY)
        checks["dynamodb"] = "ok"
    except (ClientError, BotoCoreError) as exc:
        checks["dynamodb"] = f"failed: {type(exc).__name__}"
    try:
        aws.s3.head_bucket(Bucket=settings.s3_audio_bucket)
        checks["s3"] = "ok"
    except (ClientError, BotoCoreError, ValueError) as exc:
        checks["s3"] = f"failed: {type(exc).__name__}"
    result = Readiness(
        status="ready" if all(v == "ok" for v in checks.values()) else "not ready",
        checks=checks,
    )
    if result.status != "ready":
        return JSONResponse(status_code=503, content=result.model_dump())
    return result
