"""`ganserve ready on ...`: said once, only when /readyz would answer 200 and the process
serves its port (asked, never dialled), with a summary a person reads at a glance."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from pathlib import Path

import pytest
from live_server import live_server
from onnx_models import make_models_dir

from service.server import readiness

pytestmark = pytest.mark.anyio


def test_the_summary_names_the_models_that_failed() -> None:
    assert readiness.summary({"a": True, "b": True}, workers=1) == "2 of 2 models ready, 1 worker"
    assert readiness.summary({"a": True, "b": False}, workers=2) == (
        "1 of 2 models ready (b failed: see /models), 2 workers"
    )


async def test_the_line_waits_for_readiness_and_the_port(caplog, monkeypatch) -> None:
    monkeypatch.setattr(readiness, "POLL_S", 0.01)
    caplog.set_level(logging.INFO, "ganserve")
    reason: list[str | None] = ["models are still loading"]
    listening = [False]
    task = asyncio.create_task(
        readiness.announce_when_ready(
            lambda: reason[0],
            lambda: listening[0],
            "0.0.0.0",
            8000,
            lambda: True,
            lambda: "1 of 1 models ready",
        )
    )
    await asyncio.sleep(0.1)
    listening[0] = True  # the port listens, but the models are not ready yet
    await asyncio.sleep(0.1)
    listening[0] = False
    reason[0] = None  # ready, but the port is not listening yet
    await asyncio.sleep(0.1)
    assert "ganserve ready" not in caplog.text
    listening[0] = True
    await asyncio.wait_for(task, 5)
    assert "ganserve ready on http://0.0.0.0:8000 (1 of 1 models ready)" in caplog.text


async def test_the_port_is_never_dialled(monkeypatch) -> None:
    """Whether the port listens is asked, not tried: a connection of the server's own would
    count under `max_connections` and could close a client's to make room."""
    monkeypatch.setattr(readiness, "POLL_S", 0.01)
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.setblocking(False)
        port = listener.getsockname()[1]
        polls = [0]

        def listening() -> bool:
            polls[0] += 1
            return polls[0] > 5

        await readiness.announce_when_ready(
            lambda: None, listening, "127.0.0.1", port, lambda: True, lambda: "x"
        )
        with pytest.raises(BlockingIOError):
            listener.accept()  # nobody connected


async def test_only_the_first_worker_says_it(caplog) -> None:
    caplog.set_level(logging.INFO, "ganserve")
    await readiness.announce_when_ready(
        lambda: None, lambda: True, "h", 1, lambda: False, lambda: "x"
    )
    assert "ganserve ready" not in caplog.text


def test_a_lone_process_says_it_once_it_listens(tmp_path: Path) -> None:
    """One worker: uvicorn binds the port after the lifespan's start-up, and the event loop
    python -m service runs tells the app when it has (service/server/balance.py)."""
    models = make_models_dir(tmp_path / "models")
    with live_server(models, tmp_path / "server.log", workers="1") as server:
        deadline = time.monotonic() + 10
        while "ganserve ready on" not in server.output():
            assert time.monotonic() < deadline, server.output()
            time.sleep(0.05)
        output = server.output()
    assert output.count(f"ganserve ready on http://127.0.0.1:{server.port} (") == 1, output
    assert "(3 of 3 models ready, 1 worker)" in output
    assert output.index("ganserve ready on") > output.rindex("Application startup complete.")
