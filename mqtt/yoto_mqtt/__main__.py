def main() -> None:
    raise SystemExit("the MQTT handler is not built yet")
