"""ganserve against what a user would pick instead, on the same model and the same answer.

    python benchmarks/peers/bench.py                    # two rounds and a soak, about 9 minutes
    python benchmarks/peers/bench.py --quick            # seconds: does every server answer?
    python benchmarks/peers/bench.py --old ../main-old  # also an older checkout of ganserve

Servers, each alone (one at a time) on loopback, driven by benchmarks/loadgen.py:

- ganserve (`python -m service`), at each `--workers` count asked for, also on `/translate`
  of a 256x256 photo at 8 clients, and on a soak that samples every worker's memory;
- the same at an older checkout (`--old DIR`), to measure a change against its revision;
- the naive server, LitServe, Ray Serve and BentoML (benchmarks/peers/<peer>/), each in its
  own virtual environment under `--venvs`, made from its requirements.txt on first use.

Every server serves the same generator (models/dcgan-mnist) with the same request,
`{"model": ..., "n": N}` (BentoML's batchable API: `{"n": [N]}`), and the same answer, JSON
with one base64 PNG per image. Raw ONNX Runtime (`session.run` in this process, the service's
session settings, generator and translator) is the limit. Two rounds, the second in the
reverse order, so that a machine growing busier or quieter favours no one. Writes
benchmarks/results/peers.json and peers.md, targets marked PASS or MISS.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import reports  # noqa: E402
from benchmarks.harness import (  # noqa: E402
    free_port,
    http_request,
    load,
    multipart,
    raw_ort,
    rss_mib,
    server,
    worker_pids,
)
from benchmarks.loadgen import Spec  # noqa: E402
from benchmarks.peers import venvs  # noqa: E402
from benchmarks.serve_models import photo_jpeg, pick_model  # noqa: E402
from benchmarks.serve_report import against_raw, targets_table  # noqa: E402
from benchmarks.sysinfo import git_revision, machine  # noqa: E402
from service import imaging  # noqa: E402
from service.manifest import Manifest  # noqa: E402


@dataclass(frozen=True)
class Workload:
    n: int
    clients: int

    @property
    def name(self) -> str:
        return f"n={self.n}, {self.clients} clients"


WORKLOADS = (Workload(1, 64), Workload(16, 32), Workload(1, 1))
PORT = "{port}"  # in a peer's command: the port it gets at each start
TRANSLATE = "/translate 256x256, 8 clients"  # ganserve only: no peer serves translation


# Peers started as `python <peer>/server.py --model DIR --port P`: label, readiness probe.
SCRIPTED = {
    "naive": ("naive FastAPI", "/healthz"),
    "litserve": ("LitServe", "/health"),
    "rayserve": ("Ray Serve", "/generate"),
}
NEEDS = {
    "naive": "a sync endpoint calling session.run per request",
    "litserve": "batch() and unbatch() overridden: the default stacks the decoded inputs, and "
    "each request's n must be summed into one run and split back; generate_client_file=False "
    "(else it writes client.py into the working folder)",
    "rayserve": "max_ongoing_requests raised from 5 to 256 (else a batch holds at most 5 "
    "requests); a GET answer on the route for the readiness probe; answers come chunked",
    "bentoml": 'the request body changed to a list (`{"n": [1]}`) and the answer is a list of '
    "answers: a batchable API batches list items",
}


@dataclass
class Peer:
    """One server: how to start it, how to ask it for n images, where it says it is up."""

    label: str
    command: list[str]
    probe: str
    cwd: Path = ROOT
    env: dict[str, str] = field(default_factory=dict)
    body: str = '{{"model": "{model}", "n": {n}}}'
    needs: str = ""
    ganserve: bool = False  # also /translate and the soak

    def request(self, model: str, n: int) -> bytes:
        body = self.body.format(model=model, n=n).encode()
        return http_request("/generate", body, "application/json")


def peers(args: argparse.Namespace, model: Path, port: str = PORT) -> list[Peer]:
    """ganserve's models folder is the model's parent: it holds the translator too."""
    service = ["-m", "service", "--host", "127.0.0.1", "--port", port, "--models"]
    found = [
        Peer(
            f"ganserve w={w}",
            [sys.executable, *service, str(model.parent), "--workers", str(w)],
            "/readyz",
            needs="nothing beyond its own settings (production defaults)",
            ganserve=True,
        )
        for w in args.workers
    ]
    if args.old:
        found.append(
            Peer(
                f"ganserve @ {git_revision(args.old)}",
                [sys.executable, *service, str(model.parent)],
                "/readyz",
                cwd=args.old.resolve(),
                needs="the older checkout, on this checkout's virtual environment",
            )
        )
    local = ("--host", "127.0.0.1", "--port")
    for peer in args.peers:
        python = str(venvs.ensure(peer, args.venvs))
        if peer == "bentoml":
            bentoml = str(Path(python).parent / "bentoml")
            found.append(
                Peer(
                    "BentoML",
                    [bentoml, "serve", "service:GeneratorService", *local, port],
                    "/readyz",
                    cwd=HERE / "bentoml",
                    env={"PEER_MODEL": str(model), "BENTOML_DO_NOT_TRACK": "true"},
                    body='{{"n": [{n}]}}',
                    needs=NEEDS[peer],
                )
            )
            continue
        label, probe = SCRIPTED[peer]
        script = [python, str(HERE / peer / "server.py"), "--model", str(model)]
        found.append(Peer(label, [*script, "--port", port], probe, needs=NEEDS[peer]))
    return found


@dataclass
class Run:
    """What every measurement shares."""

    port: int
    model: str
    translator: str
    photo: bytes
    work: Path
    warmup_s: float
    seconds: float
    # /translate at 8 clients: each answer takes seconds (8 photos share the session), so a
    # window of a few seconds holds one answer or none.
    translate_warmup_s: float = 5.0
    translate_s: float = 15.0

    def spec(self, request: bytes, clients: int, n: int, pid: int) -> Spec:
        return Spec(
            port=self.port,
            request=request,
            clients=clients,
            warmup_s=self.warmup_s,
            duration_s=self.seconds,
            images_per_request=n,
            server_pid=pid,
        )

    def translate_request(self) -> bytes:
        body, ctype = multipart(self.photo, {"model": self.translator, "direction": "a2b"})
        return http_request("/translate", body, ctype)


def measure(peer: Peer, run: Run) -> dict[str, dict]:
    """Start the peer alone, run every workload on it, stop it; the results by workload."""
    results = {}
    # A port of its own: a framework's helper processes may hold the last one a while.
    run.port = free_port()
    command = [str(run.port) if arg == PORT else arg for arg in peer.command]
    with server(command, peer.env, run.port, peer.probe, cwd=peer.cwd) as pid:
        asks = [(w.name, peer.request(run.model, w.n), w.clients, w.n) for w in WORKLOADS]
        if peer.ganserve:
            asks.append((TRANSLATE, run.translate_request(), 8, 1))
        for name, request, clients, n in asks:
            spec = run.spec(request, clients, n, pid)
            if name == TRANSLATE:
                spec.warmup_s, spec.duration_s = run.translate_warmup_s, run.translate_s
            r = results[name] = load(spec, run.work)
            bad = {k: v for k, v in r["statuses"].items() if k != "200"}
            print(
                f"  {peer.label:<18} {name:<30} {r['images_per_s']:8.1f} img/s  "
                f"p50 {r['p50_ms']:6.2f} ms  p99 {r['p99_ms']:7.2f} ms  "
                f"server CPU {r['server_cpu_cores']:.2f}  client CPU {r['client_cpu_cores']:.2f}"
                + (f"  non-200: {bad}" if bad else "")
                + (f"  errors: {r['errors'][:1]}" if r["errors"] else ""),
                flush=True,
            )
    return results


def soak(peer: Peer, run: Run, seconds: float) -> dict:
    """n=1 at 32 clients for `seconds`, after 10 s of the same load (arenas grown); every
    worker's resident memory sampled each second."""
    run.port = free_port()
    command = [str(run.port) if arg == PORT else arg for arg in peer.command]
    with server(command, peer.env, run.port, peer.probe, cwd=peer.cwd) as pid:
        spec = run.spec(peer.request(run.model, 1), 32, 1, pid)
        spec.warmup_s, spec.duration_s = min(10.0, seconds), seconds
        path = run.work / "soak.json"
        path.write_text(spec.dump())
        loadgen = [sys.executable, str(ROOT / "benchmarks" / "loadgen.py"), str(path)]
        gen = subprocess.Popen(loadgen, stdout=subprocess.PIPE, text=True)
        time.sleep(spec.warmup_s)
        samples: dict[int, list[float]] = {p: [] for p in worker_pids(pid)}
        while gen.poll() is None:
            for p, rss in samples.items():
                rss.append(rss_mib(p))
            time.sleep(1.0)
        result = json.loads(gen.communicate()[0])
    workers = {
        str(p): {"start_mib": s[0], "end_mib": s[-1], "max_mib": max(s), "growth": s[-1] / s[0] - 1}
        for p, s in samples.items()
    }
    print(
        f"  soak {peer.label}: "
        + ", ".join(
            f"worker {p} {w['start_mib']:.1f} -> {w['end_mib']:.1f} MiB" for p, w in workers.items()
        ),
        flush=True,
    )
    return {
        "server": peer.label,
        "seconds": seconds,
        "warmup_s": spec.warmup_s,
        "statuses": result["statuses"],
        "workers": workers,
    }


def raw_limit(model: Path, translator: Path, photo: np.ndarray, seconds: float) -> dict:
    """Raw ONNX Runtime in this process, timed at the start of each round: another job on
    the machine slows it as it slows the servers, and a limit timed in one slow moment would
    flatter every ratio to it."""
    gen = raw_ort(model, "generator", "cpu", seconds, None)
    raw = {
        "generator": {b: r for b, r in gen.items() if b in (1, 16, 64)},
        "translator": raw_ort(translator, "a2b", "cpu", seconds, photo),
    }
    rates = (f"batch {b} {r['images_per_s']:.0f} img/s" for b, r in raw["generator"].items())
    print(f"raw ONNX Runtime: {', '.join(rates)}", flush=True)
    return raw


def fastest(rounds: list[dict]) -> dict:
    """The limit: for each model and batch, the round in which raw ONNX Runtime ran fastest."""
    return {
        role: {
            batch: max((r[role][batch] for r in rounds), key=lambda t: t["images_per_s"])
            for batch in rounds[0][role]
        }
        for role in rounds[0]
    }


def best(rounds: list[dict], name: str) -> dict:
    return max((r[name] for r in rounds), key=lambda r: r["images_per_s"])


def targets(report: dict) -> list[dict]:
    """The serving targets, each a ratio of figures from this one run."""
    runs, raw = report["runs"], report["raw_ort"]
    ours = [label for label in report["servers"] if label.startswith("ganserve w=")]
    old = next((label for label in report["servers"] if "@" in label), None)
    frameworks = [label for label in report["servers"] if not label.startswith("ganserve")]
    n1, n16, one = (w.name for w in WORKLOADS)
    top = max(ours, key=lambda label: best(runs[label], n1)["images_per_s"])
    fast = best(runs[top], n1)["images_per_s"]
    out = []
    if frameworks:
        peer = max(frameworks, key=lambda label: best(runs[label], n1)["images_per_s"])
        theirs = best(runs[peer], n1)["images_per_s"]
        out.append(
            (
                "n=1, 64 clients >= 2x the best peer",
                f"{top} {fast:.0f} vs {peer} {theirs:.0f} img/s = {fast / theirs:.2f}x",
                fast >= 2 * theirs,
            )
        )
    if old:
        before = best(runs[old], n1)["images_per_s"]
        out.append(
            (
                "n=1, 64 clients >= 2x today's ganserve",
                f"{top} {fast:.0f} vs {old} {before:.0f} img/s = {fast / before:.2f}x",
                fast >= 2 * before,
            )
        )
    checked = [{"target": t, "measured": m, "pass": bool(p)} for t, m, p in out]
    for label in ours:
        checked += against_raw(
            raw,
            n16=best(runs[label], n16)["images_per_s"],
            p50_one=min(r[one]["p50_ms"] for r in runs[label]),
            translate=best(runs[label], TRANSLATE)["images_per_s"],
            who=f"{label}: ",
        )
    if report.get("soak"):
        growth = max(w["growth"] for w in report["soak"]["workers"].values())
        checked.append(
            {
                "target": f"{report['soak']['server']}: RSS flat over a "
                f"{report['soak']['seconds']:.0f} s soak, each worker (end within 5% of start)",
                "measured": f"largest growth {growth * 100:+.1f}%",
                "pass": growth <= 0.05,
            }
        )
    return checked


def markdown(report: dict) -> str:
    m = report["machine"]
    raw = report["raw_ort"]
    runs = report["runs"]
    first = report["servers"][0]
    load_start = ", ".join(f"{x:.2f}" for x in m["load_average_at_start"])
    load_end = ", ".join(f"{x:.2f}" for x in report["load_average_at_end"])
    lines = [
        "# Peers: the same model and answer served by ganserve and the frameworks",
        "",
        f"Command: `{report['command']}` at git {report['git']}, {report['date']}, "
        f"{report['wall_s']:.0f} s. Machine: {m['cpu']}, {m['cores']} cores, Python "
        f"{m['python']}, ONNX Runtime {m['onnxruntime']}; load average {load_start} at the "
        f"start and {load_end} at the end: other work shared the machine, so each server ran "
        f"alone among the benchmarked ones but not on the machine. Server, load generator and "
        f"raw ORT share the cores; {report['rounds']} rounds, the second in reverse order.",
        "",
        f"Model `{report['model']}`. Raw ONNX Runtime (in-process `session.run`, timed at the "
        "start of each round; the faster round of each batch): "
        + ", ".join(
            f"batch {b}: {r['run_ms']:.2f} ms, {r['images_per_s']:.0f} img/s"
            for b, r in raw["generator"].items()
        )
        + f"; translator 256x256: {max(r['images_per_s'] for r in raw['translator'].values()):.2f} "
        "img/s. Batch 64 by round: "
        + ", ".join(f"{r['generator'][64]['images_per_s']:.0f}" for r in report["raw_ort_rounds"])
        + " img/s.",
        "",
        "## Targets",
        "",
        *targets_table(report["targets"]),
        "",
        "## Every server",
        "",
        "Images/s of each round; p50 / p99 and CPU (cores; server: its whole process tree) "
        f"from the better round; ratios of the better round to {first}'s better round and to "
        "raw ORT (batch 64; one client: batch 1).",
        "",
        "| workload | server | img/s (rounds) | p50 / p99 ms | server CPU | client CPU | "
        f"x {first} | x raw ORT |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for w in WORKLOADS:
        ours = best(runs[first], w.name)["images_per_s"]
        limit = raw["generator"][64 if w.clients > 1 else 1]["images_per_s"]
        for label, rounds in runs.items():
            r = best(rounds, w.name)
            figures = " / ".join(f"{x[w.name]['images_per_s']:.0f}" for x in rounds)
            lines.append(
                f"| {w.name} | {label} | {figures} | {r['p50_ms']:.2f} / {r['p99_ms']:.2f} | "
                f"{r['server_cpu_cores']:.2f} | {r['client_cpu_cores']:.2f} | "
                f"{r['images_per_s'] / ours:.2f} | {r['images_per_s'] / limit:.2f} |"
            )
    limit = max(r["images_per_s"] for r in raw["translator"].values())
    for label, rounds in runs.items():
        if TRANSLATE in rounds[0]:
            r = best(rounds, TRANSLATE)
            figures = " / ".join(f"{x[TRANSLATE]['images_per_s']:.2f}" for x in rounds)
            lines.append(
                f"| {TRANSLATE} | {label} | {figures} | {r['p50_ms']:.1f} / {r['p99_ms']:.1f} | "
                f"{r['server_cpu_cores']:.2f} | {r['client_cpu_cores']:.2f} | — | "
                f"{r['images_per_s'] / limit:.2f} |"
            )
    if report.get("soak"):
        s = report["soak"]
        lines += [
            "",
            f"Soak ({s['server']}, {s['seconds']:.0f} s of n=1 at 32 clients after "
            f"{s['warmup_s']:.0f} s of the same load, statuses {s['statuses']}): "
            + "; ".join(
                f"worker {p}: {w['start_mib']:.1f} -> {w['end_mib']:.1f} MiB (max "
                f"{w['max_mib']:.1f})"
                for p, w in s["workers"].items()
            )
            + ".",
        ]
    lines += ["", "What each server needed:", ""]
    lines += [f"- {label}: {needs}" for label, needs in report["needs"].items()]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=Path, default=ROOT / "models", help="models folder")
    parser.add_argument("--workers", nargs="+", default=["1", "2"], help="ganserve's: counts, auto")
    parser.add_argument("--old", type=Path, help="an older ganserve checkout to run beside")
    parser.add_argument("--peers", nargs="*", default=list(venvs.PEERS), choices=venvs.PEERS)
    parser.add_argument("--venvs", type=Path, default=Path("/work/peer-venvs"))
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--soak-s", type=float, help="0: no soak (default 60, --quick 1)")
    parser.add_argument("--photo", type=Path, help="photo for /translate (resized to 256x256)")
    parser.add_argument("--quick", action="store_true", help="seconds, not minutes")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args(argv)
    given = argv if argv is not None else sys.argv[1:]
    command = "python benchmarks/peers/bench.py " + " ".join(given)
    began, host = time.perf_counter(), machine()

    generator = pick_model(args.models, ("unconditional",), None)
    translator = pick_model(args.models, ("translation",), None)
    if generator is None or translator is None:
        raise SystemExit(f"no trained generator and translator in {args.models}")
    with tempfile.TemporaryDirectory(prefix="ganserve-peers-") as tmp:
        work = Path(tmp)
        for folder in (generator, translator):
            shutil.copytree(folder, work / "models" / folder.name)
        model = work / "models" / generator.name
        photo = photo_jpeg(args.photo)
        rgb = np.asarray(Image.open(io.BytesIO(photo)).convert("RGB"))
        tr_dir = work / "models" / translator.name
        x = imaging.to_network(rgb, Manifest.load(tr_dir).image.multiple_of)
        raw_s = 0.1 if args.quick else 2.0
        raw_rounds: list[dict] = []
        warmup, seconds = (0.2, 0.5) if args.quick else (1.0, 3.0)
        run = Run(free_port(), generator.name, translator.name, photo, work, warmup, seconds)
        if args.quick:
            run.translate_warmup_s, run.translate_s = warmup, seconds
        servers = peers(args, model)
        runs: dict[str, list[dict]] = {p.label: [] for p in servers}
        for round_ in range(args.rounds):
            order = servers if round_ % 2 == 0 else servers[::-1]
            raw_rounds.append(raw_limit(model, tr_dir, x, raw_s))
            print(f"round {round_ + 1}: {', '.join(p.label for p in order)}", flush=True)
            for peer in order:
                runs[peer.label].append(measure(peer, run))
        ganserve = [p for p in servers if p.ganserve]
        soak_s = args.soak_s if args.soak_s is not None else (1.0 if args.quick else 60.0)
        soaked = soak(ganserve[-1], run, soak_s) if soak_s and ganserve else None

    report = {
        **reports.opening(command, host),
        "load_average_at_end": os.getloadavg(),
        "model": generator.name,
        "translator": translator.name,
        "rounds": args.rounds,
        "raw_ort": fastest(raw_rounds),
        "raw_ort_rounds": raw_rounds,
        "servers": [p.label for p in servers],
        "needs": {p.label: p.needs for p in servers},
        "runs": runs,
        "soak": soaked,
        "wall_s": round(time.perf_counter() - began, 1),
    }
    report["targets"] = targets(report)
    reports.save(args.out, "peers", report, markdown(report))
    print(markdown(report))
    return report


if __name__ == "__main__":
    # `timeout` sends SIGTERM: stop the server running now, not leave it behind.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    main()
