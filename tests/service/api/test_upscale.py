"""Super-resolution served: tiny ESRGAN-family checkpoints made here with the project's own
networks, imported by `python -m training import esrgan`, and served by a real uvicorn.

The windows a large photo is cut into must be invisible: with a network whose receptive field
is known, and an overlap that covers it, the tiled answer is the whole-photo answer.
"""

from __future__ import annotations

import asyncio
import io
import re
from pathlib import Path

import httpx
import numpy as np
import onnxruntime as ort
import pytest
import torch
import tritonclient.grpc as triton_grpc
from live_server import free_port, live_server
from PIL import Image

from service import imaging
from service.engine import tiling
from training import cli
from training.nets.esrgan import RRDBNet, SRVGGNetCompact

# SRVGGNetCompact(num_conv=2): four 3x3 convolutions at the input's size, then a pixel
# shuffle and the nearest-neighbour base: an output pixel sees 4 input pixels each way.
SRVGG_REACH = 4
# RRDBNet x2 with one block: 17 convolutions at half size (34 pixels), then conv_up1 at the
# input's size and conv_up2, conv_hr, conv_last at twice it: 35.5, so 36 input pixels.
RRDB_X2_REACH = 36
TILE, OVERLAP = 32, 8  # the server's windows: 48x48, seams blended over 8 pixels
MAX_OUTPUT = 1024 * 768 * 16  # exactly the 4096x3072 answer to a 1024x768 photo


def _import(net: torch.nn.Module, tmp: Path, name: str, models: Path) -> Path:
    checkpoint = tmp / f"{name}.pth"
    torch.save({"params_ema": net.state_dict()}, checkpoint)
    assert cli.main(["import", "esrgan", str(checkpoint), "--out", str(models / name)]) == 0
    return models / name


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("upscale")
    models = tmp / "models"
    torch.manual_seed(0)
    _import(SRVGGNetCompact(4, 8, 2, "prelu").eval(), tmp, "srvgg-x4", models)
    _import(RRDBNet(2, 8, 1, 4).eval(), tmp, "rrdb-x2", models)
    return models


def _session(folder: Path) -> ort.InferenceSession:
    return ort.InferenceSession(str(folder / "upscale.onnx"), providers=["CPUExecutionProvider"])


def _tiled(session: ort.InferenceSession, x: np.ndarray, tiles: tiling.Tiling) -> np.ndarray:
    canvas = tiles.canvas()
    windows = tiles.cut(x)
    for i in range(tiles.count):
        tiles.paste(canvas, i, session.run(None, {"image": windows[i : i + 1]})[0][0])
    return canvas


@pytest.mark.parametrize(
    ("name", "scale", "multiple", "reach", "tile", "size"),
    [
        ("srvgg-x4", 4, 1, SRVGG_REACH, 24, (77, 61)),
        ("rrdb-x2", 2, 2, RRDB_X2_REACH, 160, (340, 330)),
    ],
)
def test_windows_whose_overlap_covers_the_field_give_the_whole_answer(
    models: Path, name: str, scale: int, multiple: int, reach: int, tile: int, size: tuple
) -> None:
    """Blending reaches overlap / 2 into a window's context, so an overlap of twice the
    network's reach is exact everywhere, seams included (x2: windows keep the 2x2 phase)."""
    session = _session(models / name)
    x = np.random.default_rng(1).random((1, 3, *size), np.float32)
    tiles = tiling.plan(*size, tile, 2 * reach, multiple, scale)
    assert tiles.count > 1
    whole = session.run(None, {"image": x})[0][0]
    np.testing.assert_allclose(_tiled(session, x, tiles), whole, atol=2e-5)
    bare = tiling.plan(*size, tile, 0, multiple, scale)  # cores cut without context
    assert np.abs(_tiled(session, x, bare) - whole).max() > 1e-3


def _png(height: int, width: int, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    rgb = np.stack([(x * 3) % 256, (y * 5) % 256, (x + y) % 256], -1).astype(np.int16)
    rgb = np.clip(rgb + rng.integers(-20, 21, rgb.shape), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "PNG")
    return buf.getvalue()


def _expected(folder: Path, photo: bytes, scale: int) -> np.ndarray:
    """Real-ESRGAN's rule, one run of the whole photo: RGB / 255, clamped, rounded."""
    rgb = imaging.decode_upload(photo, 10**8)
    out = _session(folder).run(None, {"image": imaging.to_range(rgb, (0, 1), 1)})[0]
    return imaging.from_range(out[0, :, : rgb.shape[0] * scale, : rgb.shape[1] * scale], (0, 1))


def _translate(url: str, photo: bytes, timeout: float = 60, **form: str) -> httpx.Response:
    files = {"file": ("photo.png", photo, "image/png")}
    return httpx.post(f"{url}/translate", files=files, data=form, timeout=timeout)


def _pixels(r: httpx.Response) -> np.ndarray:
    assert r.status_code == 200, r.text
    return np.asarray(Image.open(io.BytesIO(r.content)).convert("RGB"))


def _peak_rss_bytes(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) * 1024


@pytest.mark.slow
def test_upscaling_over_http(models: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)  # other tests set the service's cap
    grpc_port = free_port()
    settings = {
        "tile_side": str(TILE),
        "tile_overlap": str(OVERLAP),
        "max_output_pixels": str(MAX_OUTPUT),
        "default_super_resolution": "rrdb-x2",
        "grpc_port": str(grpc_port),
    }
    with live_server(models, tmp_path / "server.log", **settings) as server:
        url = server.url
        listed = {m["name"]: m for m in httpx.get(f"{url}/models").json()["models"]}
        assert listed["srvgg-x4"]["state"] == "ready", listed["srvgg-x4"]["reason"]
        assert listed["srvgg-x4"]["kind"] == "super-resolution"
        assert listed["srvgg-x4"]["scale"] == 4 and listed["rrdb-x2"]["scale"] == 2
        # a V2 model by its own name, in the index and the statistics alike
        index = httpx.post(f"{url}/v2/repository/index", json={"ready": True}).json()
        stats = httpx.get(f"{url}/v2/models/stats").json()["model_stats"]
        assert {"srvgg-x4", "rrdb-x2"} <= {e["name"] for e in index} & {s["name"] for s in stats}

        # odd sizes, one window and several: Real-ESRGAN's answer, window seams invisible
        for name, (h, w) in [
            ("srvgg-x4", (23, 37)),
            ("srvgg-x4", (101, 67)),
            ("rrdb-x2", (21, 33)),
        ]:
            photo = _png(h, w)
            r = _translate(url, photo, model=name)
            got = _pixels(r)
            scale = 4 if name == "srvgg-x4" else 2
            assert got.shape == (h * scale, w * scale, 3)
            assert r.headers["X-Image-Size"] == f"{w * scale}x{h * scale}"
            if name == "srvgg-x4":  # its reach (4) is within the blend's margin (8 / 2)
                want = _expected(models / name, photo, scale)
                assert np.abs(got.astype(int) - want).max() <= 1
                assert (got != want).mean() < 1e-3  # a float's last bit at a .5 boundary
        # the default: no translation model here, so the super-resolution setting's
        r = _translate(url, _png(10, 12))
        assert r.headers["X-Model"] == "rrdb-x2" and _pixels(r).shape == (20, 24, 3)

        # refusals: a direction it does not have, an answer over the cap (before decoding)
        r = _translate(url, _png(10, 12), model="srvgg-x4", direction="b2a")
        assert r.status_code == 400 and r.json()["error"]["code"] == "direction_unavailable"
        r = _translate(url, _png(769, 1024), model="srvgg-x4")
        assert r.status_code == 413
        error = r.json()["error"]
        assert error["code"] == "output_too_large"
        assert f"max_output_pixels cap of {MAX_OUTPUT}" in error["message"]
        assert "4096x3076" in error["message"]

        # a 1024x768 photo: 4096x3072 back, the process within the 2 GiB memory budget
        pid = httpx.get(f"{url}/models").json()["workers"][0]["pid"]
        got = _pixels(_translate(url, _png(768, 1024, seed=2), timeout=120, model="srvgg-x4"))
        assert got.shape == (3072, 4096, 3)
        assert _peak_rss_bytes(pid) < 2048 << 20

        # the Open Inference Protocol: by its name, `image` in [0, 1], the answer 4x larger
        meta = httpx.get(f"{url}/v2/models/srvgg-x4").json()
        assert meta["inputs"][0]["name"] == "image"
        assert [o["shape"] for o in meta["outputs"]] == [[-1, 3, -1, -1], [-1, -1, -1, 3]]
        photo = _png(23, 37)
        rgb = imaging.decode_upload(photo, 10**6)
        x = (rgb.transpose(2, 0, 1)[None] / np.float32(255)).astype(np.float32)
        body = {
            "inputs": [
                {
                    "name": "image",
                    "shape": list(x.shape),
                    "datatype": "FP32",
                    "data": x.ravel().tolist(),
                }
            ]
        }
        r = httpx.post(f"{url}/v2/models/srvgg-x4/infer", json=body, timeout=60)
        assert r.status_code == 200, r.text
        outputs = {o["name"]: o for o in r.json()["outputs"]}
        assert outputs["pixels"]["shape"] == [1, 92, 148, 3]
        pixels = np.array(outputs["pixels"]["data"], np.uint8).reshape(92, 148, 3)
        assert (
            np.abs(pixels.astype(int) - _pixels(_translate(url, photo, model="srvgg-x4"))).max()
            == 0
        )
        # and over gRPC, in the same windows
        client = triton_grpc.InferenceServerClient(f"127.0.0.1:{grpc_port}")
        image = triton_grpc.InferInput("image", list(x.shape), "FP32")
        image.set_data_from_numpy(x)
        answer = client.infer(
            "srvgg-x4", [image], outputs=[triton_grpc.InferRequestedOutput("pixels")]
        )
        assert np.array_equal(answer.as_numpy("pixels")[0], pixels)
        client.close()
        body["inputs"][0]["data"] = (x * 2).ravel().tolist()
        r = httpx.post(f"{url}/v2/models/srvgg-x4/infer", json=body)
        assert r.status_code == 400 and "outside [0, 1]" in r.json()["error"]

        # the OpenAPI document names them among /translate's models
        schema = httpx.get(f"{url}/openapi.json").json()["components"]["schemas"]
        names = schema["Body_translate_translate_post"]["properties"]["model"]["anyOf"][0]
        assert set(names["enum"]) == {"srvgg-x4", "rrdb-x2"}


@pytest.mark.slow
def test_a_burst_of_big_upscales_is_refused_with_retry_after(models: Path, tmp_path: Path) -> None:
    """Admission weighs every window of a photo: with a short request timeout, a burst of
    large photos is taken one at a time and the rest refused at once, honestly."""
    settings = {"tile_side": str(TILE), "tile_overlap": str(OVERLAP), "request_timeout_s": "0.1"}
    photo = _png(400, 600)

    async def burst(url: str) -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=60) as client:
            files = {"file": ("photo.png", photo, "image/png")}
            sends = [
                client.post(f"{url}/translate", files=files, data={"model": "rrdb-x2"})
                for _ in range(6)
            ]
            return await asyncio.gather(*sends)

    with live_server(models, tmp_path / "server.log", **settings) as server:
        answers = asyncio.run(burst(server.url))
    codes = sorted(r.status_code for r in answers)
    assert 200 in codes and 503 in codes, codes
    for r in answers:
        if r.status_code == 503:
            assert r.json()["error"]["code"] == "overloaded"
            assert int(r.headers["Retry-After"]) >= 1
