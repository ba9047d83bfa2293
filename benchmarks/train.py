"""Training speed: images per second of one training step, per family and precision setting.

    python benchmarks/train.py                    # CPU, about 3 minutes on 2 cores
    python benchmarks/train.py --device cuda      # on a GPU
    python benchmarks/train.py --quick            # tiny networks: does everything run?

Each family's shipped recipe (training/configs/, the plain recipe before its variants) runs
with fp32 and bf16 autocast (`amp`), each with channels_last off and on (`channels_last`),
through the training package's own trainer. A step is what `Trainer.run` does per step:
the family's `train_step` (D and G updates) and the EMA update. The data are synthetic, of
the recipe's shapes (random MNIST-sized digits, random 256x256 photos), made in a temporary
folder: the cost of a step does not depend on what the pixels show. images/s is the batch
size over the median step time (CycleGAN: images of each domain). Writes
benchmarks/results/train.json and train.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import reports  # noqa: E402
from benchmarks.sysinfo import machine  # noqa: E402
from training.config import Config, build  # noqa: E402
from training.loops import trainer_for  # noqa: E402

FAMILIES = ("dcgan", "cgan", "cyclegan", "toy2d")
VARIANTS = [(amp, cl) for amp in ("off", "bf16") for cl in ("off", "on")]
# --quick: networks small enough that every variant of every family takes well under a second.
TINY = {
    "dcgan": {"image_size": 16, "ngf": 4, "ndf": 4, "batch_size": 8},
    "cgan": {"image_size": 16, "ngf": 4, "ndf": 4, "embed_dim": 4, "batch_size": 8},
    "cyclegan": {
        "load_size": 20,
        "crop_size": 16,
        "ngf": 4,
        "ndf": 4,
        "n_blocks": 1,
        "d_layers": 1,
        "batch_size": 1,
    },
    "toy2d": {"hidden": 16, "batch_size": 32},
}


def recipe(family: str) -> tuple[str, dict]:
    """(file name, values) of the family's shipped config: the shortest name, the recipe."""
    paths = sorted(
        (ROOT / "training" / "configs").glob("*.json"), key=lambda p: (len(p.stem), p.stem)
    )
    for path in paths:
        values = json.loads(path.read_text())
        if values.get("family") == family:
            return path.name, values
    raise SystemExit(f"no shipped config of family {family}")


def synthetic_data(family: str, values: dict, folder: Path) -> str:
    """A data path of the recipe's kind with random content."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    if family == "toy2d":
        return values["data"]  # ring or grid: drawn on the fly
    if family == "cyclegan":
        for sub in ("trainA", "trainB"):
            (folder / sub).mkdir()
            for i in range(12):
                pixels = rng.integers(0, 256, (256, 256, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(folder / sub / f"{i:03d}.jpg", quality=90)
        return str(folder)
    classes = max(1, len(values.get("classes", [])))
    path = folder / "digits.npz"
    images = rng.integers(0, 256, (1024, 28, 28), dtype=np.uint8)
    np.savez(path, images=images, labels=np.arange(1024) % classes)
    return str(path)


def config(family: str, values: dict, data: str, amp: str, cl: str, args) -> Config:
    known = {f.name for f in dataclasses.fields(Config)}
    overrides = {
        "data": data,
        "amp": amp,
        "channels_last": cl,
        "device": args.device,
        "threads": args.threads,
        "progress": False,
        "out_dir": str(args.work / "runs"),
        "train_count": 0,
        "holdout": [2, 2],
        "val_images": 2,
        **(TINY[family] if args.quick else {}),
    }
    return build({**values, **{k: v for k, v in overrides.items() if k in known}})


def time_steps(cfg: Config, warmup: int, seconds: float, min_steps: int) -> dict:
    trainer = trainer_for(cfg)
    cuda = trainer.device.type == "cuda"

    def step(i: int) -> float:
        start = time.perf_counter()
        trainer.train_step(i)
        for key, ema in trainer.emas.items():
            ema.update(trainer.models[key])
        if cuda:
            torch.cuda.synchronize()
        return time.perf_counter() - start

    for model in trainer.models.values():
        model.train()
    for i in range(warmup):
        step(i)
    times: list[float] = []
    stop = time.perf_counter() + seconds
    while len(times) < min_steps or time.perf_counter() < stop:
        times.append(step(warmup + len(times)))
    median = statistics.median(times)
    return {
        "steps": len(times),
        "step_ms": median * 1e3,
        "images_per_s": cfg.batch_size / median,
        "amp_active": trainer.amp,
        "channels_last_active": trainer.channels_last,
    }


def markdown(report: dict) -> str:
    m = report["machine"]
    lines = [
        "# Training-step benchmark",
        "",
        f"Command: `{report['command']}` at git {report['git']}, {report['date']}.",
        f"Machine: {m['cpu']}, {m['cores']} cores ({m['arch']}), torch {report['torch']}, "
        f"device `{report['device']}`, {report['threads']} threads; load average at start "
        f"{', '.join(f'{x:.2f}' for x in m['load_average_at_start'])}.",
        "Synthetic data of each recipe's shapes; images/s = batch / median step time "
        "(CycleGAN: images of each domain); in brackets: the ratio to fp32 without "
        "channels_last.",
        "",
        "| family | recipe | batch | fp32 | fp32 + channels_last | bf16 | bf16 + channels_last |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for family, entry in report["families"].items():
        runs = entry["runs"]
        base = runs["amp=off channels_last=off"]["images_per_s"]
        cells = [
            f"{r['images_per_s']:.1f} ({r['images_per_s'] / base:.2f}x)"
            for r in (runs[f"amp={a} channels_last={c}"] for a, c in VARIANTS)
        ]
        lines.append(
            f"| {family} | {entry['recipe']} | {entry['batch_size']} | {' | '.join(cells)} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--families", default=",".join(FAMILIES), help="comma-separated")
    parser.add_argument("--seconds", type=float, default=6.0, help="timed seconds per variant")
    parser.add_argument(
        "--threads", type=int, default=len(os.sched_getaffinity(0)), help="torch CPU threads"
    )
    parser.add_argument("--quick", action="store_true", help="tiny networks, two steps each")
    parser.add_argument("--out", type=Path, default=HERE / "results", help="results folder")
    args = parser.parse_args(argv)
    command = "python benchmarks/train.py " + " ".join(argv if argv is not None else sys.argv[1:])
    began, host = time.perf_counter(), machine()  # the load average before we add ours
    families = {}
    with tempfile.TemporaryDirectory(prefix="ganserve-train-bench-") as tmp:
        args.work = Path(tmp)
        for family in args.families.split(","):
            name, values = recipe(family)
            data = synthetic_data(family, values, args.work / family)
            runs = {}
            for amp, cl in VARIANTS:
                cfg = config(family, values, data, amp, cl, args)
                result = time_steps(
                    cfg,
                    warmup=1 if args.quick else 2,
                    seconds=0.0 if args.quick else args.seconds,
                    min_steps=2 if args.quick else 3,
                )
                runs[f"amp={amp} channels_last={cl}"] = result
                print(
                    f"{family:<9} amp={amp:<4} channels_last={cl:<3} "
                    f"{result['images_per_s']:9.1f} img/s ({result['step_ms']:.1f} ms/step, "
                    f"{result['steps']} steps)",
                    flush=True,
                )
            families[family] = {"recipe": name, "batch_size": cfg.batch_size, "runs": runs}
    report = {
        **reports.opening(command, host),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "device": args.device,
        "threads": args.threads,
        "quick": args.quick,
        "families": families,
        "wall_s": round(time.perf_counter() - began, 1),
    }
    reports.save(args.out, "train", report, markdown(report))
    print(f"wrote {args.out / 'train.json'} and train.md ({report['wall_s']} s)")
    return report


if __name__ == "__main__":
    main()
