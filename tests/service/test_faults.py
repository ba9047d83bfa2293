"""Faults inside the service: ONNX Runtime failing on one batch, a model file corrupted on disk
before a reload, and work dropped when its client hangs up or its deadline passes."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from pathlib import Path

import numpy as np
import pytest
import uvicorn
from onnx_models import DIM

from service.app import create_app
from service.engine.runtime import Runner
from service.latents import latents
from service.settings import Settings

pytestmark = pytest.mark.anyio

POISON_SEED = 666


class GatedRun:
    """Wraps a runner's `run`: records the seeds of every batch, can hold a batch at a gate,
    and feeds ONNX Runtime a malformed input when the batch holds the poison seed."""

    def __init__(self, runner: Runner, seeds: range) -> None:
        self.real = runner.run
        self.z = {seed: latents([seed], DIM)[0] for seed in seeds}
        self.batches: list[list[int]] = []
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()

    def __call__(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        seeds = [
            next((s for s, z in self.z.items() if np.array_equal(z, row)), -1)
            for row in inputs["z"]
        ]
        self.batches.append(seeds)
        self.entered.set()
        self.gate.wait(10)
        if POISON_SEED in seeds:
            inputs = {**inputs, "z": inputs["z"][:, :-1]}  # ORT raises: wrong latent size
        return self.real(inputs)


def gate_model(app, name: str, seeds: range) -> GatedRun:
    model = app.state.services.repository.models[name]
    gated = GatedRun(model.runners["generator"], seeds)
    model.batchers["generator"]._run = gated
    return gated


async def test_an_ort_failure_fails_only_its_batch(app_client, caplog) -> None:
    async with app_client() as client:
        gated = gate_model(client._transport.app, "uncond", range(600, 700))
        gated.gate.clear()
        ask = lambda seed, n=1: client.post(  # noqa: E731
            "/generate", json={"model": "uncond", "seed": seed, "n": n}
        )
        first = asyncio.ensure_future(ask(600))
        await asyncio.to_thread(gated.entered.wait, 5)
        # Both queue behind the held batch, so they run together in the next one.
        poisoned = asyncio.ensure_future(ask(POISON_SEED))
        bystander = asyncio.ensure_future(ask(610, 2))
        await asyncio.sleep(0.1)
        with caplog.at_level(logging.ERROR, logger="ganserve"):
            gated.gate.set()
            results = await asyncio.gather(first, poisoned, bystander)
        assert gated.batches[:2] == [[600], [POISON_SEED, 610, 611]]
        assert [r.status_code for r in results] == [200, 500, 500]
        for r in results[1:]:
            assert r.json()["error"]["code"] == "inference_failed"
            assert "see the server log" in r.json()["error"]["message"]
        assert "a batch of 3 rows failed" in caplog.text  # ORT's reason, once, in the log

        after = await ask(620, 4)  # the batcher goes on with the next batch
        assert after.status_code == 200 and len(after.json()["images"]) == 4
        assert gated.batches[-1] == [620, 621, 622, 623]


async def test_a_model_corrupted_on_disk_before_a_reload_keeps_serving(
    client, models_dir: Path
) -> None:
    before = (await client.post("/generate", json={"model": "uncond", "seed": 3})).json()
    onnx_file = models_dir / "uncond" / "generator.onnx"
    data = bytearray(onnx_file.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte, as a bad disk or copy would leave it
    onnx_file.write_bytes(bytes(data))
    (models_dir / "cond" / "generator.onnx").write_bytes(bytes(data[:100]))  # cut short

    report = (await client.post("/admin/reload")).json()
    assert report["results"]["uncond"].startswith("kept: generator: sha256")
    assert report["results"]["cond"].startswith("kept: generator: sha256")
    models = {m["name"]: m for m in (await client.get("/models")).json()["models"]}
    assert models["uncond"]["state"] == "ready" and "sha256" in models["uncond"]["reload_error"]
    after = await client.post("/generate", json={"model": "uncond", "seed": 3})
    assert after.json() == before  # the working session, untouched
    assert (await client.post("/generate", json={"label": 1})).status_code == 200


async def _server(settings: Settings) -> tuple[uvicorn.Server, asyncio.Task, object]:
    """A real uvicorn in this event loop, so the test can reach the app's batchers."""
    app = create_app(settings)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    task = asyncio.ensure_future(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    return server, task, app


def _port(server: uvicorn.Server) -> int:
    return server.servers[0].sockets[0].getsockname()[1]


async def _raw_post(port: int, body: dict) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    data = json.dumps(body).encode()
    writer.write(
        b"POST /generate HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {len(data)}\r\n\r\n".encode()
        + data
    )
    await writer.drain()
    return reader, writer


async def _until(condition, timeout: float = 5) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out waiting"
        await asyncio.sleep(0.01)


def _count(app, status: str) -> float:
    counter = app.state.metrics.requests.labels("/generate", "uncond", status)
    return counter._value.get()


@pytest.mark.parametrize("ending", ["hangup", "deadline"])
async def test_queued_work_is_dropped_when_its_client_leaves(settings: Settings, ending) -> None:
    """Behind a held batch, a request whose client disconnects (or whose deadline passes)
    is answered 499 (503 `timeout`) and its rows never reach ONNX Runtime; the held request
    is answered 200 even past its deadline, since its work ran."""
    timeout = 0.5 if ending == "deadline" else 10
    server, task, app = await _server(settings.model_copy(update={"request_timeout_s": timeout}))
    try:
        gated = gate_model(app, "uncond", range(500, 520))
        batcher = app.state.services.repository.models["uncond"].batchers["generator"]
        gated.gate.clear()
        port = _port(server)
        held_reader, _ = await _raw_post(port, {"model": "uncond", "seed": 500})
        await asyncio.to_thread(gated.entered.wait, 5)
        reader, writer = await _raw_post(port, {"model": "uncond", "seed": 510, "n": 4})
        await _until(lambda: batcher.depth == 4)
        if ending == "hangup":
            writer.close()
            await _until(lambda: _count(app, "499") == 1)
        else:  # past the held request's deadline too, but its work runs: it is answered
            await _until(lambda: _count(app, "503") == 1)
            assert (await reader.readline()).startswith(b"HTTP/1.1 503")
        gated.gate.set()
        assert (await held_reader.readline()).startswith(b"HTTP/1.1 200")
        await _until(lambda: batcher.depth == 0)
        assert gated.batches == [[500]]  # seeds 510..513 never ran
        fresh, _ = await _raw_post(port, {"model": "uncond", "seed": 515})
        assert (await fresh.readline()).startswith(b"HTTP/1.1 200")
        assert gated.batches == [[500], [515]]
    finally:
        server.should_exit = True
        await task
