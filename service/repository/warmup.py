"""Warm-up and the first cost estimate of a freshly loaded session.

Warm-up runs the batch sizes the batcher will use (and checks the output shape); the probe
run measures the time and peak memory admission starts from.
"""

from __future__ import annotations

import logging
import time

import numpy as np

from service.engine.admission import WorkEstimate
from service.engine.batcher import work_per_row
from service.engine.runtime import Runner, warmup_inputs
from service.manifest import Manifest
from service.repository.model import LoadError, first_line
from service.resources.memory import peak_bytes_of
from service.settings import Settings

log = logging.getLogger("ganserve.repository")

PROBE_SIDE = 256  # translation: the thread count is chosen on a photo of about this side


def measured_cost(runner: Runner, probe: dict[str, np.ndarray], headroom: float) -> WorkEstimate:
    """Admission's first estimate: the time and peak memory of one probe run per unit of
    work (the batcher's runs correct it from then on)."""
    units = len(next(iter(probe.values()))) * work_per_row(probe)
    start = time.perf_counter()
    _, peak = peak_bytes_of(lambda: runner.run(probe))
    seconds = time.perf_counter() - start
    estimate = WorkEstimate(
        unit_bytes=None if peak is None else -(-peak // units),
        headroom=headroom,
    )
    estimate.observe(units, seconds)
    log.info("%s: %.3f s for %d units of work on the probe", runner.key, seconds, units)
    return estimate


def probe(manifest: Manifest, settings: Settings, side: int = PROBE_SIDE) -> dict[str, np.ndarray]:
    """A full generator batch, or a photo of about `side` square. The thread count is chosen
    on a 256x256 photo; admission's first estimate is measured on the largest the service
    takes (max_side), since a photo's cost per pixel grows with its size (on the shipped
    CycleGAN 14.8 us at 256x256, 22.2 us at 512x512): an estimate from a small probe admitted
    a burst of large photos that then timed out in the queue."""
    if manifest.kind != "translation":
        return warmup_inputs(manifest, settings.max_batch)
    side = -(-side // manifest.image.multiple_of) * manifest.image.multiple_of
    return {"image": np.zeros((1, 3, side, side), np.float32)}


def warm_up(runner: Runner, manifest: Manifest, max_batch: int) -> None:
    """Run the sizes the batcher will use, and check the output shape while at it."""
    if manifest.kind == "translation":
        sizes: tuple[int, ...] = (1,)
    else:
        sizes = runner.buckets or tuple(sorted({1, max_batch}))
    for rows in sizes:
        inputs = warmup_inputs(manifest, rows)
        try:
            out = runner.run(inputs)
        except Exception as exc:
            raise LoadError(f"warm-up run failed: {first_line(exc)}") from exc
        spec = manifest.image
        if manifest.kind == "translation":
            want = inputs["image"].shape
        else:
            want = (rows, spec.channels, spec.height, spec.width)
        if out.shape != want or out.dtype != np.float32:
            got = f"{out.dtype}{list(out.shape)}"
            raise LoadError(f"warm-up output is {got}, expected float32{list(want)}")
