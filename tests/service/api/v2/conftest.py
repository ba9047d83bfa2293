"""The fixtures of the Open Inference Protocol tests here: one live `python -m service` per
module (tests/protocol_server.py says what it serves and with which caps) and a real
`tritonclient[http]` client of it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import tritonclient.http as triton
from live_server import LiveServer
from protocol_server import make_protocol_models, protocol_server
from v2_server import KEY


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    models = make_protocol_models(tmp_path_factory.mktemp("models"))
    with protocol_server(models, tmp_path_factory.mktemp("log") / "server.log", KEY) as srv:
        yield srv


@pytest.fixture
def client(server: LiveServer) -> Iterator[triton.InferenceServerClient]:
    c = triton.InferenceServerClient(f"127.0.0.1:{server.port}")
    yield c
    c.close()
