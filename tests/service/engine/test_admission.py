"""Work-bounded runs, admission by estimate, deadlines and the memory budget.

A burst larger than a session can finish in time is split into runs of at most `max_work`
pixels, and what would not finish is refused at once with a Retry-After from the estimate;
nothing is answered `timeout` after its rows ran.
"""

from __future__ import annotations

import asyncio
import io
import os
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import httpx
import numpy as np
import pytest
from onnx_models import make_models_dir, make_translation
from PIL import Image

from service import imaging
from service.engine.admission import Overloaded, WorkEstimate
from service.engine.batcher import Batcher, DeadlinePassed, TooLarge
from service.engine.runtime import ProviderChoice, make_session
from service.repository import loading
from service.resources import memory, priority
from service.resources.memory import MemoryBudget, peak_bytes_of
from service.resources.priority import BULK_NICE
from service.settings import Settings

pytestmark = pytest.mark.anyio


class SlowRun:
    """A fake translator: `seconds` per run, records the pixels of every run and how many
    runs overlapped."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.pixels: list[int] = []
        self.running = 0
        self.most_at_once = 0
        self._lock = threading.Lock()

    def __call__(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        image = inputs["image"]
        with self._lock:
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
            self.pixels.append(image.shape[0] * image.shape[2] * image.shape[3])
        time.sleep(self.seconds)
        with self._lock:
            self.running -= 1
        return image


@pytest.fixture
def pool() -> ThreadPoolExecutor:
    with ThreadPoolExecutor(4) as executor:
        yield executor


def photo(side: int = 8) -> dict[str, np.ndarray]:
    return {"image": np.zeros((1, 3, side, side), np.float32)}


def translator(run: SlowRun, pool, **kw) -> Batcher:
    options = {"max_batch": 64, "max_delay_s": 0.01, "queue_size": 64, "name": "t"} | kw
    return Batcher(run, executor=pool, **options)


async def test_a_burst_is_split_into_runs_of_at_most_max_work_pixels(pool) -> None:
    run = SlowRun(0.02)
    b = translator(run, pool, max_work=3 * 64)
    outs = await asyncio.gather(*(b.submit(photo()) for _ in range(10)))
    assert len(outs) == 10
    assert max(run.pixels) <= 3 * 64 and sum(run.pixels) == 10 * 64
    assert len(run.pixels) >= 4  # 10 photos of 64 pixels, 3 a run at most


async def test_what_cannot_finish_in_time_is_refused_at_once(pool) -> None:
    """0.1 s a photo, a 0.35 s deadline: three photos fit, the rest are refused before they
    queue, with Retry-After from the estimate; none is answered timeout."""
    run = SlowRun(0.1)
    estimate = WorkEstimate(unit_s=0.1 / 64)
    b = translator(run, pool, max_work=64, estimate=estimate)
    start = time.perf_counter()
    refused_at: list[float] = []

    async def one() -> str:
        try:
            await b.submit(photo(), 0.35)
        except Overloaded as exc:
            refused_at.append(time.perf_counter() - start)
            assert 0 < exc.retry_after_s <= 8 * 0.1
            assert exc.retry_after in {"1"}
            return "overloaded"
        return "ok"

    answers = await asyncio.gather(*(one() for _ in range(10)))
    assert answers.count("ok") == 3 and answers.count("overloaded") == 7
    assert max(refused_at) < 0.05  # at once, not after waiting
    assert len(run.pixels) == 3  # only the admitted photos ran


async def test_retry_after_counts_the_work_in_front(pool) -> None:
    run = SlowRun(0.05)
    b = translator(run, pool, estimate=WorkEstimate(unit_s=1.0 / 64))
    first = asyncio.ensure_future(b.submit(photo(), 1.0))  # 1 s of estimated work: just fits
    await asyncio.sleep(0)
    with pytest.raises(Overloaded) as refused:
        await b.submit({"image": np.zeros((1, 3, 16, 16), np.float32)}, 1.0)  # 4 s more
    assert refused.value.retry_after == "4"  # 1 s in front + its own 4 s - the 1 s timeout
    await first


async def test_an_idle_session_takes_a_request_and_corrects_its_estimate(pool) -> None:
    """Measured far too pessimistic (at load, on a busy machine): an idle session runs the
    request anyway, and each run moves the estimate toward the measured cost."""
    run = SlowRun(0.05)
    estimate = WorkEstimate(unit_s=10.0)  # 640 s a photo
    b = translator(run, pool, estimate=estimate)
    for _ in range(3):
        await b.submit(photo(), 5.0)
    first = asyncio.ensure_future(b.submit(photo(), 5.0))
    await asyncio.sleep(0)
    with pytest.raises(Overloaded):  # behind one photo: still estimated over 5 s
        await b.submit(photo(), 5.0)
    await first
    assert estimate.unit_s < 10.0 / 8


async def test_queued_work_past_its_deadline_is_dropped_and_running_work_answered(pool) -> None:
    gate = threading.Event()
    ran: list[int] = []

    def held(inputs: dict[str, np.ndarray]) -> np.ndarray:
        ran.append(int(inputs["image"][0, 0, 0, 0]))
        gate.wait(5)
        return inputs["image"]

    b = translator(held, pool, max_work=64)
    one = {"image": np.full((1, 3, 8, 8), 1.0, np.float32)}
    running = asyncio.ensure_future(b.submit(one, 0.2))
    await asyncio.sleep(0.05)
    two = {"image": np.full((1, 3, 8, 8), 2.0, np.float32)}
    queued = asyncio.ensure_future(b.submit(two, 0.2))
    with pytest.raises(DeadlinePassed):
        await queued
    await asyncio.sleep(0.2)  # past the running request's deadline too
    gate.set()
    assert (await running).shape == (1, 3, 8, 8)  # its work ran: it is answered
    await asyncio.sleep(0.05)
    assert ran == [1]  # the dropped request's rows never reached the session


async def test_runs_share_the_memory_budget(pool) -> None:
    """Two sessions whose runs need 60 % of the room each never run at once; a run over the
    whole room is refused."""
    memory = MemoryBudget(1000)
    memory.set_baseline(0)
    run = SlowRun(0.05)
    sessions = [
        translator(run, pool, memory=memory, estimate=WorkEstimate(unit_bytes=600 // 64))
        for _ in range(2)
    ]
    await asyncio.gather(*(s.submit(photo()) for s in sessions for _ in range(3)))
    assert run.most_at_once == 1 and memory.reserved == 0
    with pytest.raises(TooLarge):
        await sessions[0].submit(photo(16))  # 256 pixels: 2,304 bytes


async def test_generators_reserve_nothing_and_run_beside_a_full_budget(pool) -> None:
    memory = MemoryBudget(100)
    memory.set_baseline(0)
    await memory.reserve(100)  # a translation run holds it all
    recorded: list[int] = []
    gen = Batcher(
        lambda x: recorded.append(len(x["z"])) or x["z"],
        max_batch=8,
        max_delay_s=0.01,
        queue_size=64,
        executor=pool,
        memory=memory,
    )
    out = await asyncio.wait_for(gen.submit({"z": np.zeros((2, 4), np.float32)}), 2)
    assert out.shape == (2, 4) and recorded == [2]
    memory.release(100)


def test_the_peak_of_a_run_is_measured() -> None:
    _, peak = peak_bytes_of(lambda: np.ones(64 << 20, np.uint8).sum())
    if peak is None:
        pytest.skip("/proc/self/clear_refs is not writable here")
    assert peak >= 60 << 20


def _jpeg(side: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.full((side, side, 3), 120, np.uint8)).save(buf, format="JPEG")
    return buf.getvalue()


async def test_a_burst_of_uploads_is_split_or_refused_never_timed_out(app_client) -> None:
    """/translate end to end: runs of two photos at most, 1 s a run, a 2.5 s deadline (long
    enough that all twelve uploads are decoded while the first run is still going)."""
    budget = 2 * 64 * 64
    async with app_client(max_side=64, max_batch_pixels=budget, request_timeout_s=2.5) as c:
        model = c._transport.app.state.services.repository.models["trans"]
        runner = model.runners["a2b"]
        run = SlowRun(1.0)
        model.batchers["a2b"]._run = run
        runner.estimate.unit_s = 1.0 / budget
        start = time.perf_counter()

        async def upload() -> tuple[int, str, str | None, float]:
            r = await c.post("/translate", files={"file": ("x.jpg", _jpeg(64))})
            code = "" if r.status_code == 200 else r.json()["error"]["code"]
            return r.status_code, code, r.headers.get("retry-after"), time.perf_counter() - start

        answers = await asyncio.gather(*(upload() for _ in range(12)))
    ok = [a for a in answers if a[0] == 200]
    refused = [a for a in answers if a[0] != 200]
    assert {(a[0], a[1]) for a in refused} == {(503, "overloaded")}  # never `timeout`
    assert 2 <= len(ok) <= 8 and len(refused) >= 4
    assert all(int(a[2]) >= 1 for a in refused)
    assert max(run.pixels) <= budget and sum(run.pixels) == len(ok) * 64 * 64
    assert min(a[3] for a in refused) < min(a[3] for a in ok)  # refused before any answer


def _translate(c: httpx.AsyncClient) -> Awaitable[httpx.Response]:
    return c.post("/translate", files={"file": ("x.jpg", _jpeg(32))})


def _v2_translate(c: httpx.AsyncClient) -> Awaitable[httpx.Response]:
    image = {"name": "image", "shape": [1, 3, 32, 32], "datatype": "FP32", "data": [0.0] * 3072}
    return c.post("/v2/models/trans.a2b/infer", json={"inputs": [image]})


@pytest.mark.parametrize("send", [_translate, _v2_translate], ids=["translate", "v2"])
async def test_photos_on_cpu_run_one_a_run_and_memory_goes_back_once_the_burst_is_done(
    app_client, monkeypatch, send: Callable[[httpx.AsyncClient], Awaitable[httpx.Response]]
) -> None:
    """Photos of one size, sent together to either route that translates, are not merged on
    CPU (a photo costs more per pixel in company), and freed memory is handed back once,
    once the session has stayed idle after the last answer, not between runs (the next run
    would fault its buffers back in), nor between one client's requests. Generators keep
    their arena: their requests hand nothing back."""
    trims: list[int] = []
    monkeypatch.setattr(memory, "BURST_GAP_S", 0.3)
    async with app_client() as c:
        batcher = c._transport.app.state.services.repository.models["trans"].batchers["a2b"]
        run = SlowRun(0.2)
        batcher._run = run
        trim = SimpleNamespace(malloc_trim=lambda _pad: trims.append(len(run.pixels)))
        monkeypatch.setattr(memory, "_LIBC", trim)  # glibc's malloc_trim, counted
        answers = await asyncio.gather(*(send(c) for _ in range(4)))
        answers.append(await send(c))  # a next request within the gap: still one burst
        seeds = {"name": "seed", "shape": [2], "datatype": "INT64", "data": [1, 2]}
        generated = await c.post("/v2/models/uncond/infer", json={"inputs": [seeds]})
        before_the_gap = list(trims)
        await asyncio.sleep(0.6)
    assert [r.status_code for r in answers] == [200] * 5
    assert generated.status_code == 200
    assert run.pixels == [32 * 32] * 5
    assert before_the_gap == []
    assert trims == [5]


async def test_metrics_show_resident_memory_the_budget_and_each_session_estimate(
    app_client,
) -> None:
    async with app_client(memory_budget_mb=1536) as c:
        text = (await c.get("/metrics")).text
    values = {
        line.split(" ")[0]: float(line.split(" ")[1])
        for line in text.splitlines()
        if line.startswith("ganserve_") and " " in line
    }
    assert values["ganserve_resident_bytes"] > 10 << 20
    assert values["ganserve_memory_budget_bytes"] == 1536 << 20
    assert values["ganserve_memory_reserved_bytes"] == 0
    assert 'ganserve_session_run_peak_bytes{model="trans:a2b"}' in values
    assert values['ganserve_session_work_seconds{model="uncond"}'] == 0


async def test_translation_runs_below_the_priority_of_generator_runs(app_client) -> None:
    """A burst of photos yields the cores to the event loop and to /generate."""
    seen: dict[str, int] = {}

    def recording(key: str, real):
        def run(inputs):
            seen[key] = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
            return real(inputs)

        return run

    async with app_client(inline_run_ms=0) as c:
        repo = c._transport.app.state.services.repository
        for model, role in (("trans", "a2b"), ("uncond", "generator")):
            batcher = repo.models[model].batchers[role]
            batcher._run = recording(model, batcher._run)
        assert (await c.post("/translate", files={"file": ("x.jpg", _jpeg(16))})).status_code == 200
        assert (await c.post("/generate", json={"model": "uncond"})).status_code == 200
    base = os.getpriority(os.PRIO_PROCESS, 0)
    assert seen == {"trans": base + BULK_NICE, "uncond": base}


def _thread_nice() -> dict[int, int]:
    """Every thread of this process: its nice value."""
    tids = [int(t.name) for t in Path("/proc/self/task").iterdir()]
    return {tid: os.getpriority(os.PRIO_PROCESS, tid) for tid in tids}


def test_onnx_runtime_threads_keep_the_priority_of_the_thread_that_made_the_session(
    tmp_path: Path,
) -> None:
    """What `priority.lowered` is for: a session's intra-op threads start with it."""
    model = make_translation(tmp_path / "trans") / "a2b.onnx"
    base = os.getpriority(os.PRIO_PROCESS, 0)
    before = _thread_nice()
    normal = make_session(model, ProviderChoice("cpu"), 3, 1)
    with_normal = _thread_nice()
    lowered = priority.lowered(make_session, model, ProviderChoice("cpu"), 3, 1)
    with_lowered = _thread_nice()
    new_normal = set(with_normal) - set(before)
    new_lowered = set(with_lowered) - set(with_normal)
    # 3 threads: the caller and 2 more (and the lowered call's own thread, maybe still exiting)
    assert len(new_normal) == 2 and len(new_lowered) >= 2
    assert {with_normal[t] for t in new_normal} == {base}
    assert {with_lowered[t] for t in new_lowered} == {base + BULK_NICE}
    del normal, lowered


def test_translation_sessions_are_made_at_bulk_priority(tmp_path: Path, monkeypatch) -> None:
    made: dict[str, int] = {}

    def recording(path: Path, *args, **kwargs):
        made[path.stem] = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        return make_session(path, *args, **kwargs)

    monkeypatch.setattr(loading, "make_session", recording)
    settings = Settings(provider="cpu", intra_op_threads=1)
    models = make_models_dir(tmp_path / "models")
    for name in ("trans", "uncond"):
        assert loading.load_model(models / name, settings, ProviderChoice("cpu")).ready
    base = os.getpriority(os.PRIO_PROCESS, 0)
    assert made == {"a2b": base + BULK_NICE, "b2a": base + BULK_NICE, "generator": base}


async def test_an_upload_is_refused_by_its_header_before_it_is_decoded(
    app_client, monkeypatch
) -> None:
    """A busy session: even an upload whose body is broken gets 503, never decoded."""
    decoded = []
    real = imaging.prepare_upload
    monkeypatch.setattr(imaging, "prepare_upload", lambda *a: decoded.append(1) or real(*a))
    whole = _jpeg(64)
    broken = whole[: whole.index(b"\xff\xda") + 16]  # its header (and size) whole, no pixels
    async with app_client(max_side=64, request_timeout_s=2.0) as c:
        runner = c._transport.app.state.services.repository.models["trans"].runners["a2b"]
        assert (await c.post("/translate", files={"file": ("x.jpg", broken)})).status_code == 400
        assert decoded == [1]
        runner.estimate.unit_s, runner.estimate.queued = 1e-3, 10_000  # 10 s of work held
        r = await c.post("/translate", files={"file": ("x.jpg", broken)})
        runner.estimate.queued = 0
    assert r.status_code == 503 and r.json()["error"]["code"] == "overloaded"
    assert int(r.headers["retry-after"]) >= 8
    assert decoded == [1]


@pytest.mark.parametrize(("width", "height"), [(64, 64), (50, 37), (300, 20), (90, 300)])
def test_the_planned_pixels_are_those_of_the_decoded_input(width: int, height: int) -> None:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), (90, 20, 200)).save(buf, format="PNG")
    x = imaging.prepare_upload(buf.getvalue(), 10**6, 128, 4).x
    assert imaging.planned_pixels(buf.getvalue(), 128, 4) == x.shape[2] * x.shape[3]


def test_no_planned_pixels_for_what_is_not_an_image() -> None:
    assert imaging.planned_pixels(b"", 128, 4) is None
    assert imaging.planned_pixels(b"GIF89a not really", 128, 4) is None


def test_admission_keeps_the_estimates_headroom() -> None:
    """With headroom 0.5 and a 10 s timeout, work estimated to finish after 5 s is refused."""
    estimate = WorkEstimate(unit_s=1.0, queued=2, headroom=0.5)
    estimate.admit(3, 10.0, "t")  # done in about 5 s
    with pytest.raises(Overloaded) as refused:
        estimate.admit(4, 10.0, "t")
    assert refused.value.retry_after_s == pytest.approx(1.0)


async def test_uploads_arriving_together_at_an_idle_session_are_weighed_before_decoding(
    app_client, monkeypatch
) -> None:
    """An idle session takes any request, but not all of a burst: each upload's planned work
    counts while it is decoded, so the others are refused by their headers, undecoded."""
    decoded = []
    real = imaging.prepare_upload

    def slow(*args):
        decoded.append(1)
        time.sleep(0.2)  # decoding a large photo
        return real(*args)

    monkeypatch.setattr(imaging, "prepare_upload", slow)
    async with app_client(max_side=64, request_timeout_s=2.0) as c:
        runner = c._transport.app.state.services.repository.models["trans"].runners["a2b"]
        runner.estimate.unit_s = 1.0 / (64 * 64)  # 1 s a photo: one fits the 1 s headroom
        answers = await asyncio.gather(
            *(c.post("/translate", files={"file": ("x.jpg", _jpeg(64))}) for _ in range(8))
        )
    codes = sorted(r.status_code for r in answers)
    assert codes == [200] + [503] * 7, codes
    assert len(decoded) == 1
    assert runner.estimate.queued == 0
