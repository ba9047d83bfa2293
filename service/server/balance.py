"""Connections spread evenly over the worker processes that share one listening socket.

On a shared socket the kernel wakes every worker for a new connection and the first to call
accept keeps it; a woken event loop takes the whole backlog at once. Keep-alive connections
then stay where they landed: a client that opened 32 connections found all 32 on one of two
workers, whose one core did all the work while the other idled (docs/benchmarks.md).

Here each worker accepts for itself and stands back while it holds more open connections
than the least loaded live worker: it stops watching the socket for `DEFER_S` and looks
again, and meanwhile a less loaded worker takes the connection. Each worker's count is in a
small shared file (a slot per worker, written only by its owner). A connection that has
waited `MAX_DEFER_S` (the others starting, busy or stuck) is accepted anyway: balancing may
delay a connection a little, it never refuses one.

The hook is uvicorn's `loop` option, which takes a loop factory: `BalancedLoop` is uvloop's
loop whose `create_server(sock=...)` returns a `BalancedServer` when the workers' folder is
set (service/server/workers.py), and uvloop's own server otherwise. `python -m service` runs
it in a lone process too, where it also tells when uvicorn has made its server (`serving()`),
which the ready line waits for (service/server/readiness.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import mmap
import os
import select
import socket
from collections.abc import Callable, Sized
from pathlib import Path
from typing import Any

import uvloop

from service.server.workers import ENV, alive

log = logging.getLogger("service.server.balance")

SLOTS = 256  # workers ever alive at once, restarts included (a dead worker's slot is reused)
DEFER_S = 0.001  # how long an over-loaded worker stops watching the socket
MAX_DEFER_S = 0.02  # then it accepts anyway
REFRESH_S = 0.1  # own count republished (connections close) and live workers rescanned
ACCEPT_ERROR_PAUSE_S = 1.0  # out of file descriptors: stop accepting a while, as asyncio does


class Tally:
    """This worker's slot in the shared file, and the other live workers' counts."""

    def __init__(self, root: Path) -> None:
        self._file = (root / "connections").open("a+b")  # made by the first worker
        self.pid = os.getpid()
        self.slot = self._claim()
        self._others: list[int] = []
        self.rescan()

    def _claim(self) -> int:
        """The first slot that is free or a dead worker's (under a lock: workers start
        together, and the first one sizes the file)."""
        fcntl.flock(self._file, fcntl.LOCK_EX)
        try:
            if os.fstat(self._file.fileno()).st_size < SLOTS * 16:
                os.ftruncate(self._file.fileno(), SLOTS * 16)  # zeroes: every slot free
            self._map = mmap.mmap(self._file.fileno(), SLOTS * 16)
            self._slots = memoryview(self._map).cast("q")  # pid, count, pid, count, ...
            for slot in range(SLOTS):
                pid = self._slots[2 * slot]
                if pid == 0 or not alive(pid):
                    self._slots[2 * slot + 1] = 0
                    self._slots[2 * slot] = self.pid
                    return slot
            raise RuntimeError(f"more than {SLOTS} workers share the connection tally")
        finally:
            fcntl.flock(self._file, fcntl.LOCK_UN)

    def rescan(self) -> None:
        """Which slots belong to other live workers (a pid check per slot: not per accept)."""
        self._others = [
            slot
            for slot in range(SLOTS)
            if slot != self.slot and self._slots[2 * slot] and alive(self._slots[2 * slot])
        ]

    def publish(self, count: int) -> None:
        self._slots[2 * self.slot + 1] = count

    def least_of_others(self) -> int | None:
        """The fewest connections another live worker holds; None when this one is alone."""
        counts = [self._slots[2 * slot + 1] for slot in self._others]
        return min(counts) if counts else None

    def release(self) -> None:
        """Out of the tally: the others stop standing back for this worker."""
        self._slots[2 * self.slot] = 0
        self._slots.release()
        self._map.close()
        self._file.close()


class BalancedServer:
    """What `create_server(sock=...)` returns here: accepts on `sock` while this worker holds
    no more connections than the least loaded other worker. uvicorn calls `close` and
    `wait_closed` on it, as on asyncio's Server."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        protocol_factory: Callable[[], asyncio.BaseProtocol],
        sock: socket.socket,
        tally: Tally,
        backlog: int,
    ) -> None:
        self._loop = loop
        self._factory = protocol_factory
        self._sock = sock
        self._tally = tally
        self._open: Sized = ()  # uvicorn's set of this worker's open connections
        self._connecting = 0  # accepted, protocol not yet made
        self._declined_at: float | None = None  # when it first stood back for this backlog
        self._timer: asyncio.TimerHandle | None = None
        self._closed = False
        sock.setblocking(False)
        sock.listen(backlog)
        self._watch()
        self._refresh = loop.call_later(REFRESH_S, self._tick)

    def load(self) -> int:
        return len(self._open) + self._connecting

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._unwatch()
        self._refresh.cancel()
        if self._timer is not None:
            self._timer.cancel()
        self._tally.release()
        self._sock.close()

    async def wait_closed(self) -> None:
        return None  # closing is immediate: nothing is left to wait for

    def _watch(self) -> None:
        self._loop.add_reader(self._sock.fileno(), self._readable)

    def _unwatch(self) -> None:
        with contextlib.suppress(ValueError, OSError):
            self._loop.remove_reader(self._sock.fileno())

    def _tick(self) -> None:
        self._tally.rescan()
        self._tally.publish(self.load())
        self._refresh = self._loop.call_later(REFRESH_S, self._tick)

    def _over_share(self) -> bool:
        least = self._tally.least_of_others()
        return least is not None and self.load() > least

    def _readable(self) -> None:
        while not self._closed:
            now = self._loop.time()
            if self._over_share():
                if self._declined_at is None:
                    self._declined_at = now
                if now - self._declined_at < MAX_DEFER_S:
                    self._stand_back(DEFER_S)
                    return
            try:
                conn, _ = self._sock.accept()
            except (BlockingIOError, InterruptedError):
                self._declined_at = None  # the backlog is empty: another worker took it
                return
            except OSError as exc:  # out of file descriptors, most often
                log.error("accept failed, pausing %g s: %s", ACCEPT_ERROR_PAUSE_S, exc)
                self._stand_back(ACCEPT_ERROR_PAUSE_S)
                return
            self._declined_at = None
            conn.setblocking(False)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._connecting += 1
            self._tally.publish(self.load())
            self._loop.create_task(self._serve(conn))

    def _stand_back(self, seconds: float) -> None:
        self._unwatch()
        self._timer = self._loop.call_later(seconds, self._look_again)

    def _look_again(self) -> None:
        self._timer = None
        if self._closed:
            return
        waiting = select.poll()
        waiting.register(self._sock.fileno(), select.POLLIN)
        if not waiting.poll(0):
            self._declined_at = None  # taken by another worker meanwhile
        self._watch()

    async def _serve(self, conn: socket.socket) -> None:
        try:
            await self._loop.connect_accepted_socket(self._make, conn)
        except OSError as exc:  # the client reset it already
            log.debug("accepted connection lost before it was served: %s", exc)
            conn.close()
        finally:
            self._connecting -= 1

    def _make(self) -> asyncio.BaseProtocol:
        protocol = self._factory()
        self._open = getattr(protocol, "connections", self._open)
        return protocol


class BalancedLoop(uvloop.Loop):
    """uvloop's loop; with the workers' folder set, a shared socket is served balanced. It
    notes when uvicorn has made its server (`serving`)."""

    serving = False

    async def create_server(  # type: ignore[override]
        self, protocol_factory: Callable[[], asyncio.BaseProtocol], *args: Any, **kwargs: Any
    ) -> Any:
        root = os.environ.get(ENV)
        sock = kwargs.get("sock")
        if root is None or sock is None or args or kwargs.get("ssl") is not None:
            server = await super().create_server(protocol_factory, *args, **kwargs)
        else:
            tally = Tally(Path(root))
            backlog = kwargs.get("backlog") or 100
            server = BalancedServer(self, protocol_factory, sock, tally, backlog)
        self.serving = True
        return server


def serving() -> bool:
    """Whether this process serves its port yet: uvicorn makes its server only after the
    lifespan's start-up (a lone process binds the port then; a worker starts accepting on
    its supervisor's socket). True on a loop that is not a `BalancedLoop`, which cannot
    tell: an in-process test client, which has no port."""
    return getattr(asyncio.get_running_loop(), "serving", True)
