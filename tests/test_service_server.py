"""The real thing: `python -m service` under uvicorn, over a socket, with concurrent clients."""

from __future__ import annotations

import asyncio
import io
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(models_dir: Path) -> Iterator[str]:
    port = free_port()
    env = os.environ | {
        "GANSERVE_PROVIDER": "cpu",
        "GANSERVE_INTRA_OP_THREADS": "1",
        "GANSERVE_MAX_BATCH": "32",
        "GANSERVE_LOG_LEVEL": "warning",
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "service",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--models",
            str(models_dir),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                out = proc.stdout.read().decode() if proc.stdout else ""
                pytest.fail(f"server did not become ready:\n{out}")
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def test_concurrent_clients_over_a_socket(server: str) -> None:
    bodies = [{"n": 1 + i % 5, "seed": 1000 + 17 * i, "label": i % 3} for i in range(24)]
    async with httpx.AsyncClient(base_url=server, timeout=30) as client:
        alone = [(await client.post("/generate", json=b)).json() for b in bodies]
        crowd = await asyncio.gather(*(client.post("/generate", json=b) for b in bodies))
        assert [r.status_code for r in crowd] == [200] * len(bodies)
        assert [r.json() for r in crowd] == alone  # byte-identical PNGs inside batches

        buf = io.BytesIO()
        Image.new("RGB", (1000, 700), (120, 80, 40)).save(buf, "JPEG")
        uploads = await asyncio.gather(
            *(
                client.post(
                    "/translate", files={"file": ("h.jpg", buf.getvalue())}, data={"direction": d}
                )
                for d in ("a2b", "b2a", "a2b")
            )
        )
        assert all(Image.open(io.BytesIO(r.content)).size == (1000, 700) for r in uploads)

        bad = await client.post(
            "/generate", content=b"{", headers={"content-type": "application/json"}
        )
        assert bad.status_code == 400
        metrics = (await client.get("/metrics")).text
        assert (
            'ganserve_requests_total{model="cond",route="/generate",status="200"} 48.0' in metrics
        )
        assert (await client.get("/healthz")).status_code == 200
