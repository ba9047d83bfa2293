"""Bulk work at a lower CPU priority: decoding and encoding photos and translation runs yield
the cores to the event loop and the generator runs, so a burst of large photos does not hold
up small requests (on Linux a thread's nice value is its own, and threads it starts inherit
it: ONNX Runtime's intra-op threads start with their session, so a translation session is
made in a bulk thread)."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")

BULK_NICE = 10  # about a tenth of a normal thread's share of a busy core


def _lower_this_thread() -> None:
    with contextlib.suppress(OSError, AttributeError):  # not Linux, or not allowed
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + BULK_NICE)


def bulk_pool(workers: int, name: str) -> ThreadPoolExecutor:
    """A thread pool whose threads run at BULK_NICE below the process."""
    return ThreadPoolExecutor(workers, thread_name_prefix=name, initializer=_lower_this_thread)


def lowered(fn: Callable[..., T], *args: object) -> T:
    """`fn(*args)` in a new thread at BULK_NICE below the process; the threads it starts keep
    that priority for good."""
    with bulk_pool(1, "ganserve-bulk-start") as pool:
        return pool.submit(fn, *args).result()
