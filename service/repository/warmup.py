"""Warm-up and the first cost estimate of a freshly loaded session.

Warm-up runs the batch sizes the batcher will use (and checks the output shape); the probe
run measures the time and peak memory admission starts from. A generator's probe is a full
batch (milliseconds). A translation's is a 256x256 photo, whose time per pixel is scaled up
to stand for the largest photo the service takes (`max_side`) until that photo is timed in
the background (service/repository/max_side_probe.py) or found measured before
(service/repository/cost_cache.py): timing it at start took 7-9 s a direction.
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np

from service.engine.admission import WorkEstimate
from service.engine.batcher import work_per_row
from service.engine.runtime import PHOTO_KINDS, Runner, output_of, warmup_inputs
from service.manifest import SYNTHESIS, Manifest
from service.repository.model import LoadError, first_line
from service.repository.upscaling import upscale_probe
from service.resources.memory import peak_bytes_of
from service.settings import Settings

PROBE_SIDE = 256  # translation: the thread count and first estimate come from this side

# On the shipped CycleGAN a 256x256 photo's time per pixel is 0.54-0.70 of a 1024x1024
# one's (1 or 2 threads; alone, both directions at once, beside a CPU burner); doubled, it
# predicts 1.09-1.41 times the measured cost: on the slow, safe side (benchmarks/photo_cost.py,
# docs/benchmarks.md#start-up). A 512x512 photo as is predicted 0.65-0.95, and a growth rate
# fitted on 128x128 and 256x256 photos 0.42-1.97.
SCALE_TO_MAX_SIDE = 2.0


def measured_cost(runner: Runner, probe: dict[str, np.ndarray], headroom: float) -> WorkEstimate:
    """Admission's first estimate: the time and peak memory of one probe run per unit of
    work (the batcher's runs correct it from then on)."""
    units = len(next(iter(probe.values()))) * work_per_row(probe)
    start = time.perf_counter()
    _, peak = peak_bytes_of(lambda: runner.run(probe))
    seconds = time.perf_counter() - start
    return WorkEstimate(
        unit_s=seconds / units,
        unit_bytes=None if peak is None else -(-peak // units),
        headroom=headroom,
    )


def scaled_to_max_side(small: WorkEstimate, probe_side: int, max_side: int) -> WorkEstimate:
    """A small photo's estimate made to stand for a `max_side` one: a photo's time per pixel
    grows with its size (caches), so an estimate from a small probe as it is admitted a burst
    of large photos that then timed out in the queue. Its memory per pixel is kept: it falls
    with the size (a run's fixed buffers spread over more pixels), so it errs on the safe
    side too."""
    if small.unit_s is None or probe_side >= max_side:
        return small
    return replace(small, unit_s=small.unit_s * SCALE_TO_MAX_SIDE)


def side_of(manifest: Manifest, side: int) -> int:
    """`side` rounded up to a multiple of the model's `multiple_of`."""
    return -(-side // manifest.image.multiple_of) * manifest.image.multiple_of


def probe(
    manifest: Manifest, settings: Settings, role: str, side: int = PROBE_SIDE
) -> dict[str, np.ndarray]:
    """A full generator batch, one StyleGAN synthesis row (at 1024x1024 one row holds about
    a gigabyte: rows per run are chosen from its measured peak, service/repository/model.py),
    or a photo of about `side` square. A super-resolution session runs windows of one size
    (service/repository/upscaling.py), so that is its probe."""
    if manifest.kind == "super-resolution":
        return upscale_probe(manifest, settings, window=side != PROBE_SIDE)
    if role == SYNTHESIS:
        return warmup_inputs(manifest, 1, role)
    if manifest.kind != "translation":
        return warmup_inputs(manifest, settings.max_batch, role)
    side = side_of(manifest, side)
    return {"image": np.zeros((1, 3, side, side), np.float32)}


def warm_up(runner: Runner, manifest: Manifest, max_batch: int, role: str) -> None:
    """Run the sizes the batcher will use, and check the output shape while at it."""
    if manifest.kind in PHOTO_KINDS or role == SYNTHESIS:
        sizes: tuple[int, ...] = (1,)
    else:
        sizes = runner.buckets or tuple(sorted({1, max_batch}))
    for rows in sizes:
        inputs = warmup_inputs(manifest, rows, role)
        try:
            out = runner.run(inputs)
        except Exception as exc:
            raise LoadError(f"warm-up run failed: {first_line(exc)}") from exc
        want = output_of(manifest, role, inputs)
        if out.shape != want or out.dtype != np.float32:
            got = f"{out.dtype}{list(out.shape)}"
            raise LoadError(f"warm-up output is {got}, expected float32{list(want)}")
