"""A StyleGAN3's input transform for a translation and a rotation, as NVIDIA's gen_images.py
makes it: the inverse of the image's own motion, since the buffer maps image coordinates
back to the input's Fourier features; and the synthesis' feeds that carry it. numpy only:
the service computes it per request, the exporter checks its graphs with it."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


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


def synthesis_feeds(ws: np.ndarray, transform: ArrayLike | None) -> dict[str, np.ndarray]:
    """A synthesis' feeds: ws, and a StyleGAN3's `transform` (one [3, 3] for every row, or
    [N, 3, 3]) as each row's float32 [N, 3, 3]; None: ws alone (a StyleGAN2, or a StyleGAN3
    exported before its synthesis took the input)."""
    if transform is None:
        return {"ws": ws}
    rows = np.broadcast_to(np.asarray(transform, np.float32), (len(ws), 3, 3))
    return {"ws": ws, "transform": rows.copy()}
