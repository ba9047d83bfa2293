"""The HTTP API through the ASGI app: every route's happy path."""

from __future__ import annotations

import asyncio
import base64
import io
import re
from pathlib import Path

import numpy as np
import pytest
from onnx_models import make_unconditional
from PIL import Image

pytestmark = pytest.mark.anyio


def png_size(data: bytes) -> tuple[int, int]:
    return Image.open(io.BytesIO(data)).size


def upload(size: tuple[int, int], fmt: str = "JPEG", mode: str = "RGB") -> bytes:
    """A smooth gradient (compresses well, so size caps are not hit by accident)."""
    yy, xx = np.mgrid[0 : size[1], 0 : size[0]]
    base = (xx * 255 // max(1, size[0] - 1) + yy * 255 // max(1, size[1] - 1)) // 2
    pixels = np.repeat(base[..., None], len(mode), axis=2).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels[..., 0] if mode == "L" else pixels, mode).save(buf, fmt)
    return buf.getvalue()


async def test_generate_with_a_label_uses_the_default_conditional_model(client) -> None:
    r = await client.post("/generate", json={"n": 16, "label": 2})
    assert r.status_code == 200
    body = r.json()
    assert body["model"] == "cond"
    assert len(body["images"]) == 16
    assert {img["label"] for img in body["images"]} == {2}
    assert {img["class_name"] for img in body["images"]} == {"bird"}
    assert len({img["seed"] for img in body["images"]}) == 16
    assert png_size(base64.b64decode(body["images"][0]["png"])) == (8, 8)


async def test_generate_without_label_uses_the_unconditional_model(client) -> None:
    r = await client.post("/generate", json={"n": 3, "seed": 40})
    body = r.json()
    assert body["model"] == "uncond"
    assert [img["seed"] for img in body["images"]] == [40, 41, 42]
    assert body["images"][0]["label"] is None


async def test_generate_is_reproducible_per_seed(client) -> None:
    many = (await client.post("/generate", json={"n": 5, "seed": 10})).json()["images"]
    one = (await client.post("/generate", json={"n": 1, "seed": 12})).json()["images"]
    assert one[0] == many[2]


async def test_labels_by_name_per_image_and_by_default(client) -> None:
    r = await client.post("/generate", json={"model": "cond", "n": 3, "labels": ["dog", 0, "bird"]})
    assert [img["label"] for img in r.json()["images"]] == [1, 0, 2]
    r = await client.post("/generate", json={"model": "cond", "n": 3, "seed": 7})
    assert [img["label"] for img in r.json()["images"]] == [7 % 3, 8 % 3, 9 % 3]


async def test_truncation_changes_the_latents(client) -> None:
    plain = (await client.post("/generate", json={"n": 1, "seed": 3})).json()["images"][0]
    cut = await client.post("/generate", json={"n": 1, "seed": 3, "truncation": 0.5})
    assert cut.status_code == 200
    assert cut.json()["images"][0]["png"] != plain["png"]


async def test_generate_as_one_png_grid(client) -> None:
    r = await client.post("/generate", json={"n": 4, "seed": 1}, headers={"accept": "image/png"})
    assert r.headers["content-type"] == "image/png"
    assert r.headers["x-seeds"] == "1,2,3,4"
    assert png_size(r.content) == (2 + 2 * 10, 2 + 2 * 10)


@pytest.mark.parametrize("method", ["slerp", "lerp"])
async def test_interpolate(client, method: str) -> None:
    r = await client.post(
        "/interpolate",
        json={"seed_a": 1, "seed_b": 2, "steps": 5, "method": method, "label": "cat"},
    )
    body = r.json()
    assert body["model"] == "cond"
    assert len(body["images"]) == 5
    ends = (await client.post("/generate", json={"n": 1, "seed": 1, "label": "cat"})).json()
    assert body["images"][0]["png"] == ends["images"][0]["png"]


@pytest.mark.parametrize("size", [(256, 256), (1000, 700), (33, 17), (1, 1)])
async def test_translate_keeps_the_size(app_client, size: tuple[int, int]) -> None:
    async with app_client(max_side=1024, max_upload_bytes=4 << 20) as client:
        r = await client.post("/translate", files={"file": ("x.jpg", upload(size))})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "image/png"
    assert png_size(r.content) == size


async def test_translate_both_directions_and_formats(client) -> None:
    for fmt, direction in (("PNG", "b2a"), ("WEBP", "a2b")):
        r = await client.post(
            "/translate",
            files={"file": ("x", upload((20, 12), fmt))},
            data={"direction": direction, "model": "trans"},
        )
        assert r.status_code == 200, r.text
        assert r.headers["x-direction"] == direction
        assert png_size(r.content) == (20, 12)


async def test_translate_runs_large_uploads_at_max_side_and_answers_at_their_size(client) -> None:
    r = await client.post("/translate", files={"file": ("x.png", upload((1000, 500), "PNG"))})
    assert png_size(r.content) == (1000, 500)
    assert r.headers["x-resized"] == "1000x500->512x256->1000x500"


async def test_translate_applies_exif_orientation_and_drops_alpha(client) -> None:
    img = Image.new("RGBA", (30, 10), (255, 0, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 on display
    buf = io.BytesIO()
    img.convert("RGB").save(buf, "JPEG", exif=exif)
    r = await client.post("/translate", files={"file": ("x.jpg", buf.getvalue())})
    assert png_size(r.content) == (10, 30)
    buf = io.BytesIO()
    img.save(buf, "PNG")
    r = await client.post("/translate", files={"file": ("x.png", buf.getvalue())})
    assert Image.open(io.BytesIO(r.content)).mode == "RGB"


async def test_models_and_model(client) -> None:
    body = (await client.get("/models")).json()
    assert {m["name"] for m in body["models"]} == {"uncond", "cond", "trans"}
    assert body["defaults"] == {
        "unconditional": "uncond",
        "conditional": "cond",
        "translation": "trans",
        "super-resolution": None,  # the tests' models have none
        "stylegan": None,
    }
    one = (await client.get("/models/cond")).json()
    assert one["kind"] == "conditional" and one["state"] == "ready"
    assert one["provider"] == "CPUExecutionProvider"
    assert one["manifest"]["classes"] == ["cat", "dog", "bird"]


async def test_default_model_setting_wins(app_client, models_dir: Path) -> None:
    make_unconditional(models_dir / "another")
    async with app_client(default_unconditional="uncond") as client:
        assert (await client.post("/generate", json={})).json()["model"] == "uncond"
    async with app_client(default_unconditional="another") as client:
        assert (await client.post("/generate", json={})).json()["model"] == "another"


async def test_probes_and_docs(client) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["models_ready"] == 3
    assert "/generate" in (await client.get("/openapi.json")).json()["paths"]
    assert (await client.get("/docs")).status_code == 200


async def test_readyz_fails_without_models(app_client, tmp_path: Path) -> None:
    async with app_client(models_dir=tmp_path / "empty") as client:
        r = await client.get("/readyz")
        assert r.status_code == 503
        assert r.json()["error"]["code"] == "not_ready"
        assert (await client.get("/healthz")).status_code == 200


async def test_readyz_fails_when_cuda_is_demanded_and_absent(app_client) -> None:
    async with app_client(provider="cuda") as client:
        models = (await client.get("/models")).json()["models"]
        if all(m["provider"] == "CUDAExecutionProvider" for m in models):
            pytest.skip("CUDA is really here")
        r = await client.get("/readyz")
        assert r.status_code == 503
        assert "provider=cuda" in r.json()["error"]["message"]


async def test_web_page_and_static(client) -> None:
    page = await client.get("/")
    assert page.status_code == 200 and "html" in page.headers["content-type"]
    assert (await client.get("/static/index.html")).status_code == 200
    assert '<script type="module" src="static/app.js">' in page.text
    # Every module the page loads, following its imports: served, and as JavaScript (a browser
    # refuses a module script of any other content type).
    todo, served = ["app.js"], set()
    while todo:
        name = todo.pop()
        r = await client.get(f"/static/{name}")
        assert r.status_code == 200 and "javascript" in r.headers["content-type"], name
        served.add(name)
        todo += set(re.findall(r'from "\./([\w-]+\.js)"', r.text)) - served
    assert {"api.js", "generate.js", "interpolate.js", "translate.js", "models.js"} <= served


async def test_metrics_move(client) -> None:
    await client.post("/generate", json={"n": 4, "label": 1})
    await client.post("/translate", files={"file": ("x.jpg", upload((8, 8)))})
    await client.post("/generate", json={"n": 0})
    text = (await client.get("/metrics")).text
    for line in [
        'ganserve_requests_total{model="cond",route="/generate",status="200"} 1.0',
        'ganserve_requests_total{model="",route="/generate",status="422"} 1.0',
        'ganserve_requests_total{model="trans:a2b",route="/translate",status="200"} 1.0',
        'ganserve_images_total{model="cond",route="/generate"} 4.0',
        'ganserve_batch_size_sum{model="cond"} 4.0',
        'ganserve_queue_depth{model="cond"} 0.0',
        'ganserve_model_ready{model="trans:b2a"} 1.0',
        'ganserve_model_info{kind="conditional",model="cond",provider="CPUExecutionProvider",'
        'version="0.1.0"} 1.0',
    ]:
        assert line in text, line
    for name in (
        "ganserve_request_seconds_bucket",
        "ganserve_queue_wait_seconds_count",
        "ganserve_inference_seconds_count",
    ):
        assert name in text


async def test_admin_reload(client, models_dir: Path) -> None:
    make_unconditional(models_dir / "fresh")
    r = await client.post("/admin/reload")
    assert r.json()["results"]["fresh"] == "loaded"
    assert (await client.post("/generate", json={"model": "fresh"})).status_code == 200


async def test_reload_under_load_drops_nothing(client, models_dir: Path) -> None:
    async def hammer() -> list[int]:
        return [(await client.post("/generate", json={"n": 2})).status_code for _ in range(10)]

    async def reload_twice() -> None:
        for seed in (11, 12):
            make_unconditional(models_dir / "uncond", seed=seed)
            await client.post("/admin/reload")

    results = await asyncio.gather(*(hammer() for _ in range(4)), reload_twice())
    assert all(code == 200 for codes in results[:4] for code in codes)


async def test_api_key(app_client) -> None:
    async with app_client(api_key="s3cret") as client:
        assert (await client.get("/healthz")).status_code == 200
        assert (await client.get("/metrics")).status_code == 200
        denied = await client.post("/generate", json={})
        assert denied.status_code == 401
        assert denied.json()["error"]["code"] == "unauthorized"
        wrong = await client.get("/models", headers={"authorization": "Bearer nope"})
        assert wrong.status_code == 401
        ok = await client.get("/models", headers={"authorization": "Bearer s3cret"})
        assert ok.status_code == 200


async def test_cors_closed_by_default_and_open_when_set(app_client) -> None:
    preflight = {"origin": "https://ui.example", "access-control-request-method": "POST"}
    async with app_client() as client:
        r = await client.options("/generate", headers=preflight)
        assert "access-control-allow-origin" not in r.headers
    async with app_client(cors_origins=["https://ui.example"], api_key="k") as client:
        r = await client.options("/generate", headers=preflight)
        assert r.headers["access-control-allow-origin"] == "https://ui.example"


async def test_concurrent_requests_share_batches(client) -> None:
    bodies = [{"n": 3, "seed": 100 * i, "label": i % 3} for i in range(8)]
    alone = [(await client.post("/generate", json=b)).json() for b in bodies]
    together = await asyncio.gather(*(client.post("/generate", json=b) for b in bodies))
    assert [r.json() for r in together] == alone
    text = (await client.get("/metrics")).text
    count = float(text.split('ganserve_batch_size_count{model="cond"} ')[1].split()[0])
    assert count < 16  # 8 alone + fewer than 8 for the concurrent ones
