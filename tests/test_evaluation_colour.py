"""The colour changes the photo judge trains with: known answers on small arrays."""

from __future__ import annotations

import numpy as np
import torch

from training.evaluation import colour


def photos(n: int = 4, size: int = 8) -> torch.Tensor:
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(0)) * 2 - 1


def test_greyscale_is_luma_in_every_channel_and_idempotent() -> None:
    x = photos()
    g = colour.greyscale(x)
    assert torch.allclose(g[:, 0], g[:, 1]) and torch.allclose(g[:, 1], g[:, 2])
    assert torch.allclose(colour.greyscale(g), g, atol=1e-6)
    white = torch.ones(1, 3, 2, 2)
    assert torch.allclose(colour.greyscale(white), white, atol=1e-6)


def test_a_hue_shift_turns_round_and_leaves_grey_alone() -> None:
    x = photos()
    assert torch.allclose(colour.hue_shift(x, 0), x, atol=1e-5)
    assert torch.allclose(colour.hue_shift(x, 360), x, atol=1e-5)
    g = colour.greyscale(x)
    assert torch.allclose(colour.hue_shift(g, 123), g, atol=1e-5)
    red = torch.tensor([1.0, -1.0, -1.0]).view(1, 3, 1, 1)
    assert colour.hue_shift(red, 180)[0, 0, 0, 0] < 0  # red's opposite has little red


def test_a_fitted_colour_map_is_recovered_and_applied() -> None:
    rng = np.random.default_rng(0)
    source = rng.integers(30, 200, (3, 8, 8, 3)).astype(np.uint8)
    known = np.array([[0.5, 0.2, 0.1, 0.05], [0.1, 0.6, 0.1, 0.1], [0.1, 0.1, 0.4, 0.1]])
    target = np.clip(source / 255.0 @ known[:, :3].T + known[:, 3], 0, 1) * 255
    fitted = colour.fit_colour_map(source, target.round().astype(np.uint8))
    assert np.abs(fitted - known).max() < 0.01
    x = torch.from_numpy(source).permute(0, 3, 1, 2).float() / 127.5 - 1
    mapped = colour.apply_colour_map(x, fitted)
    expected = torch.from_numpy(target).permute(0, 3, 1, 2).float() / 127.5 - 1
    assert (mapped - expected).abs().max() < 0.02
    assert torch.equal(colour.apply_colour_map(x, fitted, 0.0), x.clamp(-1, 1))


def test_augment_keeps_shape_and_range_and_changes_colour() -> None:
    x = photos(n=64)
    cast = np.array([[0.5, 0.5, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0], [0.0, 0.5, 0.5, 0.0]])
    out = colour.augment(x, torch.Generator().manual_seed(1), cast.astype(np.float32))
    assert out.shape == x.shape and out.min() >= -1 and out.max() <= 1
    grey = (out[:, 0] == out[:, 1]).all(dim=(1, 2)) & (out[:, 1] == out[:, 2]).all(dim=(1, 2))
    assert 3 <= int(grey.sum()) <= 25  # about a fifth made grey
    assert not torch.allclose(out, x)
