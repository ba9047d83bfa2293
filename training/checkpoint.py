"""Atomic checkpoints: write a temporary file, fsync, then os.replace over the old one, so a
kill at any moment leaves either the previous or the new checkpoint, never a torn one."""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

LAST = "last.pt"


def save(state: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("wb") as f:
        torch.save(state, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def load(path: Path) -> dict[str, Any]:
    # Our own files hold numpy/python RNG state, so the full unpickler is needed.
    return torch.load(path, map_location="cpu", weights_only=False)


def find(path: str | Path) -> Path:
    """A run folder or a checkpoint file -> the checkpoint file."""
    p = Path(path)
    if p.is_dir():
        p = p / "checkpoints" / LAST
    if not p.is_file():
        raise FileNotFoundError(f"no checkpoint at {p}")
    return p


def rng_state() -> dict[str, Any]:
    state = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
