"""Datasets as in-memory tensors or lazily decoded photos, and a deterministic batch order.

The order of examples depends only on (seed, epoch), so a resumed run needs nothing but its
step count to continue with the same batches; DDP ranks take disjoint slices of each batch.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.nn import functional as F

from training.config import ConfigError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp"}


def to_unit_range(images: np.ndarray) -> torch.Tensor:
    """uint8 [N,H,W] or [N,H,W,C] -> float32 [N,C,H,W] in [-1, 1]."""
    x = torch.from_numpy(np.array(images, dtype=np.uint8))  # a writable copy
    if x.ndim == 3:
        x = x.unsqueeze(-1)
    return x.permute(0, 3, 1, 2).float().div(127.5).sub(1.0).contiguous()


def resize(x: torch.Tensor, size: int) -> torch.Tensor:
    if x.shape[-1] == size and x.shape[-2] == size:
        return x
    return F.interpolate(
        x, size=(size, size), mode="bilinear", antialias=True, align_corners=False
    ).clamp(-1, 1)


def _fit_channels(x: torch.Tensor, channels: int) -> torch.Tensor:
    if x.shape[1] == channels:
        return x
    if channels == 3 and x.shape[1] == 1:
        return x.expand(-1, 3, -1, -1).contiguous()
    if channels == 1 and x.shape[1] == 3:
        return x.mean(1, keepdim=True)
    raise ValueError(f"cannot turn {x.shape[1]} channels into {channels}")


@dataclass
class Labelled:
    """Images [N,C,H,W] in [-1,1] with int64 labels and class names."""

    images: torch.Tensor
    labels: torch.Tensor
    classes: list[str]

    def __len__(self) -> int:
        return len(self.images)

    def batch(self, index: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        idx = torch.from_numpy(index)
        return self.images[idx], self.labels[idx]


def load_npz(path: Path, size: int, channels: int, train_count: int = 0) -> Labelled:
    """MNIST-style arrays; the first `train_count` examples are the training split."""
    with np.load(path) as arrays:
        if not {"images", "labels"} <= set(arrays.files):
            raise ConfigError(
                f"data={str(path)!r}: needs arrays 'images' and 'labels', has {arrays.files}"
            )
        images, labels = arrays["images"], arrays["labels"]
    if train_count:
        images, labels = images[:train_count], labels[:train_count]
    x = _fit_channels(resize(to_unit_range(images), size), channels)
    y = torch.from_numpy(labels.astype(np.int64))
    classes = [str(c) for c in range(int(y.max()) + 1)]
    return Labelled(x, y, classes)


def _image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def open_rgb(path: Path) -> Image.Image:
    with Image.open(path) as im:
        return im.convert("RGB")


def load_class_folders(root: Path, size: int, channels: int) -> Labelled:
    """One subfolder per class, classes in sorted folder order."""
    classes = sorted(p.name for p in root.iterdir() if p.is_dir())
    if not classes:
        raise ConfigError(f"data={str(root)!r}: no class subfolders")
    arrays, labels = [], []
    for label, name in enumerate(classes):
        for file in _image_files(root / name):
            image = open_rgb(file).resize((size, size), Image.BICUBIC)
            arrays.append(np.asarray(image))
            labels.append(label)
    if not arrays:
        raise ConfigError(f"data={str(root)!r}: no images in the class subfolders {classes}")
    x = _fit_channels(to_unit_range(np.stack(arrays)), channels)
    return Labelled(x, torch.tensor(labels, dtype=torch.int64), classes)


def load_labelled(path: str, size: int, channels: int, train_count: int = 0) -> Labelled:
    p = Path(path)
    if p.suffix == ".npz":
        return load_npz(p, size, channels, train_count)
    if p.is_dir():
        return load_class_folders(p, size, channels)
    raise FileNotFoundError(f"data={path!r}: not an .npz file or a folder")


def split_files(folder: Path, holdout: int) -> tuple[list[Path], list[Path]]:
    """(training, validation) photos: the last `holdout` in sorted order are validation."""
    files = _image_files(folder)
    if holdout >= len(files):
        raise ConfigError(f"{folder}: holdout={holdout} leaves no training photos of {len(files)}")
    cut = len(files) - holdout
    return files[:cut], files[cut:]


class PhotoFolder:
    """Unpaired photos decoded on demand with CycleGAN's resize, random crop and flip.

    With `preload` every photo is decoded and resized once, in threads, and kept in memory
    as uint8: the crops and flips are then the same, without a JPEG decode per step."""

    def __init__(
        self, files: list[Path], load_size: int, crop_size: int, flip: bool, preload: bool = False
    ) -> None:
        self.files = files
        if not self.files:
            raise ValueError("no images")
        self.load_size, self.crop_size, self.flip = load_size, crop_size, flip
        self.cache: list[np.ndarray] | None = None
        if preload:
            with ThreadPoolExecutor(os.cpu_count() or 1) as pool:
                self.cache = list(pool.map(self._resized, range(len(files))))

    def __len__(self) -> int:
        return len(self.files)

    def _resized(self, i: int) -> np.ndarray:
        size = (self.load_size, self.load_size)
        return np.asarray(open_rgb(self.files[i]).resize(size, Image.BICUBIC))

    def item(self, i: int, rng: np.random.Generator | None) -> torch.Tensor:
        """rng=None gives the deterministic centre crop used for validation photos."""
        image = self.cache[i] if self.cache is not None else self._resized(i)
        span = self.load_size - self.crop_size
        if rng is None:
            left = top = span // 2
            mirror = False
        else:
            left, top = (int(v) for v in rng.integers(0, span + 1, size=2))
            mirror = self.flip and bool(rng.integers(0, 2))
        crop = image[top : top + self.crop_size, left : left + self.crop_size]
        if mirror:
            crop = crop[:, ::-1]
        return to_unit_range(crop[None])[0]

    def batch(self, index: np.ndarray, seed: int, step: int) -> torch.Tensor:
        rng = np.random.default_rng([seed, step, 7])
        return torch.stack([self.item(int(i), rng) for i in index])


def translation_domains(
    root: str,
    load_size: int,
    crop_size: int,
    flip: bool,
    holdout: tuple[int, int] = (0, 0),
    preload: bool = False,
) -> tuple[PhotoFolder, PhotoFolder, PhotoFolder, PhotoFolder]:
    """Training A, training B, validation A, validation B from a trainA/trainB root.

    Without a holdout the validation folders are the first training photos (samples only).
    `preload` keeps the training photos in memory (the validation ones are read once)."""
    folders = []
    for sub, n in zip(("trainA", "trainB"), holdout, strict=True):
        train, val = split_files(Path(root) / sub, n)
        folders.append((train, val or train))
    (train_a, val_a), (train_b, val_b) = folders
    return (
        PhotoFolder(train_a, load_size, crop_size, flip, preload),
        PhotoFolder(train_b, load_size, crop_size, flip, preload),
        PhotoFolder(val_a, load_size, crop_size, flip),
        PhotoFolder(val_b, load_size, crop_size, flip),
    )


class Order:
    """Which examples step `s` uses: a fresh permutation per epoch from (seed, epoch)."""

    def __init__(self, n: int, batch_size: int, seed: int, rank: int = 0, world: int = 1):
        global_batch = batch_size * world
        if n < global_batch:
            raise ValueError(f"{n} examples are fewer than one batch of {global_batch}")
        self.n, self.batch_size, self.seed, self.rank = n, batch_size, seed, rank
        self.global_batch = global_batch
        self.per_epoch = n // global_batch  # drop the ragged last batch

    def epoch(self, step: int) -> int:
        return step // self.per_epoch

    def indices(self, step: int) -> np.ndarray:
        perm = np.random.default_rng([self.seed, self.epoch(step)]).permutation(self.n)
        start = (step % self.per_epoch) * self.global_batch + self.rank * self.batch_size
        return perm[start : start + self.batch_size]


def mixture_means(kind: str) -> tuple[np.ndarray, float]:
    """PacGAN's 2D benchmarks: ring of 8 (std 0.01) and grid of 25 (std 0.05)."""
    if kind == "ring":
        angles = 2 * math.pi * np.arange(8) / 8
        return np.stack([np.cos(angles), np.sin(angles)], 1).astype(np.float32), 0.01
    if kind == "grid":
        axis = np.array([-4.0, -2.0, 0.0, 2.0, 4.0], dtype=np.float32)
        return np.stack(np.meshgrid(axis, axis, indexing="ij"), -1).reshape(-1, 2), 0.05
    raise ValueError(f"unknown 2D data {kind!r}")


def mixture_batch(kind: str, n: int, seed: int, step: int, rank: int = 0) -> torch.Tensor:
    means, std = mixture_means(kind)
    rng = np.random.default_rng([seed, step, rank, 2])
    centre = means[rng.integers(0, len(means), size=n)]
    return torch.from_numpy(centre + std * rng.standard_normal((n, 2), dtype=np.float32))
