"""`python -m service` as a real process on a loopback port, for tests that need the whole
stack (uvicorn, signals, logs). Importable by any test module (`from live_server import ...`).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LiveServer:
    url: str
    port: int
    proc: subprocess.Popen
    log: Path  # stdout and stderr together

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@contextmanager
def live_server(models_dir: Path, log: Path, **settings: str) -> Iterator[LiveServer]:
    """Serve `models_dir` with `GANSERVE_<KEY>=value` for each keyword; stop it afterwards.

    Output goes to the file `log`, not a pipe: a pipe nobody drains would block the server.
    """
    port = free_port()
    env = os.environ | {"GANSERVE_PROVIDER": "cpu", "GANSERVE_INTRA_OP_THREADS": "1"}
    env |= {f"GANSERVE_{k.upper()}": v for k, v in settings.items()}
    command = [sys.executable, "-m", "service", "--host", "127.0.0.1", "--port", str(port)]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*command, "--models", str(models_dir)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = LiveServer(f"http://127.0.0.1:{port}", port, proc, log)
    try:
        wait_ready(server)
        yield server
    finally:
        stop(proc)


def wait_ready(server: LiveServer, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"{server.url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if server.proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the server did not become ready:\n{server.output()[-3000:]}")
        time.sleep(0.1)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
