"""Tiny ONNX models of every kind, and model folders with valid manifests, for tests.

Importable by any test module (`from onnx_models import make_models_dir`). The builders live
in scripts/make_placeholder_models.py, which also makes the placeholder models in `models/`.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from scripts.make_placeholder_models import generator, translator, write_model  # noqa: E402

__all__ = [
    "CLASSES",
    "DIM",
    "generator",
    "make_conditional",
    "make_models_dir",
    "make_translation",
    "make_unconditional",
    "translator",
    "write_model",
]

CLASSES = ["cat", "dog", "bird"]
DIM = 8


def make_unconditional(folder: Path, seed: int = 0) -> Path:
    """1x8x8 images from z[8]."""
    write_model(
        folder,
        {"generator": generator(DIM, 1, 8, seed=seed)},
        kind="unconditional",
        channels=1,
        size=8,
        dim=DIM,
        untrained=False,
    )
    return folder


def make_conditional(folder: Path, seed: int = 1) -> Path:
    """3x8x8 images from z[8] and a label in CLASSES."""
    write_model(
        folder,
        {"generator": generator(DIM, 3, 8, num_classes=len(CLASSES), seed=seed)},
        kind="conditional",
        channels=3,
        size=8,
        dim=DIM,
        classes=CLASSES,
        untrained=False,
    )
    return folder


def make_translation(folder: Path, seed: int = 2) -> Path:
    """Conv 3x3 + Tanh both ways, any size, padded to multiples of 4."""
    write_model(
        folder,
        {"a2b": translator(seed=seed), "b2a": translator(seed=seed + 1)},
        kind="translation",
        channels=3,
        size=16,
        domains={"a": "horse", "b": "zebra"},
        multiple_of=4,
        untrained=False,
    )
    return folder


def make_models_dir(root: Path) -> Path:
    """`root` with `uncond`, `cond` and `trans`: one ready model per kind."""
    make_unconditional(root / "uncond")
    make_conditional(root / "cond")
    make_translation(root / "trans")
    return root
