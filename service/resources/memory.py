"""Process memory: resident size, the peak of one run, handing freed memory back, and the
process-wide budget that runs reserve their estimated peak from.

ONNX Runtime's CPU arena keeps the largest run's buffers for the life of the session: a burst
of 1024x1024 photos left the process at its peak for good. Photo sessions and StyleGAN
syntheses therefore run without the arena, and glibc is asked to return the freed pages once
a burst is done: seconds after the last request of the session ends with no more work
(`give_back_after_burst`, called by every route that runs such a session;
docs/reliability.md has the measurements). Not after every run, nor with a low fixed
threshold for mapping buffers on their own (`M_MMAP_THRESHOLD`): either way the next run
faults every page of its buffers in again, which made a 256x256 CycleGAN run 1.4-2x slower
on this machine (docs/benchmarks.md). glibc maps any buffer over 32 MiB on its own all the
same, which made a 1024x1024 StyleGAN2 synthesis 1.5x slower: a process serving StyleGANs,
whose runs repeat one layout, can have glibc keep those too (`reuse_freed_memory`, opt-in:
a translation's runs of mixed sizes grew its heap past the budget).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

log = logging.getLogger("ganserve.memory")

T = TypeVar("T")
STATUS = Path("/proc/self/status")
CLEAR_REFS = Path("/proc/self/clear_refs")


def _status_bytes(field: str) -> int | None:
    try:
        for line in STATUS.read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def resident_bytes() -> int:
    """The process's resident set now (0 where /proc is not there)."""
    return _status_bytes("VmRSS") or 0


def peak_bytes_of(fn: Callable[[], T]) -> tuple[T, int | None]:
    """`fn()` and how far the resident set rose above its start while it ran.

    Linux resets the high-water mark on writing 5 to clear_refs; elsewhere (or without the
    right) the peak is unknown and None comes back. Process-wide, so another thread's
    allocations in the meantime count too: an overestimate, the safe side for a budget.
    """
    before = resident_bytes()
    try:
        CLEAR_REFS.write_text("5")
    except OSError:
        return fn(), None
    result = fn()
    peak = _status_bytes("VmHWM")
    return result, None if peak is None else max(0, peak - before)


def _glibc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.malloc_trim.argtypes = [ctypes.c_size_t]
        libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    except (OSError, AttributeError):  # not glibc: its allocator decides alone
        return None
    return libc


_LIBC = _glibc()

# mallopt's parameters (glibc's malloc.h).
M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4
M_ARENA_MAX = -8
INT_MAX = 2**31 - 1


def reuse_freed_memory(keep_bytes: int) -> bool:
    """glibc told to serve large buffers from its heap and keep freed ones for the next run
    (up to `keep_bytes` free at the heap's top) rather than map each afresh: a run's
    activations are then faulted in once, not every run. One arena for every thread, since a
    thread's own arena maps any block over its 64 MiB heap whatever it is told. What a burst
    leaves is still handed back (`give_back_after_burst`). Call it before sessions load and
    pools start their threads; False where the allocator is not glibc's."""
    if _LIBC is None:
        return False
    keep = min(keep_bytes, INT_MAX)  # mallopt takes an int
    options = ((M_ARENA_MAX, 1), (M_MMAP_MAX, 0), (M_TRIM_THRESHOLD, keep))
    return all(_LIBC.mallopt(option, value) == 1 for option, value in options)


def give_back_freed() -> None:
    """Freed heap pages handed back to the OS (about 1 ms after a large run)."""
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


# A burst is over once its session has stayed idle this long: a script's next request comes
# at once, a person's next click on the web page within seconds. Trimmed sooner, each of
# their runs would fault its buffers in again (one client's 256x256 photos took 164 ms
# each instead of 137), and what is kept a few seconds more is memory the budget planned for.
BURST_GAP_S = 5.0
_pending: asyncio.TimerHandle | None = None
_trimming: set[asyncio.Task[None]] = set()


def give_back_after_burst(
    idle: Callable[[], bool], in_pool: Callable[[Callable[[], None]], Awaitable[object]]
) -> None:
    """After a request on a session without ORT's arena, its arrays dropped: freed pages back
    to the OS (in the pool, off the loop) once its session has held no work (`idle()`, the
    batcher's word) for `BURST_GAP_S`, i.e. once a burst is done; a later request's end
    moves the moment on. Not for generators: they keep their arena, and their hot path
    would pay for the timer."""
    global _pending
    if not idle():
        return
    if _pending is not None:
        _pending.cancel()
    _pending = asyncio.get_running_loop().call_later(BURST_GAP_S, _trim_if_idle, idle, in_pool)


def _trim_if_idle(
    idle: Callable[[], bool], in_pool: Callable[[Callable[[], None]], Awaitable[object]]
) -> None:
    global _pending
    _pending = None
    if idle():  # else the request under way schedules the trim again when it ends
        trim = asyncio.ensure_future(_trim(in_pool))
        _trimming.add(trim)
        trim.add_done_callback(_trimming.discard)


async def _trim(in_pool: Callable[[Callable[[], None]], Awaitable[object]]) -> None:
    with contextlib.suppress(RuntimeError):  # the pool shut down: the process is stopping
        await in_pool(give_back_freed)


class MemoryBudget:
    """Bytes that runs in flight may hold together, above the process with its models loaded.

    A translation run reserves its estimated peak before `session.run` and waits, first come
    first served, while the others' reservations leave no room (a run larger than the room,
    possible after a reload moved the baseline, runs alone rather than never). Generators
    reserve nothing: their arena is allocated at warm-up and their shapes are fixed.
    """

    def __init__(self, budget_bytes: int) -> None:
        self.budget_bytes = budget_bytes
        self.room = budget_bytes
        self.reserved = 0
        self._waiters: deque[tuple[int, asyncio.Future[None]]] = deque()

    def set_baseline(self, resident: int) -> None:
        """What the process holds with its models loaded and idle; runs share the rest."""
        self.room = max(0, self.budget_bytes - resident)

    def fits_alone(self, nbytes: int) -> bool:
        return nbytes <= self.room

    async def reserve(self, nbytes: int) -> None:
        if nbytes == 0:  # nothing measured: nothing to wait for
            return
        if not self._waiters and self._fits(nbytes):
            self.reserved += nbytes
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append((nbytes, waiter))
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release(nbytes)  # granted just as it was cancelled
            else:
                with contextlib.suppress(ValueError):
                    self._waiters.remove((nbytes, waiter))
            raise

    def release(self, nbytes: int) -> None:
        if nbytes == 0:
            return
        self.reserved -= nbytes
        while self._waiters and self._fits(self._waiters[0][0]):
            nbytes_next, waiter = self._waiters.popleft()
            if not waiter.done():
                self.reserved += nbytes_next
                waiter.set_result(None)

    def _fits(self, nbytes: int) -> bool:
        return self.reserved == 0 or self.reserved + nbytes <= self.room
