"""The MNIST split every evaluation uses: the first 9,000 digits train, the last 1,000 are held out.

Images are returned as float32 [N, 1, 28, 28] in [-1, 1], the range of the generators' output.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

TRAIN_COUNT = 9000


def to_model_range(images_uint8: np.ndarray) -> np.ndarray:
    """uint8 [N, 28, 28] (0 = background) -> float32 [N, 1, 28, 28] in [-1, 1]."""
    x = images_uint8.astype(np.float32) / 127.5 - 1.0
    return x[:, None, :, :]


def load_split(
    path: str | Path, part: str, train_count: int = TRAIN_COUNT
) -> tuple[np.ndarray, np.ndarray]:
    """`part` is `train` (first 9,000) or `heldout` (the rest): images in [-1, 1], labels int64."""
    with np.load(path) as data:
        images, labels = data["images"], data["labels"]
    if part == "train":
        sl = slice(0, train_count)
    elif part == "heldout":
        sl = slice(train_count, None)
    else:
        raise ValueError(f"unknown part {part!r}")
    return to_model_range(images[sl]), labels[sl].astype(np.int64)


def describe(path: str | Path, part: str, train_count: int = TRAIN_COUNT) -> str:
    """How a figure names its data, e.g. `mnist10k.npz[9000:10000] (held out, 1000 digits)`."""
    with np.load(path) as data:
        total = len(data["labels"])
    name = Path(path).name
    if part == "train":
        return f"{name}[0:{train_count}] (training split, {train_count} digits)"
    return f"{name}[{train_count}:{total}] (held out, {total - train_count} digits)"


def resize_batch(images: np.ndarray, height: int, width: int) -> np.ndarray:
    """float32 [N, C, H, W] -> [N, C, height, width] with the training package's own resize
    (bilinear, antialiased, clamped to [-1, 1]), so a 28 -> 32 -> 28 round trip takes exactly
    the path the training data took. Identity when the size already matches."""
    if images.shape[2:] == (height, width):
        return images
    if height != width:
        raise ValueError("square images only")
    import torch

    from training.data import resize

    out = [
        resize(torch.from_numpy(np.ascontiguousarray(images[i : i + 1000])), height).numpy()
        for i in range(0, len(images), 1000)
    ]
    return np.concatenate(out).astype(np.float32, copy=False)
