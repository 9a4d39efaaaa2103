"""Writing player events to DynamoDB: batched, idempotent, acknowledged only once stored.

One writer thread takes deliveries from a bounded queue, writes them with BatchWriteItem
(up to 25 per call, up to ``WRITES_IN_FLIGHT`` calls at once, results taken in arrival order),
moves each player's latest-state item forward (once per batch, or under a backlog once per
``STATE_FLUSH_DELIVERIES``), and only then hands the deliveries back for acknowledgement, in
arrival order. A batch that is not stored leaves its deliveries, and those of the batches
written alongside it after it, unacknowledged. A message is therefore never
acknowledged to the broker before its event is stored; if the process dies first, the broker
still owns it.

Idempotency comes from the key: ``schema.event_key(player, event_utc, digest)`` where the digest
hashes topic and raw payload, so a redelivered QoS 1 message overwrites its own item.

One bad item never takes its batch down: an item boto3 cannot serialise is logged and skipped
before the batch is sent, and if DynamoDB rejects a batch as invalid (ValidationException), its
items are written one by one and only the rejected ones are skipped. A skipped item's outcome is
final (a redelivery would be rejected the same way), so its message is acknowledged with the rest.
Errors that are not about one item (throttling, a missing table, no permission) still leave the
whole batch unacknowledged for the broker to redeliver.
"""

from __future__ import annotations

import collections
import datetime
import decimal
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from boto3.dynamodb.types import TypeSerializer
from botocore.exceptions import BotoCoreError, ClientError
from tenacity import (
    RetryError,
    Retrying,
    retry_if_exception,
    stop_when_event_set,
    wait_random_exponential,
)

from yoto_mqtt.payloads import dynamo_number, format_utc
from yoto_mqtt.topics import EventKind
from yoto_smart_stream.core.storage import schema
from yoto_smart_stream.core.storage.items import conditional_write

logger = logging.getLogger(__name__)

TRANSIENT_ERROR_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
    }
)
# Under a backlog the latest-state items move once per this many written deliveries (or when
# the queue runs dry), not once per batch: the state UpdateItem took about a third of each
# batch's DynamoDB time (README, Benchmarks). Acknowledgements wait for it, so a message is
# acknowledged only once its event and its player's state are written. 100 is also AWS IoT
# Core's limit of unacknowledged messages in flight per connection.
STATE_FLUSH_DELIVERIES = 100
# BatchWriteItem calls written at once under a backlog. With one, the writer spent most of its
# time waiting for DynamoDB's answer (a quarter of a core busy, README, Benchmarks); a second
# call overlaps that wait. Results are still taken in arrival order.
WRITES_IN_FLIGHT = 2
# Kinds that describe the player (command responses do not).
STATE_KINDS: frozenset[EventKind] = frozenset({"events", "status"})
STATE_META_ATTRIBUTES = ("player_id", "last_event_utc", "last_kind", "updated_at")
# DynamoDB's answer when the request itself is invalid (an item too large, a bad number...).
REJECTED_ERROR_CODE = "ValidationException"
# What boto3's serialiser raises for a value it cannot send.
UNSERIALISABLE = (TypeError, ValueError, decimal.DecimalException)


@dataclass(frozen=True)
class PlayerEvent:
    player_id: str
    event_utc: str
    topic: str
    kind: EventKind
    data: dict[str, Any]
    received_at: str
    digest: str

    @property
    def key(self) -> dict[str, str]:
        return schema.event_key(self.player_id, self.event_utc, self.digest)


@dataclass(frozen=True)
class Acknowledgement:
    """What the connection needs to acknowledge a message: which connection, which packet."""

    connection: int
    mid: int
    qos: int


@dataclass(frozen=True)
class Delivery:
    """A received message: the event to store (None when it was skipped) and its ack."""

    event: PlayerEvent | None
    ack: Acknowledgement


def _dynamo_value(value: Any) -> Any:
    """DynamoDB has no float type; numbers travel as Decimal (ValueError if it cannot hold one)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return dynamo_number(value)
    if isinstance(value, dict):
        return {k: _dynamo_value(v) for k, v in value.items()}
    return value


def event_item(event: PlayerEvent, *, now: float) -> dict[str, Any]:
    item: dict[str, Any] = {
        **event.key,
        "player_id": event.player_id,
        "event_utc": event.event_utc,
        "topic": event.topic,
        "kind": event.kind,
        "data": _dynamo_value(event.data),
        "received_at": event.received_at,
        schema.TTL_ATTRIBUTE: int(now) + schema.EVENT_TTL_SECONDS,
    }
    missing = set(schema.EVENT_ATTRIBUTES) - item.keys()
    if missing:  # pragma: no cover - guards the shared schema against drift
        raise AssertionError(f"event item lacks {sorted(missing)}")
    return item


def _is_rejection(exc: BaseException) -> bool:
    return (
        isinstance(exc, ClientError)
        and exc.response.get("Error", {}).get("Code") == REJECTED_ERROR_CODE
    )


def _is_transient(exc: BaseException) -> bool:
    if isinstance(exc, BotoCoreError | UnprocessedItemsError):
        return True
    if isinstance(exc, ClientError):
        return exc.response.get("Error", {}).get("Code") in TRANSIENT_ERROR_CODES
    return False


class UnprocessedItemsError(Exception):
    """DynamoDB accepted only part of a batch; the rest is retried."""


class EventWriter:
    """Background writer: ``submit`` from the MQTT thread, acknowledgements come back via
    ``on_stored`` (called from the writer thread, in arrival order).

    ``dynamodb`` is the client behind a boto3 Table resource (``aws_clients(settings).dynamodb``),
    which converts native Python values (str, int, Decimal, dict) to DynamoDB types itself.
    """

    def __init__(
        self,
        dynamodb: Any,
        table_name: str,
        *,
        on_stored: Callable[[Sequence[Acknowledgement]], None],
        batch_size: int = 25,
        queue_size: int = 10_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._dynamodb = dynamodb
        self._table = table_name
        self._on_stored = on_stored
        self._batch_size = batch_size
        self._queue: queue.Queue[Delivery] = queue.Queue(maxsize=queue_size)
        self._clock = clock
        # Set when retries must give up (shutdown deadline passed).
        self._abandon = threading.Event()
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._run, name="event-writer", daemon=True)
        self._busy = 0
        self._busy_lock = threading.Lock()
        self._serializer = TypeSerializer()
        # Batches are written on WRITES_IN_FLIGHT threads; they share these counters.
        self._counts_lock = threading.Lock()
        # Written, in arrival order, waiting for their players' state update and their acks.
        self._held: list[Delivery] = []
        self._held_events: list[PlayerEvent] = []
        self.events_stored = 0
        self.events_rejected = 0
        self.deliveries_unwritten = 0

    def start(self) -> None:
        self._thread.start()

    def submit(self, delivery: Delivery) -> None:
        """Queue a delivery; blocks when the queue is full (back-pressure on the broker)."""
        self._queue.put(delivery)

    @property
    def pending(self) -> int:
        with self._busy_lock:
            return self._queue.qsize() + self._busy

    def close(self, timeout: float) -> bool:
        """Write everything queued, then stop. False if the deadline left deliveries unwritten."""
        self._closing.set()
        self._thread.join(timeout)
        if self._thread.is_alive():
            self._abandon.set()
            self._thread.join(5)
        return self.deliveries_unwritten == 0 and not self._thread.is_alive()

    # -- writer thread ---------------------------------------------------------------------

    def _run(self) -> None:
        # Up to WRITES_IN_FLIGHT batches are written at once; their results are taken strictly
        # in arrival order, so acknowledgements still leave in arrival order.
        in_flight: collections.deque[tuple[list[Delivery], Future[list[PlayerEvent]]]] = (
            collections.deque()
        )
        with ThreadPoolExecutor(WRITES_IN_FLIGHT, thread_name_prefix="event-batch") as pool:
            while True:
                while len(in_flight) < WRITES_IN_FLIGHT:
                    # Wait for a batch only when nothing is being written.
                    batch = self._next_batch(wait=not in_flight)
                    if batch is None:
                        break
                    in_flight.append((batch, pool.submit(self._write, batch)))
                if not in_flight:
                    return  # closing, and everything queued is written
                batch, written = in_flight.popleft()
                try:
                    stored = written.result()
                except Exception:
                    # Unwritten deliveries are never acknowledged; the broker keeps them. The
                    # batches written after it are not acknowledged either (redelivered, they
                    # overwrite their own items), so no acknowledgement skips over this gap.
                    logger.exception("event batch not stored", extra={"deliveries": len(batch)})
                    later = list(in_flight)
                    in_flight.clear()
                    for _, later_written in later:
                        later_written.exception()  # wait: nothing is written behind our back
                    unwritten = len(batch) + sum(len(b) for b, _ in later)
                    self.deliveries_unwritten += unwritten
                    with self._busy_lock:
                        self._busy -= unwritten
                else:
                    self._held.extend(batch)
                    self._held_events.extend(stored)
                # The queue running dry also flushes: a lone event is acknowledged at once, and
                # nothing stays held while the writer waits for more.
                if len(self._held) >= STATE_FLUSH_DELIVERIES or (
                    not in_flight and self._queue.empty()
                ):
                    self._flush_held()

    def _flush_held(self) -> None:
        """Move the held events' players' states forward, then acknowledge their deliveries."""
        held, events = self._held, self._held_events
        self._held, self._held_events = [], []
        try:
            if self._abandon.is_set():
                raise RuntimeError("shutdown deadline passed before the player states were written")
            self._update_states(events, self._clock())
        except Exception:
            # The events are stored; unacknowledged, they come back and are written again
            # (same keys) with their state.
            logger.exception("player state not stored", extra={"deliveries": len(held)})
            self.deliveries_unwritten += len(held)
        else:
            self._on_stored([d.ack for d in held])
        finally:
            with self._busy_lock:
                self._busy -= len(held)

    def _next_batch(self, *, wait: bool) -> list[Delivery] | None:
        """The next batch; None when the queue is empty (``wait``: and the writer is closing)."""
        while True:
            try:
                first = self._queue.get(timeout=0.2) if wait else self._queue.get_nowait()
                break
            except queue.Empty:
                if not wait or self._closing.is_set():
                    return None
        with self._busy_lock:
            batch = [first]
            # Take what is already queued (no waiting): a lone event is written at once, a
            # burst fills the batch.
            while len(batch) < self._batch_size:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            self._busy += len(batch)
        return batch

    def _write(self, batch: list[Delivery]) -> list[PlayerEvent]:
        """Store the batch's events; the ones stored (not rejected) for the state update."""
        if self._abandon.is_set():
            raise RuntimeError("shutdown deadline passed before this batch was written")
        now = self._clock()
        items: dict[tuple[str, str], dict[str, Any]] = {}
        events: dict[tuple[str, str], PlayerEvent] = {}
        for delivery in batch:
            if delivery.event is None:
                continue
            item = self._storable_item(delivery.event, now)
            if item is not None:
                # One request may not name a key twice; a duplicate is the same event anyway.
                key = (item[schema.PARTITION_KEY], item[schema.SORT_KEY])
                items[key] = item
                events.setdefault(key, delivery.event)
        if items:
            try:
                self._retrying(self._batch_put, list(items.values()))
            except ClientError as exc:
                if not _is_rejection(exc):
                    raise
                # Something in the batch is invalid: find out which item, store the others.
                for key in self._put_each(items):
                    del items[key]
            with self._counts_lock:
                self.events_stored += len(items)
        return [event for key, event in events.items() if key in items]

    def _storable_item(self, event: PlayerEvent, now: float) -> dict[str, Any] | None:
        """The event's item, or None (logged) when it cannot be sent to DynamoDB at all."""
        try:
            item = event_item(event, now=now)
            self._serializer.serialize(item)
        except UNSERIALISABLE as exc:
            self._reject(event.key, exc)
            return None
        return item

    def _put_each(self, items: dict[tuple[str, str], dict[str, Any]]) -> list[tuple[str, str]]:
        """Write items one at a time; the keys of those DynamoDB rejects."""
        rejected = []
        for key, item in items.items():
            try:
                self._retrying(self._put, item)
            except ClientError as exc:
                if not _is_rejection(exc):
                    raise
                self._reject({schema.PARTITION_KEY: key[0], schema.SORT_KEY: key[1]}, exc)
                rejected.append(key)
        return rejected

    def _put(self, item: dict[str, Any]) -> None:
        self._dynamodb.put_item(TableName=self._table, Item=item)

    def _reject(self, key: dict[str, str], exc: BaseException) -> None:
        with self._counts_lock:
            self.events_rejected += 1
        logger.error(
            "event not storable, skipped",
            extra={"key": key, "error": f"{type(exc).__name__}: {exc}"[:500]},
        )

    def _retrying(self, operation: Callable[..., None], *args: Any) -> None:
        retrying = Retrying(
            retry=retry_if_exception(_is_transient),
            wait=wait_random_exponential(multiplier=0.1, max=5),
            stop=stop_when_event_set(self._abandon),
            sleep=self._interruptible_sleep,
            before_sleep=lambda state: logger.warning(
                "DynamoDB write failed, retrying",
                extra={
                    "attempt": state.attempt_number,
                    "error": repr(state.outcome.exception()) if state.outcome else None,
                },
            ),
            reraise=True,
        )
        try:
            retrying(operation, *args)
        except RetryError as exc:  # pragma: no cover - reraise=True re-raises the cause
            raise RuntimeError("DynamoDB write abandoned") from exc

    def _interruptible_sleep(self, seconds: float) -> None:
        self._abandon.wait(seconds)

    def _batch_put(self, items: list[dict[str, Any]]) -> None:
        requests = [{"PutRequest": {"Item": item}} for item in items]
        response = self._dynamodb.batch_write_item(RequestItems={self._table: requests})
        unprocessed = response.get("UnprocessedItems", {}).get(self._table, [])
        if unprocessed:
            remaining = {
                (
                    r["PutRequest"]["Item"][schema.PARTITION_KEY],
                    r["PutRequest"]["Item"][schema.SORT_KEY],
                )
                for r in unprocessed
            }
            items[:] = [
                i for i in items if (i[schema.PARTITION_KEY], i[schema.SORT_KEY]) in remaining
            ]
            raise UnprocessedItemsError(f"{len(unprocessed)} items unprocessed")

    def _update_states(self, events: list[PlayerEvent], now: float) -> None:
        """One update per player per batch: its events' fields merged oldest to newest."""
        by_player: dict[str, list[PlayerEvent]] = {}
        for event in events:
            if event.kind in STATE_KINDS:
                by_player.setdefault(event.player_id, []).append(event)
        for player_events in by_player.values():
            player_events.sort(key=lambda e: e.event_utc)
            merged: dict[str, Any] = {}
            for event in player_events:
                merged.update(event.data)
            try:
                self._retrying(self._update_state, player_events[-1], merged, now)
            except ClientError as exc:
                if not _is_rejection(exc):
                    raise
                # The events are stored; the latest-state item catches up with the next one.
                self._reject(schema.player_state_key(player_events[-1].player_id), exc)

    def _update_state(self, event: PlayerEvent, data: dict[str, Any], now: float) -> None:
        """Move the player's STATE item forward; an older event never overwrites a newer one."""
        names = {
            "#player_id": "player_id",
            "#last": "last_event_utc",
            "#kind": "last_kind",
            "#updated": "updated_at",
        }
        values: dict[str, Any] = {
            ":player_id": event.player_id,
            ":last": event.event_utc,
            ":kind": event.kind,
            ":updated": format_utc(datetime.datetime.fromtimestamp(now, tz=datetime.UTC)),
        }
        assignments = [
            "#player_id = :player_id",
            "#last = :last",
            "#kind = :kind",
            "#updated = :updated",
        ]
        for index, (name, value) in enumerate(sorted(data.items())):
            names[f"#f{index}"] = name
            values[f":f{index}"] = _dynamo_value(value)
            assignments.append(f"#f{index} = :f{index}")
        # Not applied when a newer event already set the state (messages arrive out of order).
        conditional_write(
            lambda: self._dynamodb.update_item(
                TableName=self._table,
                Key=schema.player_state_key(event.player_id),
                UpdateExpression="SET " + ", ".join(assignments),
                ConditionExpression="attribute_not_exists(#last) OR #last <= :last",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        )
