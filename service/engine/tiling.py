"""Tiles of a photo for a super-resolution network, and their outputs blended back into one.

A large photo cannot go through a deep upscaler in one run: an RRDBNet at x4 holds some
12 KiB of activations per input pixel, so a 1024x768 photo would need about 9 GiB. It runs
instead as windows of one shape (so the batcher can merge them with other requests' windows
into one run), each a core of the photo plus `overlap` pixels of context on every side that
has a neighbour; windows at the photo's edges are shifted inwards, not shrunk, so they see
the same zero padding the whole photo would.

Each window's output is written back over its core, and across every boundary between two
cores the two outputs are blended linearly over a band `overlap` pixels wide (half on each
side), their weights summing to one. Every output pixel a window contributes has at least
`overlap / 2` pixels of context in that window, so a network whose receptive field reaches at
most `overlap / 2` pixels gives exactly its whole-photo answer, seams included; a deeper one
(the 23-block RRDB sees hundreds of pixels) differs slightly near the seams, and the blend
spreads that difference over the band instead of leaving a step (docs/benchmarks.md measures
it on a photo).

Pure numpy geometry: no sessions, no HTTP. Sizes are in input pixels unless named `out`.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Axis:
    """One axis of a photo cut into windows: `cores[k]` is the part window k answers for
    (the cores partition the axis), `starts[k]` where window k begins; every window is
    `window` long."""

    length: int
    window: int
    starts: tuple[int, ...]
    cores: tuple[tuple[int, int], ...]
    half_band: int  # the blend reaches this far on each side of a boundary between cores

    def weights(self, k: int, scale: int) -> tuple[int, np.ndarray]:
        """Window k's blend weights along this axis at the output's resolution: where they
        begin in the output, and the weights (1 in its core, ramps across the bands)."""
        first, last = self.cores[k]
        half = self.half_band * scale
        lo = first * scale - (half if k > 0 else 0)
        hi = last * scale + (half if k < len(self.cores) - 1 else 0)
        positions = np.arange(lo, hi, dtype=np.float64) + 0.5
        w = np.ones(hi - lo, np.float64)
        if half:
            if k > 0:
                w = np.minimum(w, (positions - (first * scale - half)) / (2 * half))
            if k < len(self.cores) - 1:
                w = np.minimum(w, 1 - (positions - (last * scale - half)) / (2 * half))
        return lo, w.astype(np.float32)


def cut_axis(length: int, tile: int, overlap: int, multiple_of: int) -> Axis:
    """Cores of at most about `tile` (multiples of `multiple_of`, as `length` is), windows
    `overlap` longer on each side, all of one length; one window when the axis fits."""
    if length <= tile + 2 * overlap:
        return Axis(length, length, (0,), ((0, length),), 0)
    count = math.ceil(length / tile)
    units = length // multiple_of
    bounds = [round(k * units / count) * multiple_of for k in range(count + 1)]
    cores = tuple(itertools.pairwise(bounds))
    window = min(length, max(b - a for a, b in cores) + 2 * overlap)
    starts = tuple(min(max(0, a - overlap), length - window) for a, _ in cores)
    half = overlap // 2
    if min(b - a for a, b in cores) < 2 * half:
        raise ValueError(f"tiles of {tile} are too small for an overlap of {overlap}")
    return Axis(length, window, starts, cores, half)


@dataclass(frozen=True)
class Tiling:
    """A photo of `rows.length` x `cols.length` (already padded to the network's multiple)
    cut into windows, row-major: window i is (rows k, cols j) with i = k * len(cols) + j."""

    rows: Axis
    cols: Axis
    scale: int

    @property
    def count(self) -> int:
        return len(self.rows.starts) * len(self.cols.starts)

    @property
    def window(self) -> tuple[int, int]:
        return self.rows.window, self.cols.window

    @property
    def window_pixels(self) -> int:
        return self.rows.window * self.cols.window

    def cut(self, image: np.ndarray) -> np.ndarray:
        """[1, C, H, W] -> [count, C, window height, window width]: every window, in order."""
        h, w = self.window
        return np.stack(
            [image[0, :, y : y + h, x : x + w] for y in self.rows.starts for x in self.cols.starts]
        )

    def canvas(self, channels: int = 3) -> np.ndarray:
        """The zeroed float32 output [C, H * scale, W * scale] windows are pasted into."""
        return np.zeros(
            (channels, self.rows.length * self.scale, self.cols.length * self.scale), np.float32
        )

    def paste(self, canvas: np.ndarray, index: int, output: np.ndarray) -> None:
        """Add window `index`'s output [C, window * scale] into `canvas`, weighted: once
        every window is pasted, each output pixel's weights have summed to one."""
        k, j = divmod(index, len(self.cols.starts))
        y_lo, wy = self.rows.weights(k, self.scale)
        x_lo, wx = self.cols.weights(j, self.scale)
        ty = y_lo - self.rows.starts[k] * self.scale
        tx = x_lo - self.cols.starts[j] * self.scale
        part = output[:, ty : ty + len(wy), tx : tx + len(wx)]
        target = canvas[:, y_lo : y_lo + len(wy), x_lo : x_lo + len(wx)]
        if wy.min() == 1 and wx.min() == 1:
            target += part
        else:
            target += part * (wy[:, None] * wx[None, :])


def plan(height: int, width: int, tile: int, overlap: int, multiple_of: int, scale: int) -> Tiling:
    """The windows of a `height` x `width` input (multiples of `multiple_of`): cores of about
    `tile` pixels, `overlap` pixels of context (both rounded up to the multiple)."""
    tile = -(-tile // multiple_of) * multiple_of
    overlap = -(-overlap // multiple_of) * multiple_of
    return Tiling(
        cut_axis(height, tile, overlap, multiple_of),
        cut_axis(width, tile, overlap, multiple_of),
        scale,
    )
