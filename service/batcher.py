"""Dynamic batching: concurrent requests to one session become one `session.run`.

Each request's rows wait at most `max_delay` for company, then run with up to `max_batch`
rows from other requests; the output is handed back as views of the batch output, in order.
They wait only while there is traffic (the last batch merged requests): on an idle session a
lone request runs at once, so batching adds no latency when there is nobody to batch with.
Only rows with the same non-batch shapes are merged (translation uploads differ in size), and
the queue is bounded in rows so overload answers 503 instead of growing without limit.

A lone request on an idle session whose run measured cheap (`inline_max_s`) runs on the event
loop itself: after a pause, waking a pool thread and being woken back costs some 0.3 ms on
this machine's VM, as much as a batch-1 run of a small generator. Under traffic batches always
run in the pool, so HTTP work and inference overlap.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field

import numpy as np

from service.metrics import SessionMetrics

Inputs = dict[str, np.ndarray]
RunFn = Callable[[Inputs], np.ndarray]

log = logging.getLogger("ganserve.batcher")

MAX_SHAPES_TIMED = 64


class QueueFull(Exception):
    """The session has `queue_size` rows waiting; the client should retry later."""


@dataclass(eq=False)
class _Item:
    inputs: Inputs
    rows: int
    key: tuple
    future: asyncio.Future[np.ndarray]
    enqueued: float = field(default_factory=time.perf_counter)


def _shape_key(inputs: Inputs) -> tuple:
    return tuple((name, arr.shape[1:], arr.dtype.str) for name, arr in inputs.items())


class Batcher:
    """One per ONNX session. `run` is called in `executor`, one batch at a time."""

    def __init__(
        self,
        run: RunFn,
        *,
        max_batch: int,
        max_delay_s: float,
        queue_size: int,
        executor: Executor,
        metrics: SessionMetrics | None = None,
        inline_max_s: float = 0.0,
    ) -> None:
        self._run = run
        self.max_batch = max_batch
        self.max_delay_s = max_delay_s
        self.queue_size = queue_size
        self.inline_max_s = inline_max_s
        # Last measured run time per row, by input shape (uploads of other sizes cost more).
        self._row_s: dict[tuple, float] = {}
        self._executor = executor
        self._metrics = metrics
        self._queue: deque[_Item] = deque()
        self._rows = 0  # rows waiting, not yet taken into a batch
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._crowded = False  # the last batch merged requests: company is likely

    @property
    def depth(self) -> int:
        return self._rows

    async def submit(self, inputs: Inputs) -> np.ndarray:
        """Run `inputs` (arrays sharing their first axis) and return the first output's rows."""
        rows = len(next(iter(inputs.values())))
        if self._rows + rows > self.queue_size:
            raise QueueFull(f"{self._rows} rows already waiting")
        loop = asyncio.get_running_loop()
        key = _shape_key(inputs)
        futures = []
        for start in range(0, rows, self.max_batch):
            stop = min(start + self.max_batch, rows)
            whole = stop - start == rows
            chunk = inputs if whole else {k: v[start:stop] for k, v in inputs.items()}
            item = _Item(chunk, stop - start, key, loop.create_future())
            self._queue.append(item)
            futures.append(item.future)
        self._added(rows)
        self._ensure_worker()
        try:
            if len(futures) == 1:
                return await futures[0]
            return np.concatenate(await asyncio.gather(*futures))
        except asyncio.CancelledError:
            for fut in futures:
                fut.cancel()  # rows not yet taken are dropped by the worker
            raise

    def close(self) -> None:
        """Stop after the waiting rows are served: a replaced session drains, then goes."""
        self._closing = True
        self._wakeup.set()

    async def aclose(self, timeout: float = 5.0) -> None:
        self.close()
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), timeout)
            except TimeoutError:
                self._task.cancel()

    def _added(self, rows: int) -> None:
        self._rows += rows
        if self._metrics:
            self._metrics.queue_depth.set(self._rows)
        # Wake the worker when it waits for a first row or for a full batch, not on every
        # row in between: under load that is one wake-up per batch instead of per request.
        if self._rows == rows or self._rows >= self.max_batch:
            self._wakeup.set()

    def _taken(self, rows: int) -> None:
        self._rows -= rows
        if self._metrics:
            self._metrics.queue_depth.set(self._rows)

    def _ensure_worker(self) -> None:
        # Also restarts a drained worker: a request that picked this session just before a
        # reload replaced it is still served by it.
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._work())

    async def _work(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self._queue:
                if self._closing:
                    return
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            if self._crowded:
                await self._wait_for_company()
            batch = self._take()
            if batch:
                self._crowded = len(batch) > 1
                await self._run_batch(loop, batch)

    async def _wait_for_company(self) -> None:
        """Until the oldest row has waited max_delay, a batch is full, or the batcher closes."""
        deadline = self._queue[0].enqueued + self.max_delay_s
        while self._rows < self.max_batch and not self._closing:
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                return
            self._wakeup.clear()
            try:
                await asyncio.wait_for(self._wakeup.wait(), remaining)
            except TimeoutError:
                return

    def _take(self) -> list[_Item]:
        """Up to max_batch rows from the head of the queue, all of the same shape."""
        batch: list[_Item] = []
        rows = 0
        key = None
        while self._queue:
            item = self._queue[0]
            if item.future.cancelled():
                self._queue.popleft()
                self._taken(item.rows)
                continue
            if batch and (item.key != key or rows + item.rows > self.max_batch):
                break
            self._queue.popleft()
            self._taken(item.rows)
            batch.append(item)
            key = item.key
            rows += item.rows
        return batch

    def _timed_run(self, inputs: Inputs) -> tuple[np.ndarray, float]:
        """The run and its own duration, without the hand-offs to and from the pool."""
        start = time.perf_counter()
        output = self._run(inputs)
        return output, time.perf_counter() - start

    def _inline(self, batch: list[_Item], rows: int) -> bool:
        """A lone request, nothing else waiting, and a run of its shape measured to fit in
        inline_max_s."""
        if len(batch) > 1 or self._queue:
            return False
        row_s = self._row_s.get(batch[0].key)
        return row_s is not None and row_s * rows <= self.inline_max_s

    async def _run_batch(self, loop: asyncio.AbstractEventLoop, batch: list[_Item]) -> None:
        now = time.perf_counter()
        if len(batch) == 1:
            inputs = batch[0].inputs
        else:
            inputs = {k: np.concatenate([it.inputs[k] for it in batch]) for k in batch[0].inputs}
        rows = sum(it.rows for it in batch)
        try:
            if self._inline(batch, rows):
                output, run_s = self._timed_run(inputs)
            else:
                output, run_s = await loop.run_in_executor(self._executor, self._timed_run, inputs)
        except Exception as exc:  # the session failed: every waiter hears why
            log.error("a batch of %d rows failed: %s", rows, exc, exc_info=exc)
            for it in batch:
                if not it.future.done():
                    it.future.set_exception(exc)
            return
        if len(self._row_s) >= MAX_SHAPES_TIMED and batch[0].key not in self._row_s:
            self._row_s.clear()  # uploads of ever new sizes must not grow it without bound
        self._row_s[batch[0].key] = run_s / rows
        if self._metrics:
            self._metrics.batch_size.observe(rows)
            self._metrics.inference.observe(time.perf_counter() - now)
            for it in batch:
                self._metrics.queue_wait.observe(now - it.enqueued)
        start = 0
        for it in batch:
            if not it.future.done():
                it.future.set_result(output[start : start + it.rows])
            start += it.rows
