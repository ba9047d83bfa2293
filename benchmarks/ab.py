"""One change measured: ganserve at two checkouts, in alternating runs (A B B A A B ...).

    python benchmarks/ab.py BEFORE_DIR AFTER_DIR            # 4 runs of each, about 4 minutes
    python benchmarks/ab.py ../old . --rounds 2 --workers 2 # the same with 2 workers each

Each run starts `python -m service` from one checkout (this checkout's virtual environment,
the same models folder), drives `/generate` of `dcgan-mnist` with benchmarks/loadgen.py at
n=1 with 64 clients and with one client (`--workloads`: NxCLIENTS each), and stops it. With
`--photo`, each request is `/translate` of that photo instead (`--model` a translation model,
direction a2b, N 1):

    python benchmarks/ab.py ../old . --model cyclegan-horse2zebra --photo horse.jpg \\
        --workloads 1x1 1x4 --seconds 15

Alternating runs share the machine's drift (other jobs on the same cores) between the two
sides. Server CPU per request, from /proc over the measured window, is the steadier figure
on a busy machine; throughput moves with the other jobs. Prints one line per run and the
medians; writes nothing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.harness import free_port, http_request, load, multipart, server  # noqa: E402
from benchmarks.loadgen import Spec  # noqa: E402
from benchmarks.sysinfo import git_revision, machine  # noqa: E402

DEFAULT_WORKLOADS = ["1x64", "1x1"]  # images per request x clients


def workloads(specs: list[str]) -> list[tuple[str, int, int]]:
    """'16x32' -> ('n=16, 32 clients', 16, 32)."""
    found = []
    for spec in specs:
        n, clients = map(int, spec.split("x"))
        found.append((f"n={n}, {clients} client{'s' if clients > 1 else ''}", n, clients))
    return found


def _request(args: argparse.Namespace, n: int) -> bytes:
    if args.photo is None:
        body = f'{{"model": "{args.model}", "n": {n}}}'.encode()
        return http_request("/generate", body, "application/json")
    body, content_type = multipart(args.photo.read_bytes(), {"model": args.model})
    return http_request("/translate", body, content_type)


def run_once(checkout: Path, args: argparse.Namespace, work: Path) -> dict[str, dict]:
    port = free_port()
    command = [sys.executable, "-m", "service", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--models", str(args.models), "--workers", str(args.workers)]
    results = {}
    with server(command, {}, port, "/readyz", cwd=checkout) as pid:
        for name, n, clients in workloads(args.workloads):
            request = _request(args, n)
            spec = Spec(port, request, clients, args.warmup_s, args.seconds, n, server_pid=pid)
            r = load(spec, work)
            r["server_us_per_request"] = 1e6 * r["server_cpu_cores"] / max(r["requests_per_s"], 1)
            results[name] = r
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--rounds", type=int, default=4, help="runs of each side")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--models", type=Path, default=ROOT / "models")
    parser.add_argument("--model", default="dcgan-mnist")
    parser.add_argument("--warmup-s", type=float, default=2.0)
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--workloads", nargs="+", default=DEFAULT_WORKLOADS, help="NxCLIENTS")
    parser.add_argument("--photo", type=Path, help="/translate this photo, not /generate")
    args = parser.parse_args()
    sides = {
        f"before {git_revision(args.before)}": args.before,
        f"after {git_revision(args.after)}": args.after,
    }
    info = machine()
    print(f"{info['cpu']}, {info['cores']} cores, load average {os.getloadavg()}", flush=True)
    figures: dict[str, dict[str, list[dict]]] = {side: {} for side in sides}
    order = list(sides)
    with tempfile.TemporaryDirectory(prefix="ganserve-ab-") as tmp:
        for i in range(args.rounds):
            for side in order if i % 2 == 0 else order[::-1]:
                results = run_once(sides[side].resolve(), args, Path(tmp))
                for name, r in results.items():
                    figures[side].setdefault(name, []).append(r)
                    print(
                        f"  {side:<14} {name:<17} {r['images_per_s']:7.0f} img/s  "
                        f"p50 {r['p50_ms']:6.2f} ms  server {r['server_us_per_request']:5.0f} "
                        f"us/req ({r['server_cpu_cores']:.2f} cores)  "
                        f"load {os.getloadavg()[0]:.2f}",
                        flush=True,
                    )
    print("medians:")
    for name, _, _ in workloads(args.workloads):
        for side in sides:
            runs = figures[side][name]
            rate = statistics.median(r["images_per_s"] for r in runs)
            p50 = statistics.median(r["p50_ms"] for r in runs)
            cpu = statistics.median(r["server_us_per_request"] for r in runs)
            print(f"  {side:<14} {name:<17} {rate:7.0f} img/s  p50 {p50:6.2f} ms  {cpu:4.0f} us")


if __name__ == "__main__":
    main()
