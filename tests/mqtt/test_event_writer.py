"""The event writer against moto: idempotent keys, batching, latest state, acks after writes."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Sequence

import boto3
import pytest
from boto3.dynamodb.conditions import Key

from tests.support.recording_proxy import RecordingProxy, overlapping, running_recording_proxy
from tests.support.template import create_table_from_template
from yoto_mqtt.store import Acknowledgement, Delivery, EventWriter, PlayerEvent
from yoto_smart_stream.core.storage import schema


@pytest.fixture
def table_name(aws_environ: dict[str, str]) -> str:
    name = f"writer-{uuid.uuid4().hex[:12]}"
    create_table_from_template(boto3.client("dynamodb"), name)
    return name


def event(n: int, *, event_utc: str | None = None, kind: str = "events") -> PlayerEvent:
    payload = f'{{"n": {n}}}'.encode()
    topic = f"device/p1/data/{kind}"
    return PlayerEvent(
        player_id="p1",
        event_utc=event_utc or f"2026-05-28T20:26:{n:02d}.000Z",
        topic=topic,
        kind=kind,  # type: ignore[arg-type]
        data={"cardId": f"card-{n}", "volume": n, "position": 1.5},
        received_at="2026-05-28T20:27:00.000Z",
        digest=schema.event_digest(topic, payload),
    )


def run_writer(table_name: str, deliveries: list[Delivery]) -> list[Acknowledgement]:
    acked: list[Acknowledgement] = []
    lock = threading.Lock()

    def on_stored(acks: Sequence[Acknowledgement]) -> None:
        with lock:
            acked.extend(acks)

    table = boto3.resource("dynamodb").Table(table_name)
    writer = EventWriter(table.meta.client, table_name, on_stored=on_stored, batch_size=25)
    for delivery in deliveries:
        writer.submit(delivery)
    writer.start()
    assert writer.close(timeout=30)
    return acked


def events_in(table_name: str) -> list[dict[str, object]]:
    table = boto3.resource("dynamodb").Table(table_name)
    return table.query(
        KeyConditionExpression=Key("PK").eq("PLAYER#p1") & Key("SK").begins_with("EVENT#")
    )["Items"]


def test_redelivered_events_do_not_create_second_items(table_name: str) -> None:
    deliveries = [
        Delivery(event(n % 30), Acknowledgement(connection=1, mid=n + 1, qos=1))
        for n in range(60)  # each of 30 events delivered twice, some within one batch
    ]
    acked = run_writer(table_name, deliveries)
    assert [a.mid for a in acked] == list(range(1, 61))  # all acknowledged, in arrival order
    items = events_in(table_name)
    assert len(items) == 30
    item = next(i for i in items if i["data"]["cardId"] == "card-7")
    assert item["SK"] == f"EVENT#2026-05-28T20:26:07.000Z#{event(7).digest}"
    assert set(schema.EVENT_ATTRIBUTES) <= item.keys()


def test_skipped_deliveries_are_acknowledged_in_order_without_items(table_name: str) -> None:
    deliveries = [
        Delivery(event(1), Acknowledgement(1, 1, 1)),
        Delivery(None, Acknowledgement(1, 2, 1)),
        Delivery(event(2), Acknowledgement(1, 3, 1)),
    ]
    acked = run_writer(table_name, deliveries)
    assert [a.mid for a in acked] == [1, 2, 3]
    assert len(events_in(table_name)) == 2


def test_latest_state_never_moves_backwards(table_name: str) -> None:
    run_writer(table_name, [Delivery(event(30), Acknowledgement(1, 1, 1))])
    run_writer(
        table_name,
        [
            Delivery(event(10), Acknowledgement(1, 2, 1)),
            Delivery(event(40, kind="response"), Acknowledgement(1, 3, 1)),
        ],
    )
    state = (
        boto3.resource("dynamodb")
        .Table(table_name)
        .get_item(Key=schema.player_state_key("p1"))["Item"]
    )
    assert state["cardId"] == "card-30"
    assert state["last_event_utc"] == "2026-05-28T20:26:30.000Z"

    run_writer(table_name, [Delivery(event(50), Acknowledgement(1, 4, 1))])
    state = (
        boto3.resource("dynamodb")
        .Table(table_name)
        .get_item(Key=schema.player_state_key("p1"))["Item"]
    )
    assert state["cardId"] == "card-50"


def test_a_backlog_moves_the_state_once_and_acknowledges_only_after_it(table_name: str) -> None:
    """100 queued deliveries are four BatchWriteItem calls but one state UpdateItem (it was one
    per batch: a third of the writer's DynamoDB time); every acknowledgement still comes after
    the state its event moved was written."""
    table = boto3.resource("dynamodb").Table(table_name)
    client = table.meta.client
    calls: list[str] = []
    client.meta.events.register(
        "before-call.dynamodb.*", lambda model, **kwargs: calls.append(model.name)
    )
    acked: list[Acknowledgement] = []
    state_at_ack: list[object] = []

    def on_stored(acks: Sequence[Acknowledgement]) -> None:
        # The writer thread hands the acks over only once the state is written.
        state_at_ack.append(
            boto3.resource("dynamodb")
            .Table(table_name)
            .get_item(Key=schema.player_state_key("p1"))
            .get("Item", {})
            .get("last_event_utc")
        )
        acked.extend(acks)

    writer = EventWriter(client, table_name, on_stored=on_stored, batch_size=25)
    for n in range(100):
        utc = f"2026-05-28T20:{n // 60:02d}:{n % 60:02d}.000Z"
        writer.submit(Delivery(event(n, event_utc=utc), Acknowledgement(1, n + 1, 1)))
    writer.start()
    assert writer.close(timeout=30)

    assert [a.mid for a in acked] == list(range(1, 101))
    assert calls.count("BatchWriteItem") == 4
    assert calls.count("UpdateItem") == 1
    assert state_at_ack == ["2026-05-28T20:01:39.000Z"]
    assert len(events_in(table_name)) == 100


def test_unreachable_table_leaves_deliveries_unacknowledged(aws_environ: dict[str, str]) -> None:
    acked: list[Acknowledgement] = []
    table = boto3.resource("dynamodb").Table("no-such-table")
    writer = EventWriter(table.meta.client, "no-such-table", on_stored=acked.extend)
    writer.submit(Delivery(event(1), Acknowledgement(1, 1, 1)))
    writer.start()
    assert writer.close(timeout=10) is False
    assert acked == []
    assert writer.deliveries_unwritten == 1


def _poisoned(n: int, data: dict[str, object]) -> PlayerEvent:
    base = event(n)
    return PlayerEvent(
        player_id=base.player_id,
        event_utc=base.event_utc,
        topic=base.topic,
        kind=base.kind,
        data=data,
        received_at=base.received_at,
        digest=schema.event_digest(base.topic, f"poison-{n}".encode()),
    )


@pytest.mark.parametrize(
    "bad_data",
    [
        {"cardId": "poison", "position": 1e200},
        {"cardId": "poison", "position": 10**40},
        {"cardId": "poison", "volume": float("nan")},
    ],
    ids=["1e200", "10**40", "nan"],
)
def test_an_item_that_cannot_be_serialised_is_skipped_not_the_batch(
    table_name: str, bad_data: dict[str, object]
) -> None:
    """Defence in depth: if validation ever lets a bad number through, the writer logs and
    skips that one item; the rest of the batch is stored and every delivery is acknowledged."""
    deliveries = [Delivery(event(n), Acknowledgement(1, n + 1, 1)) for n in range(5)]
    deliveries.insert(2, Delivery(_poisoned(50, bad_data), Acknowledgement(1, 99, 1)))
    deliveries += [Delivery(event(n), Acknowledgement(1, n + 1, 1)) for n in range(5, 10)]
    acked = run_writer(table_name, deliveries)
    assert [a.mid for a in acked] == [d.ack.mid for d in deliveries]
    stored = sorted(item["data"]["cardId"] for item in events_in(table_name))
    assert stored == sorted(f"card-{n}" for n in range(10))


def test_an_item_dynamodb_rejects_is_skipped_not_the_batch(table_name: str) -> None:
    """A rejection only the service can make (here: an item over DynamoDB's 400 KB limit)
    must not take the rest of its batch down either."""
    oversized = _poisoned(50, {"cardId": "x" * 420_000})
    deliveries = [Delivery(event(n), Acknowledgement(1, n + 1, 1)) for n in range(6)]
    deliveries.insert(3, Delivery(oversized, Acknowledgement(1, 99, 1)))
    acked = run_writer(table_name, deliveries)
    assert [a.mid for a in acked] == [d.ack.mid for d in deliveries]
    stored = sorted(item["data"]["cardId"] for item in events_in(table_name))
    assert stored == sorted(f"card-{n}" for n in range(6))
    state = (
        boto3.resource("dynamodb")
        .Table(table_name)
        .get_item(Key=schema.player_state_key("p1"))["Item"]
    )
    assert state["cardId"] == "card-5"  # the rejected event never reached the state item


def _backlog(count: int) -> list[Delivery]:
    return [
        Delivery(
            event(n, event_utc=f"2026-05-28T20:{n // 60:02d}:{n % 60:02d}.000Z"),
            Acknowledgement(1, n + 1, 1),
        )
        for n in range(count)
    ]


def _writer_through(proxy: RecordingProxy, table_name: str, acked: list[Acknowledgement]):  # type: ignore[no-untyped-def]
    # The client behind a Table resource, as the handler passes it (it converts native values).
    client = boto3.resource("dynamodb", endpoint_url=proxy.url).Table(table_name).meta.client
    return EventWriter(client, table_name, on_stored=acked.extend, batch_size=25)


def test_two_batch_writes_are_in_flight_at_once_and_acks_keep_arrival_order(
    table_name: str, aws_environ: dict[str, str]
) -> None:
    """With one BatchWriteItem at a time the writer waited out every round trip (a quarter of
    a core busy in the bench); the server must see the next batch arrive while the previous
    one is still being answered, and the acknowledgements still leave in arrival order."""
    acked: list[Acknowledgement] = []
    with running_recording_proxy(aws_environ["AWS_ENDPOINT_URL"]) as proxy:
        proxy.delay_operation, proxy.delay_seconds = "BatchWriteItem", 0.1  # a round trip
        writer = _writer_through(proxy, table_name, acked)
        for delivery in _backlog(100):
            writer.submit(delivery)
        writer.start()
        assert writer.close(timeout=30)
        batch_writes = proxy.calls_of("BatchWriteItem")

    assert len(batch_writes) == 4
    assert overlapping(batch_writes), "each BatchWriteItem waited for the one before it"
    assert [a.mid for a in acked] == list(range(1, 101))
    assert len(events_in(table_name)) == 100


def test_when_the_first_of_two_batches_in_flight_fails_neither_is_acknowledged(
    table_name: str, aws_environ: dict[str, str]
) -> None:
    """The first batch is refused while the second is already being written: no ack may skip
    over the refused deliveries, so the second batch's deliveries stay unacknowledged too
    (redelivered, they overwrite their own items); the batches after them are acknowledged,
    in arrival order, and every acknowledged event is stored."""
    acked: list[Acknowledgement] = []
    with running_recording_proxy(aws_environ["AWS_ENDPOINT_URL"]) as proxy:
        proxy.delay_operation, proxy.delay_seconds = "BatchWriteItem", 0.1
        # The batch holding the first delivery (the two in flight race to the server).
        first_digest = event(0).digest.encode()
        proxy.refuse = lambda operation, body: (
            operation == "BatchWriteItem" and first_digest in body
        )
        writer = _writer_through(proxy, table_name, acked)
        for delivery in _backlog(100):
            writer.submit(delivery)
        writer.start()
        assert writer.close(timeout=30) is False
        batch_writes = proxy.calls_of("BatchWriteItem")

    (refused,) = [c for c in batch_writes if c.refused]
    # Another batch was in flight while the first one was being refused.
    assert any(
        c is not refused and c.started < refused.ended and refused.started < c.ended
        for c in batch_writes
    )
    assert [a.mid for a in acked] == list(range(51, 101))
    assert writer.deliveries_unwritten == 50
    stored = {item["data"]["cardId"] for item in events_in(table_name)}
    assert not stored & {f"card-{n}" for n in range(25)}  # the refused batch
    assert {f"card-{n}" for n in range(50, 100)} <= stored
