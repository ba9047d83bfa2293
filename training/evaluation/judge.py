"""The judge: a classifier whose predictions and penultimate features score generated images.

A judge folder holds `judge.onnx` (input `image` float32 [N, C, H, W] in [-1, 1]; outputs
`logits` [N, K] and `features` [N, F]) and `judge.json` (name, classes, the data it was trained
on, its held-out accuracy, the command that made it). Running a judge needs onnxruntime and
numpy only, so it scores exactly the arrays the served ONNX generators produce.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ONNX_FILE = "judge.onnx"
FEATURE_DIM = 128  # width of every judge's penultimate features
CARD_FILE = "judge.json"


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


@dataclass
class Judge:
    """An ONNX judge loaded from its folder."""

    folder: Path
    info: dict[str, Any]
    session: Any = field(repr=False)

    @classmethod
    def load(cls, folder: str | Path) -> Judge:
        from service.engine.runtime import cpu_session
        from service.manifest import sha256_of

        folder = Path(folder)
        info = json.loads((folder / CARD_FILE).read_text())
        onnx_path = folder / ONNX_FILE
        digest = sha256_of(onnx_path)
        if info.get("sha256") and info["sha256"] != digest:
            raise ValueError(f"{onnx_path}: sha256 {digest} differs from {CARD_FILE}")
        info["sha256"] = digest
        session = cpu_session(onnx_path, threads=2)
        return cls(folder=folder, info=info, session=session)

    @property
    def name(self) -> str:
        return str(self.info.get("name", self.folder.name))

    @property
    def num_classes(self) -> int:
        return len(self.info["classes"])

    def describe(self) -> str:
        """How a figure names its judge: name, held-out accuracy and the weights' hash."""
        acc = self.info.get("heldout_accuracy")
        acc_text = f", held-out accuracy {acc:.4f}" if acc is not None else ""
        digest = self.info["sha256"][:12]
        return f"{self.name} ({self.folder.as_posix()}{acc_text}, sha256 {digest})"

    def run(self, images: np.ndarray, batch: int = 500) -> tuple[np.ndarray, np.ndarray]:
        """images float32 [N, C, H, W] in [-1, 1] -> (logits [N, K], features [N, F]), float64."""
        logits, feats = [], []
        for i in range(0, len(images), batch):
            chunk = np.ascontiguousarray(images[i : i + batch], dtype=np.float32)
            lo, fe = self.session.run(["logits", "features"], {"image": chunk})
            logits.append(lo)
            feats.append(fe)
        if not logits:
            k = self.num_classes
            return np.zeros((0, k)), np.zeros((0, 0))
        return (
            np.concatenate(logits).astype(np.float64),
            np.concatenate(feats).astype(np.float64),
        )
