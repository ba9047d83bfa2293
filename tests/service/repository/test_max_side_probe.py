"""A translation session's first estimate: a small photo's, scaled, or its largest photo's
measured before; that photo timed in the background once the service is ready, once per
machine (the cost cache), and never holding up a shutdown."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from onnx_models import make_translation

from service.engine.admission import WorkEstimate
from service.engine.runtime import ProviderChoice
from service.repository import loading
from service.repository.cost_cache import Cost, CostCache, CostKey
from service.repository.max_side_probe import MaxSideProbes
from service.repository.model import Model
from service.repository.warmup import SCALE_TO_MAX_SIDE
from service.resources.memory import MemoryBudget
from service.settings import Settings

pytestmark = pytest.mark.anyio

SETTINGS = Settings(provider="cpu", intra_op_threads=1, max_side=98, max_batch_pixels=98**2)


def load(folder: Path, cache: CostCache) -> Model:
    model = loading.load_model(folder, SETTINGS, ProviderChoice("cpu"), cache)
    assert model.ready, model.reason
    return model


def test_a_translation_starts_from_a_small_photo_scaled(tmp_path: Path, monkeypatch) -> None:
    probes: list[tuple[int, ...]] = []
    real = loading.measured_cost

    def recording(runner, probe, *rest):
        probes.append(probe["image"].shape)
        return real(runner, probe, *rest)

    monkeypatch.setattr(loading, "measured_cost", recording)
    model = load(make_translation(tmp_path / "trans"), CostCache.open(tmp_path / "cache"))
    assert probes == [(1, 3, 256, 256)] * 2  # not max_side: that is timed in the background
    for role, runner in model.runners.items():
        assert runner.estimate.headroom == loading.TRANSLATION_HEADROOM < 1
        assert runner.estimate.unit_s and runner.estimate.runs == 0
        # max_side up to the model's multiple of 4
        assert model.unmeasured[role] == CostKey(
            runner_sha(model, role), "CPUExecutionProvider", 1, 100
        )


def runner_sha(model: Model, role: str) -> str:
    assert model.manifest is not None
    return model.manifest.files[role].sha256


def test_a_cost_measured_before_is_used_as_it_is(tmp_path: Path, monkeypatch) -> None:
    folder = make_translation(tmp_path / "trans")
    cache = CostCache.open(tmp_path / "cache")
    first = load(folder, cache)
    for role, key in first.unmeasured.items():
        cache.put(key, Cost(1e-3 if role == "a2b" else 2e-3, 77))
    monkeypatch.setattr(loading, "measured_cost", lambda *a: pytest.fail("timed again"))
    again = load(folder, cache)
    assert not again.unmeasured
    assert again.runners["a2b"].estimate.unit_s == 1e-3
    assert again.runners["b2a"].estimate.unit_s == 2e-3
    assert again.runners["b2a"].estimate.unit_bytes == 77
    assert again.runners["b2a"].estimate.headroom == loading.TRANSLATION_HEADROOM


def test_the_scaling_doubles_the_time_per_pixel_only_below_max_side() -> None:
    from service.repository.warmup import scaled_to_max_side

    small = WorkEstimate(unit_s=1e-6, unit_bytes=900, headroom=0.5)
    big = scaled_to_max_side(small, 256, 1024)
    assert (big.unit_s, big.unit_bytes, big.headroom) == (1e-6 * SCALE_TO_MAX_SIDE, 900, 0.5)
    assert scaled_to_max_side(small, 256, 256) == small


async def test_the_largest_photo_is_timed_once_ready_and_kept(tmp_path: Path) -> None:
    cache = CostCache.open(tmp_path / "cache")
    model = load(make_translation(tmp_path / "trans"), cache)
    runner = model.runners["a2b"]
    first = runner.estimate.unit_s
    ready = threading.Event()
    memory = MemoryBudget(1 << 30)
    with ThreadPoolExecutor(1) as pool:
        probes = MaxSideProbes(cache, memory, pool)
        probes.add(model)
        task = asyncio.create_task(probes.run(ready.is_set))
        await asyncio.sleep(0.7)
        assert all(cache.get(k) is None for k in model.unmeasured.values())  # not before ready
        ready.set()
        deadline = time.monotonic() + 10
        while any(cache.get(k) is None for k in model.unmeasured.values()):
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        task.cancel()
    measured = cache.get(model.unmeasured["a2b"])
    assert measured is not None and runner.estimate.unit_s == measured.unit_s != first
    assert runner.estimate.unit_bytes == measured.unit_bytes
    assert memory.reserved == 0


async def test_a_session_served_meanwhile_keeps_its_time_and_gets_the_memory(tmp_path) -> None:
    cache = CostCache.open(tmp_path / "cache")
    model = load(make_translation(tmp_path / "trans"), cache)
    estimate = model.runners["a2b"].estimate
    estimate.observe(100, 0.5)  # a served run corrected it
    served = estimate.unit_s
    estimate.remeasured(1.0, 123)
    assert (estimate.unit_s, estimate.unit_bytes) == (served, 123)


async def test_a_worker_waits_for_the_one_measuring_and_takes_its_figure(tmp_path) -> None:
    cache = CostCache.open(tmp_path / "cache")
    model = load(make_translation(tmp_path / "trans", graphs=None), cache)
    key = model.unmeasured["a2b"]
    model.unmeasured = {"a2b": key}
    with ThreadPoolExecutor(1) as pool:
        probes = MaxSideProbes(cache, MemoryBudget(1 << 30), pool)
        with cache.claim(key) as other_worker:
            assert other_worker
            probes.add(model)
            task = asyncio.create_task(probes.run(lambda: True))
            await asyncio.sleep(0.3)
            cache.put(key, Cost(5e-4, 11))  # the other worker's measurement
        await asyncio.sleep(1.2)  # its next look
        task.cancel()
    assert model.runners["a2b"].estimate.unit_s == 5e-4


class EndlessRunner:
    """A run that ends only when told to terminate, as ONNX Runtime's does between operators."""

    key = "endless:a2b"

    def __init__(self) -> None:
        self.estimate = WorkEstimate(unit_s=1e-6, unit_bytes=10)
        self.started = threading.Event()
        self.ended = threading.Event()

    def run(self, inputs, options) -> None:
        self.started.set()
        while not options.terminate:
            time.sleep(0.01)
        self.ended.set()
        raise RuntimeError("Exiting due to terminate flag being set to true.")


async def test_a_shutdown_stops_the_run_in_progress(tmp_path: Path) -> None:
    runner = EndlessRunner()
    model = Model("endless", "ready", runners={"a2b": runner})  # type: ignore[dict-item]
    model.unmeasured = {"a2b": CostKey("ef" * 32, "CPUExecutionProvider", 1, 64)}
    memory = MemoryBudget(1 << 30)
    with ThreadPoolExecutor(1) as pool:
        probes = MaxSideProbes(CostCache.open(tmp_path / "cache"), memory, pool)
        probes.add(model)
        task = asyncio.create_task(probes.run(lambda: True))
        assert await asyncio.to_thread(runner.started.wait, 5)
        assert memory.reserved == 10 * 64 * 64
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await asyncio.to_thread(runner.ended.wait, 2)
    assert memory.reserved == 0
