"""What a super-resolution session needs from the repository beyond a translator's: the
windows it runs (their size, its probe) and how many of them one run may hold.

A super-resolution session runs windows of one shape (service/engine/tiling.py): a photo
larger than one window is cut into several, and windows of one photo or of several requests
are rows of one input shape, which the batcher merges into one run up to `rows_per_run`.
"""

from __future__ import annotations

import numpy as np

from service.engine.runtime import Runner, warmup_inputs
from service.manifest import UPSCALE, Manifest
from service.settings import Settings


def window_side(manifest: Manifest, settings: Settings) -> int:
    """The side of a full window: a core of `tile_side` and `tile_overlap` on each side, both
    rounded up to the network's multiple (as service/engine/tiling.py rounds them)."""
    m = manifest.image.multiple_of
    return -(-settings.tile_side // m) * m + 2 * (-(-settings.tile_overlap // m) * m)


def upscale_probe(manifest: Manifest, settings: Settings, *, window: bool) -> dict[str, np.ndarray]:
    """One full window (`window`: the run admission's first estimate is measured on), else
    the manifest's nominal input, on which the thread count is chosen: the cost per pixel
    of a convolutional network hardly depends on the size, and the window of a 23-block
    RRDB takes tens of seconds on two cores."""
    if not window:
        return warmup_inputs(manifest, 1, UPSCALE)
    side = window_side(manifest, settings)
    return {"image": np.zeros((1, 3, side, side), np.float32)}


def rows_per_run(runner: Runner, manifest: Manifest, settings: Settings, room: int) -> int:
    """Most windows in one run: `max_batch`, no more pixels than `max_batch_pixels`, and an
    estimated peak within half of the memory budget's `room` (at least one window)."""
    pixels = window_side(manifest, settings) ** 2
    most = min(settings.max_batch, settings.max_batch_pixels // pixels)
    return runner.estimate.rows_within(room // 2, pixels, most)
