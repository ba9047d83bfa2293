"""The fixtures of the gRPC tests here: one live `python -m service` per module serving HTTP
and gRPC (tests/protocol_server.py says what and with which caps; and `broken`, a model that
fails to load), and a real `tritonclient.grpc` client of it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import tritonclient.grpc as triton
from grpc_server import KEY
from live_server import LiveServer, free_port
from onnx_models import make_broken
from protocol_server import make_protocol_models, protocol_server


@pytest.fixture(scope="module")
def grpc_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, grpc_port: int) -> Iterator[LiveServer]:
    models = make_protocol_models(tmp_path_factory.mktemp("models"))
    make_broken(models / "broken", models / "uncond")
    with protocol_server(
        models,
        tmp_path_factory.mktemp("log") / "server.log",
        KEY,
        grpc_port=str(grpc_port),
        workers="1",  # one process: its statistics are the ones both protocols read
    ) as srv:
        yield srv


@pytest.fixture
def client(server: LiveServer, grpc_port: int) -> Iterator[triton.InferenceServerClient]:
    c = triton.InferenceServerClient(f"127.0.0.1:{grpc_port}")
    yield c
    c.close()
