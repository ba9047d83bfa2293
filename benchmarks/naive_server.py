"""The baseline: the server most tutorials write (FastAPI calling the PyTorch model per request).

    python benchmarks/naive_server.py --generator models/dcgan-mnist \
        [--translator models/cyclegan-horse2zebra] [--port 8001] [--device cpu]

No batching, no ONNX Runtime: a sync endpoint (FastAPI runs it in its thread pool), torch
with its default threads, PIL's default PNG settings, base64 in JSON. It answers the same
requests as the service (`/generate` with n, `/translate` with a multipart file) in the same
shape, so the load generator treats both alike. The generators are the same networks, built
from each model's training config (benchmarks/torch_generators.py). Benchmark only.
"""

from __future__ import annotations

import argparse
import base64
import io
import sys
from pathlib import Path
from typing import Annotated

import numpy as np
import torch
import uvicorn
from fastapi import FastAPI, File, Form, UploadFile
from fastapi.responses import Response
from PIL import Image
from pydantic import BaseModel

sys.path.insert(0, str(Path(__file__).resolve().parent))
import torch_generators


class GenerateRequest(BaseModel):
    n: int = 1
    model: str | None = None
    label: int | None = None


def to_png(image: torch.Tensor) -> bytes:
    """[C, H, W] in [-1, 1] -> PNG bytes."""
    pixels = ((image + 1) * 127.5).clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()
    buf = io.BytesIO()
    Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels).save(buf, format="PNG")
    return buf.getvalue()


def create_app(generator: Path, translator: Path | None, device: str) -> FastAPI:
    app = FastAPI(title="naive GAN server")
    manifest, gens, note = torch_generators.load(generator)
    g = gens["generator"].to(device)
    classes = len(manifest.classes or [])
    dim = manifest.latent.dim
    translators, notes = {}, [note]
    if translator:
        _, translators, note = torch_generators.load(translator)
        notes.append(note)
    for module in translators.values():
        module.to(device)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        """Also says where the weights came from (served ONNX weights or initial ones)."""
        return {"status": "ok", "weights": "; ".join(notes)}

    @app.post("/generate")
    def generate(req: GenerateRequest) -> dict:
        z = torch.randn(req.n, dim, device=device)
        with torch.no_grad():
            if classes:
                label = torch.full((req.n,), req.label or 0, device=device)
                images = g(z, label).cpu()
            else:
                images = g(z).cpu()
        return {"images": [{"png": base64.b64encode(to_png(im)).decode()} for im in images]}

    @app.post("/translate")
    def translate(
        file: Annotated[UploadFile, File()], direction: Annotated[str, Form()] = "a2b"
    ) -> Response:
        rgb = np.asarray(Image.open(file.file).convert("RGB"), np.float32)
        h, w = rgb.shape[:2]
        x = torch.from_numpy(rgb / 127.5 - 1).permute(2, 0, 1)[None]
        x = torch.nn.functional.pad(x, (0, -w % 4, 0, -h % 4), mode="reflect").to(device)
        with torch.no_grad():
            out = translators[direction](x)[0, :, :h, :w].cpu()
        return Response(to_png(out), media_type="image/png")

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generator", type=Path, required=True, help="model folder")
    parser.add_argument("--translator", type=Path, help="translation model folder")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    args = parser.parse_args()
    app = create_app(args.generator, args.translator, args.device)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
