"""The fixtures of the gRPC tests here: one live `python -m service` per module serving HTTP
and gRPC (grpc_server.py says what and with which caps; and `broken`, a model that fails to
load), and a real `tritonclient.grpc` client of it."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import tritonclient.grpc as triton
from grpc_server import KEY, MAX_N, MAX_PIXELS, MAX_SIDE, UPLOAD_CAP
from live_server import LiveServer, free_port, live_server
from onnx_models import make_models_dir, make_slow_unconditional


def make_broken(folder: Path, working: Path) -> None:
    """A generator whose ONNX file is not the one its manifest hashed: it fails to load."""
    shutil.copytree(working, folder)
    manifest = json.loads((folder / "model.json").read_text())
    (folder / "model.json").write_text(json.dumps({**manifest, "name": folder.name}))
    (folder / manifest["files"]["generator"]["path"]).write_bytes(b"not the hashed file")


@pytest.fixture(scope="module")
def grpc_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, grpc_port: int) -> Iterator[LiveServer]:
    models = make_models_dir(tmp_path_factory.mktemp("models"))
    make_slow_unconditional(models / "slow")
    make_broken(models / "broken", models / "uncond")
    with live_server(
        models,
        tmp_path_factory.mktemp("log") / "server.log",
        grpc_port=str(grpc_port),
        workers="1",  # one process: its statistics are the ones both protocols read
        api_key=KEY,
        max_n=str(MAX_N),
        queue_size=str(2 * MAX_N),
        max_upload_bytes=str(UPLOAD_CAP),
        max_side=str(MAX_SIDE),
        max_pixels=str(MAX_PIXELS),
        max_delay_ms="50",  # concurrent requests surely meet in one batch
        inline_run_ms="0",
        log_level="warning",
    ) as srv:
        yield srv


@pytest.fixture
def client(server: LiveServer, grpc_port: int) -> Iterator[triton.InferenceServerClient]:
    c = triton.InferenceServerClient(f"127.0.0.1:{grpc_port}")
    yield c
    c.close()
