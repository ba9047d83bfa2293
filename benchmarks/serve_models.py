"""What the serving benchmarks serve: a model of each kind, picked from a models folder or
exported as a stand-in with initial weights, the photo `/translate` gets, and the workloads.

Shared by benchmarks/serve.py and benchmarks/peers/bench.py.
"""

from __future__ import annotations

import contextlib
import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from service.manifest import Manifest

ROOT = Path(__file__).resolve().parents[1]
PHOTO_DIRS = [
    Path("/work/shared/data/horse2zebra/testA"),
    Path("/work/shared/data/horse2zebra/trainA"),
]
SIDE = 256  # the benchmark photo is SIDE x SIDE


@dataclass(frozen=True)
class Workload:
    route: str  # /generate or /translate
    n: int  # images per request
    clients: int

    @property
    def name(self) -> str:
        what = f"n={self.n}" if self.route == "/generate" else f"{SIDE}x{SIDE}"
        return f"{self.route} {what}, {self.clients} clients"


WORKLOADS = [
    *(Workload("/generate", 1, c) for c in (1, 8, 32, 64)),
    *(Workload("/generate", 16, c) for c in (1, 32)),
    *(Workload("/translate", 1, c) for c in (1, 8)),
]


def _manifests(models: Path) -> list[tuple[Path, Manifest]]:
    found = []
    for folder in sorted(p for p in models.iterdir() if (p / "model.json").is_file()):
        with contextlib.suppress(ValueError):  # a broken manifest is not ours to judge
            found.append((folder, Manifest.load(folder)))
    return found


def pick_model(models: Path, kinds: tuple[str, ...], name: str | None) -> Path | None:
    """The named folder, else the first of `kinds` that was trained and records its config."""
    if name:
        return models / name
    candidates = [(f, m) for f, m in _manifests(models) if m.kind in kinds]
    candidates.sort(
        key=lambda fm: (fm[1].untrained, not fm[1].training.get("config"), kinds.index(fm[1].kind))
    )
    good = [f for f, m in candidates if m.training.get("config")]
    return good[0] if good else None


def stand_in(family: str, work: Path) -> Path:
    """A model folder of `family` with initial weights, from the shipped training config."""
    from benchmarks.torch_generators import export_initial

    configs = (ROOT / "training" / "configs").glob("*.json")
    for path in sorted(configs, key=lambda p: (len(p.stem), p.stem)):  # recipes before variants
        values = json.loads(path.read_text())
        if values.get("family") == family:
            folder = work / f"{path.stem}-initial"
            domains = tuple(values.get("domains", ("a", "b")))
            export_initial(values, folder, domains)
            return folder
    raise SystemExit(f"no shipped config of family {family}")


def photo_jpeg(path: Path | None) -> bytes:
    """A 256x256 JPEG: the given photo or the first horse2zebra photo, else a synthetic one."""
    if path is None:
        found = [sorted(d.glob("*.jpg"))[:1] for d in PHOTO_DIRS if d.is_dir()]
        path = next((f[0] for f in found if f), None)
    if path is not None:
        img = Image.open(path).convert("RGB").resize((SIDE, SIDE), Image.Resampling.BICUBIC)
    else:
        yy, xx = np.mgrid[0:SIDE, 0:SIDE]
        noise = np.random.default_rng(0).integers(0, 60, (SIDE, SIDE, 3))
        pixels = np.stack([xx, yy, (xx + yy) // 2], -1) + noise
        img = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=90)
    return buf.getvalue()
