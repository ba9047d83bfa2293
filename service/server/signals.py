"""SIGTERM or Ctrl-C while the models load: stop then, not once they have all loaded.

uvicorn's signal handler only marks its server to exit and looks at the mark after the
lifespan's startup, which loads every model (seconds each: warm-up and thread-count probes).
`docker stop` then waited for the whole load and its 10 s grace ran out into a SIGKILL.
Here the signal also cancels the load: startup ends unready, and uvicorn shuts down at once.

The model being loaded is abandoned in its thread (ONNX Runtime cannot stop a session.run;
the shipped CycleGAN's 1024x1024 probe runs 5 s). A process that uvicorn ends by raising the
signal again dies with its threads; but PID 1 in a container ignores that signal, and after
Ctrl-C uvicorn.run returns: there exit_if_stopped() exits without waiting for the thread, as
interpreter exit would (asyncio.run does not: the repository loads in a pool of its own).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

log = logging.getLogger("ganserve")

SIGNALS = (signal.SIGINT, signal.SIGTERM)  # the ones uvicorn handles
stopped = threading.Event()  # a signal cut the load short


@contextmanager
def cancelled_by_exit_signals(task: asyncio.Task) -> Iterator[None]:
    """While inside, SIGTERM or SIGINT also cancels `task`, then reaches the handler that was
    there (uvicorn's, which stops the server as ever). A signal no Python handler takes (at
    its default, or ignored) is left as it is."""

    def stop(name: str) -> None:
        log.warning("%s while the models load: stopping, never ready", name)
        stopped.set()
        task.cancel()

    with on_exit_signals(stop):
        yield


@contextmanager
def on_exit_signals(callback: Callable[[str], object]) -> Iterator[None]:
    """While inside, SIGTERM or SIGINT also calls `callback(signal name)` on the running loop,
    then reaches the handler that was there (uvicorn's). So the gRPC server starts draining
    when uvicorn starts to, not after uvicorn has drained HTTP. Signals no Python handler
    takes are left alone, and so is everything outside the main thread (a test client's
    lifespan), where no handler may be set."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    loop = asyncio.get_running_loop()
    previous = {sig: h for sig in SIGNALS if callable(h := signal.getsignal(sig))}

    def handle(sig: int, frame: FrameType | None) -> None:
        # Not here but on the loop: logging and the callback's locks.
        loop.call_soon_threadsafe(callback, signal.Signals(sig).name)
        previous[sig](sig, frame)

    for sig in previous:
        signal.signal(sig, handle)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def exit_if_stopped() -> None:
    """After uvicorn.run has returned (shut down): exit now, with the 0 it returns with,
    if a load was cut short; its thread may still be in ONNX Runtime."""
    if stopped.is_set():
        log.info("exiting without waiting for the abandoned model load")
        logging.shutdown()
        os._exit(0)
