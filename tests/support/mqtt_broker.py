"""A real MQTT broker (amqtt) for tests, shaped like Yoto's AWS IoT endpoint.

Production talks MQTT over WebSockets with TLS, authenticating with a custom-authorizer username
and the family's Yoto access token as password. This fixture reproduces that path on 127.0.0.1:

- TLS certificates come from a throwaway CA generated here (``generate_tls_material``), so
  clients verify the server exactly as they would in production, only with a different CA file.
- The password is checked by asking the (fake) Yoto cloud whether the token is valid: a request
  to ``GET /device-v2/devices/mine`` with ``Authorization: Bearer <password>``; anything but 200
  refuses the connection. A wrong or expired token is therefore refused just like AWS IoT would.
- The broker runs as a separate process (``python -m tests.support.mqtt_broker CONFIG``) so tests
  can kill it (SIGKILL, no goodbye) and start it again on the same port.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import ipaddress
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from amqtt.broker import BrokerContext
from amqtt.mqtt.puback import PubackPacket
from amqtt.mqtt.publish import PublishPacket
from amqtt.plugins.base import BaseAuthPlugin, BasePlugin
from amqtt.session import Session

from tests.support.moto_server import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
AUTHORIZER_SUFFIX = "?x-amz-customauthorizer-name=PublicJWTAuthorizer"
TOKEN_CHECK_PATH = "/device-v2/devices/mine"
BROKER_START_TIMEOUT_SECONDS = 20.0


@dataclass(frozen=True)
class TlsMaterial:
    ca_file: Path
    cert_file: Path
    key_file: Path


def generate_tls_material(directory: Path) -> TlsMaterial:
    """Create a CA and a server certificate for 127.0.0.1/localhost signed by it."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    validity = (now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=1))

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "yoto-smart-stream test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(validity[0])
        .not_valid_after(validity[1])
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )

    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(validity[0])
        .not_valid_after(validity[1])
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )

    directory.mkdir(parents=True, exist_ok=True)
    material = TlsMaterial(
        ca_file=directory / "ca.pem",
        cert_file=directory / "server.pem",
        key_file=directory / "server.key",
    )
    material.ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    material.cert_file.write_bytes(server_cert.public_bytes(serialization.Encoding.PEM))
    material.key_file.write_bytes(
        server_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    material.key_file.chmod(0o600)
    return material


class YotoTokenAuthPlugin(BaseAuthPlugin):
    """amqtt auth plugin: accept a connection only with a currently valid Yoto access token.

    Mirrors AWS IoT's custom authorizer: the username must carry the authorizer name, and the
    password is checked against the Yoto cloud (here: the fake, over real HTTP).
    """

    @dataclass
    class Config:
        token_check_url: str = ""

    async def authenticate(self, *, session: Session) -> bool | None:
        import httpx

        username = session.username or ""
        if not username.endswith(AUTHORIZER_SUFFIX):
            self.context.logger.info("refused %r: username lacks the authorizer name", username)
            return False
        token = session.password or ""
        if not token:
            return False
        async with httpx.AsyncClient(timeout=5.0) as http:
            try:
                response = await http.get(
                    self.config.token_check_url, headers={"Authorization": f"Bearer {token}"}
                )
            except httpx.HTTPError as exc:
                self.context.logger.warning("token check failed: %s", exc)
                return False
        accepted = response.status_code == 200
        self.context.logger.info("token check for %r: HTTP %s", username, response.status_code)
        return accepted


class DeliveryRecorderPlugin(BasePlugin[BrokerContext]):
    """Write every PUBLISH the broker sends and every PUBACK it receives to a JSON-lines file.

    This is the broker's own account of which messages a client acknowledged, independent of
    the client's code: a test can check that every acknowledged (topic, payload) was stored.
    """

    @dataclass
    class Config:
        path: str = ""

    async def on_mqtt_packet_sent(self, *, packet: object, session: Session | None = None) -> None:
        if isinstance(packet, PublishPacket) and session is not None:
            self._record(
                {
                    "event": "sent",
                    "client_id": session.client_id,
                    "packet_id": packet.packet_id,
                    "qos": packet.qos,
                    "topic": packet.topic_name,
                    "payload_hex": (packet.data or b"").hex(),
                }
            )

    async def on_mqtt_packet_received(
        self, *, packet: object, session: Session | None = None
    ) -> None:
        if isinstance(packet, PubackPacket) and session is not None:
            self._record(
                {"event": "acked", "client_id": session.client_id, "packet_id": packet.packet_id}
            )

    def _record(self, entry: dict[str, object]) -> None:
        with open(self.config.path, "a", encoding="utf-8") as log:
            log.write(json.dumps(entry) + "\n")


@dataclass(frozen=True)
class AcknowledgedMessage:
    topic: str
    payload: bytes


def acknowledged_messages(delivery_log: Path, client_id_prefix: str) -> list[AcknowledgedMessage]:
    """Messages whose PUBACK the broker received from clients whose id starts with the prefix.

    Packet ids are reused, so each PUBACK belongs to the latest PUBLISH sent with that id on
    that client's connection.
    """
    in_flight: dict[tuple[str, int], AcknowledgedMessage] = {}
    acknowledged: list[AcknowledgedMessage] = []
    if not delivery_log.exists():
        return acknowledged
    for line in delivery_log.read_text(encoding="utf-8").splitlines():
        entry = json.loads(line)
        client_id = str(entry["client_id"])
        if not client_id.startswith(client_id_prefix):
            continue
        key = (client_id, int(entry["packet_id"] or 0))
        if entry["event"] == "sent":
            in_flight[key] = AcknowledgedMessage(
                topic=entry["topic"], payload=bytes.fromhex(entry["payload_hex"])
            )
        elif key in in_flight:
            acknowledged.append(in_flight.pop(key))
    return acknowledged


def broker_config(
    port: int, tls: TlsMaterial, token_check_url: str, delivery_log: Path | None = None
) -> dict[str, object]:
    """amqtt 0.12 configuration: one WebSockets+TLS listener, token auth, no $SYS noise."""
    plugins: dict[str, object] = {
        f"{__name__}.YotoTokenAuthPlugin": {"token_check_url": token_check_url},
    }
    if delivery_log is not None:
        plugins[f"{__name__}.DeliveryRecorderPlugin"] = {"path": str(delivery_log)}
    return {
        "listeners": {
            "default": {
                "type": "ws",
                "bind": f"127.0.0.1:{port}",
                "ssl": True,
                "certfile": str(tls.cert_file),
                "keyfile": str(tls.key_file),
            }
        },
        "plugins": plugins,
    }


@dataclass
class MqttBroker:
    """Handle on the broker subprocess. ``kill``/``start`` keep the same port and certificates."""

    port: int
    tls: TlsMaterial
    config_file: Path
    log_file: Path
    delivery_log: Path | None
    process: subprocess.Popen[bytes] | None = None

    @property
    def host(self) -> str:
        return "127.0.0.1"

    def start(self) -> None:
        if self.process is not None and self.process.poll() is None:
            raise RuntimeError("broker already running")
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
        with self.log_file.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tests.support.mqtt_broker", str(self.config_file)],
                cwd=REPO_ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + BROKER_START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"MQTT broker exited with {self.process.returncode}: {self.log_tail()}"
                )
            try:
                with socket.create_connection((self.host, self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"MQTT broker did not listen within the timeout: {self.log_tail()}")

    def kill(self) -> None:
        """Die without a goodbye, like a crashed broker or a dropped network."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.kill()

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_file.read_text(errors="replace")[-chars:]
        except FileNotFoundError:
            return ""


@contextmanager
def running_mqtt_broker(
    directory: Path, token_check_base_url: str, *, record_deliveries: bool = False
) -> Iterator[MqttBroker]:
    """Start a broker that accepts only tokens the Yoto cloud at ``token_check_base_url`` accepts.

    With ``record_deliveries`` the broker logs PUBLISH/PUBACK traffic for
    ``acknowledged_messages`` (it costs throughput, so benchmarks leave it off).
    """
    tls = generate_tls_material(directory / "tls")
    port = free_port()
    delivery_log = directory / "deliveries.jsonl" if record_deliveries else None
    config_file = directory / "broker.json"
    config_file.write_text(
        json.dumps(
            broker_config(
                port, tls, token_check_base_url.rstrip("/") + TOKEN_CHECK_PATH, delivery_log
            )
        )
    )
    broker = MqttBroker(
        port=port,
        tls=tls,
        config_file=config_file,
        log_file=directory / "broker.log",
        delivery_log=delivery_log,
    )
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


async def _serve(config: dict[str, object]) -> None:
    import functools

    import websockets
    from amqtt.broker import Broker

    # paho-mqtt 2.2 answers WebSocket pings with an unmasked pong, which the websockets server
    # (amqtt's WS listener) treats as a protocol error and closes the connection: measured,
    # every paho WebSockets client was dropped 20 s (websockets' ping_interval) after
    # connecting. AWS IoT keeps connections alive with MQTT PINGREQ instead, so the test broker
    # does the same and sends no WebSocket-level pings.
    websockets.serve = functools.partial(websockets.serve, ping_interval=None)  # type: ignore[assignment]
    broker = Broker(config)
    await broker.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    await stop.wait()
    await broker.shutdown()


def main() -> None:
    import logging

    parser = argparse.ArgumentParser(description="Run the test MQTT broker (amqtt).")
    parser.add_argument("config", type=Path, help="JSON file written by running_mqtt_broker")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    # Connection refusals are what tests debug; amqtt's per-packet chatter is not.
    logging.getLogger("amqtt.broker.plugins").setLevel(logging.INFO)
    asyncio.run(_serve(json.loads(args.config.read_text())))


if __name__ == "__main__":
    main()
