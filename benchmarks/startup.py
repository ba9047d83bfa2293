"""How long `python -m service` takes to be ready, and what each worker holds then, per
`workers` count: the price of more workers (each loads and warms every model itself).

    python benchmarks/startup.py --workers 1 2 auto --rounds 3 [--cache first|kept] [--burn 1]

Each start is timed from the process's start to the first 200 from `/readyz` (polled every
0.2 s), in alternating order; then every worker's resident memory is read from /proc.

`--cache first` (the default) gives every start an empty cost cache (`GANSERVE_CACHE_DIR`),
as on a machine that never ran the models: translation sessions start from a small photo's
cost, scaled. `--cache kept` first runs one start until its background probes have filled a
cache, then times starts that find it. `--burn N` keeps N processes spinning on the CPU while
the starts are timed (another job on the machine).
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.harness import free_port, rss_mib, server  # noqa: E402
from benchmarks.peers.bench import worker_pids  # noqa: E402
from benchmarks.sysinfo import git_revision  # noqa: E402
from service.manifest import Manifest  # noqa: E402

BURNER = "while True: pass"


def start(models: Path, workers: str, cache: Path) -> tuple[float, list[float]]:
    """Seconds to ready, and each worker's resident MiB at that moment."""
    port = free_port()
    command = [sys.executable, "-m", "service", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--models", str(models), "--workers", workers]
    began = time.monotonic()
    with server(command, {"GANSERVE_CACHE_DIR": str(cache)}, port, "/readyz") as pid:
        ready_s = time.monotonic() - began
        return ready_s, [rss_mib(p) for p in worker_pids(pid)]


def fill_cache(models: Path, cache: Path) -> None:
    """One start, kept up until every translation direction's cost is in `cache`."""
    directions = 0
    for folder in models.iterdir():
        with contextlib.suppress(OSError, ValueError):
            manifest = Manifest.load(folder)
            directions += len(manifest.roles()) if manifest.kind == "translation" else 0
    port = free_port()
    command = [sys.executable, "-m", "service", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--models", str(models)]
    with server(command, {"GANSERVE_CACHE_DIR": str(cache)}, port, "/readyz"):
        deadline = time.monotonic() + 300
        while len(list(cache.glob("cost-*.json"))) < directions:
            if time.monotonic() > deadline:
                raise SystemExit(f"the cache in {cache} was not filled in 300 s")
            time.sleep(0.5)


@contextlib.contextmanager
def burning(processes: int) -> Iterator[None]:
    burners = [subprocess.Popen([sys.executable, "-c", BURNER]) for _ in range(processes)]
    try:
        yield
    finally:
        for burner in burners:
            burner.kill()
            burner.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--models", type=Path, default=ROOT / "models")
    parser.add_argument("--workers", nargs="+", default=["1", "2"], help="counts, auto")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cache", choices=["first", "kept"], default="first")
    parser.add_argument("--burn", type=int, default=0, help="CPU burners during the starts")
    args = parser.parse_args()
    print(f"git {git_revision(ROOT)}, models {args.models}, cache {args.cache}, burn {args.burn}")
    seen: dict[str, list[tuple[float, list[float]]]] = {w: [] for w in args.workers}
    with tempfile.TemporaryDirectory(prefix="ganserve-startup-") as folder:
        kept = Path(folder) / "kept"
        if args.cache == "kept":
            fill_cache(args.models, kept)
        with burning(args.burn):
            for r in range(args.rounds):
                for w in args.workers if r % 2 == 0 else reversed(args.workers):
                    cache = kept if args.cache == "kept" else Path(folder) / f"first-{r}-{w}"
                    seen[w].append(start(args.models, w, cache))
                    ready_s, rss = seen[w][-1]
                    mib = ", ".join(f"{m:.0f}" for m in rss)
                    print(
                        f"  workers={w}: ready in {ready_s:.1f} s, {len(rss)} worker(s), MiB {mib}"
                    )
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
