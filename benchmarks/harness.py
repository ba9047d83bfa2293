"""The serving benchmarks' harness, on loopback: raw ONNX Runtime timing with the service's
session settings, server processes started and stopped whole, request bytes, and runs of the
load generator (benchmarks/loadgen.py) in its own process.

Shared by benchmarks/serve.py, benchmarks/big_uploads.py and benchmarks/peers/bench.py.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from benchmarks.loadgen import Spec
from service.engine.runtime import ProviderChoice, make_session
from service.manifest import Manifest
from service.resources import capacity
from service.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent
GENERATOR_BATCHES = (1, 8, 16, 32, 64)  # raw ONNX Runtime batch sizes per kind
TRANSLATE_BATCHES = (1, 8)


def time_runs(session, feeds: dict[str, np.ndarray], seconds: float) -> float:
    """Median seconds per `session.run` (after one warm-up run; at least 3 runs)."""
    session.run(None, feeds)
    times: list[float] = []
    stop = time.perf_counter() + seconds
    while len(times) < 3 or time.perf_counter() < stop:
        start = time.perf_counter()
        session.run(None, feeds)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def raw_ort(folder: Path, role: str, provider: str, seconds: float, x: np.ndarray | None):
    """{batch: ms per run, images/s, threads}: the service's session settings, at the better
    of one intra-op thread and every core for each batch. The limit is one process with the
    whole machine: not `intra_op_threads`, which the default `workers=auto` divides among
    its workers (one thread each here, which timed the CycleGAN at about half its speed)."""
    manifest = Manifest.load(folder)
    settings = Settings()
    rng = np.random.default_rng(0)
    out: dict[int, dict] = {}
    batches = TRANSLATE_BATCHES if x is not None else GENERATOR_BATCHES
    for threads in sorted({1, capacity.cores()}):
        session = make_session(
            folder / manifest.files[role].path,
            ProviderChoice(provider),
            threads,
            settings.inter_op_threads,
        )
        for batch in batches:
            if x is not None:
                feeds = {"image": np.repeat(x, batch, axis=0)}
            else:
                z = rng.standard_normal((batch, manifest.latent.dim)).astype(np.float32)
                feeds = {"z": z}
                if manifest.kind == "conditional":
                    feeds["label"] = (np.arange(batch) % len(manifest.classes)).astype(np.int64)
            per_run = time_runs(session, feeds, seconds)
            if batch not in out or per_run * 1e3 < out[batch]["run_ms"]:
                out[batch] = {
                    "run_ms": per_run * 1e3,
                    "images_per_s": batch / per_run,
                    "threads": threads,
                }
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def worker_pids(pid: int) -> list[int]:
    """The processes that serve: the workers under uvicorn's supervisor, else the server."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    spawned = [int(c) for c in children if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes()]
    return spawned or [pid]


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


@contextlib.contextmanager
def server(
    cmd: list[str],
    env: dict[str, str],
    port: int,
    probe: str,
    cwd: Path = ROOT,
    ready_within_s: float = 300,
) -> Iterator[int]:
    """Start a server process, wait until `probe` answers 200 (at most `ready_within_s`),
    yield its pid, stop it and every process it started (its own process group: frameworks
    leave helpers behind)."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("GANSERVE_")}
    env = {**inherited, **env}  # defaults + `env` only
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + ready_within_s
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"{cmd} exited with {proc.returncode}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}{probe}", timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"{cmd} was not ready in {ready_within_s:g} s")
            time.sleep(0.2)
        yield proc.pid
    finally:
        with contextlib.suppress(ProcessLookupError):  # it may have exited by itself
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # what outlived its parent


def http_request(path: str, body: bytes, content_type: str) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def multipart(photo: bytes, fields: dict[str, str]) -> tuple[bytes, str]:
    boundary = "ganservebenchmarkboundary"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
        for k, v in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="photo.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n".encode()
        + photo
        + b"\r\n"
    )
    return b"".join(
        parts
    ) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def load(spec: Spec, work: Path, generator: str = "loadgen.py") -> dict:
    """Run one load generator process on `spec` (HTTP; `grpc_loadgen.py`: gRPC); its JSON
    result."""
    path = work / "spec.json"
    path.write_text(spec.dump())
    done = subprocess.run(
        [sys.executable, str(HERE / generator), str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode:
        raise SystemExit(f"load generator failed:\n{done.stderr}")
    return json.loads(done.stdout)
