"""The real thing: `python -m service` under uvicorn, over a socket, with concurrent clients."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from live_server import live_server
from onnx_models import make_models_dir
from PIL import Image

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[3]
UPLOAD_CAP = 1_000_000


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("server")
    settings = {"max_batch": "32", "log_level": "warning", "max_upload_bytes": str(UPLOAD_CAP)}
    with live_server(make_models_dir(root / "models"), root / "service.log", **settings) as srv:
        yield srv.url


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


def test_a_streamed_upload_over_the_cap_is_cut_off(server: str) -> None:
    """Chunked, no Content-Length: the server answers 413 and stops reading long before
    the 64 MiB body ends."""
    boundary = "b0undary"
    sent = 0

    def body() -> Iterator[bytes]:
        nonlocal sent
        yield (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="x.png"\r\n\r\n'
        ).encode()
        for _ in range(1024):
            sent += 1
            yield b"\0" * 65536

    r = httpx.post(
        f"{server}/translate",
        content=body(),
        timeout=30,
        headers={"content-type": f"multipart/form-data; boundary={boundary}"},
    )
    assert (r.status_code, r.json()["error"]["code"]) == (413, "upload_too_large")
    assert sent < 512
    assert httpx.get(f"{server}/healthz").status_code == 200
