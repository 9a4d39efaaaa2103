"""Liveness (no dependencies) and readiness (table and bucket reachable)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from yoto_smart_stream import __version__
from yoto_smart_stream.api.dependencies import AwsDep, SettingsDep
from yoto_smart_stream.core.readiness import storage_checks

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
    checks = storage_checks(aws, settings.s3_audio_bucket)
    result = Readiness(
        status="ready" if all(v == "ok" for v in checks.values()) else "not ready",
        checks=checks,
    )
    if result.status != "ready":
        return JSONResponse(status_code=503, content=result.model_dump())
    return result
