"""Sample photos for an imported translator's preview grid, prepared as the authors' test
script prepares its inputs: RGB, resized to the model's size with bicubic filtering, then
(x / 255 - 0.5) / 0.5 (the service's own mapping to [-1, 1])."""

from __future__ import annotations

from pathlib import Path

import torch

from training.data import IMAGE_SUFFIXES, PhotoFolder

MAX_PHOTOS = 6


def load(path: Path, size: int) -> torch.Tensor:
    """A photo file, or the first MAX_PHOTOS photos of a folder, as [N, 3, size, size]."""
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    else:
        files = [path]
    if not files or not files[0].is_file():
        raise FileNotFoundError(f"no photos at {path}")
    folder = PhotoFolder(files[:MAX_PHOTOS], size, size, flip=False)
    return torch.stack([folder.item(i, None) for i in range(len(folder))])
