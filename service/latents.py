"""The one rule that turns a seed into a latent vector, shared by service and training.

Image i of a request has its own seed, so the same seed (and label) gives the same image
whether it is drawn alone or inside a batch of strangers.
"""

from __future__ import annotations

import numpy as np

# BigGAN's truncation trick: a normal truncated to [-TRUNCATION_BOUND, TRUNCATION_BOUND],
# scaled by the request's `truncation` in (0, 1].
TRUNCATION_BOUND = 2.0


def latent(seed: int, dim: int, truncation: float | None = None) -> np.ndarray:
    """z for one seed: float32 [dim], standard normal, or truncated and scaled."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal(dim, dtype=np.float32)
    if truncation is None:
        return z
    if not 0.0 < truncation <= 1.0:
        raise ValueError("truncation must be in (0, 1]")
    # Resample out-of-bound entries from the same stream: deterministic per seed.
    outside = np.abs(z) > TRUNCATION_BOUND
    while outside.any():
        z[outside] = rng.standard_normal(int(outside.sum()), dtype=np.float32)
        outside = np.abs(z) > TRUNCATION_BOUND
    return z * np.float32(truncation)


def latents(seeds: list[int], dim: int, truncation: float | None = None) -> np.ndarray:
    """z for many seeds: float32 [len(seeds), dim]."""
    return np.stack([latent(s, dim, truncation) for s in seeds]).astype(np.float32, copy=False)


def default_label(seed: int, num_classes: int) -> int:
    """The label a conditional model draws when the request names none."""
    return seed % num_classes


def slerp(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    """Spherical interpolation (Shoemake), falling back to lerp for parallel vectors."""
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    cos = float(np.clip(np.dot(a / na, b / nb), -1.0, 1.0))
    omega = np.arccos(cos)
    if np.sin(omega) < 1e-6:
        return lerp(a, b, t)
    s = np.sin(omega)
    return (np.sin((1 - t) * omega) / s * a + np.sin(t * omega) / s * b).astype(np.float32)


def lerp(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    return ((1 - t) * a + t * b).astype(np.float32)
