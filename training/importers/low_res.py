"""The picture an imported super-resolution model enlarges for its samples.png: the centre of
a photo at its own pixels (not resized, which would blur away the detail the network is
meant to restore), or without one a synthetic pattern of rings, edges and colour ramps.
Both are small, so a 23-block network makes the sample in seconds on a CPU."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import UnidentifiedImageError

from training.data import open_rgb

SIDE = 96  # the largest side taken; divides by every multiple_of (1, 2, 4)


class PhotoError(ValueError):
    """The --photo file cannot be read as an image."""


def photo(path: Path, multiple_of: int) -> torch.Tensor:
    """The centre SIDE x SIDE (or less) of a photo, sides cut to multiples of `multiple_of`,
    as [1, 3, h, w] RGB in [0, 1]."""
    if not path.is_file():
        raise FileNotFoundError(f"no photo at {path}")
    try:
        rgb = np.asarray(open_rgb(path))
    except (UnidentifiedImageError, OSError) as exc:
        raise PhotoError(f"{path.name} is not an image Pillow can read: {exc}") from None
    h, w = (min(SIDE, n) // multiple_of * multiple_of for n in rgb.shape[:2])
    if not h or not w:
        raise PhotoError(f"{path.name} is {rgb.shape[1]}x{rgb.shape[0]}: too small")
    top, left = (rgb.shape[0] - h) // 2, (rgb.shape[1] - w) // 2
    crop = rgb[top : top + h, left : left + w]
    return torch.from_numpy(crop.transpose(2, 0, 1).copy()).float().div(255)[None]


def synthetic(side: int = SIDE) -> torch.Tensor:
    """Concentric rings of rising frequency, a dark diagonal edge and red/green ramps, as
    [1, 3, side, side] in [0, 1]; the same every time."""
    y, x = np.mgrid[0:side, 0:side].astype(np.float32) / side
    rings = 0.5 + 0.5 * np.cos(60 * np.pi * ((x - 0.5) ** 2 + (y - 0.5) ** 2))
    edge = np.where(np.abs(x - y) < 0.04, 0.25, 1.0)
    rgb = np.stack([x * edge, y * edge, rings * edge]).astype(np.float32)
    return torch.from_numpy(rgb)[None]
