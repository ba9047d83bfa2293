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
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.loadgen import Spec  # noqa: E402
from benchmarks.sysinfo import git_revision, machine  # noqa: E402
from service import imaging  # noqa: E402
from service.manifest import Manifest  # noqa: E402
from service.runtime import ProviderChoice, make_session  # noqa: E402
from service.settings import Settings  # noqa: E402

PHOTO_DIRS = [
    Path("/work/shared/data/horse2zebra/testA"),
    Path("/work/shared/data/horse2zebra/trainA"),
]
GENERATOR_BATCHES = (1, 8, 16, 32, 64)
TRANSLATE_BATCHES = (1, 8)
SIDE = 256


@dataclass(frozen=True)
class Workload:
    route: str  # /generate or /translate
    n: int  # images per request
    clients: int

    @property
    def name(self) -> str:
        what = f"n={self.n}" if self.route == "/generate" else f"{SIDE}x{SIDE}"
        return f"{self.route} {what}, {self.clients} clients"


WORKLOADS = [
    *(Workload("/generate", 1, c) for c in (1, 8, 32, 64)),
    *(Workload("/generate", 16, c) for c in (1, 32)),
    *(Workload("/translate", 1, c) for c in (1, 8)),
]


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
    duration_s=0.4,
    translate_s=0.6,
    raw_s=0.05,
    soak_s=0.5,
    soak_warmup_s=0.2,
    idle_requests=3,
)


# --- models ------------------------------------------------------------------------------


def _manifests(models: Path) -> list[tuple[Path, Manifest]]:
    found = []
    for folder in sorted(p for p in models.iterdir() if (p / "model.json").is_file()):
        with contextlib.suppress(ValueError):  # a broken manifest is not ours to judge
            found.append((folder, Manifest.load(folder)))
    return found


def pick_model(models: Path, kinds: tuple[str, ...], name: str | None) -> Path | None:
    """The named folder, else the first of `kinds` that was trained and records its config."""
    if name:
        return models / name
    candidates = [(f, m) for f, m in _manifests(models) if m.kind in kinds]
    candidates.sort(
        key=lambda fm: (fm[1].untrained, not fm[1].training.get("config"), kinds.index(fm[1].kind))
    )
    good = [f for f, m in candidates if m.training.get("config")]
    return good[0] if good else None


def stand_in(family: str, work: Path) -> Path:
    """A model folder of `family` with initial weights, from the shipped training config."""
    from benchmarks.torch_generators import export_initial

    configs = (ROOT / "training" / "configs").glob("*.json")
    for path in sorted(configs, key=lambda p: (len(p.stem), p.stem)):  # recipes before variants
        values = json.loads(path.read_text())
        if values.get("family") == family:
            folder = work / f"{path.stem}-initial"
            domains = tuple(values.get("domains", ("a", "b")))
            export_initial(values, folder, domains)
            return folder
    raise SystemExit(f"no shipped config of family {family}")


def photo_jpeg(path: Path | None) -> bytes:
    """A 256x256 JPEG: the given photo or the first horse2zebra photo, else a synthetic one."""
    if path is None:
        found = [sorted(d.glob("*.jpg"))[:1] for d in PHOTO_DIRS if d.is_dir()]
        path = next((f[0] for f in found if f), None)
    if path is not None:
        img = Image.open(path).convert("RGB").resize((SIDE, SIDE), Image.Resampling.BICUBIC)
    else:
        yy, xx = np.mgrid[0:SIDE, 0:SIDE]
        noise = np.random.default_rng(0).integers(0, 60, (SIDE, SIDE, 3))
        pixels = np.stack([xx, yy, (xx + yy) // 2], -1) + noise
        img = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=90)
    return buf.getvalue()


# --- raw ONNX Runtime ----------------------------------------------------------------------


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
    of one intra-op thread and `intra_op_threads` for each batch (the service picks one of
    the two per session at load)."""
    manifest = Manifest.load(folder)
    settings = Settings()
    rng = np.random.default_rng(0)
    out: dict[int, dict] = {}
    batches = TRANSLATE_BATCHES if x is not None else GENERATOR_BATCHES
    for threads in sorted({1, settings.intra_op_threads}):
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


# --- servers -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


@contextlib.contextmanager
def server(
    cmd: list[str], env: dict[str, str], port: int, probe: str, cwd: Path = ROOT
) -> Iterator[int]:
    """Start a server process, wait until `probe` answers 200, yield its pid, stop it and
    every process it started (its own process group: frameworks leave helpers behind)."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("GANSERVE_")}
    env = {**inherited, **env}  # defaults + `env` only
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 300
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
                raise SystemExit(f"{cmd} was not ready in 300 s")
            time.sleep(0.2)
        yield proc.pid
    finally:
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


def load(spec: Spec, work: Path) -> dict:
    """Run one load generator process on `spec`; its JSON result."""
    path = work / "spec.json"
    path.write_text(spec.dump())
    done = subprocess.run(
        [sys.executable, str(HERE / "loadgen.py"), str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode:
        raise SystemExit(f"load generator failed:\n{done.stderr}")
    return json.loads(done.stdout)


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
            return http_request("/generate", body, "application/json")
        body, ctype = multipart(self.photo, {"model": self.translator, "direction": "a2b"})
        return http_request("/translate", body, ctype)

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
        result = load(target.spec(w, timing.warmup_s, seconds), work)
        result["rss_mib"] = rss_mib(target.pid)
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
    result = load(spec, work)
    spec.request = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    spec.images_per_request, spec.metrics_model = 0, ""
    result["floor"] = load(spec, work)
    return result


def soak(target: Target, timing: Timing, work: Path) -> dict:
    """n=1 at 32 clients plus /translate at 2 clients; RSS sampled every second. The RSS at
    the start is taken after `soak_warmup_s` of the same load (arenas grown to its batches)."""
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
    samples = []
    start = time.perf_counter()
    while any(p.poll() is None for p in procs):
        samples.append((round(time.perf_counter() - start - warm, 1), rss_mib(target.pid)))
        time.sleep(min(1.0, timing.soak_s / 10))
    loads = [json.loads(p.communicate()[0]) for p in procs]
    rss = [r for t, r in samples if t >= 0] or [samples[-1][1]]
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
        "samples": samples,  # (seconds after the warm-up, MiB)
    }


# --- report --------------------------------------------------------------------------------


def ratio(a: float, b: float) -> float:
    return a / b if b else float("inf")


def targets(report: dict) -> list[dict]:
    raw_gen = report["raw_ort"]["generator"]
    runs = report["servers"]
    n16 = Workload("/generate", 16, 32).name
    n1 = Workload("/generate", 1, 64).name
    limit = raw_gen[64]["images_per_s"]
    batching = runs["service"][n16]["images_per_s"]
    fast = runs["service"][n1]["images_per_s"]
    off = runs["no batching"][n1]["images_per_s"]
    naive = runs["naive"][n1]["images_per_s"]
    idle = report["idle"]["p50_ms"]
    idle_limit = raw_gen[16]["run_ms"] + 3.0
    soaked = report["soak"]
    return [
        {
            "target": "/generate n=16, 32 clients >= 0.8x raw ORT images/s at batch 64",
            "measured": f"{batching:.0f} img/s = {ratio(batching, limit):.2f}x raw ORT "
            f"({limit:.0f})",
            "pass": batching >= 0.8 * limit,
        },
        {
            "target": "/generate n=1, 64 clients >= 4x batching off",
            "measured": f"{fast:.0f} vs {off:.0f} img/s = {ratio(fast, off):.2f}x",
            "pass": fast >= 4 * off,
        },
        {
            "target": "/generate n=1, 64 clients >= 5x the naive server",
            "measured": f"{fast:.0f} vs {naive:.0f} img/s = {ratio(fast, naive):.2f}x",
            "pass": fast >= 5 * naive,
        },
        {
            "target": "idle /generate n=16 within raw ORT batch-16 time + 3 ms (p50)",
            "measured": f"p50 {idle:.2f} ms vs {idle_limit:.2f} ms",
            "pass": idle <= idle_limit,
        },
        {
            "target": "server RSS flat over the soak (end within 5% of start)",
            "measured": (
                f"{soaked['rss_start_mib']:.1f} -> {soaked['rss_end_mib']:.1f} MiB "
                f"({soaked['growth'] * 100:+.1f}%, max {soaked['rss_max_mib']:.1f}) "
                f"over {soaked['seconds']:.0f} s"
            ),
            "pass": soaked["growth"] <= 0.05,
        },
    ]


def targets_table(checked: list[dict]) -> list[str]:
    """Markdown rows: each target, what was measured, PASS or MISS."""
    rows = [
        f"| {t['target']} | {t['measured']} | {'PASS' if t['pass'] else 'MISS'} |" for t in checked
    ]
    return ["| target | measured | result |", "| --- | --- | --- |", *rows]


def markdown(report: dict) -> str:
    m = report["machine"]
    raw_gen, raw_tr = report["raw_ort"]["generator"], report["raw_ort"]["translator"]
    limit_gen = raw_gen[64]["images_per_s"]
    limit_tr = max(r["images_per_s"] for r in raw_tr.values())
    servers = report["servers"]
    lines = [
        "# Serving benchmark",
        "",
        f"Command: `{report['command']}` at git {report['git']}, {report['date']}, "
        f"{report['wall_s']:.0f} s.",
        f"Machine: {m['cpu']}, {m['cores']} cores ({m['arch']}), Python {m['python']}, "
        f"ONNX Runtime {m['onnxruntime']}, provider `{report['provider']}`; load average at "
        f"start {', '.join(f'{x:.2f}' for x in m['load_average_at_start'])}. Server, load "
        "generator and raw ORT share these cores.",
        f"Models: generator `{report['models']['generator']}`, translator "
        f"`{report['models']['translator']}`. Naive server weights: "
        f"{report['models']['naive_weights']}.",
        "",
        "## Targets",
        "",
        *targets_table(report["targets"]),
        "",
        "## Summary",
        "",
        f"Images/s, in brackets over raw ONNX Runtime's best (generator at batch 64: "
        f"{limit_gen:.0f}/s; translator: {limit_tr:.2f}/s).",
        "",
        "| workload | service | no batching | naive | service p50 / p99 ms | service mean batch |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for w in WORKLOADS:
        limit = limit_gen if w.route == "/generate" else limit_tr
        cells = [
            f"{servers[name][w.name]['images_per_s']:.1f} "
            f"({servers[name][w.name]['images_per_s'] / limit:.2f}x)"
            for name in ("service", "no batching", "naive")
        ]
        r = servers["service"][w.name]
        lines.append(
            f"| {w.name} | {' | '.join(cells)} | {r['p50_ms']:.1f} / {r['p99_ms']:.1f} | "
            f"{r['mean_batch'] or 0:.1f} |"
        )
    lines += [
        "",
        "## Raw ONNX Runtime (in-process `session.run`, the service's session settings)",
        "",
        "| model | batch | ms per run | images/s | intra-op threads (the faster) |",
        "| --- | --- | --- | --- | --- |",
    ]
    for label, table in (("generator", raw_gen), (f"translator {SIDE}x{SIDE}", raw_tr)):
        for batch, r in table.items():
            lines.append(
                f"| {label} | {batch} | {r['run_ms']:.2f} | {r['images_per_s']:.1f} | "
                f"{r['threads']} |"
            )
    lines += [
        "",
        "## Every figure",
        "",
        "x raw: images/s over raw ORT's best. p50/raw: median latency over raw ORT's time for "
        "one request's rows. CPU in cores (2 = both cores busy), measured over the window.",
        "",
        "| workload | server | images/s | x raw | requests/s | p50 ms | p95 ms | p99 ms | "
        "p50/raw | mean batch | server CPU | client CPU |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for w in WORKLOADS:
        raw = raw_gen if w.route == "/generate" else raw_tr
        limit = limit_gen if w.route == "/generate" else limit_tr
        own = raw[w.n if w.route == "/generate" else 1]["run_ms"]
        for name, results in servers.items():
            r = results[w.name]
            batch = f"{r['mean_batch']:.1f}" if r.get("mean_batch") else "—"
            bad = {k: v for k, v in r["statuses"].items() if k != "200"}
            note = f" (non-200: {bad})" if bad else ""
            lines.append(
                f"| {w.name} | {name}{note} | {r['images_per_s']:.1f} | "
                f"{r['images_per_s'] / limit:.3f} | {r['requests_per_s']:.1f} | "
                f"{r['p50_ms']:.1f} | {r['p95_ms']:.1f} | {r['p99_ms']:.1f} | "
                f"{r['p50_ms'] / own:.1f} | {batch} | {r['server_cpu_cores']:.2f} | "
                f"{r['client_cpu_cores']:.2f} |"
            )
    idle = report["idle"]
    soaked = report["soak"]
    lines += [
        "",
        f"Idle /generate n=16 (one client, 50 ms pauses, {idle['requests']} requests): p50 "
        f"{idle['p50_ms']:.2f} ms, p99 {idle['p99_ms']:.2f} ms; raw ORT batch 16: "
        f"{raw_gen[16]['run_ms']:.2f} ms. GET /healthz with the same pauses (waking an idle "
        f"server and client, no model): p50 {idle['floor']['p50_ms']:.2f} ms.",
        "",
        f"Soak ({soaked['seconds']:.0f} s of /generate n=1 at 32 clients and /translate at 2, "
        f"after the workloads above and {soaked['warmup_s']:.0f} s of the same load): server "
        f"RSS {soaked['rss_start_mib']:.1f} MiB at the start, {soaked['rss_end_mib']:.1f} MiB "
        "at the end, at most "
        f"{soaked['rss_max_mib']:.1f} MiB.",
    ]
    return "\n".join(lines) + "\n"


# --- main ----------------------------------------------------------------------------------


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
            folder = pick_model(args.models, kinds, getattr(args, role))
            if folder is None:
                print(
                    f"no trained {role} with a training config in {args.models}: "
                    f"exporting a stand-in with initial weights",
                    flush=True,
                )
                folder = stand_in(family, work)
            shutil.copytree(folder, served / folder.name)
            picked[role] = folder.name
        gen_dir, tr_dir = served / picked["generator"], served / picked["translator"]
        photo = photo_jpeg(args.photo)
        rgb = np.asarray(Image.open(io.BytesIO(photo)).convert("RGB"))
        x = imaging.to_network(rgb, Manifest.load(tr_dir).image.multiple_of)

        print(f"raw ONNX Runtime ({picked['generator']}, {picked['translator']})", flush=True)
        raw = {
            "generator": raw_ort(gen_dir, "generator", args.provider, timing.raw_s, None),
            "translator": raw_ort(tr_dir, "a2b", args.provider, timing.raw_s, x),
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
        base_env = {"GANSERVE_PROVIDER": args.provider}  # otherwise the production defaults
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
            port = free_port()
            with server([*service_cmd, str(port)], {**base_env, **env}, port, "/readyz") as pid:
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
        port = free_port()
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
        with server(naive_cmd, {}, port, "/healthz") as pid:
            target = Target(port, pid, picked["generator"], picked["translator"], photo, False)
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz") as r:
                naive_weights = json.load(r)["weights"]
            servers["naive"] = run_workloads(target, timing, work, "naive", limits)

    report = {
        "command": command,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "git": git_revision(),
        "machine": host,
        "provider": args.provider,
        "quick": args.quick,
        "models": {**picked, "naive_weights": naive_weights},
        "raw_ort": raw,
        "servers": servers,
        **report,
    }
    report["targets"] = targets(report)
    report["wall_s"] = round(time.perf_counter() - began, 1)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "serve.json").write_text(json.dumps(report, indent=2) + "\n")
    (args.out / "serve.md").write_text(markdown(report))
    print()
    for t in report["targets"]:
        print(f"{'PASS' if t['pass'] else 'MISS'}  {t['target']}: {t['measured']}")
    print(f"wrote {args.out / 'serve.json'} and serve.md ({report['wall_s']} s)")
    return report


if __name__ == "__main__":
    main()
