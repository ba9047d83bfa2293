"""Stacked MNIST (Metz et al. 2017; VEEGAN; PacGAN): three random digits as the R, G and B
channels of one image, so the data has 10^3 = 1,000 modes (digit triples).

`data=stacked:PATH.npz` (family dcgan, channels=3) selects it. The digits are the first
`train_count` of the npz (the training split the judge also uses), resized like any MNIST
digit; the triples are a fixed table of `TRIPLES` rows drawn once with seed 0, so every run
and every resume sees the same data set, and the run's own seed only changes its order.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from training.data import load_npz

PREFIX = "stacked:"
TRIPLES = 100_000


def is_stacked(data: str) -> bool:
    return data.startswith(PREFIX)


class StackedDigits:
    """`TRIPLES` RGB images, each channel one digit; the label is the mode 100a + 10b + c."""

    def __init__(self, digits: torch.Tensor, labels: torch.Tensor, count: int = TRIPLES) -> None:
        rng = np.random.default_rng(0)
        self.digits = digits  # [N, 1, H, W] in [-1, 1]
        self.table = torch.from_numpy(rng.integers(0, len(digits), size=(count, 3)))
        d = labels[self.table]
        self.labels = d[:, 0] * 100 + d[:, 1] * 10 + d[:, 2]
        self.classes = [f"{m:03d}" for m in range(1000)]

    def __len__(self) -> int:
        return len(self.table)

    def batch(self, index: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        rows = self.table[torch.from_numpy(index)]
        images = self.digits[rows.flatten()].reshape(len(rows), 3, *self.digits.shape[2:])
        return images, self.labels[torch.from_numpy(index)]


def load_stacked(data: str, size: int, train_count: int = 0) -> StackedDigits:
    """`stacked:PATH.npz` -> the Stacked MNIST data set built from PATH's digits."""
    path = Path(data[len(PREFIX) :])
    if path.suffix != ".npz":
        raise FileNotFoundError(f"data={data!r}: expected stacked:PATH.npz")
    digits = load_npz(path, size, 1, train_count)
    return StackedDigits(digits.images, digits.labels)
