"""Tiny data for the training tests: a 16px npz of blobs and two small photo folders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def tiny_npz(path: Path, n: int = 64, size: int = 28, classes: int = 3) -> Path:
    """Each class a bright square in its own place, so the classes differ."""
    rng = np.random.default_rng(0)
    labels = np.arange(n) % classes
    images = (rng.random((n, size, size)) * 40).astype(np.uint8)
    for i, c in enumerate(labels):
        top = 2 + 6 * c
        images[i, top : top + 8, 4:20] = 220
    np.savez(path, images=images, labels=labels.astype(np.int64))
    return path


def tiny_photos(root: Path, n: int = 6, size: int = 24) -> Path:
    """trainA (reddish) and trainB (bluish) JPEGs; one grayscale, as in horse2zebra."""
    rng = np.random.default_rng(1)
    for sub, channel in (("trainA", 0), ("trainB", 2)):
        folder = root / sub
        folder.mkdir(parents=True)
        for i in range(n):
            pixels = (rng.random((size, size, 3)) * 80).astype(np.uint8)
            pixels[..., channel] += 150
            image = Image.fromarray(pixels)
            if i == 0:
                image = image.convert("L")
            image.save(folder / f"{i:03d}.jpg")
    return root
