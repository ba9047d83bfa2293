"""Imported models under a real uvicorn: a photo through the authors' networks over HTTP."""

from __future__ import annotations

import io
from pathlib import Path

import httpx
import numpy as np
import onnxruntime as ort
from authors_checkpoints import resnet_checkpoint, unet_checkpoint
from live_server import live_server
from PIL import Image

from service import imaging
from training import cli


def _photo() -> bytes:
    """A smooth picture with edges (sky, ground, a sun), as JPEG, 200x150: not a multiple
    of 4 nor of 128, so the service pads and crops back."""
    y, x = np.mgrid[0:150, 0:200]
    rgb = np.zeros((150, 200, 3), np.uint8)
    rgb[..., 0] = np.where(y < 90, 90 + x // 4, 60)
    rgb[..., 1] = np.where(y < 90, 140 + y // 3, 120 + x // 8)
    rgb[..., 2] = np.where(y < 90, 230, 40)
    rgb[(x - 150) ** 2 + (y - 40) ** 2 < 300] = (250, 220, 90)
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=92)
    return buf.getvalue()


def _expected(folder: Path, photo: bytes, multiple: int) -> np.ndarray:
    """The translation computed here from the model file, as the service should compute it."""
    rgb = imaging.decode_upload(photo, 10**7)
    session = ort.InferenceSession(str(folder / "a2b.onnx"), providers=["CPUExecutionProvider"])
    out = session.run(None, {"image": imaging.to_network(rgb, multiple)})[0]
    return imaging.to_uint8(out[:, :, : rgb.shape[0], : rgb.shape[1]])[0]


def test_translate_through_imported_models(tmp_path: Path) -> None:
    models = tmp_path / "models"
    resnet = resnet_checkpoint(tmp_path / "horse2zebra.pth", ngf=2, n_blocks=1)
    argv = ["import", "cyclegan", str(resnet), "--ngf", "2", "--n-blocks", "1"]
    assert cli.main([*argv, "--out", str(models / "authors-horse2zebra")]) == 0
    unet = unet_checkpoint(tmp_path / "G.pth", num_downs=7, ngf=2)
    argv = ["import", "pix2pix", str(unet), "--netG", "unet_128", "--ngf", "2"]
    assert cli.main([*argv, "--out", str(models / "facades"), "--domains", "label,photo"]) == 0
    photo = _photo()
    with live_server(models, tmp_path / "server.log") as server:
        listed = {m["name"]: m for m in httpx.get(f"{server.url}/models").json()["models"]}
        assert listed["authors-horse2zebra"]["state"] == "ready"
        assert listed["authors-horse2zebra"]["directions"] == ["a2b"]
        assert listed["facades"]["directions"] == ["a2b"]
        for name, multiple in (("authors-horse2zebra", 4), ("facades", 128)):
            r = httpx.post(
                f"{server.url}/translate",
                files={"file": ("horse.jpg", photo, "image/jpeg")},
                data={"model": name},
                timeout=60,
            )
            assert r.status_code == 200, r.text
            assert r.headers["X-Direction"] == "a2b" and r.headers["X-Image-Size"] == "200x150"
            got = np.asarray(Image.open(io.BytesIO(r.content)).convert("RGB"))
            np.testing.assert_array_equal(got, _expected(models / name, photo, multiple))
        r = httpx.post(
            f"{server.url}/translate",
            files={"file": ("zebra.jpg", photo, "image/jpeg")},
            data={"model": "authors-horse2zebra", "direction": "b2a"},
        )
        assert r.status_code == 400
        error = r.json()["error"]
        assert error["code"] == "direction_unavailable"
        assert "has no b2a" in error["message"] and "a2b (horse -> zebra)" in error["message"]
        # the Open Inference Protocol lists the direction it has, and only that one
        assert httpx.get(f"{server.url}/v2/models/authors-horse2zebra.a2b").status_code == 200
        r = httpx.get(f"{server.url}/v2/models/authors-horse2zebra.b2a")
        assert r.status_code == 404 and "authors-horse2zebra.a2b?" in r.json()["error"]
