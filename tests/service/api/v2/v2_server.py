"""The key of the live server of the Open Inference Protocol tests (its conftest.py starts it;
tests/protocol_server.py says what it serves and with which caps)."""

KEY = "v2-key-0123456789"
AUTH = {"Authorization": f"Bearer {KEY}"}  # tritonclient adds to the dict it is given: copy it
