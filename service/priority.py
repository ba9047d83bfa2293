"""Bulk work at a lower CPU priority: decoding and encoding photos and translation runs yield
the cores to the event loop and the generator runs, so a burst of large photos does not hold
up small requests (on Linux a thread's nice value is its own)."""

from __future__ import annotations

import contextlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor

BULK_NICE = 10  # about a tenth of a normal thread's share of a busy core


def _lower_this_thread() -> None:
    with contextlib.suppress(OSError, AttributeError):  # not Linux, or not allowed
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + BULK_NICE)


def bulk_pool(workers: int, name: str) -> ThreadPoolExecutor:
    """A thread pool whose threads run at BULK_NICE below the process."""
    return ThreadPoolExecutor(workers, thread_name_prefix=name, initializer=_lower_this_thread)
