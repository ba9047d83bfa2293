"""Data: npz split and resize, class folders, photo recipe, batch order, 2D mixtures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image
from training_fixtures import tiny_npz, tiny_photos

from training.data import (
    Order,
    load_labelled,
    mixture_batch,
    mixture_means,
    translation_domains,
)


def test_npz_split_resize_and_range(tmp_path: Path) -> None:
    data = load_labelled(str(tiny_npz(tmp_path / "d.npz")), 32, 1, train_count=60)
    assert data.images.shape == (60, 1, 32, 32) and data.labels.dtype == torch.int64
    assert data.images.min() >= -1.0 and data.images.max() <= 1.0
    assert data.classes == ["0", "1", "2"]


def test_class_folders_become_labels(tmp_path: Path) -> None:
    for name, value in (("cat", 30), ("dog", 200)):
        (tmp_path / name).mkdir()
        for i in range(2):
            Image.fromarray(np.full((10, 10), value, np.uint8)).save(tmp_path / name / f"{i}.png")
    data = load_labelled(str(tmp_path), 16, 3, 0)
    assert data.classes == ["cat", "dog"] and data.labels.tolist() == [0, 0, 1, 1]
    assert data.images.shape == (4, 3, 16, 16)


def test_photos_are_rgb_cropped_and_deterministic(tmp_path: Path) -> None:
    a, *_ = translation_domains(str(tiny_photos(tmp_path)), 20, 16, True)
    batch = a.batch(np.arange(3), seed=0, step=5)  # file 0 is grayscale
    assert batch.shape == (3, 3, 16, 16)
    assert np.array_equal(batch.numpy(), a.batch(np.arange(3), seed=0, step=5).numpy())
    assert not np.array_equal(batch.numpy(), a.batch(np.arange(3), seed=0, step=6).numpy())


def test_order_is_a_permutation_per_epoch_and_ranks_split_it() -> None:
    order = Order(10, 2, seed=3)
    epoch0 = np.concatenate([order.indices(s) for s in range(5)])
    assert sorted(epoch0) == list(range(10))
    assert not np.array_equal(epoch0, np.concatenate([order.indices(s) for s in range(5, 10)]))
    r0, r1 = Order(10, 2, 3, rank=0, world=2), Order(10, 2, 3, rank=1, world=2)
    assert set(r0.indices(0)).isdisjoint(r1.indices(0))


def test_mixtures_match_pacgan() -> None:
    ring, std = mixture_means("ring")
    assert len(ring) == 8 and std == 0.01 and np.allclose(np.linalg.norm(ring, axis=1), 1)
    grid, std = mixture_means("grid")
    assert len(grid) == 25 and std == 0.05 and set(grid.ravel()) == {-4, -2, 0, 2, 4}
    x = mixture_batch("grid", 500, seed=0, step=0).numpy()
    assert np.abs(x - np.round(x / 2) * 2).max() < 0.3
