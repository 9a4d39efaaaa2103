"""Which AWS account the pipeline acts on, and boto3 clients for it.

Credentials only ever arrive through the environment (the Dagger layer maps its secrets to
``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` / ``AWS_SESSION_TOKEN``); nothing here prints
them. With no credentials the pipeline targets the moto emulator named by ``AWS_ENDPOINT_URL``
and says so loudly on every command.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import boto3

from yoto_smart_stream_ci.shared import DEFAULT_REGION, EMULATOR_FLAG

EMULATOR_BANNER = (
    "!!! TARGET: EMULATED AWS ACCOUNT (moto at {endpoint}) - no AWS credentials were given. "
    "Nothing is deployed to a real AWS account. !!!"
)
REAL_BANNER = "TARGET: AWS account {account} in {region}"


class TargetError(RuntimeError):
    """The environment names neither real credentials nor an emulator."""


@dataclass(frozen=True)
class AwsTarget:
    region: str
    endpoint_url: str | None
    emulated: bool

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> AwsTarget:
        env = os.environ if environ is None else environ
        region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or DEFAULT_REGION
        endpoint = env.get("AWS_ENDPOINT_URL") or None
        emulated = env.get(EMULATOR_FLAG) == "1"
        if emulated and not endpoint:
            raise TargetError(
                f"{EMULATOR_FLAG}=1 but AWS_ENDPOINT_URL is not set: the emulator has no address."
            )
        if not emulated and not env.get("AWS_ACCESS_KEY_ID"):
            # Inside `dagger call` the layer always passes credentials or an emulator, so only
            # a person on the host reads this: name the host's own options.
            raise TargetError(
                "No AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and "
                "AWS_SESSION_TOKEN), or pass --emulator http://127.0.0.1:5000 after starting "
                "an emulated account with `python -m yoto_smart_stream_ci emulator`."
            )
        return cls(region=region, endpoint_url=endpoint, emulated=emulated)

    def session(self) -> boto3.session.Session:
        return boto3.session.Session(region_name=self.region)

    def client(self, service: str) -> Any:
        # endpoint_url is taken from AWS_ENDPOINT_URL by botocore itself; passing it again
        # would only duplicate that single source of truth.
        return self.session().client(service)  # type: ignore[call-overload]

    def account_id(self) -> str:
        return str(self.client("sts").get_caller_identity()["Account"])

    def caller_user_id(self) -> str:
        """The caller's ``UserId``: ``<role id>:<session name>`` for a role session, the value
        IAM gives the policy variable ``${aws:userid}``."""
        return str(self.client("sts").get_caller_identity()["UserId"])

    def banner(self) -> str:
        if self.emulated:
            return EMULATOR_BANNER.format(endpoint=self.endpoint_url)
        return REAL_BANNER.format(account=self.account_id(), region=self.region)


def use_emulator(url: str) -> None:
    """Point this process and every child it starts (sam, the local API) at ``url``.

    Real credentials that happen to be in the environment are dropped first, so an emulator
    run can never act on a real account.
    """
    for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
        os.environ.pop(name, None)
    os.environ.update(
        {
            "AWS_ENDPOINT_URL": url.rstrip("/"),
            EMULATOR_FLAG: "1",
            # moto accepts any key; these are not credentials.
            "AWS_ACCESS_KEY_ID": "emulator",
            "AWS_SECRET_ACCESS_KEY": "emulator",
        }
    )


def announce(target: AwsTarget) -> None:
    """Print the target on stderr and stdout so no log view can miss it."""
    line = target.banner()
    print(line, flush=True)
    if target.emulated:
        print(line, file=sys.stderr, flush=True)
