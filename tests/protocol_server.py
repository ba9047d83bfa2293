"""The live server that both transports of the Open Inference Protocol are tested against
(tests/service/api/v2 over HTTP and tests/service/api/grpc over gRPC; each conftest.py starts
one, with its own key): the tiny models of every kind and a slow one (batching, overload),
behind an API key, with caps small enough for a test to reach; and what the tests of both
read from it over REST (the service's own answers theirs must equal, its batch count,
`tritonclient[http]`'s inputs). Importable by any test module (`from protocol_server import
MAX_N`)."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import numpy as np
import tritonclient.http as triton_http
from live_server import LiveServer, live_server
from onnx_models import make_models_dir, make_slow_unconditional, make_stylegan
from PIL import Image

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


def generate_pixels(server: LiveServer, body: dict, headers: dict[str, str]) -> np.ndarray:
    """/generate's PNGs decoded: uint8 [N, H, W, C]."""
    r = httpx.post(f"{server.url}/generate", json=body, headers=headers)
    assert r.status_code == 200, r.text
    images = [Image.open(io.BytesIO(base64.b64decode(i["png"]))) for i in r.json()["images"]]
    arrays = [np.asarray(image) for image in images]
    return np.stack([a[..., None] if a.ndim == 2 else a for a in arrays])


def translate_pixels(server: LiveServer, rgb: np.ndarray, headers: dict[str, str]) -> np.ndarray:
    """/translate's b2a answer to the photo `rgb` (uint8 [H, W, 3]) as a PNG, decoded."""
    png = io.BytesIO()
    Image.fromarray(rgb).save(png, "PNG")
    r = httpx.post(
        f"{server.url}/translate",
        files={"file": ("x.png", png.getvalue())},
        data={"direction": "b2a"},
        headers=headers,
    )
    assert r.status_code == 200, r.text
    return np.asarray(Image.open(io.BytesIO(r.content)))


def batches(server: LiveServer, model: str) -> float:
    """The runs of `model`'s batcher so far, from /metrics."""
    text = httpx.get(f"{server.url}/metrics").text
    prefix = f'ganserve_batch_size_count{{model="{model}"}}'
    return float(next(x for x in text.splitlines() if x.startswith(prefix)).split()[-1])


def http_tensors(
    inputs: dict[str, np.ndarray], binary: bool = True
) -> list[triton_http.InferInput]:
    """`tritonclient[http]`'s inputs for these arrays, as binary data or in JSON."""
    tensors = []
    for name, array in inputs.items():
        t = triton_http.InferInput(
            name, list(array.shape), triton_http.np_to_triton_dtype(array.dtype)
        )
        t.set_data_from_numpy(array, binary_data=binary)
        tensors.append(t)
    return tensors
