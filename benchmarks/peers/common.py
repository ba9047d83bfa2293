"""What every peer server shares, so the peers differ only in their framework: the model
folder read as a newcomer would (model.json's ONNX file and latent size, ONNX Runtime's
default session options), and the answer the service gives: `{"images": [{"png": base64}]}`
with Pillow's default PNG settings.

Runs inside each peer's own virtual environment (numpy, Pillow, onnxruntime): it imports
nothing from the project.
"""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
from PIL import Image


class Generator:
    """One ONNX Runtime session of an unconditional generator."""

    def __init__(self, folder: Path) -> None:
        manifest = json.loads((folder / "model.json").read_text())
        self.name = manifest["name"]
        self.dim = manifest["latent"]["dim"]
        path = folder / manifest["files"]["generator"]["path"]
        self.session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        self.rng = np.random.default_rng()

    def images(self, n: int) -> np.ndarray:
        """n images, [n, C, H, W] in [-1, 1]."""
        z = self.rng.standard_normal((n, self.dim), dtype=np.float32)
        return self.session.run(None, {"z": z})[0]


def png_base64(image: np.ndarray) -> str:
    """[C, H, W] in [-1, 1] -> a base64 PNG."""
    pixels = np.clip((image + 1) * 127.5, 0, 255).astype(np.uint8).transpose(1, 2, 0)
    buf = io.BytesIO()
    Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def answer(model: str, images: np.ndarray) -> dict:
    return {"model": model, "images": [{"png": png_base64(im)} for im in images]}


def split(batch: np.ndarray, counts: list[int]) -> list[np.ndarray]:
    """One batch's output back into each request's rows."""
    return np.split(batch, np.cumsum(counts)[:-1])
