"""`ganserve ready on ...`: said once, only when /readyz would answer 200 and the port takes
a connection, with a summary a person reads at a glance."""

from __future__ import annotations

import asyncio
import logging
import socket

import pytest

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
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        port = listener.getsockname()[1]
        task = asyncio.create_task(
            readiness.announce_when_ready(
                lambda: reason[0], "0.0.0.0", port, lambda: True, lambda: "1 of 1 models ready"
            )
        )
        await asyncio.sleep(0.1)
        reason[0] = None  # ready, but the port is not listening yet
        await asyncio.sleep(0.1)
        assert "ganserve ready" not in caplog.text
        listener.listen()
        await asyncio.wait_for(task, 5)
    assert f"ganserve ready on http://0.0.0.0:{port} (1 of 1 models ready)" in caplog.text


async def test_only_the_first_worker_says_it(caplog, monkeypatch) -> None:
    monkeypatch.setattr(readiness, "accepts", lambda host, port: asyncio.sleep(0, True))
    caplog.set_level(logging.INFO, "ganserve")
    await readiness.announce_when_ready(lambda: None, "h", 1, lambda: False, lambda: "x")
    assert "ganserve ready" not in caplog.text
