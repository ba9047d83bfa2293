"""Load above capacity and shutdown under load, on a real `python -m service` over loopback.

Every loop is bounded in requests and seconds. Timings on a shared CPU are noisy, so the
assertions are ratios and generous bounds; docs/reliability.md has the measured figures.
"""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from live_server import LiveServer, live_server
from onnx_models import make_slow_unconditional

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

# A model that takes about 20 ms per 32-row batch on one core: the model, not HTTP, is the
# bottleneck, as on a real deployment.
BODY = {"model": "slow", "n": 32, "seed": 7}
# Two requests of 32 rows may wait while one runs; more than that is overload. One worker:
# that room, and the resident memory watched, are a process's.
SETTINGS = {
    "queue_size": "64",
    "max_n": "32",
    "max_batch": "32",
    "log_level": "warning",
    "workers": "1",
}


@dataclass
class Phase:
    """What a group of looping clients saw."""

    seconds: float = 0.0
    statuses: Counter = field(default_factory=Counter)
    codes: Counter = field(default_factory=Counter)
    latency: dict[int, list[float]] = field(default_factory=dict)
    retry_after: set[str] = field(default_factory=set)
    errors: Counter = field(default_factory=Counter)

    @property
    def ok_per_second(self) -> float:
        return self.statuses[200] / self.seconds

    def quantile(self, status: int, q: float) -> float:
        values = sorted(self.latency.get(status, [0.0]))
        return values[round(q * (len(values) - 1))]


async def load(url: str, clients: int, seconds: float, per_client: int) -> Phase:
    """`clients` keep-alive clients posting BODY back to back, for at most `seconds` and
    `per_client` requests each."""
    phase = Phase()
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=10, limits=limits) as client:
        start = time.perf_counter()
        stop_at = start + seconds

        async def one_client() -> None:
            for _ in range(per_client):
                if time.perf_counter() > stop_at:
                    return
                t0 = time.perf_counter()
                try:
                    r = await client.post("/generate", json=BODY)
                except httpx.HTTPError as exc:
                    phase.errors[type(exc).__name__] += 1
                    continue
                phase.latency.setdefault(r.status_code, []).append(time.perf_counter() - t0)
                phase.statuses[r.status_code] += 1
                if r.status_code != 200:
                    phase.codes[r.json()["error"]["code"]] += 1
                    phase.retry_after.add(r.headers.get("retry-after", ""))
                elif len(r.json()["images"]) != BODY["n"]:
                    phase.errors["short answer"] += 1

        await asyncio.gather(*(one_client() for _ in range(clients)))
        phase.seconds = time.perf_counter() - start
    return phase


@contextmanager
def probe(port: int, phase: Phase, gap_s: float = 0.01) -> Iterator[None]:
    """One more client posting BODY every `gap_s` while the block runs, into `phase`: in its
    own thread, on a blocking socket, so the time from its request sent to its answer read is
    the server's. The load's clients cannot tell that: on a loaded machine twelve httpx
    clients keep their one event loop so busy that a request waits there up to a second
    before it is even sent (measured: up to 0.86 s, against at most 49 ms in the server)."""
    stop = threading.Event()
    body = json.dumps(BODY).encode()
    request = (
        "POST /generate HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body

    def run() -> None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                while not stop.wait(gap_s):
                    t0 = time.perf_counter()
                    sock.sendall(request)
                    status = int(_read_response(sock).split(b" ", 2)[1])
                    phase.latency.setdefault(status, []).append(time.perf_counter() - t0)
                    phase.statuses[status] += 1
        except OSError as exc:  # a timeout or a closed connection: the test reports it
            phase.errors[type(exc).__name__] += 1

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(15)


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    models = tmp_path_factory.mktemp("models")
    make_slow_unconditional(models / "slow")
    log = tmp_path_factory.mktemp("log") / "server.log"
    with live_server(models, log, **SETTINGS) as live:
        yield live


async def test_overload_gets_fast_503s_and_the_service_recovers(server: LiveServer) -> None:
    """12 clients against room for 3 requests: most are refused at once with 503 and
    Retry-After, none waits into a timeout, memory stays flat over two rounds, and then two
    clients get the throughput they had before. A probe beside the load times the refusals."""
    before = await load(server.url, clients=2, seconds=2, per_client=300)
    rss = [rss_mib(server.proc.pid)]
    overloads, probed = [], Phase()
    for _ in range(2):
        with probe(server.port, probed):
            overloads.append(await load(server.url, clients=12, seconds=2, per_client=200))
        rss.append(rss_mib(server.proc.pid))
    after = await load(server.url, clients=2, seconds=2, per_client=300)
    metrics = httpx.get(f"{server.url}/metrics").text

    report = {
        "before_ok_per_s": round(before.ok_per_second, 1),
        "after_ok_per_s": round(after.ok_per_second, 1),
        "overload": [dict(o.statuses) for o in overloads],
        "overload_p90_503_ms": [round(1000 * o.quantile(503, 0.9), 1) for o in overloads],
        "overload_p99_503_ms": [round(1000 * o.quantile(503, 0.99), 1) for o in overloads],
        "overload_p50_200_ms": [round(1000 * o.quantile(200, 0.5), 1) for o in overloads],
        "probe": dict(probed.statuses),
        "probe_503_p50_p99_ms": [round(1000 * probed.quantile(503, q), 1) for q in (0.5, 0.99)],
        "rss_mib": [round(r, 1) for r in rss],
    }
    print(json.dumps(report))

    assert set(before.statuses) == {200} and set(after.statuses) == {200}
    for phase in (before, after, *overloads, probed):
        assert not phase.errors  # no timeouts, resets or short answers
    for overload in overloads:
        assert overload.statuses[503] > overload.statuses[200] > 0
        assert set(overload.statuses) == {200, 503}
        assert set(overload.codes) == {"overloaded"}
        # From the estimate of the work held: a few 20 ms batches, so a second or two.
        assert {int(s) for s in overload.retry_after} <= {1, 2, 3}
        # Refused at once: a typical refusal comes back before a typical accepted request
        # (the 90th percentile was too close to call on a 2-core machine running the suite).
        assert overload.quantile(503, 0.5) < overload.quantile(200, 0.5)
    # Timed by the probe: a typical refusal takes under a quarter of a typical accepted
    # request, so it waited behind none of the work it was refused for (measured 0.03-0.04 of
    # it; made to wait for the work held, 0.72-0.76), and the slowest within a second.
    assert probed.statuses[503] >= 8 and set(probed.statuses) <= {200, 503}
    accepted = min(o.quantile(200, 0.5) for o in overloads)
    assert probed.quantile(503, 0.5) < 0.25 * accepted
    assert probed.quantile(503, 0.99) < 1.0
    assert rss[2] - rss[1] < 16  # a second overload costs no more memory
    assert after.ok_per_second > 0.5 * before.ok_per_second  # full speed, within the noise
    assert 'ganserve_queue_depth{model="slow"} 0.0' in metrics


def test_a_request_still_arriving_at_sigterm_is_answered(tmp_path: Path) -> None:
    """Connections accepted before SIGTERM whose request had not arrived (nothing sent yet,
    or half the headers) are let finish it, answered 200 with `Connection: close`, and
    closed; an idle kept-alive connection is closed at once, as uvicorn does."""
    make_slow_unconditional(tmp_path / "models" / "slow")
    body = json.dumps({"model": "slow", "n": 2, "seed": 3}).encode()
    request = (
        "POST /generate HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    with live_server(tmp_path / "models", tmp_path / "server.log", **SETTINGS) as server:
        silent = socket.create_connection(("127.0.0.1", server.port), timeout=20)
        half = socket.create_connection(("127.0.0.1", server.port), timeout=20)
        half.sendall(request[:30])
        idle = socket.create_connection(("127.0.0.1", server.port), timeout=20)
        idle.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        assert _read_response(idle).startswith(b"HTTP/1.1 200")
        time.sleep(0.3)  # every connection accepted by the server, not just the kernel
        server.proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        silent.sendall(request)
        half.sendall(request[30:])
        answers = [_read_all(sock) for sock in (silent, half)]
        idle_after = _read_all(idle)
        for sock in (silent, half, idle):
            sock.close()
        code = server.proc.wait(20)
    for answer in answers:
        head, _, payload = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), answer[:200]
        assert b"connection: close" in head.lower()
        assert len(json.loads(payload)["images"]) == 2
    assert idle_after == b""
    assert code in (0, -signal.SIGTERM)


def _read_response(sock: socket.socket) -> bytes:
    """One whole response on a kept-alive connection (its head, then Content-Length bytes)."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += _received(sock)
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        body += _received(sock)
    return head + b"\r\n\r\n" + body


def _received(sock: socket.socket) -> bytes:
    if chunk := sock.recv(65536):
        return chunk
    raise ConnectionError("closed before the whole answer")


def _partial_request(port: int, seed: int) -> tuple[socket.socket, bytes]:
    """A connection whose request is in flight: headers and half the body sent."""
    body = json.dumps({"model": "slow", "n": 4, "seed": seed}).encode()
    sock = socket.create_connection(("127.0.0.1", port), timeout=20)
    head = (
        "POST /generate HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    sock.sendall(head + body[:10])
    return sock, body[10:]


def _read_all(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def test_sigterm_under_load_drains_in_flight_requests(tmp_path: Path) -> None:
    """SIGTERM while 12 clients load the service and 6 requests are half received: every
    answer that starts is whole, the 6 finish with 200 after the signal, the process exits
    cleanly. Clients that come after the signal are refused at connect."""
    make_slow_unconditional(tmp_path / "models" / "slow")
    with live_server(tmp_path / "models", tmp_path / "server.log", **SETTINGS) as server:
        pending = [_partial_request(server.port, seed) for seed in range(6)]
        phases: list[Phase] = []
        loader = threading.Thread(
            target=lambda: phases.append(
                asyncio.run(load(server.url, clients=12, seconds=4, per_client=400))
            )
        )
        loader.start()
        time.sleep(1.0)
        server.proc.send_signal(signal.SIGTERM)
        time.sleep(1.0)
        assert server.proc.poll() is None, "exited with requests in flight"
        for sock, rest in pending:
            sock.sendall(rest)
        answers = [_read_all(sock) for sock, _ in pending]
        for sock, _ in pending:
            sock.close()
        loader.join(30)
        code = server.proc.wait(20)
        output = server.output()

    for answer in answers:
        assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
        assert len(json.loads(answer.split(b"\r\n\r\n", 1)[1])["images"]) == 4
    (phase,) = phases
    print(json.dumps({"load": dict(phase.statuses), "errors": dict(phase.errors)}))
    assert phase.statuses[200] > 0 and set(phase.statuses) <= {200, 503}
    assert "short answer" not in phase.errors
    # After the signal: refused connections, or a keep-alive connection closed while idle.
    assert set(phase.errors) <= {"ConnectError", "RemoteProtocolError", "ReadError"}, phase.errors
    assert code in (0, -signal.SIGTERM)
    assert "Traceback" not in output
