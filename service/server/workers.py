"""Several worker processes on one port, kept in agreement through one shared folder.

With `workers` > 1, `python -m service` makes a folder, names it in `GANSERVE_WORKERS_DIR`
and lets uvicorn's supervisor start the workers, which share the connections evenly
(service/server/balance.py).
Each worker loads its own models, so what one worker knows the others learn from the folder:

- `metrics/`: prometheus-client's multiprocess files, so one scrape sums every worker;
- `reload`: a counter. `/admin/reload` on any worker raises it; every worker watches it and
  rescans its models folder when it moves;
- `<pid>.json`: each worker's state (ready or not, why, its models, the reload it has done),
  read by `/readyz` (ready only when every worker is) and `/models` (state per worker);
- `number-<n>`: the pid of worker n (from 1), which its log lines name
  (service/server/logs.py); a restarted worker takes the number of the one that died;
- `announced`: made by the worker that said the service is ready, so one says it.

A file, not a pipe to the supervisor: uvicorn's supervisor runs no application code, and a
worker that restarts after a crash finds everything it needs in the folder.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import signal
import socket
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from prometheus_client import multiprocess
from uvicorn import Config
from uvicorn.supervisors import Multiprocess

ENV = "GANSERVE_WORKERS_DIR"
POLL_S = 0.1  # how often a worker looks at the reload counter


def metrics_dir(root: Path) -> Path:
    return root / "metrics"


def prepare(root: Path) -> dict[str, str]:
    """Lay out a fresh folder; the environment the workers need to find it."""
    metrics_dir(root).mkdir(parents=True, exist_ok=True)
    (root / "reload").write_text("0")
    return {ENV: str(root), "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir(root))}


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - another user's process took the pid
        return True
    return True


class Board:
    """This worker's view of the shared folder."""

    def __init__(self, root: Path, workers: int) -> None:
        self.root = root
        self.workers = workers
        self.pid = os.getpid()
        self.generation = self._counter()  # the last reload this worker has done

    @classmethod
    def from_env(cls, workers: int) -> Board | None:
        root = os.environ.get(ENV)
        return cls(Path(root), workers) if root and workers > 1 else None

    # -- the reload counter -------------------------------------------------------------

    def _counter(self) -> int:
        try:
            return int((self.root / "reload").read_text() or 0)
        except (OSError, ValueError):
            return 0

    def bump(self) -> int:
        """Raise the reload counter (under a lock: two reloads at once both count)."""
        with (self.root / "reload.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            generation = self._counter() + 1
            self._write(self.root / "reload", str(generation))
        self.generation = generation
        return generation

    async def watch(self, reload: Callable[[], Awaitable[Any]]) -> None:
        """Forever: reload when another worker raised the counter."""
        while True:
            await asyncio.sleep(POLL_S)
            generation = self._counter()
            if generation > self.generation:
                self.generation = generation
                await reload()

    def forget_dead(self) -> None:
        """Drop what killed workers left (their live gauges would be summed forever)."""
        for path in metrics_dir(self.root).glob("gauge_live*_*.db"):
            pid = path.stem.rsplit("_", 1)[1]
            if pid.isdigit() and not alive(int(pid)):
                multiprocess.mark_process_dead(int(pid), str(metrics_dir(self.root)))

    # -- who says what --------------------------------------------------------------------

    def claim_number(self) -> int:
        """The lowest worker number no live worker holds (under a lock: workers start at once)."""
        with (self.root / "numbers.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            number = 1
            while True:
                path = self.root / f"number-{number}"
                try:
                    holder = int(path.read_text())
                except (OSError, ValueError):
                    holder = None
                if holder is None or holder == self.pid or not alive(holder):
                    self._write(path, str(self.pid))
                    return number
                number += 1

    def first_to_announce(self) -> bool:
        """True for the one worker that says the service is ready."""
        try:
            (self.root / "announced").open("x").close()
        except FileExistsError:
            return False
        return True

    # -- worker states ------------------------------------------------------------------

    def publish(self, state: dict[str, Any]) -> None:
        self._write(self.root / f"{self.pid}.json", json.dumps(state | {"pid": self.pid}))

    def withdraw(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            (self.root / f"{self.pid}.json").unlink()

    def states(self) -> list[dict[str, Any]]:
        """Every live worker's last published state, by pid."""
        states = []
        for path in sorted(self.root.glob("*.json")):
            if not path.stem.isdigit() or not alive(int(path.stem)):
                continue
            with contextlib.suppress(OSError, ValueError):
                states.append(json.loads(path.read_text()))
        return states

    async def wait_for(self, generation: int, timeout: float) -> list[dict[str, Any]]:
        """The states once every live worker has done reload `generation` (or the timeout)."""
        deadline = time.monotonic() + timeout
        while True:
            states = self.states()
            done = all(s.get("reload", 0) >= generation for s in states)
            if (done and len(states) >= self.workers) or time.monotonic() > deadline:
                return states
            await asyncio.sleep(POLL_S / 2)

    @staticmethod
    def _write(path: Path, text: str) -> None:
        """Atomically: a reader sees the old file or the new one, never half of one."""
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        tmp.write_text(text)
        tmp.replace(path)


class Supervisor(Multiprocess):
    """uvicorn's supervisor, stopping at once on SIGTERM and refusing new connections then.

    uvicorn's own notices a signal at its next half-second poll, and its copy of the listening
    socket stays open until every worker has drained: connections made meanwhile wait in the
    backlog, never answered. Here SIGTERM reaches the workers at once, and the supervisor
    closes its copy as the workers close theirs, so a new connection is refused (a proxy or
    client retries elsewhere) while the requests already accepted finish.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        signal.signal(signal.SIGTERM, lambda sig, frame: self.should_exit.set())

    def terminate_all(self) -> None:
        for sock in self.sockets:
            sock.close()
        super().terminate_all()


def port_free(host: str, port: int) -> bool:
    """Whether no socket listens on `port` (a probe without SO_REUSEPORT: the sockets the
    workers bind with it would also join another process's)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is no owner
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def serve(config: Config) -> None:
    """`config.workers` processes on one listening socket, until SIGTERM has drained them."""
    Supervisor(config, sockets=[config.bind_socket()]).run()
