"""One router per domain; ``yoto_smart_stream.api.main.create_app`` includes them all."""
