"""The live server that both transports of the Open Inference Protocol are tested against
(tests/service/api/v2 over HTTP and tests/service/api/grpc over gRPC; each conftest.py starts
one, with its own key): the tiny models of every kind and a slow one (batching, overload),
behind an API key, with caps small enough for a test to reach. Importable by any test module
(`from protocol_server import MAX_N`)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from live_server import LiveServer, live_server
from onnx_models import make_models_dir, make_slow_unconditional, make_stylegan

MAX_N = 8
UPLOAD_CAP = 65536
MAX_SIDE = 64
MAX_PIXELS = 3000


def make_protocol_models(root: Path) -> Path:
    """`root` with one model of every kind (`style`: a StyleGAN with three classes and psi
    0.7) and `slow`, whose batches take long enough to meet."""
    models = make_models_dir(root)
    make_slow_unconditional(models / "slow")
    make_stylegan(models / "style", c_dim=3, psi=0.7)
    return models


@contextmanager
def protocol_server(models: Path, log: Path, key: str, **settings: str) -> Iterator[LiveServer]:
    """live_server behind `key` with the caps above and batching that surely meets concurrent
    requests; `settings` add to them as live_server's keywords do."""
    with live_server(
        models,
        log,
        api_key=key,
        max_n=str(MAX_N),
        queue_size=str(2 * MAX_N),
        max_upload_bytes=str(UPLOAD_CAP),
        max_side=str(MAX_SIDE),
        max_pixels=str(MAX_PIXELS),
        max_delay_ms="50",  # concurrent requests surely meet in one batch
        inline_run_ms="0",
        log_level="warning",
        **settings,
    ) as srv:
        yield srv
