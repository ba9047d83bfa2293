"""Bursts of large photos on the shipped CycleGAN with /generate traffic beside them.

`python -m service` on the shipped models with the default settings (max_side 1024,
request_timeout_s 30, memory_budget_mb 2048); for each burst size, that many clients send one
1024x1024 JPEG to /translate at the same moment while `--generate-clients` loop on /generate.
Reported per burst: answers by status and code, the times of the 200s, the refusals'
Retry-After, resident memory before, at its peak and 60 s after, and /generate p50/p99 while
the burst was in flight. Targets (issue: big photos under load): no `timeout` answer, peak
resident memory within memory_budget_mb, memory 60 s after within 20 % of before, /generate
p99 under 50 ms during the burst.

    .venv/bin/python benchmarks/big_uploads.py --bursts 16 64 \\
        --photo ../shared/data/horse2zebra/trainA/n02381460_1001.jpg
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import statistics
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import reports  # noqa: E402
from benchmarks.harness import free_port, rss_mib, server  # noqa: E402
from benchmarks.sysinfo import machine  # noqa: E402
from service.settings import Settings  # noqa: E402

SIDE = 1024


def photo_1024(path: Path | None) -> bytes:
    """The photo scaled to 1024x1024 (a real horse when given), else a synthetic one."""
    if path is not None:
        img = Image.open(path).convert("RGB").resize((SIDE, SIDE), Image.Resampling.LANCZOS)
    else:
        noise = np.random.default_rng(0).integers(0, 255, (SIDE, SIDE, 3), dtype=np.uint8)
        img = Image.fromarray(noise)
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=90)
    return buf.getvalue()


class RssSampler:
    """The server's resident memory every 50 ms, in a thread, until stopped."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_mib(self.pid))
            time.sleep(0.05)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


async def _generate_loop(
    client: httpx.AsyncClient, model: str, stop: asyncio.Event, out: list[float]
) -> None:
    while not stop.is_set():
        start = time.perf_counter()
        r = await client.post("/generate", json={"model": model, "n": 1})
        if r.status_code == 200:
            out.append(time.perf_counter() - start)
        await asyncio.sleep(0.01)


async def _upload(client: httpx.AsyncClient, photo: bytes, t0: float) -> dict:
    r = await client.post("/translate", files={"file": ("horse.jpg", photo, "image/jpeg")})
    code = "" if r.status_code == 200 else r.json()["error"]["code"]
    return {
        "status": r.status_code,
        "code": code,
        "retry_after": r.headers.get("retry-after"),
        "seconds": time.perf_counter() - t0,
    }


async def warm_up(url: str, photo: bytes) -> None:
    """One upload served before any burst: what the first upload of a process sets up once
    (the decoder, the upload threads) is then in the level a burst is compared with."""
    async with httpx.AsyncClient(base_url=url, timeout=300) as client:
        answer = await _upload(client, photo, time.perf_counter())
    if answer["status"] != 200:
        raise SystemExit(f"the warm-up upload was answered {answer['status']} {answer['code']}")


def _quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def burst(url: str, pid: int, photo: bytes, n: int, args: argparse.Namespace) -> dict:
    before = rss_mib(pid)
    limits = httpx.Limits(max_connections=n + args.generate_clients + 4)
    async with httpx.AsyncClient(base_url=url, timeout=300, limits=limits) as client:
        stop = asyncio.Event()
        latencies: list[float] = []
        loops = [
            asyncio.ensure_future(_generate_loop(client, args.generate_model, stop, latencies))
            for _ in range(args.generate_clients)
        ]
        await asyncio.sleep(1.0)  # /generate alone first, so the burst window is clean
        latencies.clear()
        with RssSampler(pid) as rss:
            t0 = time.perf_counter()
            answers = await asyncio.gather(*(_upload(client, photo, t0) for _ in range(n)))
            burst_s = time.perf_counter() - t0
            during = list(latencies)
            stop.set()
            await asyncio.gather(*loops)
            metrics = (await client.get("/metrics")).text
        await asyncio.sleep(args.settle_s)
    after = rss_mib(pid)
    ok = sorted(a["seconds"] for a in answers if a["status"] == 200)
    refused = [a for a in answers if a["code"] == "overloaded"]
    return {
        "uploads": n,
        "statuses": dict(Counter(f"{a['status']} {a['code']}".strip() for a in answers)),
        "ok_seconds": [round(s, 2) for s in ok],
        "refused_seconds_max": round(max((a["seconds"] for a in refused), default=0), 2),
        "retry_after": dict(Counter(a["retry_after"] for a in refused)),
        "burst_seconds": round(burst_s, 1),
        "rss_mib_before": round(before, 1),
        "rss_mib_peak": round(rss.peak, 1),
        "rss_mib_60s_after": round(after, 1),  # after --settle-s
        "generate_during_burst": {
            "requests": len(during),
            "p50_ms": round(1000 * statistics.median(during), 1) if during else None,
            "p99_ms": round(1000 * _quantile(during, 0.99), 1) if during else None,
        },
        "session_estimates": [
            line
            for line in metrics.splitlines()
            if line.startswith(("ganserve_session_run_peak_bytes", "ganserve_memory_budget"))
        ],
    }


def targets(run: dict, budget_mib: int) -> dict[str, bool]:
    p99 = run["generate_during_burst"]["p99_ms"]
    return {
        "no timeout answer": not any("timeout" in s for s in run["statuses"]),
        "peak within the memory budget": run["rss_mib_peak"] <= budget_mib,
        "60 s after within 20 % of before": run["rss_mib_60s_after"] <= 1.2 * run["rss_mib_before"],
        "/generate p99 < 50 ms": p99 is not None and p99 < 50,
    }


def markdown(report: dict) -> str:
    lines = [
        f"# Big uploads ({report['git']}, {report['machine']['cpu']}, "
        f"{report['machine']['cores']} cores, load average at start "
        f"{', '.join(f'{x:.2f}' for x in report['machine']['load_average_at_start'])})",
        "",
        f"RSS at ready {report['rss_mib_at_ready']} MiB, after one upload "
        f"{report['rss_mib_after_one_upload']} MiB (the bursts' 'before' comes after it).",
        "",
        "| uploads | answers | 200 times, s | refused: Retry-After | RSS MiB before / peak / "
        "60 s after | /generate p50 / p99 ms | targets missed |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for run in report["runs"]:
        gen = run["generate_during_burst"]
        missed = [k for k, ok in run["targets"].items() if not ok]
        lines.append(
            f"| {run['uploads']} | {run['statuses']} | {run['ok_seconds']} | "
            f"{run['retry_after']} (all within {run['refused_seconds_max']} s) | "
            f"{run['rss_mib_before']} / {run['rss_mib_peak']} / {run['rss_mib_60s_after']} | "
            f"{gen['p50_ms']} / {gen['p99_ms']} ({gen['requests']} requests) | "
            f"{', '.join(missed) or 'none'} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bursts", type=int, nargs="+", default=[16, 64])
    parser.add_argument("--photo", type=Path, help="a photo to scale to 1024x1024")
    parser.add_argument("--generate-clients", type=int, default=2)
    parser.add_argument("--generate-model", default="dcgan-mnist")
    parser.add_argument("--settle-s", type=float, default=60.0, help="wait before the final RSS")
    parser.add_argument("--models", type=Path, default=ROOT / "models")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args(argv)
    photo = photo_1024(args.photo)
    budget = Settings().memory_budget_mb
    port = free_port()
    cmd = [sys.executable, "-m", "service", "--host", "127.0.0.1", "--port", str(port)]
    cmd += ["--models", str(args.models)]
    command = " ".join(["python benchmarks/big_uploads.py", *(argv or sys.argv[1:])])
    report: dict = {**reports.opening(command, machine()), "runs": []}
    # The budget is per worker. The largest photo's background timing is off: it would be
    # mid-run when the resident memory "at ready" is read, and it is what this measures next.
    env = {"GANSERVE_PROVIDER": "cpu", "GANSERVE_WORKERS": "1", "GANSERVE_MAX_SIDE_PROBE": "false"}
    with server(cmd, env, port, "/readyz") as pid:
        url = f"http://127.0.0.1:{port}"
        report["rss_mib_at_ready"] = round(rss_mib(pid), 1)
        asyncio.run(warm_up(url, photo))
        report["rss_mib_after_one_upload"] = round(rss_mib(pid), 1)
        for n in args.bursts:
            run = asyncio.run(burst(url, pid, photo, n, args))
            run["targets"] = targets(run, budget)
            report["runs"].append(run)
            print(json.dumps(run), flush=True)
    report["load_average_at_end"] = list(os.getloadavg())
    reports.save(args.out, "big_uploads", report, markdown(report))
    print(markdown(report))
    return report


if __name__ == "__main__":
    main()
