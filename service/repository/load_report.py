"""The one line a model logs when it is ready: what it is, where it runs, and what a request
costs as admission first plans it, in a request's own terms (a batch of images, the largest
photo the service takes) rather than in its units of work (rows, pixels)."""

from __future__ import annotations

from pathlib import Path

from service.engine.runtime import Runner
from service.manifest import SYNTHESIS
from service.repository.model import Model
from service.repository.warmup import PROBE_SIDE, SCALE_TO_MAX_SIDE, side_of
from service.settings import Settings


def ready_line(model: Model, settings: Settings, cache_folder: Path | None) -> str:
    """E.g. `model dcgan-mnist ready: unconditional on CPU, 1 thread; 64 images take 9 ms`;
    a StyleGAN's in images, each the synthesis' (its mapping costs next to nothing)."""
    manifest = model.manifest
    assert manifest is not None
    runners = model.runners
    head = f"model {model.name} ready: {manifest.kind} {_where(runners)}"
    if manifest.kind == "stylegan":
        synthesis = runners[SYNTHESIS]
        peak = synthesis.estimate.peak_bytes(1) >> 20
        memory = f", holding about {peak} MiB while it runs" if peak else ""
        return f"{head}; an image takes {_seconds(synthesis, 1) * 1e3:.0f} ms{memory}"
    if manifest.kind != "translation":
        (runner,) = runners.values()
        seconds = _seconds(runner, settings.max_batch)
        return f"{head}; {settings.max_batch} images take {seconds * 1e3:.0f} ms"
    side = side_of(manifest, settings.max_side)
    costs = ", ".join(f"{_seconds(r, side * side):.1f} s ({role})" for role, r in runners.items())
    if not model.unmeasured:
        how = f"measured on this machine before, kept in {cache_folder}"
    else:
        small = side_of(manifest, PROBE_SIDE)
        how = (
            f"{SCALE_TO_MAX_SIDE:g} times a {small}x{small} photo's time per pixel, "
            "until one is timed in the background"
        )
    return f"{head}; a {side}x{side} photo takes about {costs} ({how})"


def _seconds(runner: Runner, units: int) -> float:
    return (runner.estimate.unit_s or 0.0) * units


def _where(runners: dict[str, Runner]) -> str:
    """`on CPU, 1 thread`, or per role where the sessions differ."""
    places = {role: _place(r) for role, r in runners.items()}
    if len(set(places.values())) == 1:
        return next(iter(places.values()))
    return ", ".join(f"{role} {place}" for role, place in places.items())


def _place(runner: Runner) -> str:
    threads = f"{runner.threads} thread{'s' if runner.threads > 1 else ''}"
    return f"on {runner.provider.removesuffix('ExecutionProvider')}, {threads}"
