"""MQTT handler throughput and memory, measured side by side with a bare paho subscriber.

    uv run python -m bench.mqtt_bench [--duration 30] [--handler-env image|dev]

One run sets up moto (DynamoDB), the fake Yoto cloud, the amqtt broker (WebSockets + TLS +
token auth, as in the tests) and the handler as a subprocess. The handler runs from a
virtualenv built the way mqtt/Dockerfile builds the image's (``--handler-env image``, the
default): the locked runtime dependencies of ``yoto-smart-stream-mqtt`` (``uv export``), then
the workspace packages, nothing else. The dev virtualenv (``--handler-env dev``) holds extras
the image does not (awscrt, which botocore loads when present, rich and click, which httpx
loads when present, pyOpenSSL), so its memory figure says little about production. A publisher subprocess then
publishes QoS 1 events for one player on loopback as fast as the broker takes them, for
``--duration`` seconds. In the same window a bare paho subscriber subprocess (same transport,
same QoS 1 subscription, it only counts) counts what the broker delivered. Reported:

- handler stored events/s (items in the table at the end of the window / duration) as a ratio
  to the bare subscriber's received messages/s (goal >= 0.9);
- the handler's peak RSS (VmHWM) (goal <= 60 MB);
- whether the handler, after the window, stored everything and exited 0 on SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

RATIO_GOAL = 0.9
RSS_GOAL_MB = 60.0
PLAYER_ID = "bench-player"
IN_TRANSIT = 100
TOPIC = f"device/{PLAYER_ID}/data/events"
REPO_ROOT = Path(__file__).resolve().parents[1]


def _pythonpath() -> list[str]:
    """This process's PYTHONPATH entries, made absolute (the roles run from the repository)."""
    return [
        str(Path(entry).resolve())
        for entry in os.environ.get("PYTHONPATH", "").split(os.pathsep)
        if entry
    ]


def _client(host: str, port: int, ca_file: str, token: str, name: str):  # type: ignore[no-untyped-def]
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    from tests.support.mqtt_broker import AUTHORIZER_SUFFIX

    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=f"{name}-{uuid.uuid4().hex[:8]}",
        transport="websockets",
    )
    client.ws_set_options(path="/mqtt")
    client.tls_set(ca_certs=ca_file)
    client.username_pw_set(name + AUTHORIZER_SUFFIX, token)
    # Publishing as fast as possible: many QoS 1 messages in flight, a bounded local queue.
    client.max_inflight_messages_set(200)
    client.max_queued_messages_set(2000)
    client.connect(host, port)
    return client


def run_counter(args: argparse.Namespace) -> None:
    """Bare subscriber: count messages received inside [start, end)."""
    client = _client(args.host, args.port, args.ca_file, args.token, "bare-counter")
    counted = 0
    subscribed = threading.Event()

    def on_message(client: object, userdata: object, message: object) -> None:
        nonlocal counted
        if args.start <= time.time() < args.end:
            counted += 1

    client.on_message = on_message
    client.on_subscribe = lambda *a: subscribed.set()
    client.subscribe(TOPIC, qos=1)
    client.loop_start()
    subscribed.wait(20)
    print("ready", flush=True)
    time.sleep(max(0.0, args.end - time.time()) + 0.5)
    client.loop_stop()
    print(json.dumps({"counted": counted}), flush=True)


def run_publisher(args: argparse.Namespace) -> None:
    """Publish distinct QoS 1 events from start to end as fast as the broker delivers them.

    Measured: amqtt accepts PUBLISH far faster than it can deliver (about 900/s in, a few
    per second out when flooded, with PUBACK timeouts in its log), so an open-loop flood
    measures amqtt's collapse, not the subscribers. The publisher therefore also subscribes
    and keeps at most ``IN_TRANSIT`` messages published but not yet delivered back to it:
    as fast as the broker's end-to-end delivery allows.
    """
    import paho.mqtt.client as mqtt

    client = _client(args.host, args.port, args.ca_file, args.token, "bench-publisher")
    delivered = 0
    acknowledged = 0
    subscribed = threading.Event()

    def on_message(client: object, userdata: object, message: object) -> None:
        nonlocal delivered
        delivered += 1

    def on_publish(*args: object) -> None:
        nonlocal acknowledged
        acknowledged += 1

    client.on_message = on_message
    client.on_publish = on_publish
    client.on_subscribe = lambda *a: subscribed.set()
    client.subscribe(TOPIC, qos=1)
    client.loop_start()
    subscribed.wait(20)
    time.sleep(max(0.0, args.start - time.time()))
    published = 0
    while time.time() < args.end:
        if published - delivered >= IN_TRANSIT:
            time.sleep(0.001)
            continue
        payload = json.dumps(
            {
                "eventUtc": 1_780_000_000_000 + published,
                "cardId": "bench-card",
                "playbackStatus": "playing",
                "position": published,
                "volume": 40,
            }
        )
        if client.publish(TOPIC, payload, qos=1).rc == mqtt.MQTT_ERR_SUCCESS:
            published += 1
        else:
            time.sleep(0.001)
    # Disconnecting now would drop queued messages: count only what the broker took.
    drain_deadline = time.time() + 30
    while acknowledged < published and time.time() < drain_deadline:
        time.sleep(0.05)
    client.disconnect()
    client.loop_stop()
    print(json.dumps({"published": acknowledged}), flush=True)


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("VmHWM not found")


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (/proc/<pid>/stat, fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _count_events(table_name: str) -> int:
    """Events stored for the bench player (a COUNT query; retried because moto's query can
    fail while the handler writes to the same partition)."""
    import boto3
    from botocore.exceptions import ClientError

    client = boto3.client("dynamodb")
    for attempt in range(10):
        try:
            total = 0
            kwargs: dict[str, object] = {
                "TableName": table_name,
                "Select": "COUNT",
                "KeyConditionExpression": "PK = :pk AND begins_with(SK, :events)",
                "ExpressionAttributeValues": {
                    ":pk": {"S": f"PLAYER#{PLAYER_ID}"},
                    ":events": {"S": "EVENT#"},
                },
            }
            while True:
                page = client.query(**kwargs)
                total += page["Count"]
                if "LastEvaluatedKey" not in page:
                    return total
                kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        except ClientError:
            time.sleep(0.2 * (attempt + 1))
    raise RuntimeError("could not count the stored events")


def handler_python(work: Path) -> Path:
    """A virtualenv holding what the MQTT image installs, as mqtt/Dockerfile installs it."""
    requirements = work / "requirements.txt"
    venv = work / "handler-venv"
    python = venv / "bin" / "python"
    steps = [
        ["uv", "export", "--frozen", "--package", "yoto-smart-stream-mqtt", "--no-dev",
         "--no-emit-workspace", "--quiet", "--output-file", str(requirements)],
        ["uv", "venv", "--quiet", "--python", sys.executable, str(venv)],
        ["uv", "pip", "install", "--quiet", "--python", str(python), "--require-hashes",
         "--no-deps", "--compile-bytecode", "-r", str(requirements)],
        ["uv", "pip", "install", "--quiet", "--python", str(python), "--no-deps",
         "--compile-bytecode", ".", "./mqtt"],
    ]  # fmt: skip
    for step in steps:
        subprocess.run(step, cwd=REPO_ROOT, check=True)
    return python


def _role(role: str, start: float, end: float, token: str, broker) -> subprocess.Popen[str]:  # type: ignore[no-untyped-def]
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bench.mqtt_bench",
            role,
            "--host",
            broker.host,
            "--port",
            str(broker.port),
            "--ca-file",
            str(broker.tls.ca_file),
            "--token",
            token,
            "--start",
            str(start),
            "--end",
            str(end),
        ],
        cwd=REPO_ROOT,
        # The roles import tests.support, which needs the pipeline's package (PYTHONPATH).
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), *_pythonpath()])},
        stdout=subprocess.PIPE,
        text=True,
    )


def run_benchmark(duration: float, handler_env: str) -> dict[str, object]:
    import boto3

    from tests.support.moto_server import aws_env, patched_environ, running_moto_server
    from tests.support.mqtt_broker import running_mqtt_broker
    from tests.support.template import create_table_from_template
    from tests.support.yoto_fake import running_yoto_fake
    from yoto_smart_stream.core.storage.tokens import TokenStore
    from yoto_smart_stream.core.yoto.client import TokenSet

    with (
        tempfile.TemporaryDirectory() as tmp,
        running_moto_server() as endpoint,
        patched_environ(aws_env(endpoint)),
        running_yoto_fake() as yoto,
        running_mqtt_broker(Path(tmp) / "broker", yoto.base_url) as broker,
    ):
        yoto.set_players([{"deviceId": PLAYER_ID, "name": "Bench", "online": True}])
        table_name = f"bench-{uuid.uuid4().hex[:8]}"
        create_table_from_template(boto3.client("dynamodb"), table_name)
        issued = yoto.issue_tokens()
        TokenStore(boto3.resource("dynamodb").Table(table_name)).store(
            TokenSet(issued.access_token, issued.refresh_token, time.time() + issued.expires_in)
        )

        log_path = Path(tmp) / "handler.log"
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("MQTT_", "YOTO_", "PYTHONPATH", "VIRTUAL_ENV"))
        }
        env.update(aws_env(endpoint))
        env.update(yoto.settings_env())
        if handler_env == "image":
            # Outside the checkout, so `-m` finds the installed packages, not the sources.
            python, handler_cwd = handler_python(Path(tmp)), Path(tmp)
        else:
            python, handler_cwd = Path(sys.executable), REPO_ROOT
            env["PYTHONPATH"] = str(REPO_ROOT)
        env.update(
            {
                "DYNAMODB_TABLE": table_name,
                "LOG_LEVEL": "INFO",
                "MQTT_BROKER_HOST": broker.host,
                "MQTT_BROKER_PORT": str(broker.port),
                "MQTT_CA_FILE": str(broker.tls.ca_file),
                "MQTT_HEARTBEAT_FILE": str(Path(tmp) / "heartbeat"),
            }
        )
        with log_path.open("w") as log:
            handler = subprocess.Popen(
                [str(python), "-m", "yoto_mqtt"],
                cwd=handler_cwd,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            deadline = time.monotonic() + 60
            while '"message":"subscribed"' not in log_path.read_text():
                if handler.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"handler did not subscribe:\n{log_path.read_text()[-2000:]}"
                    )
                time.sleep(0.2)

            token = yoto.valid_access_tokens()[0]
            start = time.time() + 8  # time for both subprocesses to connect and subscribe
            end = start + duration
            counter = _role("counter", start, end, token, broker)
            assert counter.stdout is not None
            if counter.stdout.readline().strip() != "ready":
                raise RuntimeError("the bare subscriber did not subscribe")
            publisher = _role("publisher", start, end, token, broker)
            time.sleep(max(0.0, start - time.time()))
            cpu_at_start = _cpu_seconds(handler.pid)
            time.sleep(max(0.0, end - time.time()))
            handler_cpu_in_window = _cpu_seconds(handler.pid) - cpu_at_start
            stored_in_window = _count_events(table_name)
            published = json.loads(publisher.communicate(timeout=60)[0].strip().splitlines()[-1])
            counted = json.loads(counter.communicate(timeout=60)[0].strip().splitlines()[-1])

            # After the window: does the handler catch up and stop cleanly?
            catch_up_deadline = time.monotonic() + 120
            while time.monotonic() < catch_up_deadline:
                stored_total = _count_events(table_name)
                if stored_total >= published["published"]:
                    break
                time.sleep(1)
            peak_rss_mb = _peak_rss_mb(handler.pid)
            sigterm_at = time.monotonic()
            handler.send_signal(signal.SIGTERM)
            exit_code = handler.wait(timeout=40)
            stop_seconds = time.monotonic() - sigterm_at
        finally:
            if handler.poll() is None:
                handler.kill()
        broker_log = broker.log_tail(2_000_000)
        if os.environ.get("BENCH_SHOW_BROKER_LOG"):
            print(broker_log[-3000:], file=sys.stderr)
        summary = next(
            (
                json.loads(line)
                for line in log_path.read_text().splitlines()
                if '"message":"stopped' in line
            ),
            {},
        )
        bare_rate = counted["counted"] / duration
        handler_rate = stored_in_window / duration
        return {
            "handler_env": handler_env,
            "duration_s": duration,
            "published": published["published"],
            "bare_subscriber_msgs_per_s": round(bare_rate, 1),
            "handler_stored_events_per_s": round(handler_rate, 1),
            "ratio": round(handler_rate / bare_rate, 3) if bare_rate else None,
            "handler_peak_rss_mb": round(peak_rss_mb, 1),
            # Share of one core the handler used in the window: near 1.0 means its own CPU (one
            # GIL) bounds it, well below means it waits (on DynamoDB round trips, the broker).
            "handler_cpu_share_in_window": round(handler_cpu_in_window / duration, 2),
            "stored_after_catch_up": _count_events(table_name),
            "handler_messages_received": summary.get("messages_received"),
            "handler_messages_acknowledged": summary.get("acknowledged"),
            "broker_puback_timeouts": broker_log.count("Timeout waiting for PUBACK"),
            "handler_exit_code_on_sigterm": exit_code,
            "handler_stop_seconds": round(stop_seconds, 1),
        }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "role", nargs="?", default="bench", choices=["bench", "counter", "publisher"]
    )
    parser.add_argument("--duration", type=float, default=30.0, help="publishing window, seconds")
    parser.add_argument(
        "--handler-env",
        choices=["image", "dev"],
        default="image",
        help="run the handler with what the image installs (default) or the dev virtualenv",
    )
    parser.add_argument("--check", action="store_true", help="exit 1 if a goal is missed")
    parser.add_argument("--host")
    parser.add_argument("--port", type=int)
    parser.add_argument("--ca-file")
    parser.add_argument("--token")
    parser.add_argument("--start", type=float)
    parser.add_argument("--end", type=float)
    args = parser.parse_args()
    if args.role == "counter":
        run_counter(args)
        return
    if args.role == "publisher":
        run_publisher(args)
        return
    result = run_benchmark(args.duration, args.handler_env)
    ratio = result["ratio"]
    rss = result["handler_peak_rss_mb"]
    ratio_ok = isinstance(ratio, float) and ratio >= RATIO_GOAL
    rss_ok = isinstance(rss, float) and rss <= RSS_GOAL_MB
    print(json.dumps(result, indent=2))
    print(
        f"handler/bare ratio {ratio} (goal >= {RATIO_GOAL}: {'met' if ratio_ok else 'MISSED'}); "
        f"handler peak RSS {rss} MB (goal <= {RSS_GOAL_MB:.0f} MB: {'met' if rss_ok else 'MISSED'})"
    )
    if args.check and not (ratio_ok and rss_ok):
        sys.exit(1)


if __name__ == "__main__":
    main()
