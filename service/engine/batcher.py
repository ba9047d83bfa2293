"""Dynamic batching: concurrent requests to one session become one `session.run`.

Each request's rows wait at most `max_delay` for company, then run with up to `max_batch`
rows from other requests; the output is handed back as views of the batch output, in order.
They wait only while there is traffic (the last batch merged requests): on an idle session a
lone request runs at once, so batching adds no latency when there is nobody to batch with.
Only rows with the same non-batch shapes are merged (translation uploads differ in size), and
the queue is bounded in rows so overload answers 503 instead of growing without limit.

A run is bounded by work too: `max_work` units, where a row's work is the pixels of its image
(1 for a latent vector), so a burst of large photos is split into runs of bounded time and
memory. Admission (service/engine/admission.py) refuses a request whose estimated finish is past
its deadline; a request still queued at its deadline is dropped unrun, and one whose rows
started running is answered when they are done, never with a timeout after its work ran
(the deadline is each request's own: `submit(inputs, timeout_s)`).
Each run first reserves its estimated peak memory from the process's `MemoryBudget`.

A lone request on an idle session whose run measured cheap (`inline_max_s`) runs on the event
loop itself: after a pause, waking a pool thread and being woken back costs some 0.3 ms on
this machine's VM, as much as a batch-1 run of a small generator. It runs inside the caller's
`run_now`, without the queue, the worker's wake-up and a future (the caller then needs no
hang-up watch either: nothing else runs on the loop until it is done). Under traffic batches
always run in the pool, so HTTP work and inference overlap.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Executor
from dataclasses import dataclass, field

import numpy as np

from service.engine.admission import Overloaded, WorkEstimate
from service.engine.session_metrics import SessionMetrics
from service.engine.session_stats import SessionStats
from service.resources.memory import MemoryBudget

Inputs = dict[str, np.ndarray]
RunFn = Callable[[Inputs], np.ndarray]

log = logging.getLogger("ganserve.batcher")

MAX_SHAPES_TIMED = 64


class DeadlinePassed(Exception):
    """The request waited `timeout_s` in the queue; its rows were dropped, never run."""


class TooLarge(Exception):
    """One run of this request alone would need more memory than the whole budget holds."""


@dataclass(eq=False)
class _Item:
    inputs: Inputs
    rows: int
    work: int
    key: tuple
    future: asyncio.Future[np.ndarray]
    enqueued: float = field(default_factory=time.perf_counter)
    started: bool = False  # taken into a run that began: it will be answered


def _shape_key(inputs: Inputs) -> tuple:
    return tuple((name, arr.shape[1:], arr.dtype.str) for name, arr in inputs.items())


def work_per_row(inputs: Inputs) -> int:
    """Pixels of a row's photo (a first input [N, C, H, W]); 1 for anything else (a latent,
    a StyleGAN's ws)."""
    first = next(iter(inputs.values()))
    return math.prod(first.shape[2:]) if first.ndim == 4 else 1


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
        max_work: int | None = None,
        estimate: WorkEstimate | None = None,
        memory: MemoryBudget | None = None,
        name: str = "the session",
    ) -> None:
        self._run = run
        self.max_batch = max_batch
        self.max_work = max_work
        self.estimate = estimate or WorkEstimate()
        self.name = name
        self._memory = memory
        self.max_delay_s = max_delay_s
        self.queue_size = queue_size
        self.inline_max_s = inline_max_s
        # Last measured run time per row, by input shape (uploads of other sizes cost more).
        self._row_s: dict[tuple, float] = {}
        self._executor = executor
        self._metrics = metrics
        self.stats = SessionStats()  # counts and durations, kept for the V2 statistics
        self._queue: deque[_Item] = deque()
        self._rows = 0  # rows waiting, not yet taken into a batch
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._crowded = False  # the last batch merged requests: company is likely
        self._running = False  # a batch is taken and not yet answered
        self._arriving = 0  # requests inside run_now's turn of the loop
        self._arrivals = 0  # requests that ever entered it

    @property
    def depth(self) -> int:
        return self._rows

    @property
    def idle(self) -> bool:
        """Nothing queued, reserved or running."""
        return not self._queue and self.estimate.queued == 0 and self.estimate.running == 0

    async def submit(
        self,
        inputs: Inputs,
        timeout_s: float | None = None,
        *,
        each: Callable[[int, np.ndarray], None] | None = None,
    ) -> np.ndarray | None:
        """Run `inputs` (arrays sharing their first axis) and return the first output's rows.

        With `timeout_s`, raises Overloaded (refused, nothing queued) when the estimate says
        it cannot finish in time, and DeadlinePassed when it waited `timeout_s` unstarted
        (its rows dropped unrun). Also Overloaded when the queue is full, TooLarge over the
        memory budget, and what the run raised when it failed.

        With `each`, nothing is concatenated: every chunk's output is handed to `each(first
        row, output rows)` on the loop as soon as its run is done, and submit returns None
        (the windows of a large photo, whose outputs together would be far larger than the
        answer they are blended into).
        """
        rows = len(next(iter(inputs.values())))
        per_row = work_per_row(inputs)
        self.admit(rows, per_row, timeout_s)
        loop = asyncio.get_running_loop()
        key = _shape_key(inputs)
        items = []
        for start in range(0, rows, self.max_batch):
            stop = min(start + self.max_batch, rows)
            whole = stop - start == rows
            chunk = inputs if whole else {k: v[start:stop] for k, v in inputs.items()}
            item = _Item(chunk, stop - start, (stop - start) * per_row, key, loop.create_future())
            self._queue.append(item)
            items.append(item)
        self._added(rows, rows * per_row)
        self._ensure_worker()
        futures = [it.future for it in items]
        try:
            await self._answered(items, timeout_s, each)
        except asyncio.CancelledError:
            for fut in futures:
                fut.cancel()  # rows not yet taken are dropped by the worker
            raise
        if each is not None:
            for fut in futures:
                fut.result()  # a failed run's error
            return None
        if len(futures) == 1:
            return futures[0].result()
        return np.concatenate([fut.result() for fut in futures])

    async def run_now(self, inputs: Inputs, timeout_s: float | None = None) -> np.ndarray | None:
        """`submit`'s answer, run on the event loop without the queue, when this request is
        alone on an idle session and a run of its shape measured under `inline_max_s`; None
        (nothing done) otherwise. Requests that arrived with it (ready on the same turn of
        the loop) make it not alone: they are queued and batched. Raises what `submit`
        raises on refusal or a failed run."""
        if not self._idle():
            return None
        rows = len(next(iter(inputs.values())))
        key = _shape_key(inputs)
        if rows > self.max_batch or not self._cheap(key, rows):
            return None
        per_row = work_per_row(inputs)
        work = rows * per_row
        if self._memory and self.estimate.peak_bytes(work):
            return None  # a run that reserves memory waits its turn in the worker
        # Alone: nobody inside this turn when it came, and nobody came during it.
        crowd = self._arriving
        self._arriving += 1
        self._arrivals += 1
        arrivals = self._arrivals
        try:
            await asyncio.sleep(0)  # one turn of the loop: the others that are ready arrive
        finally:
            self._arriving -= 1
        alone = crowd == 0 and self._arrivals == arrivals
        if not alone or not self._idle():
            return None
        self.admit(rows, per_row, timeout_s)
        self.estimate.started(work)
        try:
            output, run_s = self._timed_run(inputs)
        except Exception as exc:
            log.error("a batch of %d rows failed: %s", rows, exc, exc_info=exc)
            raise
        finally:
            self.estimate.finished()
        self._observe(key, rows, work, run_s, [0.0])
        return output

    def admit(self, rows: int, per_row: int, timeout_s: float | None) -> None:
        """Refuse at once what cannot fit: the queue, the memory budget, the deadline (raises
        Overloaded or TooLarge). `submit` calls it; a route may call it sooner."""
        if self._rows + rows > self.queue_size:
            raise Overloaded(
                f"{self._rows} rows already waiting", self.estimate.seconds_before_done(0)
            )
        run_bytes = self.estimate.peak_bytes(min(rows, self.max_batch) * per_row)
        if self._memory and not self._memory.fits_alone(run_bytes):
            raise TooLarge(
                f"one run of this request needs about {run_bytes >> 20} MiB, "
                f"over the {self._memory.room >> 20} MiB the memory budget leaves"
            )
        if timeout_s is not None:
            self.estimate.admit(rows * per_row, timeout_s, self.name)

    @contextlib.contextmanager
    def reserved(self, rows: int, per_row: int, timeout_s: float | None) -> Iterator[None]:
        """Admit work before its input is made (a photo decoded) and count it as queued while
        it is made, so inputs made together are weighed against each other where an idle
        session would take each of them; `submit` admits and counts it again."""
        self.admit(rows, per_row, timeout_s)
        self.estimate.queued += rows * per_row
        try:
            yield
        finally:
            self.estimate.queued -= rows * per_row

    async def _answered(
        self,
        items: list[_Item],
        timeout_s: float | None,
        each: Callable[[int, np.ndarray], None] | None = None,
    ) -> None:
        """Until every chunk is done (each handed to `each` when given); at the deadline,
        dropped if none of them started. A timer, not `asyncio.wait`: its waiter future,
        callbacks and timeout cost more than the rest of `submit`."""
        expired = False

        def expire() -> None:
            nonlocal expired
            if not any(it.started for it in items):
                expired = True
                for it in items:
                    it.future.cancel()  # the worker drops them before they reach the session

        loop = asyncio.get_running_loop()
        timer = None if timeout_s is None else loop.call_later(timeout_s, expire)
        try:
            first = 0
            for it in items:
                try:
                    output = await it.future
                except asyncio.CancelledError:
                    if expired:
                        raise DeadlinePassed(
                            f"{self.name} did not start this within {timeout_s:g} s"
                        ) from None
                    raise
                except Exception:  # the run failed: submit raises it from the future
                    pass
                else:
                    if each is not None:
                        each(first, output)
                first += it.rows
        finally:
            if timer is not None:
                timer.cancel()

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

    def _added(self, rows: int, work: int) -> None:
        self._rows += rows
        self.estimate.queued += work
        if self._metrics:
            self._metrics.queue_depth.set(self._rows)
        # Wake the worker when it waits for a first row or for a full batch, not on every
        # row in between: under load that is one wake-up per batch instead of per request.
        if self._rows == rows or self._rows >= self.max_batch or self._full_by_work():
            self._wakeup.set()

    def _taken(self, item: _Item) -> None:
        self._rows -= item.rows
        self.estimate.queued -= item.work
        if self._metrics:
            self._metrics.queue_depth.set(self._rows)

    def _full_by_work(self) -> bool:
        return self.max_work is not None and self.estimate.queued >= self.max_work

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
        while self._rows < self.max_batch and not self._full_by_work() and not self._closing:
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                return
            self._wakeup.clear()
            try:
                await asyncio.wait_for(self._wakeup.wait(), remaining)
            except TimeoutError:
                return

    def _take(self) -> list[_Item]:
        """Up to max_batch rows and max_work units from the head of the queue, all of the
        same shape."""
        batch: list[_Item] = []
        rows = work = 0
        key = None
        while self._queue:
            item = self._queue[0]
            if item.future.cancelled():
                self._queue.popleft()
                self._taken(item)
                continue
            over_work = self.max_work is not None and work + item.work > self.max_work
            if batch and (item.key != key or rows + item.rows > self.max_batch or over_work):
                break
            self._queue.popleft()
            self._taken(item)
            batch.append(item)
            key = item.key
            rows += item.rows
            work += item.work
        return batch

    def _timed_run(self, inputs: Inputs) -> tuple[np.ndarray, float]:
        """The run and its own duration, without the hand-offs to and from the pool."""
        start = time.perf_counter()
        output = self._run(inputs)
        return output, time.perf_counter() - start

    def _idle(self) -> bool:
        """Nothing queued or running, and the last batch was one request's."""
        return not (self._queue or self._running or self._crowded)

    def _cheap(self, key: tuple, rows: int) -> bool:
        """A run of this shape measured to fit in inline_max_s."""
        row_s = self._row_s.get(key)
        return row_s is not None and row_s * rows <= self.inline_max_s

    def _observe(self, key: tuple, rows: int, work: int, run_s: float, waits: list[float]) -> None:
        """A run's time into the estimates and the metrics (`waits`: each request's queue wait)."""
        if len(self._row_s) >= MAX_SHAPES_TIMED and key not in self._row_s:
            self._row_s.clear()  # uploads of ever new sizes must not grow it without bound
        self._row_s[key] = run_s / rows
        self.estimate.observe(work, run_s)
        self.stats.ran(rows, run_s, waits)
        if self._metrics:
            self._metrics.batch_size.observe(rows)
            self._metrics.inference.observe(run_s)  # the run alone, not the hand-offs
            for wait in waits:
                self._metrics.queue_wait.observe(wait)

    async def _run_batch(self, loop: asyncio.AbstractEventLoop, batch: list[_Item]) -> None:
        """Reserve the batch's estimated peak memory, then run what is still wanted."""
        peak = self.estimate.peak_bytes(sum(it.work for it in batch))
        self._running = True
        try:
            if self._memory:
                await self._memory.reserve(peak)
            try:
                batch = [it for it in batch if not it.future.done()]  # left while it waited
                if batch:
                    await self._run_wanted(loop, batch)
            finally:
                self.estimate.finished()
                if self._memory:
                    self._memory.release(peak)
        finally:
            self._running = False

    async def _run_wanted(self, loop: asyncio.AbstractEventLoop, batch: list[_Item]) -> None:
        now = time.perf_counter()
        work = sum(it.work for it in batch)
        for it in batch:
            it.started = True
        self.estimate.started(work)
        if len(batch) == 1:
            inputs = batch[0].inputs
        else:
            inputs = {k: np.concatenate([it.inputs[k] for it in batch]) for k in batch[0].inputs}
        rows = sum(it.rows for it in batch)
        try:
            if len(batch) == 1 and not self._queue and self._cheap(batch[0].key, rows):
                output, run_s = self._timed_run(inputs)
            else:
                output, run_s = await loop.run_in_executor(self._executor, self._timed_run, inputs)
        except Exception as exc:  # the session failed: every waiter hears why
            log.error("a batch of %d rows failed: %s", rows, exc, exc_info=exc)
            for it in batch:
                if not it.future.done():
                    it.future.set_exception(exc)
            return
        self._observe(batch[0].key, rows, work, run_s, [now - it.enqueued for it in batch])
        start = 0
        for it in batch:
            if not it.future.done():
                it.future.set_result(output[start : start + it.rows])
            start += it.rows
