"""Each piece of data has one room: stores own their items, routers never touch the table or
the bucket, and the shared pieces (the conditional write, the paged query, the record style,
the token Protocol) exist once."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import pytest

from tests.support.template import REPO_ROOT

PACKAGES = (REPO_ROOT / "yoto_smart_stream", REPO_ROOT / "mqtt" / "yoto_mqtt")
ROUTERS = REPO_ROOT / "yoto_smart_stream" / "api" / "routers"
# DynamoDB and S3 operations (boto3's names) and the clients they are called on.
STORAGE_CALLS = {
    "get_item",
    "put_item",
    "update_item",
    "delete_item",
    "query",
    "scan",
    "batch_get_item",
    "batch_write_item",
    "head_object",
    "head_bucket",
    "delete_object",
    "generate_presigned_url",
}
STORAGE_ATTRIBUTES = {"table", "s3", "dynamodb"}


def _sources() -> list[Path]:
    return sorted(p for package in PACKAGES for p in package.rglob("*.py"))


def _relative(path: Path) -> str:
    return path.relative_to(REPO_ROOT).as_posix()


@pytest.mark.parametrize("router", sorted(ROUTERS.glob("[!_]*.py")), ids=lambda p: p.stem)
def test_routers_never_touch_the_table_or_the_bucket(router: Path) -> None:
    tree = ast.parse(router.read_text())
    touched = sorted(
        {
            node.attr
            for node in ast.walk(tree)
            if isinstance(node, ast.Attribute) and node.attr in STORAGE_CALLS | STORAGE_ATTRIBUTES
        }
        | {
            alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.Import | ast.ImportFrom)
            for alias in node.names
            if (getattr(node, "module", None) or alias.name).split(".")[0] in ("boto3", "botocore")
        }
    )
    assert touched == [], f"{_relative(router)} reaches storage itself: {touched}"


def test_routers_import_no_other_router() -> None:
    """Shared pieces live in the core or in api/ modules, not in another domain's router."""
    found = []
    for router in sorted(ROUTERS.glob("[!_]*.py")):
        for node in ast.walk(ast.parse(router.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                "yoto_smart_stream.api.routers"
            ):
                found.append(f"{router.stem} imports {node.module}")
    assert found == []


def _files_containing(pattern: str) -> list[str]:
    return [_relative(p) for p in _sources() if re.search(pattern, p.read_text())]


def test_one_conditional_write_helper() -> None:
    assert _files_containing("ConditionalCheckFailed") == [
        "yoto_smart_stream/core/storage/items.py"
    ]


def test_one_paged_partition_query() -> None:
    # Only the shared partition query loops over pages; the event page hands its cursor out.
    assert _files_containing(r"ExclusiveStartKey\"\] = page\[") == [
        "yoto_smart_stream/core/storage/items.py"
    ]


def test_one_protocol_for_the_yoto_token_provider() -> None:
    protocols = []
    for path in _sources():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and any(
                isinstance(base, ast.Name) and base.id == "Protocol" for base in node.bases
            ):
                methods = {n.name for n in node.body if isinstance(n, ast.FunctionDef)}
                if "get_access_token" in methods:
                    protocols.append(f"{_relative(path)}:{node.name}")
    assert protocols == ["yoto_smart_stream/core/yoto/client.py:AccessTokenProvider"]


def _store_classes() -> list[type]:
    import importlib

    classes = []
    storage = REPO_ROOT / "yoto_smart_stream" / "core" / "storage"
    for path in sorted(storage.glob("[!_]*.py")):
        module = importlib.import_module(f"yoto_smart_stream.core.storage.{path.stem}")
        classes += [
            value
            for name, value in vars(module).items()
            if inspect.isclass(value)
            and value.__module__ == module.__name__
            and name.endswith("Store")
        ]
    return classes


# Reads whose answer is the players' own open-ended payload (documented in events.py).
OPEN_PAYLOAD_READS = {"PlayerEventStore.latest_states"}


def test_every_store_read_returns_typed_records() -> None:
    stores = _store_classes()
    assert {s.__name__ for s in stores} >= {
        "AudioStore",
        "CardStore",
        "DeviceLoginStore",
        "LoginThrottleStore",
        "PlayerEventStore",
        "TokenStore",
        "UserStore",
    }
    untyped = []
    for store in stores:
        for name, method in inspect.getmembers(store, inspect.isfunction):
            if name.startswith("_") or f"{store.__name__}.{name}" in OPEN_PAYLOAD_READS:
                continue
            returned = str(inspect.signature(method).return_annotation)
            if "dict[" in returned or "Any" in returned:
                untyped.append(f"{store.__name__}.{name} -> {returned}")
    assert untyped == []
