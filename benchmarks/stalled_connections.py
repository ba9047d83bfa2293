"""Thousands of stalled connections against `python -m service` with the default settings.

Two rounds on one server: `--connections` clients that send half of their request headers and
stall, then as many that send whole headers and part of an upload body and stall. Reported per
round: how many connections the server still held `--held-at-s` after the first one opened
(the issue found all 2,000 mid-body ones held at 12 s), when the last one had sent its bytes
and when the last one was closed (seconds from the first), what each got
(nothing for stalled headers, at `header_timeout_s` or at once when a newer connection
needs the room at `max_connections`; `408` for a stalled body at `body_timeout_s`), and
/healthz answers and p99 from a client polling beside them.

    .venv/bin/python benchmarks/stalled_connections.py --connections 2000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.harness import free_port, rss_mib, server  # noqa: E402
from benchmarks.sysinfo import git_revision, machine  # noqa: E402
from service.settings import Settings  # noqa: E402

HALF_HEADERS = b"POST /translate HTTP/1.1\r\nHost: bench\r\nContent-Ty"
HALF_BODY = (
    b"POST /translate HTTP/1.1\r\nHost: bench\r\n"
    b"Content-Type: multipart/form-data; boundary=xyz\r\nContent-Length: 100000\r\n\r\n"
    b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="x.jpg"\r\n\r\n'
    + b"\xff\xd8"
    * 500
)
ROUNDS = {"half headers": HALF_HEADERS, "headers and part of a body": HALF_BODY}


async def _stall(
    port: int, sent: bytes, t0: float, out: list[tuple[float, str]], sent_at: list[float]
) -> None:
    """One client: connect, send `sent`, then read until the server closes the connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(sent)
    await writer.drain()
    sent_at.append(time.monotonic() - t0)
    answer = await reader.read()  # until EOF
    out.append((time.monotonic() - t0, answer[:12].decode(errors="replace") or "closed"))
    writer.close()


async def _healthz(port: int) -> str:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
    answer = await reader.read()
    writer.close()
    return answer[9:12].decode() or "closed"


async def _poll(port: int, stop: asyncio.Event, out: list[tuple[str, float]]) -> None:
    while not stop.is_set():
        start = time.perf_counter()
        try:
            status = await asyncio.wait_for(_healthz(port), 10)
        except (OSError, TimeoutError):
            status = "error"
        out.append((status, time.perf_counter() - start))
        await asyncio.sleep(0.05)


async def stall_round(
    port: int, pid: int, sent: bytes, n: int, held_at_s: float, give_up_s: float
) -> dict:
    before = rss_mib(pid)
    stop = asyncio.Event()
    polls: list[tuple[str, float]] = []
    poller = asyncio.ensure_future(_poll(port, stop, polls))
    closed: list[tuple[float, str]] = []
    sent_at: list[float] = []
    t0 = time.monotonic()
    clients = [asyncio.ensure_future(_stall(port, sent, t0, closed, sent_at)) for _ in range(n)]
    await asyncio.sleep(max(0.0, held_at_s - (time.monotonic() - t0)))
    held_at = n - len(closed) - sum(c.done() and c.exception() is not None for c in clients)
    peak = rss_mib(pid)
    _, pending = await asyncio.wait(clients, timeout=give_up_s)
    for client in pending:  # held for good: the server has no timeout for them
        client.cancel()
    await asyncio.gather(*clients, return_exceptions=True)
    stop.set()
    await poller
    latencies = sorted(seconds for status, seconds in polls if status == "200")
    return {
        "connections": n,
        "client_errors": dict(
            Counter(
                type(c.exception()).__name__ for c in clients if not c.cancelled() and c.exception()
            )
        ),
        "never_closed": len(pending),
        "held_at_s": held_at_s,
        "still_held": held_at,
        "last_sent_s": round(max(sent_at, default=0), 2),  # all connected and stalled
        "last_closed_s": round(max((s for s, _ in closed), default=0), 2),
        "answers": dict(Counter(answer for _, answer in closed)),
        "healthz": dict(Counter(status for status, _ in polls)),
        "healthz_p99_ms": round(1000 * latencies[int(0.99 * (len(latencies) - 1))], 1)
        if latencies
        else None,
        "rss_mib_before": round(before, 1),
        "rss_mib_held": round(peak, 1),
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=2000)
    parser.add_argument("--held-at-s", type=float, default=12.0, help="count the held ones then")
    parser.add_argument("--give-up-s", type=float, default=60.0, help="then stop waiting")
    parser.add_argument("--models", type=Path, default=ROOT / "models")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args(argv)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = min(hard, 2 * args.connections + 1024)  # here and in the server, which inherits it
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, wanted), hard))
    settings = Settings()
    port = free_port()
    cmd = [sys.executable, "-m", "service", "--host", "127.0.0.1", "--port", str(port)]
    report: dict = {
        "revision": git_revision(),
        "machine": machine(),
        "command": " ".join(["benchmarks/stalled_connections.py", *(argv or sys.argv[1:])]),
        "settings": {
            k: getattr(settings, k)
            for k in ("header_timeout_s", "body_timeout_s", "keep_alive_s", "max_connections")
        },
        "rounds": {},
    }
    one = {"GANSERVE_WORKERS": "1"}  # max_connections and the memory measured are per worker
    with server([*cmd, "--models", str(args.models)], one, port, "/readyz") as pid:
        for name, sent in ROUNDS.items():
            run = asyncio.run(
                stall_round(port, pid, sent, args.connections, args.held_at_s, args.give_up_s)
            )
            report["rounds"][name] = run
            print(name, json.dumps(run), flush=True)
    report["load_average_at_end"] = list(os.getloadavg())
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "stalled_connections.json").write_text(json.dumps(report, indent=1) + "\n")
    return report


if __name__ == "__main__":
    main()
