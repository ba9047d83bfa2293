"""StyleGAN through `/generate` against raw ONNX Runtime running the same two graphs.

Random-initialised networks at NVIDIA's released configurations (issue 28), built with
ganserve's own networks (training/nets): StyleGAN2 FFHQ 1024 (z 512, w 512, 8 mapping layers,
channel_base 32768, channel_max 512, conv_clamp 256: `stylegan2-ffhq-1024x1024.pkl`) and
StyleGAN3-R FFHQ 1024 (2 mapping layers, channel_base 65536, channel_max 1024, 1x1
convolutions, radial filters, conv_clamp 256: `stylegan3-r-ffhq-1024x1024.pkl`). Each is
written as a snapshot pickle in NVIDIA's record layout (`write_snapshot`, no NVIDIA code: the
records name only `torch_utils.persistence._reconstruct_persistent_obj`, as the importer
reads them) and imported by `python -m training import stylegan`, the user's command; the
folder is kept under `--work` and reused while its configuration is the same.

For each model, `python -m service` (one worker, default settings, memory_budget_mb 2048,
GANSERVE_PROVIDER=cpu, a long request timeout) serves it alone; `/generate` is asked for
`--n` images (16) and for one, `--repeats` times each; reported: images a second of the whole
request (mapping, synthesis, PNG encoding, base64 JSON), the worker's peak resident memory
(VmHWM, start-up probes included) against the budget, the synthesis batcher's rows per run
(from /metrics: `ganserve_batch_size` of `<name>:synthesis`), and the start-up time to
`/readyz`. Raw ONNX Runtime runs the same two files with the same session options and thread
counts the service chose (GET /models/NAME `sessions`; the synthesis without ORT's arena, as
the service makes it), each measurement in its own process so that its VmHWM is its own: the
same images in the service's rows per run, one raw round after each request (in turns, so
that the shared machine's slow and fast minutes fall on both), and `--n` images in one run
when its peak, predicted from one- and two-row runs, fits the machine's free memory (else the
largest batch that fits). The ratio service/raw, against the faster raw way, is the target
(>= 0.9); best against best, and each request against the raw round after it.

    flock /tmp/ganserve-heavy.lock .venv/bin/python benchmarks/stylegan.py \\
        --work /tmp/ganserve-stylegan-bench --out benchmarks/results/stylegan.json

`--models stylegan3-r-ffhq-1024 --update --memory-budget-mb 8192` measures the StyleGAN3-R
and keeps the other runs in `--out` (its import takes some 25 minutes and 12 GiB here, a row
over a minute; one row holds some 5.7 GiB, so at the default budget of 2048 MiB the service
refuses every request, 413 image_too_large); `--env
KEY=VALUE` is set for every process (the server, the import, the raw runs), e.g. glibc's
malloc tunables. `--quick` (tests/test_benchmarks.py): a tiny StyleGAN2, every part runs, the
figures mean nothing.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import io
import json
import math
import os
import pickle
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import types
from collections import OrderedDict
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.harness import free_port, server, worker_pids  # noqa: E402
from benchmarks.sysinfo import git_revision, machine  # noqa: E402

PSI = 0.7
BASE = {"z_dim": 512, "c_dim": 0, "w_dim": 512, "img_resolution": 1024, "img_channels": 3}
# name: (ganserve network module, G_ema's init kwargs as NVIDIA's training loop records them)
CONFIGS: dict[str, tuple[str, dict[str, Any]]] = {
    # stylegan3's train.py --cfg=stylegan2 (flat layout; fp16 and EMA options recorded too)
    "stylegan2-ffhq-1024": (
        "stylegan2",
        {
            **BASE,
            "mapping_kwargs": {"num_layers": 8},
            "channel_base": 32768,
            "channel_max": 512,
            "num_fp16_res": 4,
            "conv_clamp": 256,
        },
    ),
    # stylegan3's train.py --cfg=stylegan3-r: cbase and cmax doubled, 1x1 kernels, radial
    "stylegan3-r-ffhq-1024": (
        "stylegan3",
        {
            **BASE,
            "mapping_kwargs": {"num_layers": 2},
            "channel_base": 65536,
            "channel_max": 1024,
            "magnitude_ema_beta": 0.999,
            "num_fp16_res": 4,
            "conv_clamp": 256,
            "conv_kernel": 1,
            "use_radial_filters": True,
        },
    ),
    "stylegan2-tiny": (
        "stylegan2",
        {
            "z_dim": 16,
            "c_dim": 0,
            "w_dim": 16,
            "img_resolution": 32,
            "img_channels": 3,
            "mapping_kwargs": {"num_layers": 2},
            "channel_base": 256,
            "channel_max": 16,
            "conv_clamp": 256,
        },
    ),
}
DEFAULT = ["stylegan2-ffhq-1024"]
QUICK = ["stylegan2-tiny"]
SOURCE = "# ganserve's own network, random-initialised by benchmarks/stylegan.py; no NVIDIA code\n"
SAFETY_MIB = 3072  # memory left to the machine's other users when a raw batch is chosen


# --- the snapshot: NVIDIA's persistence records of ganserve's network --------------------


def _reconstruct_persistent_obj(meta: Any) -> None:  # named in the pickle, never called
    raise AssertionError("only its name is pickled")


class _Record:
    """Pickles as `torch_utils.persistence._reconstruct_persistent_obj(meta)`."""

    def __init__(self, meta: dict[str, Any]) -> None:
        self.meta = meta

    def __reduce__(self):
        return (_reconstruct_persistent_obj, (self.meta,))


def _record(module, init_kwargs: dict[str, Any]) -> _Record:
    state = dict(vars(module))
    state["_modules"] = OrderedDict((k, _record(v, {})) for k, v in module.named_children())
    state["_init_args"], state["_init_kwargs"] = (), init_kwargs
    meta = {"type": "class", "version": 6, "module_src": SOURCE}
    return _Record({**meta, "class_name": type(module).__name__, "state": state})


@contextlib.contextmanager
def _persistence_name():
    """`torch_utils.persistence` as pickle looks the function up, only while it pickles."""
    module = types.ModuleType("torch_utils.persistence")
    module._reconstruct_persistent_obj = _reconstruct_persistent_obj
    names = {"torch_utils": types.ModuleType("torch_utils"), "torch_utils.persistence": module}
    saved = _reconstruct_persistent_obj.__module__
    _reconstruct_persistent_obj.__module__ = module.__name__
    sys.modules.update(names)
    try:
        yield
    finally:
        for name in names:
            del sys.modules[name]
        _reconstruct_persistent_obj.__module__ = saved


def write_snapshot(name: str, path: Path) -> None:
    """A snapshot pickle holding G_ema: ganserve's network for `name`, random weights
    (torch's own initialisation, seed 0)."""
    import torch

    from training.nets import stylegan2, stylegan3

    family, kwargs = CONFIGS[name]
    net_class = {"stylegan2": stylegan2, "stylegan3": stylegan3}[family].Generator
    dropped = {"num_fp16_res", "magnitude_ema_beta"}  # training and speed only
    torch.manual_seed(0)
    g = net_class(**{k: v for k, v in kwargs.items() if k not in dropped}).eval()
    data = {
        "training_set_kwargs": {"path": "random-init", "resolution": kwargs["img_resolution"]},
        "G_ema": _record(g, kwargs),
    }
    with _persistence_name(), path.open("wb") as f:
        pickle.dump(data, f, protocol=4)


def model_folder(name: str, work: Path) -> tuple[Path, dict]:
    """work/NAME/models/NAME, as `python -m training import stylegan` writes it; imported
    again only when absent or made from another configuration."""
    base = work / name
    folder, stamp = base / "models" / name, base / "made.json"
    config = json.loads(json.dumps({"config": CONFIGS[name], "psi": PSI}))  # as stored
    made = json.loads(stamp.read_text()) if stamp.is_file() else {}
    if made.get("made_from") == config and (folder / "model.json").is_file():
        return folder, {**made, "cached": True}
    stamp.unlink(missing_ok=True)
    shutil.rmtree(folder, ignore_errors=True)
    base.mkdir(parents=True, exist_ok=True)
    snapshot = base / f"{name}.pkl"
    started = time.perf_counter()
    write_snapshot(name, snapshot)
    cmd = ["python", "-m", "training", "import", "stylegan", str(snapshot)]
    cmd += ["--out", str(folder), "--psi", str(PSI)]
    done = subprocess.run(
        [sys.executable, *cmd[1:]], cwd=ROOT, capture_output=True, text=True, check=False
    )
    if done.returncode:
        raise SystemExit(f"import failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    print(done.stdout.strip(), flush=True)
    snapshot.unlink()  # the folder is what is kept
    made = {"made_from": config, "command": shlex.join(cmd)}
    made["snapshot_and_import_s"] = time.perf_counter() - started
    stamp.write_text(json.dumps(made, indent=1))
    return folder, {**made, "cached": False}


# --- the service ------------------------------------------------------------------------


def status_mib(pid: int | str, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return math.nan


def metric(text: str, name: str, key: str, default: float = math.nan) -> float:
    found = re.search(rf'^{name}\{{model="{re.escape(key)}"\}} (\S+)$', text, re.M)
    return float(found.group(1)) if found else default


def generate(url: str, name: str, n: int, resolution: int) -> float:
    """Seconds for one `/generate` of n images (the whole request), its answer checked."""
    body = {"model": name, "n": n, "seed": 0, "truncation_psi": PSI}
    start = time.perf_counter()
    r = httpx.post(f"{url}/generate", json=body, timeout=3600)
    seconds = time.perf_counter() - start
    assert r.status_code == 200, r.text[:500]
    images = r.json()["images"]
    assert len(images) == n
    first = Image.open(io.BytesIO(base64.b64decode(images[0]["png"])))
    assert first.size == (resolution, resolution), first.size
    return seconds


def through_service(
    folder: Path, n: int, repeats: int, budget_mb: int | None, settings: dict[str, str]
) -> dict:
    """The service's figures, and raw ONNX Runtime's taken in turns with its requests (each
    raw round a process of its own, between two requests while the server idles), so that
    the shared machine's slower and faster minutes fall on both."""
    name = folder.name
    port = free_port()
    cmd = [sys.executable, "-m", "service", "--port", str(port), "--host", "127.0.0.1"]
    cmd += ["--models", str(folder.parent), "--workers", "1"]
    env = {
        "GANSERVE_PROVIDER": "cpu",
        "GANSERVE_REQUEST_TIMEOUT_S": "3600",
        "GANSERVE_GRPC_PORT": "0",  # REST is measured; 8001 is one per machine
    }
    env.update(settings)  # the GANSERVE_* of --env: the harness passes no other
    if budget_mb is not None:
        env["GANSERVE_MEMORY_BUDGET_MB"] = str(budget_mb)
    started = time.perf_counter()
    # a StyleGAN3-R 1024 row takes over a minute: the start-up's timing runs take many
    with server(cmd, env, port, "/readyz", ready_within_s=3600) as pid:
        ready_s = time.perf_counter() - started
        worker = worker_pids(pid)[0]
        url = f"http://127.0.0.1:{port}"
        info = httpx.get(f"{url}/models/{name}").json()
        assert info["state"] == "ready", info
        resolution = info["stylegan"]["resolution"]
        threads = {role: s["intra_op_threads"] for role, s in info["sessions"].items()}
        rss_ready = status_mib(worker, "VmRSS")
        peak_ready = status_mib(worker, "VmHWM")
        key = f"{name}:synthesis"

        def counters() -> dict[str, float]:
            text = httpx.get(f"{url}/metrics").text
            return {
                f"{series}:{role}": metric(text, f"ganserve_{series}", f"{name}:{role}", 0.0)
                for series in ("batch_size_count", "batch_size_sum", "inference_seconds_sum")
                for role in ("mapping", "synthesis")
            }

        def rounds(images: int) -> tuple[dict, list[dict]]:
            seconds, raws, rows = [], [], 0
            before = counters()
            for i in range(repeats):
                seconds.append(generate(url, name, images, resolution))
                if i == 0:  # the batcher's split: runs of `rows`, the last one fewer
                    runs = round(
                        counters()["batch_size_count:synthesis"]
                        - before["batch_size_count:synthesis"]
                    )
                    rows = -(-images // runs)
                raws.append(raw(folder, threads, images, rows, 1))
            after = counters()
            done = {k: after[k] - before[k] for k in after}
            served = {
                "n": images,
                "seconds": seconds,
                "images_per_s": images / min(seconds),
                "synthesis_runs": runs,
                "synthesis_rows_per_run": rows,
                "synthesis_mean_rows": done["batch_size_sum:synthesis"]
                / done["batch_size_count:synthesis"],
                # session.run's own seconds per request (the batchers' histograms), on average
                "session_run_s_per_request": {
                    role: done[f"inference_seconds_sum:{role}"] / repeats
                    for role in ("mapping", "synthesis")
                },
            }
            return served, raws

        one, raw_one = rounds(1)
        many, raw_many = rounds(n)
        text = httpx.get(f"{url}/metrics").text
        return {
            "ready_s": ready_s,
            "threads": threads,
            "resolution": resolution,
            "rss_at_ready_mib": rss_ready,
            "peak_at_ready_mib": peak_ready,
            "peak_mib": status_mib(worker, "VmHWM"),
            "memory_budget_mib": metric_plain(text, "ganserve_memory_budget_bytes") / 2**20,
            # the service's gauge: the estimated peak of one run of its batcher's rows per run
            "synthesis_run_peak_gauge_mib": metric(text, "ganserve_session_run_peak_bytes", key)
            / 2**20,
            "n1": one,
            "n": many,
            "raw_rounds": {"n1": raw_one, "n": raw_many},
        }


def metric_plain(text: str, name: str) -> float:
    found = re.search(rf"^{name}(?:\{{[^}}]*\}})? (\S+)$", text, re.M)
    return float(found.group(1)) if found else math.nan


# --- raw ONNX Runtime, in a process of its own ------------------------------------------


def raw_child(folder: Path, threads: dict, images: int, rows: int, repeats: int) -> dict:
    """Mapping then synthesis on `images` rows, the synthesis in runs of `rows`, with the
    service's session options; one untimed row first (the service warms up at load)."""
    from service import imaging
    from service.engine.runtime import ProviderChoice, holds_large_runs, make_session
    from service.latents import latents
    from service.manifest import Manifest
    from service.resources import memory
    from service.settings import Settings
    from service.stylegan_transform import synthesis_feeds

    settings = Settings(workers=1)
    if settings.reuse_freed_memory:  # glibc set as the service sets it (--env decides)
        memory.reuse_freed_memory(settings.memory_budget_mb << 20)
    manifest = Manifest.load(folder)
    inter = settings.inter_op_threads
    sessions = {
        role: make_session(
            folder / manifest.files[role].path,
            ProviderChoice("cpu"),
            threads[role],
            inter,
            arena=not holds_large_runs(manifest, role),
        )
        for role in ("mapping", "synthesis")
    }
    spec = manifest.stylegan

    def synthesis(ws: np.ndarray) -> np.ndarray:
        """A StyleGAN3's rows with the snapshot's own transform, as the service feeds them."""
        return sessions["synthesis"].run(None, synthesis_feeds(ws, spec.transform))[0]

    def generate(count: int, per_run: int) -> np.ndarray:
        seeds = list(range(count))
        feeds = {"z": latents(seeds, spec.z_dim), "psi": np.full(count, PSI, np.float32)}
        ws = sessions["mapping"].run(None, feeds)[0]
        out = [synthesis(ws[i : i + per_run]) for i in range(0, count, per_run)]
        return out[-1]

    generate(1, 1)
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        last = generate(images, rows)
        seconds.append(time.perf_counter() - start)
    assert last.shape[1:] == (3, spec.resolution, spec.resolution) and np.isfinite(last).all()
    peak = status_mib("self", "VmHWM")
    start = time.perf_counter()  # what the service adds per image: PNG (its encoder), base64
    encoded = [base64.b64encode(png) for png in imaging.encode_pngs(last)]
    png_s = (time.perf_counter() - start) / len(encoded)
    return {
        "images": images,
        "rows_per_run": rows,
        "seconds": seconds,
        "images_per_s": images / min(seconds),
        "peak_mib": peak,
        "png_base64_s_per_image": png_s,
    }


def raw(folder: Path, threads: dict, images: int, rows: int, repeats: int) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--raw-child", str(folder)]
    cmd += ["--raw-spec", json.dumps([threads, images, rows, repeats])]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"raw ONNX Runtime run failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    print(json.dumps({"raw": result}), flush=True)
    return result


def mem_available_mib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) / 1024
    return math.nan


def largest_fitting(one: dict, two: dict, most: int) -> tuple[int, dict]:
    """The largest batch up to `most` (halving) whose peak, predicted from the one- and
    two-row runs' peaks, leaves SAFETY_MIB of the memory now available."""
    per_row = max(two["peak_mib"] - one["peak_mib"], 0.0)
    room = mem_available_mib() - SAFETY_MIB
    batch = most
    while batch > 1 and one["peak_mib"] + (batch - 1) * per_row > room:
        batch //= 2
    return batch, {
        "per_row_mib": per_row,
        "available_mib": room + SAFETY_MIB,
        "predicted_peak_mib": {b: one["peak_mib"] + (b - 1) * per_row for b in (most, batch)},
    }


# --- the report --------------------------------------------------------------------------


def rounds_of(raws: list[dict]) -> dict:
    """Raw rounds (one timed run each) as one measurement: its seconds, best rate, peak."""
    seconds = [r["seconds"][0] for r in raws]
    return {
        "images": raws[0]["images"],
        "rows_per_run": raws[0]["rows_per_run"],
        "seconds": seconds,
        "images_per_s": raws[0]["images"] / min(seconds),
        "peak_mib": max(r["peak_mib"] for r in raws),
        "png_base64_s_per_image": min(r["png_base64_s_per_image"] for r in raws),
    }


def bench(
    name: str, work: Path, n: int, repeats: int, budget_mb: int | None, settings: dict[str, str]
) -> dict:
    folder, made = model_folder(name, work)
    served = through_service(folder, n, repeats, budget_mb, settings)
    threads, rows = served["threads"], served["n"]["synthesis_rows_per_run"]
    one = rounds_of(served["raw_rounds"]["n1"])
    same = rounds_of(served["raw_rounds"]["n"])
    two = raw(folder, threads, 2, 2, 1)
    batch, fit = largest_fitting(one, two, n)
    runs = {"service_rows": same}
    if batch != rows:
        runs["one_run" if batch == n else "largest_fitting"] = raw(
            folder, threads, n, batch, repeats
        )
    best_raw = max(runs.values(), key=lambda r: r["images_per_s"])
    # each request against the raw round right after it: rates of n images, so seconds
    paired = [r / s for s, r in zip(served["n"]["seconds"], same["seconds"], strict=True)]
    result = {
        "model": name,
        "config": CONFIGS[name],
        "folder": made,
        "service": served,
        "raw_ort": {"n1": one, "two_rows": two, "fit": fit, **runs},
        # best against best; against the faster of raw's two ways to make n images
        "ratio_n": served["n"]["images_per_s"] / best_raw["images_per_s"],
        "ratio_n_same_rows": served["n"]["images_per_s"] / same["images_per_s"],
        "ratio_n_same_rows_paired": paired,
        "ratio_n1": served["n1"]["images_per_s"] / one["images_per_s"],
        "raw_batch_of_n_fits": batch == n,
    }
    keys = ("model", "ratio_n", "ratio_n_same_rows", "ratio_n_same_rows_paired", "ratio_n1")
    print(json.dumps({k: result[k] for k in keys}), flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, help="exported folders are kept here")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/stylegan.json")
    parser.add_argument("--models", nargs="+", choices=sorted(CONFIGS), help=f"{DEFAULT}")
    parser.add_argument("--n", type=int, default=16, help="images per /generate")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="a tiny StyleGAN2: a smoke run")
    parser.add_argument(
        "--memory-budget-mb", type=int, help="the service's memory_budget_mb (default: its own)"
    )
    parser.add_argument(
        "--env", action="append", default=[], metavar="KEY=VALUE", help="for every process"
    )
    parser.add_argument(
        "--update", action="store_true", help="keep --out's runs of the models not run now"
    )
    parser.add_argument("--raw-child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--raw-spec", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.raw_child:
        threads, images, rows, repeats = json.loads(args.raw_spec)
        print(json.dumps(raw_child(args.raw_child, threads, images, rows, repeats)))
        return
    names = args.models or (QUICK if args.quick else DEFAULT)
    env = dict(item.split("=", 1) for item in args.env)
    os.environ.update(env)  # the server, the import and the raw processes inherit it
    report = {"runs": []}
    if args.update and args.out.is_file():
        report = json.loads(args.out.read_text())
    report["runs"] = [r for r in report["runs"] if r["model"] not in names]
    with contextlib.ExitStack() as stack:
        work = args.work
        if work is None:
            work = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        for name in names:
            where = {"machine": machine(), "revision": git_revision(), "env": env}
            where["argv"] = sys.argv[1:]
            settings = {k: v for k, v in env.items() if k.startswith("GANSERVE_")}
            result = bench(name, work, args.n, args.repeats, args.memory_budget_mb, settings)
            where["machine"]["load_average_at_end"] = os.getloadavg()
            report["runs"].append({**result, **where})
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
