"""A light closed-loop HTTP/1.1 load generator: asyncio streams, keep-alive, no HTTP library.

    python benchmarks/loadgen.py SPEC.json      # prints one JSON result line

`SPEC.json` names the port, one raw request (bytes as latin-1 text, sent as is, again and
again), the number of clients, a warm-up and a measured window. Each client owns one
keep-alive connection and sends the next request as soon as the previous answer is read.
It runs in its own process so that its CPU use is its own: on a 2-core machine the client
competes with the server, so it is kept cheap (uvloop when installed, responses are read by
Content-Length, or chunk by chunk, and not parsed) and reports its CPU time.

At the window's start and end it also reads the server's CPU time from /proc/PID/stat and,
when `metrics_model` is set, the `ganserve_batch_size` histogram from /metrics, so the
server's CPU use and mean batch size cover exactly the measured window.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
import time
from dataclasses import dataclass, field

TICK = os.sysconf("SC_CLK_TCK")


@dataclass
class Spec:
    port: int
    request: bytes
    clients: int
    warmup_s: float
    duration_s: float
    images_per_request: int = 1
    server_pid: int = 0
    metrics_model: str = ""  # label value of ganserve_batch_size to read; empty: none
    idle_gap_s: float = 0.0  # > 0: one client, pausing this long between requests
    host: str = "127.0.0.1"

    @classmethod
    def load(cls, text: str) -> Spec:
        values = json.loads(text)
        values["request"] = values["request"].encode("latin-1")
        return cls(**values)

    def dump(self) -> str:
        values = {**self.__dict__, "request": self.request.decode("latin-1")}
        return json.dumps(values)


@dataclass
class Window:
    start: float = 0.0
    end: float = 0.0
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)


def _stat(pid: str) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()
    except OSError:  # gone, or not a process
        return None


def server_cpu_s(pid: int) -> float:
    """User + system CPU seconds (fields 14 and 15 of /proc/PID/stat) of a process and all
    its descendants: workers, and the frameworks' helper processes, count too."""
    if not pid:
        return 0.0
    stats = {p: s for p in os.listdir("/proc") if p.isdigit() and (s := _stat(p))}
    children: dict[str, list[str]] = {}
    for p, fields in stats.items():
        children.setdefault(fields[1], []).append(p)  # field 4: the parent's pid
    total, todo = 0.0, [str(pid)]
    while todo:
        p = todo.pop()
        if p in stats:
            total += (int(stats[p][11]) + int(stats[p][12])) / TICK
        todo += children.get(p, [])
    return total


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    match = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
    if match is not None:
        return status, await reader.readexactly(int(match.group(1)))
    if re.search(rb"(?i)\r\ntransfer-encoding:\s*chunked", head) is None:
        raise RuntimeError(f"no Content-Length in {head[:200]!r}")
    chunks = []  # Ray Serve streams its answers
    while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
        chunks.append(await reader.readexactly(size + 2))
    await reader.readuntil(b"\r\n")  # no trailers are sent
    return status, b"".join(c[:-2] for c in chunks)


async def get(host: str, port: int, path: str) -> bytes:
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
    _, body = await read_response(reader)
    writer.close()
    return body


def batch_histogram(text: bytes, model: str) -> tuple[float, float]:
    """(sum, count) of ganserve_batch_size for one model label."""
    values = {}
    for part in ("sum", "count"):
        pattern = rf'ganserve_batch_size_{part}\{{[^}}]*model="{re.escape(model)}"[^}}]*\}} (\S+)'
        match = re.search(pattern.encode(), text)
        values[part] = float(match.group(1)) if match else 0.0
    return values["sum"], values["count"]


def cpu_snapshot(spec: Spec) -> dict[str, float]:
    """The clock and both sides' CPU seconds, taken at each end of the measured window."""
    return {
        "t": time.perf_counter(),
        "client_cpu": time.process_time(),
        "server_cpu": server_cpu_s(spec.server_pid),
    }


async def snapshot(spec: Spec) -> dict[str, float]:
    shot = cpu_snapshot(spec)
    if spec.metrics_model:
        text = await get(spec.host, spec.port, "/metrics")
        shot["batch_sum"], shot["batch_count"] = batch_histogram(text, spec.metrics_model)
    return shot


async def client(spec: Spec, window: Window, stop: asyncio.Event) -> None:
    reader, writer = await asyncio.open_connection(spec.host, spec.port)
    try:
        while not stop.is_set():
            sent = time.perf_counter()
            writer.write(spec.request)
            status, _ = await read_response(reader)
            done = time.perf_counter()
            if window.start <= done <= window.end:  # completions inside the window
                window.latencies.append(done - sent)
                window.statuses[status] = window.statuses.get(status, 0) + 1
            if spec.idle_gap_s:
                await asyncio.sleep(spec.idle_gap_s)
    finally:
        writer.close()


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return float("nan")
    rank = max(0, min(len(sorted_values) - 1, round(q / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[rank]


def summary(
    spec: Spec,
    clients: int,
    window: Window,
    first: dict[str, float],
    last: dict[str, float],
    errors: list[str],
) -> dict:
    """The result line of a run, one for HTTP and gRPC so that their runs compare: throughput
    of 200s, latency percentiles, and CPU cores between the window's `first` and `last`
    snapshots."""
    lat = sorted(window.latencies)
    ok = window.statuses.get(200, 0)
    seconds = last["t"] - first["t"]
    return {
        "clients": clients,
        "duration_s": round(seconds, 3),
        "requests": len(lat),
        "statuses": {str(k): v for k, v in sorted(window.statuses.items())},
        "requests_per_s": ok / seconds,
        "images_per_s": ok * spec.images_per_request / seconds,
        "p50_ms": percentile(lat, 50) * 1e3,
        "p95_ms": percentile(lat, 95) * 1e3,
        "p99_ms": percentile(lat, 99) * 1e3,
        "mean_ms": sum(lat) / len(lat) * 1e3 if lat else float("nan"),
        "client_cpu_cores": (last["client_cpu"] - first["client_cpu"]) / seconds,
        "server_cpu_cores": (last["server_cpu"] - first["server_cpu"]) / seconds,
        "errors": errors[:3],
    }


async def run(spec: Spec) -> dict:
    window = Window()
    now = time.perf_counter()
    window.start = now + spec.warmup_s
    window.end = window.start + spec.duration_s
    stop = asyncio.Event()
    clients = 1 if spec.idle_gap_s else spec.clients
    tasks = [asyncio.create_task(client(spec, window, stop)) for _ in range(clients)]
    await asyncio.sleep(max(0.0, window.start - time.perf_counter()))
    first = await snapshot(spec)
    await asyncio.sleep(max(0.0, window.end - time.perf_counter()))
    last = await snapshot(spec)
    stop.set()
    for task in tasks:
        task.cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    errors = [repr(r) for r in results if isinstance(r, Exception)]
    errors = [e for e in errors if "CancelledError" not in e]
    out = summary(spec, clients, window, first, last, errors)
    if spec.metrics_model:
        runs = last["batch_count"] - first["batch_count"]
        rows = last["batch_sum"] - first["batch_sum"]
        out["mean_batch"] = rows / runs if runs else None
    return out


def main(argv: list[str]) -> None:
    with open(argv[0]) as f:
        spec = Spec.load(f.read())
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvicorn[standard] brings it
        result = asyncio.run(run(spec))
    else:
        result = uvloop.run(run(spec))
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
