"""The long-lived MQTT session: connect to Yoto's broker, subscribe, store events, shut down.

Threading: the main thread runs paho's network loop (``Client.loop``) and every paho call, so
the socket is only ever touched by one thread. Received messages go to the ``EventWriter``
thread; once stored, their acknowledgements come back through a queue and the main thread
sends the PUBACKs (``manual_ack``), in arrival order and only on the connection that received
them.
"""

from __future__ import annotations

import datetime
import logging
import queue
import ssl
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.reasoncodes import ReasonCode
from tenacity import (
    RetryCallState,
    RetryError,
    Retrying,
    retry_if_exception_type,
    stop_when_event_set,
    wait_random_exponential,
)

from yoto_mqtt.health import Heartbeat
from yoto_mqtt.payloads import InvalidPayload, format_utc, validate_payload
from yoto_mqtt.settings import MqttSettings
from yoto_mqtt.store import Acknowledgement, Delivery, EventWriter, PlayerEvent
from yoto_mqtt.topics import parse_topic, request_topics, subscription_topics
from yoto_smart_stream.core.storage import schema
from yoto_smart_stream.core.yoto.client import (
    AccessTokenProvider,
    YotoError,
    YotoNotLinkedError,
)

logger = logging.getLogger(__name__)

# CONNACK refusals that mean "these credentials are not (or no longer) good".
AUTH_FAILURE_REASONS = frozenset({"Bad user name or password", "Not authorized"})
# A session that lasted this long was healthy: the next reconnect starts a fresh backoff.
HEALTHY_SESSION_SECONDS = 60.0
LOOP_TIMEOUT_SECONDS = 0.05
UNSUBSCRIBE_WAIT_SECONDS = 2.0
DISCONNECT_WAIT_SECONDS = 2.0


class ConnectionProblem(Exception):
    """The broker connection failed or ended; retried with backoff."""


class AuthRejected(ConnectionProblem):
    """The broker refused our token."""


class RecentDeliveries:
    """Receive times of recent payloads without eventUtc, by digest, so a QoS 1 redelivery of
    such a payload gets the same event time (and therefore the same key) as the original."""

    def __init__(self, window_seconds: float, max_entries: int = 50_000) -> None:
        self._window = window_seconds
        self._max = max_entries
        self._seen: OrderedDict[str, tuple[float, str]] = OrderedDict()

    def event_time(self, digest: str, now: float) -> str:
        while self._seen:
            oldest_digest, (seen_at, _) = next(iter(self._seen.items()))
            if now - seen_at <= self._window and len(self._seen) < self._max:
                break
            del self._seen[oldest_digest]
        if digest in self._seen:
            return self._seen[digest][1]
        event_utc = format_utc(datetime.datetime.fromtimestamp(now, tz=datetime.UTC))
        self._seen[digest] = (now, event_utc)
        return event_utc


def valid_player_id(player_id: str) -> bool:
    """A player id must be usable as one topic level."""
    return bool(player_id) and not any(c in player_id for c in "/+#\x00")


class MqttHandler:
    def __init__(
        self,
        settings: MqttSettings,
        *,
        tokens: AccessTokenProvider,
        list_player_ids: Callable[[], list[str]],
        writer_factory: Callable[[Callable[[Sequence[Acknowledgement]], None]], EventWriter],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._settings = settings
        self._tokens = tokens
        self._list_player_ids = list_player_ids
        self._clock = clock
        self._acks: queue.SimpleQueue[Acknowledgement] = queue.SimpleQueue()
        self._writer = writer_factory(self._stored)
        self._heartbeat = Heartbeat(settings.heartbeat_file)
        self._recent = RecentDeliveries(settings.redelivery_window_seconds)
        self._stop = threading.Event()
        # Unique per process (AWS IoT drops an older connection with the same id), stable
        # across this process's reconnects so a persistent session can resume.
        self.client_id = f"{settings.client_id_prefix}-{uuid.uuid4().hex[:12]}"
        self._client: mqtt.Client | None = None
        self._connection = 0
        self._connack: ReasonCode | None = None
        self._connected = False
        self._unsubscribed = threading.Event()
        self._players: list[str] = []
        self._players_refreshed_at = float("-inf")
        self.messages_received = 0
        self.messages_skipped = 0
        self.acknowledged = 0

    # -- lifecycle -------------------------------------------------------------------------

    def request_stop(self) -> None:
        """Signal handler entry point (SIGTERM/SIGINT): only sets a flag."""
        self._stop.set()

    def run(self) -> int:
        """Serve until stopped; 0 when everything received was stored before exiting."""
        self._writer.start()
        try:
            while not self._stop.is_set():
                if not self._ensure_players():
                    continue
                try:
                    for attempt in Retrying(
                        retry=retry_if_exception_type(ConnectionProblem),
                        wait=wait_random_exponential(
                            multiplier=self._settings.reconnect_min_seconds,
                            max=self._settings.reconnect_max_seconds,
                        ),
                        stop=stop_when_event_set(self._stop),
                        sleep=self._interruptible_sleep,
                        before_sleep=self._log_retry,
                    ):
                        with attempt:
                            self._session()
                except RetryError:
                    break  # stop requested while backing off
                except YotoNotLinkedError as exc:
                    self._idle(str(exc))
        finally:
            clean = self._shutdown()
        return 0 if clean else 1

    def _interruptible_sleep(self, seconds: float) -> None:
        self._stop.wait(seconds)

    def _idle(self, reason: str) -> None:
        """Nothing to listen to: say why, count it as liveness, look again later."""
        logger.warning("not listening: %s", reason)
        self._heartbeat.beat()
        self._players = []
        self._stop.wait(self._settings.idle_poll_seconds)

    def _ensure_players(self) -> bool:
        due = (
            self._clock() - self._players_refreshed_at
            >= self._settings.player_refresh_interval_seconds
        )
        if self._players and not due:
            return True
        try:
            discovered = self._discover_players()
        except YotoNotLinkedError as exc:
            self._idle(str(exc))
            return False
        except YotoError as exc:
            if self._players:
                logger.warning("player list refresh failed, keeping the old list: %s", exc)
                self._players_refreshed_at = self._clock()
                return True
            logger.warning("player list unavailable: %s", exc)
            self._stop.wait(self._settings.reconnect_max_seconds)
            return False
        if not discovered:
            self._idle("the linked Yoto account has no players")
            return False
        self._players = discovered
        self._players_refreshed_at = self._clock()
        return True

    def _discover_players(self) -> list[str]:
        player_ids = []
        for player_id in self._list_player_ids():
            if valid_player_id(player_id):
                player_ids.append(player_id)
            else:
                logger.warning("ignoring a player id that cannot be a topic level: %r", player_id)
        logger.info("players discovered", extra={"players": player_ids})
        return sorted(set(player_ids))

    def _log_retry(self, state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        logger.warning(
            "broker connection problem, reconnecting",
            extra={
                "attempt": state.attempt_number,
                "error": str(error),
                "wait_seconds": round(state.upcoming_sleep, 2),
            },
        )

    # -- one connection --------------------------------------------------------------------

    def _new_client(self, token: str) -> mqtt.Client:
        settings = self._settings
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            transport=settings.transport,
            protocol=mqtt.MQTTv311,
            # Keep the session across our own reconnects, so the broker can redeliver
            # messages we received but had not acknowledged (not yet stored).
            clean_session=False,
            manual_ack=True,
        )
        if settings.transport == "websockets":
            client.ws_set_options(path=settings.websocket_path)
        if settings.tls:
            context = ssl.create_default_context(
                cafile=str(settings.ca_file) if settings.ca_file else None
            )
            client.tls_set_context(context)
        client.username_pw_set(
            f"{self.client_id}?x-amz-customauthorizer-name={settings.authorizer_name}", token
        )
        client.connect_timeout = settings.connect_timeout_seconds
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        client.on_unsubscribe = self._on_unsubscribe
        client.on_publish = self._on_publish
        return client

    def _session(self) -> None:
        """Connect, serve until the connection ends, raise ``ConnectionProblem`` unless it was
        long and healthy (then the caller reconnects at once with a fresh backoff)."""
        token = self._access_token()
        client = self._new_client(token)
        self._connection += 1
        self._connack = None
        self._connected = False
        self._client = client
        settings = self._settings
        try:
            client.connect(settings.broker_host, settings.broker_port, settings.keepalive_seconds)
        except (OSError, mqtt.WebsocketConnectionError, ValueError) as exc:
            raise ConnectionProblem(f"cannot reach the broker: {exc}") from exc
        deadline = time.monotonic() + settings.connect_timeout_seconds
        while self._connack is None:
            if self._stop.is_set():
                return
            rc = client.loop(timeout=LOOP_TIMEOUT_SECONDS)
            if rc != MQTTErrorCode.MQTT_ERR_SUCCESS and self._connack is None:
                # AWS IoT closes the connection instead of answering when the authorizer
                # rejects the token, so a close before CONNACK counts as a rejection.
                self._refresh_after_rejection(token)
                raise AuthRejected(f"broker closed the connection before CONNACK ({rc.name})")
            if time.monotonic() > deadline:
                client.disconnect()
                raise ConnectionProblem("no CONNACK within the connect timeout")
        if self._connack.is_failure:
            if str(self._connack) in AUTH_FAILURE_REASONS:
                self._refresh_after_rejection(token)
                raise AuthRejected(f"broker refused the token: {self._connack}")
            raise ConnectionProblem(f"broker refused the connection: {self._connack}")

        started = time.monotonic()
        next_request = 0.0
        while self._connected and not self._stop.is_set():
            rc = client.loop(timeout=LOOP_TIMEOUT_SECONDS)
            self._send_acks()
            if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                break
            now = time.monotonic()
            if now >= next_request:
                self._request_events(client)
                next_request = now + settings.events_request_interval_seconds
            if self._players_due():
                self._refresh_subscriptions(client)
        if self._stop.is_set():
            return
        self._connected = False
        lasted = time.monotonic() - started
        if lasted < HEALTHY_SESSION_SECONDS:
            raise ConnectionProblem(f"connection lost after {lasted:.1f} s")
        logger.warning("connection lost after %.0f s; reconnecting", lasted)

    def _access_token(self) -> str:
        try:
            return self._tokens.get_access_token()
        except YotoNotLinkedError:
            raise
        except YotoError as exc:
            raise ConnectionProblem(f"no access token: {exc}") from exc

    def _refresh_after_rejection(self, rejected: str) -> None:
        logger.warning("broker rejected the access token; refreshing it")
        try:
            self._tokens.force_refresh(rejected)
        except YotoNotLinkedError:
            raise
        except YotoError as exc:
            raise ConnectionProblem(f"token refresh failed: {exc}") from exc

    def _players_due(self) -> bool:
        return (
            self._clock() - self._players_refreshed_at
            >= self._settings.player_refresh_interval_seconds
        )

    def _refresh_subscriptions(self, client: mqtt.Client) -> None:
        """Pick up players added to the family while connected; keep serving on any failure."""
        self._players_refreshed_at = self._clock()
        try:
            discovered = self._discover_players()
        except YotoError as exc:
            logger.warning("player list refresh failed, keeping the old list: %s", exc)
            return
        added = sorted(set(discovered) - set(self._players))
        if added:
            self._players = sorted(set(self._players) | set(added))
            client.subscribe([(topic, 1) for p in added for topic in subscription_topics(p)])
            self._request_events(client, added)

    def _request_events(self, client: mqtt.Client, players: list[str] | None = None) -> None:
        """Ask each player to keep pushing (the broker stops ~5 min after the last request)."""
        for player_id in players or self._players:
            for topic in request_topics(player_id):
                client.publish(topic, b"", qos=1)

    # -- paho callbacks (main thread, inside Client.loop) ------------------------------------

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        properties: Any,
    ) -> None:
        self._connack = reason_code
        if reason_code.is_failure:
            logger.warning("broker refused the connection", extra={"reason": str(reason_code)})
            return
        self._connected = True
        self._heartbeat.beat()
        # Subscribing here restores subscriptions after every reconnect.
        topics = [(topic, 1) for p in self._players for topic in subscription_topics(p)]
        client.subscribe(topics)
        logger.info(
            "connected",
            extra={
                "client_id": self.client_id,
                "session_present": flags.session_present,
                "players": len(self._players),
                "topics": len(topics),
            },
        )

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.DisconnectFlags,
        reason_code: ReasonCode,
        properties: Any,
    ) -> None:
        self._connected = False
        if not self._stop.is_set():
            logger.warning("disconnected", extra={"reason": str(reason_code)})

    def _on_subscribe(
        self,
        client: mqtt.Client,
        userdata: Any,
        mid: int,
        reason_codes: list[ReasonCode],
        properties: Any,
    ) -> None:
        refused = [str(rc) for rc in reason_codes if rc.is_failure]
        if refused:
            logger.error("broker refused subscriptions", extra={"reasons": refused})
            return
        logger.info("subscribed", extra={"topics": len(reason_codes)})
        self._heartbeat.beat()

    def _on_unsubscribe(
        self,
        client: mqtt.Client,
        userdata: Any,
        mid: int,
        reason_codes: list[ReasonCode],
        properties: Any,
    ) -> None:
        self._unsubscribed.set()

    def _on_publish(
        self, client: mqtt.Client, userdata: Any, mid: int, reason_code: ReasonCode, properties: Any
    ) -> None:
        self._heartbeat.beat()

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        self.messages_received += 1
        ack = Acknowledgement(connection=self._connection, mid=message.mid, qos=message.qos)
        try:
            event = self._event_from(message)
        except Exception:  # a bad message must never take the handler down
            logger.exception("unexpected error handling a message", extra={"topic": message.topic})
            event = None
        if event is None:
            self.messages_skipped += 1
        # Skipped messages go through the writer too, so PUBACKs leave in arrival order.
        self._writer.submit(Delivery(event=event, ack=ack))
        self._heartbeat.beat()

    def _event_from(self, message: mqtt.MQTTMessage) -> PlayerEvent | None:
        topic = message.topic
        parsed = parse_topic(topic)
        if parsed is None:
            logger.warning("skipped message on an unexpected topic", extra={"topic": topic[:200]})
            return None
        if parsed.player_id not in self._players:
            logger.warning("skipped message for an unknown player", extra={"topic": topic[:200]})
            return None
        payload = bytes(message.payload)
        try:
            validated = validate_payload(
                payload, parsed.kind, max_bytes=self._settings.max_payload_bytes
            )
        except InvalidPayload as exc:
            logger.warning(
                "skipped invalid payload",
                extra={"topic": topic, "reason": str(exc), "bytes": len(payload)},
            )
            return None
        if validated.dropped_fields:
            logger.warning(
                "dropped invalid fields",
                extra={"topic": topic, "fields": validated.dropped_fields},
            )
        now = self._clock()
        digest = schema.event_digest(topic, payload)
        return PlayerEvent(
            player_id=parsed.player_id,
            event_utc=validated.event_utc or self._recent.event_time(digest, now),
            topic=topic,
            kind=parsed.kind,
            data=validated.data,
            received_at=format_utc(datetime.datetime.fromtimestamp(now, tz=datetime.UTC)),
            digest=digest,
        )

    # -- acknowledgements ------------------------------------------------------------------

    def _stored(self, acks: Sequence[Acknowledgement]) -> None:
        """Writer thread: these deliveries are stored (or were skipped); ack them."""
        for ack in acks:
            self._acks.put(ack)

    def _send_acks(self) -> None:
        client = self._client
        while True:
            try:
                ack = self._acks.get_nowait()
            except queue.Empty:
                return
            # A packet id belongs to its connection; after a reconnect the broker redelivers.
            current = ack.connection == self._connection and self._connected
            if client is not None and current and ack.qos > 0:
                client.ack(ack.mid, ack.qos)
                self.acknowledged += 1

    # -- shutdown --------------------------------------------------------------------------

    def _shutdown(self) -> bool:
        """Stop taking messages, store and acknowledge what was received, disconnect."""
        deadline = time.monotonic() + self._settings.shutdown_timeout_seconds
        client = self._client
        if client is not None and self._connected:
            client.unsubscribe([t for p in self._players for t in subscription_topics(p)])
            until = min(deadline, time.monotonic() + UNSUBSCRIBE_WAIT_SECONDS)
            while self._connected and not self._unsubscribed.is_set() and time.monotonic() < until:
                client.loop(timeout=LOOP_TIMEOUT_SECONDS)
                self._send_acks()
            # Whatever arrived before the UNSUBACK is ours: store and acknowledge it.
            while self._connected and self._writer.pending and time.monotonic() < deadline:
                client.loop(timeout=LOOP_TIMEOUT_SECONDS)
                self._send_acks()
        all_stored = self._writer.close(max(0.1, deadline - time.monotonic()))
        if client is not None and self._connected:
            self._send_acks()
            client.disconnect()
            until = time.monotonic() + DISCONNECT_WAIT_SECONDS
            while self._connected and time.monotonic() < until:
                client.loop(timeout=LOOP_TIMEOUT_SECONDS)
        summary = {
            "messages_received": self.messages_received,
            "messages_skipped": self.messages_skipped,
            "events_stored": self._writer.events_stored,
            "events_rejected": self._writer.events_rejected,
            "acknowledged": self.acknowledged,
            "unwritten": self._writer.deliveries_unwritten + self._writer.pending,
        }
        if all_stored and not self._writer.pending:
            logger.info("stopped cleanly", extra=summary)
            return True
        logger.error("stopped with messages not stored (they were not acknowledged)", extra=summary)
        return False
