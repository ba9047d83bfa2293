"""The dynamic batcher: merging, order, chunking, the bounded queue, and batch invariance."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from onnx_models import CLASSES, DIM, make_conditional

from service.engine.admission import Overloaded
from service.engine.batcher import Batcher
from service.engine.runtime import cpu_session
from service.imaging import encode_pngs
from service.latents import latents
from service.metrics import Metrics

pytestmark = pytest.mark.anyio


class Recorder:
    """A fake session: returns its input rows times two and records every batch size."""

    def __init__(self, gate: threading.Event | None = None) -> None:
        self.sizes: list[int] = []
        self.gate = gate

    def __call__(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        if self.gate is not None:
            self.gate.wait(5)
        x = inputs["x"]
        self.sizes.append(len(x))
        return x * 2


@pytest.fixture
def pool() -> ThreadPoolExecutor:
    with ThreadPoolExecutor(2) as executor:
        yield executor


def batcher(run, pool, **kw) -> Batcher:
    options = {"max_batch": 8, "max_delay_s": 0.01, "queue_size": 64} | kw
    return Batcher(run, executor=pool, **options)


def rows(start: int, n: int, width: int = 2) -> dict[str, np.ndarray]:
    return {"x": np.arange(start, start + n, dtype=np.float32)[:, None].repeat(width, 1)}


async def test_concurrent_requests_merge_and_come_back_in_order(pool) -> None:
    run = Recorder()
    b = batcher(run, pool)
    outs = await asyncio.gather(*(b.submit(rows(10 * i, 2)) for i in range(4)))
    for i, out in enumerate(outs):
        np.testing.assert_array_equal(out, rows(10 * i, 2)["x"] * 2)
    assert run.sizes == [8]  # four requests of 2 rows: one session.run
    await b.aclose()


async def crowded(b: Batcher) -> None:
    """Three requests at once: merged into one run, so the batcher now waits for company."""
    await asyncio.gather(*(b.submit(rows(i, 1)) for i in range(3)))


async def test_a_full_batch_does_not_wait_for_the_delay(pool) -> None:
    run = Recorder()
    b = batcher(run, pool, max_delay_s=10)
    await crowded(b)
    first = asyncio.ensure_future(b.submit(rows(0, 4)))
    await asyncio.sleep(0.05)  # the worker waits for company: 4 of 8 rows
    out = await asyncio.wait_for(asyncio.gather(first, b.submit(rows(4, 4))), 2)
    assert [len(o) for o in out] == [4, 4] and run.sizes == [3, 8]
    await b.aclose()


async def test_a_lone_request_waits_at_most_max_delay(pool) -> None:
    b = batcher(Recorder(), pool, max_delay_s=0.2)
    await crowded(b)
    start = asyncio.get_running_loop().time()
    await asyncio.wait_for(b.submit(rows(0, 1)), 5)
    waited = asyncio.get_running_loop().time() - start
    assert 0.15 < waited < 1.0  # it waited for company, then ran alone at the deadline
    await b.aclose()


async def test_an_idle_batcher_runs_a_lone_request_at_once(pool) -> None:
    b = batcher(Recorder(), pool, max_delay_s=30)
    await asyncio.wait_for(b.submit(rows(0, 1)), 2)  # not after 30 s: nobody to wait for
    await b.aclose()


async def test_under_traffic_a_row_waits_for_company(pool) -> None:
    run = Recorder()
    b = batcher(run, pool, max_delay_s=0.5)
    await asyncio.gather(*(b.submit(rows(i, 1)) for i in range(3)))  # traffic: a merged batch
    first = asyncio.ensure_future(b.submit(rows(10, 1)))
    await asyncio.sleep(0.05)  # well within max_delay
    await asyncio.gather(first, b.submit(rows(20, 1)))
    assert run.sizes == [3, 2]
    await b.aclose()


async def test_a_request_over_max_batch_is_split_into_chunks(pool) -> None:
    run = Recorder()
    b = batcher(run, pool, max_batch=4)
    out = await b.submit(rows(0, 10))
    np.testing.assert_array_equal(out, rows(0, 10)["x"] * 2)
    assert run.sizes == [4, 4, 2]
    await b.aclose()


async def test_batches_never_exceed_max_batch(pool) -> None:
    run = Recorder()
    b = batcher(run, pool, max_batch=5)
    outs = await asyncio.gather(*(b.submit(rows(i * 100, 3)) for i in range(6)))
    assert all(size <= 5 for size in run.sizes)
    assert sum(run.sizes) == 18
    for i, out in enumerate(outs):
        np.testing.assert_array_equal(out, rows(i * 100, 3)["x"] * 2)
    await b.aclose()


async def test_rows_of_different_shapes_are_not_merged(pool) -> None:
    run = Recorder()
    b = batcher(run, pool)
    a, c = await asyncio.gather(b.submit(rows(0, 2, width=2)), b.submit(rows(0, 2, width=3)))
    assert a.shape == (2, 2) and c.shape == (2, 3)
    assert sorted(run.sizes) == [2, 2]
    await b.aclose()


async def test_without_a_delay_rows_queued_during_a_run_make_the_next_batch(pool) -> None:
    """`max_delay_ms` 0, the default: a batch runs as soon as the session is free, with every
    row that queued while it ran, and waits for nobody once it is free."""
    gate = threading.Event()
    run = Recorder(gate)
    b = batcher(run, pool, max_delay_s=0)
    first = asyncio.ensure_future(b.submit(rows(0, 1)))
    await asyncio.sleep(0.05)  # taken into a run that blocks on the gate
    queued = [asyncio.ensure_future(b.submit(rows(i, 1))) for i in range(1, 4)]
    await asyncio.sleep(0.05)
    gate.set()
    await asyncio.wait_for(asyncio.gather(first, *queued), 2)
    assert run.sizes == [1, 3]  # the three queued during the first run: one batch
    await b.aclose()


async def test_the_queue_is_bounded_in_rows(pool) -> None:
    gate = threading.Event()
    b = batcher(Recorder(gate), pool, max_batch=4, queue_size=8, max_delay_s=0)
    first = asyncio.ensure_future(b.submit(rows(0, 4)))
    await asyncio.sleep(0.05)  # taken into a run that blocks on the gate
    waiting = [asyncio.ensure_future(b.submit(rows(0, 4))) for _ in range(2)]
    await asyncio.sleep(0)
    assert b.depth == 8
    with pytest.raises(Overloaded):
        await b.submit(rows(0, 1))
    gate.set()
    await asyncio.gather(first, *waiting)
    assert b.depth == 0
    await b.aclose()


async def test_a_failing_run_reaches_every_waiter(pool) -> None:
    def broken(inputs):
        raise RuntimeError("session exploded")

    b = batcher(broken, pool)
    results = await asyncio.gather(
        b.submit(rows(0, 1)), b.submit(rows(1, 1)), return_exceptions=True
    )
    assert all(isinstance(r, RuntimeError) for r in results)
    await b.aclose()


async def test_a_closed_batcher_still_serves_late_arrivals(pool) -> None:
    b = batcher(Recorder(), pool)
    await b.aclose()
    out = await b.submit(rows(0, 2))  # a request that picked this session before a reload
    assert len(out) == 2
    await b.aclose()


async def test_batching_does_not_change_the_pngs(tmp_path: Path, pool) -> None:
    """Same seed and label: byte-identical PNG alone and inside a crowded batch."""
    folder = make_conditional(tmp_path / "cond")
    session = cpu_session(folder / "generator.onnx")

    def run(inputs):
        return session.run(None, inputs)[0]

    def request(seeds: list[int], label: int) -> dict[str, np.ndarray]:
        return {"z": latents(seeds, DIM), "label": np.full(len(seeds), label, np.int64)}

    alone = encode_pngs(await batcher(run, pool, max_batch=64).submit(request([7], 1)))
    crowded = batcher(run, pool, max_batch=64, max_delay_s=0.05)
    strangers = [
        crowded.submit(request(list(range(100 + 9 * i, 109 + 9 * i)), i % len(CLASSES)))
        for i in range(7)
    ]
    outs = await asyncio.gather(*strangers[:3], crowded.submit(request([7], 1)), *strangers[3:])
    assert encode_pngs(outs[3]) == alone
    await crowded.aclose()


class ThreadRecorder(Recorder):
    """Also records which thread ran each batch."""

    def __init__(self, seconds: float = 0.0) -> None:
        super().__init__()
        self.threads: list[str] = []
        self.seconds = seconds

    def __call__(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        self.threads.append(threading.current_thread().name)
        if self.seconds:
            threading.Event().wait(self.seconds)
        return super().__call__(inputs)


async def test_a_cheap_lone_request_runs_on_the_event_loop_once_measured(pool) -> None:
    run = ThreadRecorder()
    b = batcher(run, pool, inline_max_s=1.0)
    loop_thread = threading.current_thread().name
    await b.submit(rows(0, 1))  # not measured yet: the pool
    await b.submit(rows(0, 2))  # measured cheap, alone: inline
    assert run.threads[0] != loop_thread
    assert run.threads[1] == loop_thread
    await b.aclose()


async def test_run_now_answers_a_cheap_lone_request_in_the_caller_and_only_then(pool) -> None:
    gate = threading.Event()
    run = ThreadRecorder()
    b = batcher(run, pool, inline_max_s=1.0)
    assert await b.run_now(rows(0, 1)) is None  # not measured yet: nothing run
    assert run.threads == []
    await b.submit(rows(0, 1))
    out = await b.run_now(rows(3, 2))  # measured cheap, the session idle: run here, at once
    assert out is not None and out[:, 0].tolist() == [6.0, 8.0]
    assert run.threads[-1] == threading.current_thread().name
    assert b.estimate.running == 0 and b.depth == 0
    run.gate = gate  # a batch running in the pool: the session is busy
    busy = asyncio.ensure_future(b.submit(rows(0, 9)))  # over max_batch: two runs
    await asyncio.sleep(0.05)
    assert await b.run_now(rows(0, 1)) is None
    gate.set()
    await busy
    await b.submit(rows(0, 1))  # alone again: the last batch was one request's
    # Two requests arriving together: neither runs alone, both are batched by the worker.
    together = await asyncio.gather(*(b.run_now(rows(i, 1)) for i in range(2)))
    assert together == [None, None]
    await b.aclose()


async def test_a_run_over_the_inline_budget_and_merged_requests_use_the_pool(pool) -> None:
    slow = ThreadRecorder(seconds=0.02)
    b = batcher(slow, pool, inline_max_s=0.005)
    await b.submit(rows(0, 1))
    await b.submit(rows(0, 1))  # measured at 20 ms: over the 5 ms budget
    assert threading.current_thread().name not in slow.threads
    await b.aclose()

    fast = ThreadRecorder()
    b = batcher(fast, pool, inline_max_s=1.0)
    await b.submit(rows(0, 1))
    await asyncio.gather(*(b.submit(rows(i, 1)) for i in range(4)))  # company: the pool
    assert threading.current_thread().name not in fast.threads[1:]
    await b.aclose()


async def test_inline_off_by_default(pool) -> None:
    run = ThreadRecorder()
    b = batcher(run, pool)
    for _ in range(3):
        await b.submit(rows(0, 1))
    assert threading.current_thread().name not in run.threads
    await b.aclose()


async def test_an_upload_of_a_new_size_is_not_run_inline_on_a_small_ones_timing(pool) -> None:
    run = ThreadRecorder()
    b = batcher(run, pool, inline_max_s=1.0)
    loop_thread = threading.current_thread().name
    await b.submit(rows(0, 1, width=2))  # measured: width 2
    await b.submit(rows(0, 1, width=512))  # never measured: the pool
    await b.submit(rows(0, 1, width=2))  # measured and cheap: inline
    assert run.threads[1] != loop_thread and run.threads[2] == loop_thread
    await b.aclose()


async def test_inference_seconds_time_the_run_without_the_hand_off() -> None:
    """ganserve_inference_seconds is what its name says: a pool that starts the run 0.3 s
    late does not show in it."""

    class LatePool(ThreadPoolExecutor):
        def submit(self, fn, /, *args, **kwargs):
            def late():
                time.sleep(0.3)
                return fn(*args, **kwargs)

            return super().submit(late)

    metrics = Metrics()
    with LatePool(1) as late_pool:
        b = batcher(Recorder(), late_pool, metrics=metrics.for_session("m"))
        await b.submit(rows(0, 2))
        await b.aclose()
    seconds = metrics.registry.get_sample_value("ganserve_inference_seconds_sum", {"model": "m"})
    assert seconds is not None and seconds < 0.1
