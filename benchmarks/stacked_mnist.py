"""Stacked MNIST (Metz et al. 2017; VEEGAN; PacGAN): how many of the 1,000 digit triples a GAN
draws.

    python benchmarks/stacked_mnist.py --data ../shared/data/mnist/mnist10k.npz
    python benchmarks/stacked_mnist.py --data D.npz --steps 8000 --set ngf=64   # other recipes

Trains a DCGAN on `data=stacked:D.npz` with the training package (three random training
digits of D, the first 9,000, as the R, G and B channels; training/stacked.py), exports it to
ONNX with `python -m training export`, draws `--n` samples from seeds 0..n-1 with ONNX Runtime
as the service would, resizes each channel to the judge's 28x28 and classifies it with the
judge (judges/mnist), and again with a second judge of another kind (judges/mnist-strided), as
MNIST evaluation does: a generator trained against one network can fool that kind of network
more than another. A sample's mode is its triple of predicted digits; the benchmark reports,
by each judge, how many of the 1,000 modes have at least one sample and KL(q || uniform) of
the mode histogram q. The same count on as many triples of the judge's held-out digits
(taking the training data's 28 -> 32 -> 28 path) is the reference: what a perfect generator
would score with that judge and this many samples.

Writes RESULTS.json (every figure, the command, the recipe) and RESULTS.md (the table beside
the published figures) and RESULTS.png (64 samples).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from service.manifest import Manifest  # noqa: E402
from training import cli, config  # noqa: E402
from training.evaluation.data import TRAIN_COUNT, load_split, resize_batch  # noqa: E402
from training.evaluation.evaluate import generate  # noqa: E402
from training.evaluation.judge import Judge  # noqa: E402
from training.evaluation.metrics import class_histogram, kl_from_uniform, stacked_modes  # noqa: E402
from training.evaluation.monitor import channel_predictions  # noqa: E402
from training.imaging import grid, save_png  # noqa: E402
from training.loops import trainer_for  # noqa: E402
from training.stacked import TRIPLES  # noqa: E402

# The recipe that met the MNIST targets (models/dcgan-mnist), on three channels.
RECIPE = {
    "family": "dcgan",
    "image_size": 32,
    "channels": 3,
    "z_dim": 100,
    "ngf": 32,
    "ndf": 32,
    "loss": "hinge",
    "spectral_norm": True,
    "d_norm": "none",
    "ema_decay": 0.999,
    "batch_size": 64,
}

PUBLISHED = [
    # (method, source, modes of 1,000, KL or None)
    ("DCGAN", "VEEGAN (Srivastava et al. 2017)", 99.0, None),
    ("DCGAN", "PacGAN (Lin et al. 2018)", 78.9, None),
    ("PacDCGAN", "PacGAN (Lin et al. 2018)", 1000.0, 0.06),
]


def _score(judge: Judge, images: np.ndarray) -> dict:
    """Modes and KL of [N, 3, H, W] images at the judge's size, plus each channel's class KL."""
    pred = channel_predictions(judge, images)
    modes = stacked_modes(pred, judge.num_classes)
    per_channel = [
        kl_from_uniform(class_histogram(pred[:, c], judge.num_classes)) for c in range(3)
    ]
    return {**modes, "channel_class_kl": [round(k, 4) for k in per_channel]}


def real_reference(judge: Judge, data: Path, n: int, size: int, train_count: int) -> dict:
    """The count on n random triples of held-out digits (28 -> size -> 28, as trained)."""
    digits, _ = load_split(data, "heldout", train_count)
    h, w = judge.info["input"]["shape"][2:]
    digits = resize_batch(resize_batch(digits, size, size), h, w)
    rows = np.random.default_rng(1).integers(0, len(digits), size=(n, 3))
    images = digits[rows.reshape(-1), 0].reshape(n, 3, h, w)
    return _score(judge, images)


def counted(judge_dir: str, images: np.ndarray, data: Path, size: int, train_count: int) -> dict:
    """The generated images' modes by one judge, beside the held-out reference by the same."""
    judge = Judge.load(judge_dir)
    h, w = judge.info["input"]["shape"][2:]
    return {
        "judge": {
            "path": Path(judge_dir).as_posix(),
            "name": judge.name,
            "sha256": judge.info["sha256"],
            "heldout_accuracy": judge.info.get("heldout_accuracy"),
        },
        "generated": _score(judge, resize_batch(images, h, w)),
        "real_reference": real_reference(judge, data, len(images), size, train_count),
    }


def worse_first(r: dict) -> list[dict]:
    """Each judge's count, the smaller share of its modes (then the higher KL) first."""

    def key(c: dict) -> tuple[float, float]:
        g = c["generated"]
        return g["modes"] / g["num_modes"], -g["kl_from_uniform"]

    return sorted(r["judges"], key=key)


def markdown(r: dict) -> str:
    counts = worse_first(r)
    by = ", ".join(f"`{c['judge']['path']}` ({c['judge']['heldout_accuracy']})" for c in counts)
    lines = [
        "# Stacked MNIST: modes of 1,000",
        "",
        f"{r['samples']:,} samples (seeds 0..{r['samples'] - 1}) of the exported ONNX "
        f"generator; each channel classified by each judge (held-out accuracy): {by}, the "
        f"worse count first. Trained {r['training']['steps']:,} steps in "
        f"{r['training']['wall_seconds']:.0f} s on {r['device']}.",
        "",
        "| method | source | modes (of 1,000) | KL(modes ‖ uniform) |",
        "| --- | --- | --- | --- |",
    ]
    for method, source, modes, kl in PUBLISHED:
        lines.append(f"| {method} | {source}, published | {modes:g} | {kl if kl else '—'} |")
    for c in counts:
        ours, ref, path = c["generated"], c["real_reference"], c["judge"]["path"]
        lines += [
            f"| **this project: DCGAN, hinge + SN, EMA**, by `{path}` | measured | "
            f"**{ours['modes']}** | **{ours['kl_from_uniform']:.3f}** |",
            f"| real triples (held-out digits), by `{path}` | reference, same judge and count | "
            f"{ref['modes']} | {ref['kl_from_uniform']:.3f} |",
        ]
    lines.append("")
    for c in counts:
        lines.append(
            f"Per-channel class KL from uniform by `{c['judge']['path']}`, generated: "
            f"{c['generated']['channel_class_kl']}; real: "
            f"{c['real_reference']['channel_class_kl']}."
        )
    lines += ["", f"Command: `{r['command']}`", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--data", required=True, help="MNIST-style npz (images uint8, labels)")
    p.add_argument("--judge", default="judges/mnist", help="judge folder (also the monitor's)")
    p.add_argument(
        "--second-judge",
        default="judges/mnist-strided",
        help="a judge of another kind that counts too ('' for none)",
    )
    p.add_argument("--steps", type=int, default=8000)
    p.add_argument("--decay-steps", type=int, default=3000)
    p.add_argument("--n", type=int, default=26_000, help="samples to count modes on")
    p.add_argument("--train-count", type=int, default=TRAIN_COUNT)
    p.add_argument("--name", default="stacked-mnist")
    p.add_argument("--runs", default="runs", help="the run folder's parent")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--monitor-every", type=int, default=1000)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "stacked_mnist"))
    args = p.parse_args(argv)

    cfg = config.build(
        {
            **RECIPE,
            "name": args.name,
            "data": f"stacked:{args.data}",
            "train_count": args.train_count,
            "steps": args.steps,
            "decay_steps": args.decay_steps,
            "threads": args.threads,
            "out_dir": args.runs,
            "progress": False,
            "log_every": max(1, args.steps // 40),
            "sample_every": 0,
            "checkpoint_every": max(1, args.steps // 10),
            "monitor_every": args.monitor_every,
            "monitor_judge": args.judge,
            "monitor_n": 5000,  # a perfect generator shows ~993 of the 1,000 modes in 5,000
        },
        args.set,
    )
    start = time.perf_counter()
    trainer_for(cfg).run()
    wall = time.perf_counter() - start
    model_dir = cfg.run_dir / "model"
    if cli.main(["export", str(cfg.run_dir), "--out", str(model_dir)]) != 0:
        return 1

    manifest = Manifest.load(model_dir)
    images = generate(model_dir, manifest, list(range(args.n)), None)
    save_png(grid(images[:64], 8), Path(args.out + ".png"))
    counts = [
        counted(j, images, Path(args.data), cfg.image_size, args.train_count)
        for j in filter(None, [args.judge, args.second_judge])
    ]
    monitor = [
        {k.removeprefix("monitor/"): v for k, v in json.loads(line).items()}
        for line in (cfg.run_dir / "metrics.jsonl").read_text().splitlines()
        if "monitor/modes" in line
    ]
    result = {
        "benchmark": "Stacked MNIST: modes (digit triples) of 1,000 and KL from uniform",
        "command": "python benchmarks/stacked_mnist.py "
        + " ".join(sys.argv[1:] if argv is None else argv),
        "data": f"stacked:{Path(args.data).name}[0:{args.train_count}], "
        f"fixed table of {TRIPLES:,} triples (training/stacked.py)",
        "samples": args.n,
        "recipe": cfg.to_dict(),
        "training": {"steps": cfg.steps, "wall_seconds": round(wall, 1)},
        "device": f"cpu ({platform.machine()}), {args.threads} torch threads",
        "judges": counts,  # the first is the monitor's
        "monitor": monitor,
        "published": [{"method": m, "source": s, "modes": n, "kl": k} for m, s, n, k in PUBLISHED],
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out + ".json").write_text(json.dumps(result, indent=2) + "\n")
    Path(args.out + ".md").write_text(markdown(result))
    print(markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
