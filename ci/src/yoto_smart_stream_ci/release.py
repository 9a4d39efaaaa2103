"""Last-good releases and rollback.

Mechanism (chosen over SAM ``DeploymentPreference``/CodeDeploy, which shifts Lambda traffic
only and knows nothing about the table, buckets, ECS task or dashboard): after a deploy passes
its smoke test, the pipeline records the packaged template and its parameters as the env's
last good release in the artifact bucket. The packaged template points at content-addressed
code zips that stay in the bucket, so redeploying it restores exactly that release. A failed
smoke test on ``prod``/``dev`` redeploys the record, smoke-tests it again and still exits
non-zero: the broken change must not look green.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from yoto_smart_stream_ci import environments
from yoto_smart_stream_ci.aws import AwsTarget

ROLLBACK_KINDS = (environments.EnvKind.PROD, environments.EnvKind.DEV)


@dataclass(frozen=True)
class Release:
    env: str
    commit: str
    image_uri: str
    parameters: dict[str, str]
    template_key: str
    recorded_at: float

    @property
    def id(self) -> str:
        """``<unix time>-<commit>``: what ``rollback --to`` takes and ``releases`` lists."""
        return self.template_key.rsplit("/", 1)[-1].removesuffix(".template.yaml")


def artifact_prefix(target: AwsTarget, env: str) -> str:
    """``env``'s prefix in the artifact bucket, as the caller's own role places it."""
    return environments.artifact_prefix(env, target.caller_user_id())


def _record_key(target: AwsTarget, env: str) -> str:
    return f"{artifact_prefix(target, env)}releases/last-good.json"


def _deploy_record_key(target: AwsTarget, env: str) -> str:
    return f"{artifact_prefix(target, env)}releases/last-deploy.json"


def record_deploy(
    target: AwsTarget, env: str, *, commit: str, started_at: datetime | None = None
) -> None:
    """Note that a deploy of ``env`` starts now: stale cleanup counts age from the last one.

    Written before the stack changes, so a deploy that then fails still marks the env as in use.
    It lives under the env's artifact prefix, which teardown removes with the env.
    """
    _put_record(
        target,
        _deploy_record_key(target, env),
        {
            "env": env,
            "commit": commit,
            "started_at": (started_at or datetime.now(UTC)).timestamp(),
        },
    )


def last_deploy(target: AwsTarget, env: str) -> datetime | None:
    """When the last recorded deploy of ``env`` started; ``None`` without a record."""
    s3 = target.client("s3")
    bucket = environments.artifact_bucket_name(target.account_id(), target.region)
    try:
        body = s3.get_object(Bucket=bucket, Key=_deploy_record_key(target, env))["Body"].read()
    except (s3.exceptions.NoSuchKey, s3.exceptions.NoSuchBucket):
        return None
    return datetime.fromtimestamp(float(json.loads(body)["started_at"]), UTC)


def rolls_back(env: str) -> bool:
    return environments.env_kind(env) in ROLLBACK_KINDS


def record_last_good(
    target: AwsTarget,
    env: str,
    packaged: Path,
    parameters: dict[str, str],
    *,
    commit: str,
    image_uri: str,
) -> Release:
    s3 = target.client("s3")
    bucket = environments.artifact_bucket_name(target.account_id(), target.region)
    stamp = f"{int(time.time())}-{commit[:12] or 'local'}"
    template_key = f"{artifact_prefix(target, env)}releases/{stamp}.template.yaml"
    s3.put_object(Bucket=bucket, Key=template_key, Body=packaged.read_bytes())
    release = Release(env, commit, image_uri, dict(parameters), template_key, time.time())
    # The history (one record per release, beside its template) and the last-good pointer.
    _put_record(target, template_key.removesuffix(".template.yaml") + ".json", asdict(release))
    mark_last_good(target, release)
    return release


def mark_last_good(target: AwsTarget, release: Release) -> None:
    """Point the env's last good release at ``release`` (after a rollback to it passed)."""
    _put_record(target, _record_key(target, release.env), asdict(release))


def _put_record(target: AwsTarget, key: str, record: dict[str, Any]) -> None:
    """Every record here is one JSON object in the artifact bucket, under the env's prefix."""
    target.client("s3").put_object(
        Bucket=environments.artifact_bucket_name(target.account_id(), target.region),
        Key=key,
        Body=json.dumps(record).encode(),
        ContentType="application/json",
    )


def releases(target: AwsTarget, env: str) -> list[Release]:
    """Every recorded release of ``env``, newest first (the last good one included)."""
    s3 = target.client("s3")
    bucket = environments.artifact_bucket_name(target.account_id(), target.region)
    prefix = f"{artifact_prefix(target, env)}releases/"
    pointers = {_record_key(target, env), _deploy_record_key(target, env)}
    found: dict[str, Release] = {}
    try:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                key = item["Key"]
                if key.endswith(".json") and key not in pointers:
                    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
                    release = Release(**json.loads(body))
                    found[release.template_key] = release
    except s3.exceptions.NoSuchBucket:
        return []
    good = last_good(target, env)
    if good is not None:  # recorded before the history existed
        found.setdefault(good.template_key, good)
    return sorted(found.values(), key=lambda r: r.recorded_at, reverse=True)


def last_good(target: AwsTarget, env: str) -> Release | None:
    s3 = target.client("s3")
    bucket = environments.artifact_bucket_name(target.account_id(), target.region)
    try:
        body = s3.get_object(Bucket=bucket, Key=_record_key(target, env))["Body"].read()
    except (s3.exceptions.NoSuchKey, s3.exceptions.NoSuchBucket):
        return None
    return Release(**json.loads(body))


def fetch_template(target: AwsTarget, release: Release, workdir: Path) -> Path:
    bucket = environments.artifact_bucket_name(target.account_id(), target.region)
    path = workdir / "last-good.template.yaml"
    target.client("s3").download_file(bucket, release.template_key, str(path))
    return path
