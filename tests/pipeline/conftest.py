"""Fixtures of the pipeline tests (the engine-free core of the Dagger module in ci/)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.dagger_module import load_module
from tests.support.env_stacks import emulated_target
from tests.support.moto_server import running_moto_server
from yoto_smart_stream_ci.aws import AwsTarget


@pytest.fixture(scope="session")
def dagger_module(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return load_module(Path(tmp_path_factory.mktemp("dist")))


@pytest.fixture(scope="session")
def endpoint() -> Iterator[str]:
    """The pipeline tests' own moto server: their zero-leftover checks see only their envs."""
    with running_moto_server() as url:
        yield url


@pytest.fixture
def target(endpoint: str, monkeypatch: pytest.MonkeyPatch) -> AwsTarget:
    """The pipeline's target for that moto server, as `--emulator URL` resolves it."""
    return emulated_target(endpoint, monkeypatch)
