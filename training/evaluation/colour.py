"""Colour changes a photo judge must not respond to, on batches in [-1, 1].

A horse/zebra judge that has only seen natural colours can call a greenish-grey horse a zebra
from its colour alone, and a CycleGAN that learns the colour shift before the stripes then
scores well without making zebras. Training the judge on photos of both classes with random
hues, saturations, greyscale and the colour cast of a translation model takes colour away as
evidence, so what separates the classes is shape and texture (stripes).
"""

from __future__ import annotations

import math

import numpy as np
import torch

# ITU-R BT.601 luma, and RGB <-> YIQ, in whose IQ plane a hue shift is a rotation
LUMA = torch.tensor([0.299, 0.587, 0.114])
_RGB_TO_YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
_YIQ_TO_RGB = torch.linalg.inv(_RGB_TO_YIQ)


def _unit(x: torch.Tensor) -> torch.Tensor:
    return (x + 1.0) / 2.0


def _signed(x: torch.Tensor) -> torch.Tensor:
    return (x.clamp(0.0, 1.0) * 2.0 - 1.0).contiguous()


def greyscale(x: torch.Tensor) -> torch.Tensor:
    """[N, 3, H, W] -> the same photos in grey (luma in all three channels)."""
    y = torch.einsum("nchw,c->nhw", _unit(x), LUMA.to(x))
    return _signed(y[:, None].expand_as(x))


def _per_photo_matrix(x: torch.Tensor, matrices: torch.Tensor) -> torch.Tensor:
    """Apply one 3x3 colour matrix per photo ([N, 3, 3]) to [N, 3, H, W] in [-1, 1]."""
    return _signed(torch.einsum("nij,njhw->nihw", matrices.to(x), _unit(x)))


def hue_matrices(angles: torch.Tensor, saturation: torch.Tensor) -> torch.Tensor:
    """[N] hue rotations (radians) and saturation factors -> [N, 3, 3] RGB matrices."""
    c, s = torch.cos(angles) * saturation, torch.sin(angles) * saturation
    rot = torch.zeros(len(angles), 3, 3)
    rot[:, 0, 0] = 1.0
    rot[:, 1, 1], rot[:, 1, 2], rot[:, 2, 1], rot[:, 2, 2] = c, -s, s, c
    return _YIQ_TO_RGB @ rot @ _RGB_TO_YIQ


def hue_shift(x: torch.Tensor, degrees: float) -> torch.Tensor:
    """Every photo's hue rotated by `degrees` (saturation and luma kept)."""
    n = len(x)
    angles = torch.full((n,), math.radians(degrees))
    return _per_photo_matrix(x, hue_matrices(angles, torch.ones(n)))


def fit_colour_map(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Least-squares affine colour map [3, 4] with target ~= map @ [r, g, b, 1].

    source, target: uint8 photos [N, H, W, 3] (a model's inputs and outputs)."""
    src = source.reshape(-1, 3).astype(np.float64) / 255.0
    dst = target.reshape(-1, 3).astype(np.float64) / 255.0
    design = np.concatenate([src, np.ones((len(src), 1))], 1)
    solution, *_ = np.linalg.lstsq(design, dst, rcond=None)
    return solution.T.astype(np.float32)


def apply_colour_map(
    x: torch.Tensor, colour_map: np.ndarray, strength: float | torch.Tensor = 1.0
) -> torch.Tensor:
    """Photos [N, 3, H, W] in [-1, 1] recoloured by an affine map, blended by `strength`
    (one number, or one per photo)."""
    m = torch.as_tensor(colour_map, dtype=x.dtype)
    u = _unit(x)
    mapped = torch.einsum("ij,njhw->nihw", m[:, :3], u) + m[:, 3][None, :, None, None]
    s = torch.as_tensor(strength, dtype=x.dtype).reshape(-1, 1, 1, 1)
    return _signed(u + s * (mapped - u))


def augment(
    x: torch.Tensor,
    gen: torch.Generator,
    colour_map: np.ndarray | None,
    p_grey: float = 0.2,
    p_map: float = 0.25,
) -> torch.Tensor:
    """Random colour for every photo, whatever its class: greyscale (p_grey), the model's
    colour cast at strength 0.5-1 (p_map), or else a random hue (any angle), saturation
    (0.3-1.5), brightness (0.75-1.25) and contrast (0.7-1.3)."""
    n = len(x)
    pick = torch.rand(n, generator=gen)
    angles = (torch.rand(n, generator=gen) * 2 - 1) * math.pi
    saturation = 0.3 + 1.2 * torch.rand(n, generator=gen)
    brightness = 0.75 + 0.5 * torch.rand(n, generator=gen)
    contrast = 0.7 + 0.6 * torch.rand(n, generator=gen)
    strength = 0.5 + 0.5 * torch.rand(n, generator=gen)
    u = _unit(_per_photo_matrix(x, hue_matrices(angles, saturation)))
    mean = u.mean(dim=(1, 2, 3), keepdim=True)
    jittered = _signed(
        (mean + contrast[:, None, None, None] * (u - mean)) * brightness[:, None, None, None]
    )
    grey = pick < p_grey
    out = torch.where(grey[:, None, None, None], greyscale(x), jittered)
    if colour_map is not None:
        cast = (pick >= p_grey) & (pick < p_grey + p_map)
        mapped = apply_colour_map(x, colour_map, strength)
        out = torch.where(cast[:, None, None, None], mapped, out)
    return out
