"""The stores against DynamoDB (moto): conditional writes that lose a race change nothing."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError

from yoto_smart_stream.core.storage import schema
from yoto_smart_stream.core.storage.device_login import DeviceLoginStore
from yoto_smart_stream.core.storage.items import conditional_write, query_partition
from yoto_smart_stream.core.storage.library import AudioRecord, AudioStore


def table(name: str):  # type: ignore[no-untyped-def]
    return boto3.resource("dynamodb").Table(name)


def test_a_login_finished_meanwhile_does_not_come_back_without_its_code(table_name: str) -> None:
    """Two polls race: one sees slow_down and raises the interval while the other has just
    linked the account and finished the login. The late interval must not leave an item
    without its device code (the next status or poll would fail on it)."""
    logins = DeviceLoginStore(table(table_name))
    logins.start("device-code-1", interval=5, expires_in=600)
    logins.finish()
    raised = logins.set_interval(10)
    assert table(table_name).get_item(Key=schema.device_code_key()).get("Item") is None
    assert logins.pending() is None
    assert raised is False


def test_the_interval_of_a_live_login_is_raised(table_name: str) -> None:
    logins = DeviceLoginStore(table(table_name))
    logins.start("device-code-2", interval=5, expires_in=600)
    assert logins.set_interval(10) is True
    pending = logins.pending()
    assert pending is not None
    assert (pending.device_code, pending.interval) == ("device-code-2", 10)


def test_conditional_write_reports_a_failed_condition_and_raises_anything_else(
    table_name: str,
) -> None:
    t = table(table_name)
    key = schema.audio_key("0" * 32)
    assert conditional_write(
        lambda: t.put_item(Item={**key, "n": 1}, ConditionExpression="attribute_not_exists(PK)")
    )
    assert not conditional_write(
        lambda: t.put_item(Item={**key, "n": 2}, ConditionExpression="attribute_not_exists(PK)")
    )
    assert t.get_item(Key=key)["Item"]["n"] == 1
    with pytest.raises(ClientError) as raised:
        conditional_write(lambda: t.put_item(Item={"PK": "only-half-a-key"}))
    assert raised.value.response["Error"]["Code"] == "ValidationException"


def test_the_partition_query_reads_every_page(table_name: str) -> None:
    t = table(table_name)
    # ~350 KB each: DynamoDB (and moto) answer a Query in pages of at most 1 MB.
    filler = "x" * 350_000
    for index in range(5):
        t.put_item(
            Item={**schema.card_key(f"card-{index}"), "card_id": f"card-{index}", "f": filler}
        )
    pages = []
    original = t.query

    def counting_query(**kwargs):  # type: ignore[no-untyped-def]
        pages.append(kwargs.get("ExclusiveStartKey"))
        return original(**kwargs)

    t.query = counting_query  # type: ignore[method-assign]
    found = sorted(item["card_id"] for item in query_partition(t, schema.CARD_PK))
    assert found == [f"card-{i}" for i in range(5)]
    assert len(pages) > 1, "moto answered in one page; the test no longer pages"


def test_audio_comes_back_as_the_record_it_was_stored_as(table_name: str) -> None:
    store = AudioStore(table(table_name))
    audio = AudioRecord(
        audio_id="a" * 32,
        title="Bedtime",
        filename="bedtime.mp3",
        content_type="audio/mpeg",
        size_bytes=1234,
        status="pending",
        created_at=1_700_000_000,
        uploaded_by="parent",
    )
    store.create(audio)
    assert store.get(audio.audio_id) == audio
    assert store.list() == [audio]
    assert store.mark_ready(audio.audio_id, 1234)
    assert store.get(audio.audio_id) == audio.ready(1234)
    store.delete(audio.audio_id)
    assert not store.mark_ready(audio.audio_id, 1234), "a deleted item came back"
    assert store.get(audio.audio_id) is None
