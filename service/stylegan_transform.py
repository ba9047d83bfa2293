"""A StyleGAN3's input transform for a translation and a rotation, as NVIDIA's gen_images.py
makes it: the inverse of the image's own motion, since the buffer maps image coordinates
back to the input's Fourier features. numpy only: the service computes it per request."""

from __future__ import annotations

import numpy as np


def input_transforms(translate: np.ndarray, rotate: np.ndarray) -> np.ndarray:
    """float32 [N, 3, 3] from `translate` [N, 2] (tx, ty, in image widths) and `rotate` [N]
    (degrees), as gen_images.py's --translate and --rotate: the inverse of
    [[c, s, tx], [-s, c, ty], [0, 0, 1]] (c, s: the angle's cosine and sine), in closed form
    (a rotation's inverse is its transpose)."""
    angle = np.radians(np.asarray(rotate, np.float64))
    c, s = np.cos(angle), np.sin(angle)
    tx, ty = np.asarray(translate, np.float64).T
    m = np.zeros((len(angle), 3, 3))
    m[:, 0, 0], m[:, 0, 1], m[:, 0, 2] = c, -s, -(c * tx - s * ty)
    m[:, 1, 0], m[:, 1, 1], m[:, 1, 2] = s, c, -(s * tx + c * ty)
    m[:, 2, 2] = 1
    return m.astype(np.float32)
