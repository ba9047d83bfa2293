"""Sample-based metrics for generators, all in numpy (float64).

- Frechet distance between two feature sets (Heusel et al. 2017's FID formula, here on the
  project judge's features, so it is "FD-judge", not FID);
- class coverage and the KL divergence of the predicted-class histogram from uniform;
- per-label accuracy of a conditional generator's samples;
- precision and recall with k-nearest-neighbour manifolds (Kynkaanniemi et al. 2019);
- the 2D mode-collapse metrics exactly as PacGAN's code computes them (Lin et al. 2018).
"""

from __future__ import annotations

import math

import numpy as np

# A class "appears" among unconditional samples when at least this share of them is
# classified as it: 1 % is a tenth of the 10 % a uniform generator gives each MNIST class,
# so a class with a handful of stray samples (mistakes of the judge or of the generator) does
# not count as covered.
APPEARS_MIN_SHARE = 0.01


# ---------------------------------------------------------------- Frechet distance


def _sqrtm_psd(a: np.ndarray) -> np.ndarray:
    """Square root of a symmetric positive semi-definite matrix via eigh."""
    w, v = np.linalg.eigh((a + a.T) / 2)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def gaussian_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and (unbiased) covariance of features [N, D]."""
    f = np.asarray(features, dtype=np.float64)
    if f.ndim != 2 or len(f) < 2:
        raise ValueError("need at least two feature vectors [N, D]")
    return f.mean(axis=0), np.cov(f, rowvar=False).reshape(f.shape[1], f.shape[1])


def frechet_distance_from_stats(
    mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray
) -> float:
    """||mu1 - mu2||^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2)).

    tr((S1 S2)^(1/2)) = tr((S1^(1/2) S2 S1^(1/2))^(1/2)), and the inner matrix is symmetric
    PSD, so eigh gives it exactly (no scipy, no complex parts).
    """
    diff = mu1 - mu2
    root1 = _sqrtm_psd(sigma1)
    inner = root1 @ sigma2 @ root1
    tr_cross = float(np.sqrt(np.clip(np.linalg.eigvalsh((inner + inner.T) / 2), 0.0, None)).sum())
    value = float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * tr_cross)
    return max(value, 0.0)


def frechet_distance(features1: np.ndarray, features2: np.ndarray) -> float:
    """Frechet distance between Gaussians fitted to two feature sets."""
    return frechet_distance_from_stats(*gaussian_stats(features1), *gaussian_stats(features2))


# ---------------------------------------------------------------- classes


def class_histogram(predictions: np.ndarray, num_classes: int) -> np.ndarray:
    """Share of samples per predicted class (predictions: int [N]); sums to 1."""
    counts = np.bincount(np.asarray(predictions, dtype=np.int64), minlength=num_classes)
    return counts / max(int(counts.sum()), 1)


def classes_present(histogram: np.ndarray, min_share: float = APPEARS_MIN_SHARE) -> int:
    """How many classes hold at least `min_share` of the samples."""
    return int((np.asarray(histogram) >= min_share).sum())


def kl_from_uniform(histogram: np.ndarray) -> float:
    """KL(p || uniform) = sum p log(K p), natural log, 0 log 0 = 0; 0 when p is uniform,
    log K when every sample falls in one class."""
    p = np.asarray(histogram, dtype=np.float64)
    if p.sum() <= 0:
        return math.inf
    p = p / p.sum()
    nz = p > 0
    return float((p[nz] * np.log(len(p) * p[nz])).sum())


def per_label_accuracy(
    predictions: np.ndarray, requested: np.ndarray, num_classes: int
) -> list[float | None]:
    """For each label, the share of samples requested with it that the judge assigns to it
    (None for a label that was never requested)."""
    pred = np.asarray(predictions)
    req = np.asarray(requested)
    out: list[float | None] = []
    for c in range(num_classes):
        mask = req == c
        out.append(float((pred[mask] == c).mean()) if mask.any() else None)
    return out


# ---------------------------------------------------------------- precision and recall


def _pairwise_distances(a: np.ndarray, b: np.ndarray, chunk: int = 2048) -> np.ndarray:
    """Euclidean distances [len(a), len(b)] (float64)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    bb = (b * b).sum(axis=1)
    out = np.empty((len(a), len(b)))
    for i in range(0, len(a), chunk):
        x = a[i : i + chunk]
        d2 = (x * x).sum(axis=1)[:, None] + bb[None, :] - 2.0 * (x @ b.T)
        out[i : i + chunk] = np.sqrt(np.clip(d2, 0.0, None))
    return out


def knn_radii(features: np.ndarray, k: int = 3) -> np.ndarray:
    """Distance from each point to its k-th nearest neighbour in the same set (itself excluded)."""
    if len(features) <= k:
        raise ValueError(f"need more than k={k} points for a k-NN manifold")
    d = _pairwise_distances(features, features)
    # column 0 of each sorted row is the point itself (distance 0)
    return np.partition(d, k, axis=1)[:, k]


def _coverage(points: np.ndarray, centres: np.ndarray, radii: np.ndarray) -> float:
    """Share of `points` inside at least one ball (centre, radius)."""
    d = _pairwise_distances(points, centres)
    return float((d <= radii[None, :]).any(axis=1).mean())


def precision_recall(real: np.ndarray, fake: np.ndarray, k: int = 3) -> tuple[float, float]:
    """Improved precision and recall (Kynkaanniemi et al. 2019).

    precision: share of fake samples inside the real manifold (the union of balls around each
    real feature reaching its k-th nearest real neighbour); recall: share of real samples
    inside the fake manifold built the same way. Use equally many real and fake samples: the
    radii shrink as a set grows.
    """
    precision = _coverage(fake, real, knn_radii(real, k))
    recall = _coverage(real, fake, knn_radii(fake, k))
    return precision, recall


# ---------------------------------------------------------------- 2D mode collapse


def mode_metrics(
    samples: np.ndarray, means: np.ndarray, std: float, threshold: float = 3.0
) -> dict[str, float | int | list[int]]:
    """PacGAN's 2D metrics, as in its code (synthetic_data_experiments, MetricLogger).

    Each sample goes to its nearest mode; it is high quality when it lies within `threshold`
    standard deviations of that mode's mean. A mode is captured when at least one high-quality
    sample goes to it. The reverse KL is KL(q || uniform) of the histogram q of high-quality
    samples over the modes (natural log; inf when no sample is high quality).
    """
    x = np.asarray(samples, dtype=np.float64)
    d = _pairwise_distances(x, np.asarray(means, dtype=np.float64))
    nearest = d.argmin(axis=1)
    good = d[np.arange(len(x)), nearest] < threshold * std
    counts = np.bincount(nearest[good], minlength=len(means))
    return {
        "modes": int((counts > 0).sum()),
        "num_modes": len(means),
        "high_quality": float(good.mean()) if len(x) else 0.0,
        "reverse_kl": kl_from_uniform(counts),
        "counts": counts.tolist(),
    }


# ---------------------------------------------------------------- Stacked MNIST


def stacked_modes(channel_predictions: np.ndarray, num_classes: int = 10) -> dict[str, float | int]:
    """Stacked MNIST (Metz et al. 2017; VEEGAN; PacGAN): each of the three channels is classified
    separately; the mode of a sample is the triple of predicted digits (one of 10^3). Returns
    the number of modes with at least one sample and KL(q || uniform) of the mode histogram q
    over all 1,000 modes.

    channel_predictions: int [N, C], the judge's class for each channel of each sample.
    """
    pred = np.asarray(channel_predictions, dtype=np.int64)
    c = pred.shape[1]
    index = np.zeros(len(pred), dtype=np.int64)
    for j in range(c):
        index = index * num_classes + pred[:, j]
    counts = np.bincount(index, minlength=num_classes**c)
    return {
        "modes": int((counts > 0).sum()),
        "num_modes": num_classes**c,
        "kl_from_uniform": kl_from_uniform(counts),
    }
