"""One router per domain; ``yoto_smart_stream.main.create_app`` includes them all."""
