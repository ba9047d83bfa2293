"""The live server the Open Inference Protocol tests talk to: the tiny models of every kind
and a slow one (batching, overload), behind an API key, with caps small enough to reach."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from live_server import LiveServer, live_server
from onnx_models import make_models_dir, make_slow_unconditional

KEY = "v2-key-0123456789"
AUTH = {"Authorization": f"Bearer {KEY}"}  # tritonclient adds to the dict it is given: copy it
MAX_N = 8
UPLOAD_CAP = 65536
MAX_SIDE = 64
MAX_PIXELS = 3000


def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    models = make_models_dir(tmp_path_factory.mktemp("models"))
    make_slow_unconditional(models / "slow")
    with live_server(
        models,
        tmp_path_factory.mktemp("log") / "server.log",
        api_key=KEY,
        max_n=str(MAX_N),
        queue_size=str(2 * MAX_N),
        max_upload_bytes=str(UPLOAD_CAP),
        max_side=str(MAX_SIDE),
        max_pixels=str(MAX_PIXELS),
        max_delay_ms="50",  # concurrent requests surely meet in one batch
        inline_run_ms="0",
        log_level="warning",
    ) as server:
        yield server
