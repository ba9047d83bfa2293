"""What the live server of the Open Inference Protocol tests serves (its conftest.py starts it):
the tiny models of every kind and a slow one (batching, overload), behind an API key, with
caps small enough for a test to reach."""

KEY = "v2-key-0123456789"
AUTH = {"Authorization": f"Bearer {KEY}"}  # tritonclient adds to the dict it is given: copy it
MAX_N = 8
UPLOAD_CAP = 65536
MAX_SIDE = 64
MAX_PIXELS = 3000
