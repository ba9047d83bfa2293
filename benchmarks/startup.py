"""How long `python -m service` takes to be ready, and what each worker holds then, per
`workers` count: the price of more workers (each loads and warms every model itself).

    python benchmarks/startup.py --workers 1 2 auto --rounds 3

Each start is timed from the process's start to the first 200 from `/readyz` (polled every
0.2 s), in alternating order; then every worker's resident memory is read from /proc.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.harness import free_port, rss_mib, server  # noqa: E402
from benchmarks.peers.bench import worker_pids  # noqa: E402
from benchmarks.sysinfo import git_revision  # noqa: E402


def start(models: Path, workers: str) -> tuple[float, list[float]]:
    """Seconds to ready, and each worker's resident MiB at that moment."""
    port = free_port()
    command = [sys.executable, "-m", "service", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--models", str(models), "--workers", workers]
    began = time.monotonic()
    with server(command, {}, port, "/readyz") as pid:
        ready_s = time.monotonic() - began
        return ready_s, [rss_mib(p) for p in worker_pids(pid)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--models", type=Path, default=ROOT / "models")
    parser.add_argument("--workers", nargs="+", default=["1", "2"], help="counts, auto")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(f"git {git_revision(ROOT)}, models {args.models}")
    seen: dict[str, list[tuple[float, list[float]]]] = {w: [] for w in args.workers}
    for r in range(args.rounds):
        for w in args.workers if r % 2 == 0 else reversed(args.workers):
            seen[w].append(start(args.models, w))
            ready_s, rss = seen[w][-1]
            mib = ", ".join(f"{m:.0f}" for m in rss)
            print(f"  workers={w}: ready in {ready_s:.1f} s, {len(rss)} worker(s), MiB {mib}")
    for w, runs in seen.items():
        times = [t for t, _ in runs]
        per_worker = [m for _, rss in runs for m in rss]
        print(
            f"workers={w}: ready in {statistics.median(times):.1f} s median "
            f"({min(times):.1f}-{max(times):.1f}), per worker {statistics.median(per_worker):.0f} "
            f"MiB median, total {statistics.median(sum(rss) for _, rss in runs):.0f} MiB"
        )


if __name__ == "__main__":
    main()
