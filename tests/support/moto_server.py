"""A real moto server on 127.0.0.1: boto3 talks HTTP to it exactly as it would to AWS.

It is the pipeline's emulated account (``yoto_smart_stream_ci.emulated_account``), which applies
each DynamoDB write atomically as DynamoDB does."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager

TEST_REGION = "eu-west-2"
# moto's fixed account id; the credentials below are throwaway values moto accepts.
TEST_ACCOUNT_ID = "123456789012"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running_moto_server() -> Iterator[str]:
    """Start a moto server on a free port and yield its endpoint URL."""
    # Imported here: the broker and the stand-in builder import this module in processes that
    # run without the pipeline package (ci/src) on their path.
    from yoto_smart_stream_ci import emulated_account

    with emulated_account.running("127.0.0.1", 0) as endpoint:
        yield endpoint


def aws_env(endpoint: str) -> dict[str, str]:
    """Environment variables that point boto3 (and our Settings) at the emulator."""
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": TEST_REGION,
        "AWS_REGION": TEST_REGION,
    }


@contextmanager
def patched_environ(values: dict[str, str]) -> Iterator[None]:
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
