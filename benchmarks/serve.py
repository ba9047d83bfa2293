"""Serving throughput and latency: the service against its limit and against a naive server.

    python benchmarks/serve.py                       # full run, about 7 minutes on 2 cores
    python benchmarks/serve.py --quick               # seconds: does everything run?
    python benchmarks/serve.py --provider cuda       # ONNX Runtime on CUDA, torch on cuda

One run measures, on loopback, each server in its own process and the load generator
(benchmarks/loadgen.py) in another:

- raw ONNX Runtime: `session.run` in this process, same model, same thread settings as the
  service, at the batch sizes of the workloads: the limit every figure is a ratio to;
- the service (`python -m service`, production settings) with dynamic batching;
- the same with batching off (GANSERVE_MAX_BATCH=1);
- the naive server (benchmarks/naive_server.py: FastAPI calling PyTorch per request).

Workloads: `/generate` n=1 at 1, 8, 32, 64 clients, n=16 at 1 and 32; `/translate` of a
256x256 photo at 1 and 8. Then, on the batching service only, an idle n=16 request (one
client, pauses between requests) and a soak that watches the server's resident memory.
Models are picked by kind from `models/` (a trained one with a recorded training config
first; without one, a stand-in with initial weights is exported from the shipped config).
Writes benchmarks/results/serve.json and serve.md and prints PASS/MISS per target.

Here: the timings and the runs. The models, photo and workloads: benchmarks/serve_models.py;
servers, raw ONNX Runtime and the load generator: benchmarks/harness.py; the targets and the
table: benchmarks/serve_report.py.
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import harness, reports, serve_models  # noqa: E402
from benchmarks.loadgen import Spec  # noqa: E402
from benchmarks.serve_models import WORKLOADS, Workload  # noqa: E402
from benchmarks.serve_report import markdown, ratio, targets  # noqa: E402
from benchmarks.sysinfo import machine  # noqa: E402
from service import imaging  # noqa: E402
from service.manifest import Manifest  # noqa: E402


@dataclass
class Timing:
    warmup_s: float
    duration_s: float  # per /generate workload
    translate_s: float  # per /translate workload (its requests are slow)
    raw_s: float  # per raw ONNX Runtime batch size
    soak_s: float
    soak_warmup_s: float  # of the soak's load, before its RSS at the start is taken
    idle_requests: int


FULL = Timing(
    warmup_s=2.0,
    duration_s=7.0,
    translate_s=12.0,
    raw_s=2.0,
    soak_s=60.0,
    soak_warmup_s=10.0,
    idle_requests=40,
)
QUICK = Timing(
    warmup_s=0.1,
    duration_s=1.0,  # past the p99 of a 64-client workload on a naive server, so one finishes
    translate_s=0.6,
    raw_s=0.05,
    soak_s=0.5,
    soak_warmup_s=0.2,
    idle_requests=3,
)


@dataclass
class Target:
    """What the benchmark drives: where, which models, and the request bytes per workload."""

    port: int
    pid: int
    generator: str
    translator: str
    photo: bytes
    metrics: bool  # the server has /metrics with ganserve_batch_size

    def request(self, w: Workload) -> bytes:
        if w.route == "/generate":
            body = json.dumps({"model": self.generator, "n": w.n}).encode()
            return harness.http_request("/generate", body, "application/json")
        body, ctype = harness.multipart(self.photo, {"model": self.translator, "direction": "a2b"})
        return harness.http_request("/translate", body, ctype)

    def session_key(self, w: Workload) -> str:
        if not self.metrics:
            return ""
        return self.generator if w.route == "/generate" else f"{self.translator}:a2b"

    def spec(self, w: Workload, warmup: float, duration: float, **kw: float) -> Spec:
        return Spec(
            port=self.port,
            request=self.request(w),
            clients=w.clients,
            warmup_s=warmup,
            duration_s=duration,
            images_per_request=w.n,
            server_pid=self.pid,
            metrics_model=self.session_key(w),
            **kw,
        )


def run_workloads(
    target: Target, timing: Timing, work: Path, label: str, limits: dict[str, float]
) -> dict[str, dict]:
    """Every workload against one server; `limits`: raw ORT images/s per route."""
    results = {}
    for w in WORKLOADS:
        seconds = timing.translate_s if w.route == "/translate" else timing.duration_s
        result = harness.load(target.spec(w, timing.warmup_s, seconds), work)
        result["rss_mib"] = sum(harness.rss_mib(p) for p in harness.worker_pids(target.pid))
        results[w.name] = result
        print(
            f"  {label:<12} {w.name:<32} {result['images_per_s']:9.1f} img/s "
            f"({ratio(result['images_per_s'], limits[w.route]):.3f}x raw)  "
            f"p50 {result['p50_ms']:7.1f} ms  p99 {result['p99_ms']:7.1f} ms  "
            f"batch {result.get('mean_batch') or 0:5.1f}  server CPU "
            f"{result['server_cpu_cores']:.2f}  client CPU {result['client_cpu_cores']:.2f}",
            flush=True,
        )
    return results


def idle_latency(target: Target, timing: Timing, work: Path) -> dict:
    """One client, n=16, 50 ms pauses: the batcher never has company. `floor`: GET /healthz
    with the same pauses, what waking an idle server and client costs without any model."""
    w = Workload("/generate", 16, 1)
    requests = timing.idle_requests
    spec = target.spec(w, 0.3, requests * 0.06, idle_gap_s=0.05)
    result = harness.load(spec, work)
    spec.request = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    spec.images_per_request, spec.metrics_model = 0, ""
    result["floor"] = harness.load(spec, work)
    return result


def soak(target: Target, timing: Timing, work: Path) -> dict:
    """n=1 at 32 clients plus /translate at 2 clients; each worker's RSS sampled every second.
    The RSS at the start is taken after `soak_warmup_s` of the same load (arenas grown to its
    batches). The figures at the top are the worker that grew most."""
    warm = timing.soak_warmup_s
    specs = [
        target.spec(Workload("/generate", 1, 32), warm, timing.soak_s),
        target.spec(Workload("/translate", 1, 2), warm, timing.soak_s),
    ]
    procs = []
    for i, spec in enumerate(specs):
        path = work / f"soak{i}.json"
        path.write_text(spec.dump())
        procs.append(
            subprocess.Popen(
                [sys.executable, str(HERE / "loadgen.py"), str(path)],
                stdout=subprocess.PIPE,
                text=True,
            )
        )
    workers = harness.worker_pids(target.pid)
    samples: dict[int, list[tuple[float, float]]] = {w: [] for w in workers}
    start = time.perf_counter()
    while any(p.poll() is None for p in procs):
        at = round(time.perf_counter() - start - warm, 1)
        for w in workers:
            samples[w].append((at, harness.rss_mib(w)))
        time.sleep(min(1.0, timing.soak_s / 10))
    loads = [json.loads(p.communicate()[0]) for p in procs]
    each = {w: [r for t, r in s if t >= 0] or [s[-1][1]] for w, s in samples.items()}
    rss = max(each.values(), key=lambda r: r[-1] / r[0])
    return {
        "seconds": timing.soak_s,
        "warmup_s": warm,
        "load": [
            {"workload": w, "requests": r["requests"], "statuses": r["statuses"]}
            for w, r in zip(
                ("/generate n=1, 32 clients", "/translate, 2 clients"), loads, strict=True
            )
        ],
        "rss_start_mib": rss[0],
        "rss_end_mib": rss[-1],
        "rss_max_mib": max(rss),
        "growth": (rss[-1] - rss[0]) / rss[0],
        "workers": len(workers),
        "samples": {str(w): s for w, s in samples.items()},  # (seconds after the warm-up, MiB)
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=Path, default=ROOT / "models", help="models folder")
    parser.add_argument("--generator", help="generator model name (default: picked by kind)")
    parser.add_argument("--translator", help="translation model name (default: by kind)")
    parser.add_argument(
        "--provider",
        default="cpu",
        choices=("auto", "cpu", "cuda"),
        help="ONNX Runtime provider (GANSERVE_PROVIDER); cuda also puts the "
        "naive server's torch on cuda",
    )
    parser.add_argument("--photo", type=Path, help="photo for /translate (resized to 256x256)")
    parser.add_argument("--quick", action="store_true", help="seconds, not minutes: a smoke run")
    parser.add_argument("--out", type=Path, default=HERE / "results", help="results folder")
    args = parser.parse_args(argv)
    timing = QUICK if args.quick else FULL
    command = "python benchmarks/serve.py " + " ".join(argv if argv is not None else sys.argv[1:])
    began, host = time.perf_counter(), machine()  # the load average before we add ours

    with tempfile.TemporaryDirectory(prefix="ganserve-bench-") as tmp:
        work = Path(tmp)
        served = work / "models"
        served.mkdir()
        picked = {}
        for role, kinds, family in (
            ("generator", ("unconditional", "conditional"), "dcgan"),
            ("translator", ("translation",), "cyclegan"),
        ):
            folder = serve_models.pick_model(args.models, kinds, getattr(args, role))
            if folder is None:
                print(
                    f"no trained {role} with a training config in {args.models}: "
                    f"exporting a stand-in with initial weights",
                    flush=True,
                )
                folder = serve_models.stand_in(family, work)
            shutil.copytree(folder, served / folder.name)
            picked[role] = folder.name
        gen_dir, tr_dir = served / picked["generator"], served / picked["translator"]
        photo = serve_models.photo_jpeg(args.photo)
        rgb = np.asarray(Image.open(io.BytesIO(photo)).convert("RGB"))
        x = imaging.to_network(rgb, Manifest.load(tr_dir).image.multiple_of)

        print(f"raw ONNX Runtime ({picked['generator']}, {picked['translator']})", flush=True)
        raw = {
            "generator": harness.raw_ort(gen_dir, "generator", args.provider, timing.raw_s, None),
            "translator": harness.raw_ort(tr_dir, "a2b", args.provider, timing.raw_s, x),
        }
        for label, table in raw.items():
            for batch, r in table.items():
                print(
                    f"  {label:<10} batch {batch:>2}: {r['run_ms']:8.2f} ms/run "
                    f"{r['images_per_s']:9.1f} img/s ({r['threads']} threads)",
                    flush=True,
                )

        limits = {
            "/generate": raw["generator"][64]["images_per_s"],
            "/translate": max(r["images_per_s"] for r in raw["translator"].values()),
        }
        # The production defaults (`workers=auto`): the targets are about what users run. The
        # batch histogram is one view over the workers; the soak samples each worker.
        base_env = {"GANSERVE_PROVIDER": args.provider}
        service_cmd = [
            sys.executable,
            "-m",
            "service",
            "--host",
            "127.0.0.1",
            "--models",
            str(served),
            "--port",
        ]
        servers: dict[str, dict] = {}
        report: dict = {}
        for label, env in (("service", {}), ("no batching", {"GANSERVE_MAX_BATCH": "1"})):
            port = harness.free_port()
            cmd = [*service_cmd, str(port)]
            with harness.server(cmd, {**base_env, **env}, port, "/readyz") as pid:
                target = Target(port, pid, picked["generator"], picked["translator"], photo, True)
                servers[label] = run_workloads(target, timing, work, label, limits)
                if label == "service":
                    report["idle"] = idle_latency(target, timing, work)
                    idle = report["idle"]
                    print(
                        f"  idle n=16: p50 {idle['p50_ms']:.2f} ms "
                        f"(GET /healthz, same pauses: {idle['floor']['p50_ms']:.2f} ms)",
                        flush=True,
                    )
                    report["soak"] = soak(target, timing, work)
                    s = report["soak"]
                    print(
                        f"  soak: RSS {s['rss_start_mib']:.1f} -> {s['rss_end_mib']:.1f} MiB",
                        flush=True,
                    )
        port = harness.free_port()
        naive_cmd = [
            sys.executable,
            str(HERE / "naive_server.py"),
            "--generator",
            str(gen_dir),
            "--translator",
            str(tr_dir),
            "--port",
            str(port),
            "--device",
            "cuda" if args.provider == "cuda" else "cpu",
        ]
        with harness.server(naive_cmd, {}, port, "/healthz") as pid:
            target = Target(port, pid, picked["generator"], picked["translator"], photo, False)
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz") as r:
                naive_weights = json.load(r)["weights"]
            servers["naive"] = run_workloads(target, timing, work, "naive", limits)

    report = {
        **reports.opening(command, host),
        "provider": args.provider,
        "quick": args.quick,
        "models": {**picked, "naive_weights": naive_weights},
        "raw_ort": raw,
        "servers": servers,
        **report,
    }
    report["targets"] = targets(report)
    report["wall_s"] = round(time.perf_counter() - began, 1)
    reports.save(args.out, "serve", report, markdown(report))
    print()
    for t in report["targets"]:
        print(f"{'PASS' if t['pass'] else 'MISS'}  {t['target']}: {t['measured']}")
    print(f"wrote {args.out / 'serve.json'} and serve.md ({report['wall_s']} s)")
    return report


if __name__ == "__main__":
    main()
