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


def clean_env() -> dict[str, str]:
    """The caller's environment without its GANSERVE_* variables: a test names every setting."""
    return {k: v for k, v in os.environ.items() if not k.startswith("GANSERVE_")}


@contextmanager
def run_server(
    command: list[str], env: dict[str, str], port: int, log: Path, timeout: float = 60
) -> Iterator[LiveServer]:
    """Start `command`, a server on 127.0.0.1:`port`; wait for /readyz to answer 200; stop it
    afterwards (SIGTERM, then kill). A server that exits or never gets ready fails the test.

    Output goes to the file `log`, not a pipe: a pipe nobody drains would block the server.
    """
    with log.open("wb") as out:
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    server = LiveServer(f"http://127.0.0.1:{port}", port, proc, log)
    try:
        wait_ready(server, timeout)
        yield server
    finally:
        stop(proc)


@contextmanager
def live_server(models_dir: Path, log: Path, **settings: str) -> Iterator[LiveServer]:
    """`python -m service` serving `models_dir` on CPU with one intra-op thread, without gRPC
    unless `grpc_port` is given, without the background timing of each translation's largest
    photo unless `max_side_probe` is given (its run right after ready skews the timing these
    tests measure, as conftest's settings leave it off), and `GANSERVE_<KEY>=value` for each
    keyword."""
    port = free_port()
    env = clean_env() | {
        "GANSERVE_PROVIDER": "cpu",
        "GANSERVE_INTRA_OP_THREADS": "1",
        "GANSERVE_GRPC_PORT": "0",
        "GANSERVE_MAX_SIDE_PROBE": "false",
    }
    env |= {f"GANSERVE_{k.upper()}": v for k, v in settings.items()}
    command = [sys.executable, "-m", "service", "--host", "127.0.0.1", "--port", str(port)]
    with run_server([*command, "--models", str(models_dir)], env, port, log) as server:
        yield server


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
