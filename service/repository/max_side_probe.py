"""The largest photo timed in the background, once the service is ready.

A translation session starts serving with its 256x256 photo's time per pixel, doubled
(service/repository/warmup.py); timing a `max_side` photo at start took 7-9 s a direction on
one core, in every worker at once. Here each such session is timed on that photo after every
worker is ready, once per machine: the figure goes to the cost cache
(service/repository/cost_cache.py), where the next start finds it, and replaces the session's
first estimate (its time only while no served run has corrected it). With several workers one
measures while the others wait for its entry.

The run is a bulk one: in the translation pool (below the event loop's priority), with its
estimated peak reserved from the memory budget like a request's run, and stopped between
operators (ONNX Runtime's `terminate`) when the process shuts down, so it never holds up an
exit.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor

import numpy as np
import onnxruntime as ort

from service.engine.runtime import Runner
from service.repository.cost_cache import Cost, CostCache, CostKey
from service.repository.model import Model, first_line
from service.resources.memory import MemoryBudget, give_back_freed, peak_bytes_of

log = logging.getLogger("ganserve.repository")

POLL_S = 0.5  # how often to look again while the service is not ready or a worker measures


class MaxSideProbes:
    """Sessions still to be timed on their largest photo, timed one at a time by `run`."""

    def __init__(self, cache: CostCache, memory: MemoryBudget, executor: Executor) -> None:
        self._cache = cache
        self._memory = memory
        self._executor = executor
        self._pending: deque[tuple[Runner, CostKey]] = deque()
        self._added = asyncio.Event()

    def add(self, model: Model) -> None:
        for role, key in model.unmeasured.items():
            self._pending.append((model.runners[role], key))
        if model.unmeasured:
            self._added.set()

    async def run(self, ready: Callable[[], bool]) -> None:
        """Forever: time what was added, each once `ready()` (every worker can serve)."""
        while True:
            await self._added.wait()
            self._added.clear()
            while self._pending:
                runner, key = self._pending[0]
                if ready() and await self._settle(runner, key):
                    self._pending.popleft()
                else:
                    await asyncio.sleep(POLL_S)

    async def _settle(self, runner: Runner, key: CostKey) -> bool:
        """The cached figure, or this process's measurement; False while another measures."""
        with self._cache.claim(key) as ours:
            cost = self._cache.get(key)  # another worker's, just written
            if cost is None and not ours:
                return False
            if cost is None:
                cost = await self._measure(runner, key)
                if cost is None:
                    return True  # logged; the session keeps its first estimate
                self._cache.put(key, cost)
        runner.estimate.remeasured(cost.unit_s, cost.unit_bytes)
        return True

    async def _measure(self, runner: Runner, key: CostKey) -> Cost | None:
        pixels = key.side * key.side
        photo = {"image": np.zeros((1, 3, key.side, key.side), np.float32)}
        options = ort.RunOptions()
        reserved = runner.estimate.peak_bytes(pixels)
        await self._memory.reserve(reserved)
        run = asyncio.get_running_loop().run_in_executor
        try:
            seconds, peak = await run(self._executor, _timed, runner, photo, options)
        except asyncio.CancelledError:
            options.terminate = True  # shutting down: stop the run at its next operator
            raise
        except Exception as exc:  # ORT's own exception types
            side = f"{key.side}x{key.side}"
            log.warning("%s: timing a %s photo failed: %s", runner.key, side, first_line(exc))
            return None
        finally:
            self._memory.release(reserved)
        first = (runner.estimate.unit_s or 0.0) * pixels
        log.info(
            "%s: a %dx%d photo took %.1f s (estimated %.1f s)%s",
            runner.key,
            key.side,
            key.side,
            seconds,
            first,
            "" if self._cache.folder is None else f"; kept in {self._cache.folder}",
        )
        return Cost(seconds / pixels, None if peak is None else -(-peak // pixels))


def _timed(
    runner: Runner, photo: dict[str, np.ndarray], options: ort.RunOptions
) -> tuple[float, int | None]:
    """Seconds and resident peak of one run, its memory handed back afterwards."""
    give_back_freed()
    start = time.perf_counter()
    _, peak = peak_bytes_of(lambda: runner.run(photo, options))
    seconds = time.perf_counter() - start
    give_back_freed()
    return seconds, peak
