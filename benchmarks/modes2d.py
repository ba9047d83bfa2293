"""The 2D mode-collapse benchmark, as PacGAN (Lin et al. 2018) defines it, through `training`.

    python benchmarks/modes2d.py                      # 2 datasets x 6 objectives x 5 seeds
    python benchmarks/modes2d.py --seeds 1 --objectives ns   # a quick look

Every run is `python -m training train toy2d` with the dataset's recipe config
(training/configs/toy2d-ring-48k.json, toy2d-grid-24k.json: non-saturating GAN, R1 scaled to
the data, linear LR decay over the second half) and the objective's `--set` overrides below;
the benchmark only runs them and tabulates what the training package's mode monitor logs at
the last step: 2,500 samples (seeds 0..2499, drawn as the service draws them) scored with
`training.evaluation.metrics.mode_metrics`: a sample is high quality within 3 standard
deviations of its nearest mode, a mode is captured with at least one high-quality sample, and
the reverse KL is KL(q || uniform) of the high-quality samples' mode histogram.

Every run is short (seconds to minutes of one CPU thread) where the papers train for
400 epochs of 100,000 points at batch 100, i.e. 400,000 generator steps. Writes
benchmarks/results/modes2d.json (every run) and modes2d.md (the table beside the published
figures).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

CONFIGS = {
    "ring": ROOT / "training" / "configs" / "toy2d-ring-48k.json",
    "grid": ROOT / "training" / "configs" / "toy2d-grid-24k.json",
}

_PLAIN = ["r1_gamma=0", "decay_steps=0"]
# Overrides of the dataset's recipe config, as `--set` takes them. The first three objectives
# get roughly the same CPU time; the R1 recipe is then given four and eight times the steps.
OBJECTIVES: dict[str, list[str]] = {
    "ns": [*_PLAIN, "steps=6000"],
    "wgan-gp": [
        *_PLAIN,
        "loss=wgan-gp",
        "gp_weight=10",
        "d_steps=5",
        "lr=2e-4",
        "beta1=0",
        "beta2=0.9",
        "steps=1200",
    ],
    "hinge-sn": [*_PLAIN, "loss=hinge", "spectral_norm=true", "lr=2e-4", "steps=6000"],
    "ns-r1": ["steps=6000", "decay_steps=3000"],
    "ns-r1-24k": ["steps=24000", "decay_steps=12000"],
    "ns-r1-48k": ["steps=48000", "decay_steps=24000"],
}
BEST = "ns-r1-24k"
SAMPLES = 2500

PUBLISHED = [
    # (method, source, ring modes, ring HQ %, ring rev KL, grid modes, grid HQ %, grid rev KL,
    #  generator steps)
    ("GAN", "PacGAN's runs", 6.3, 98.2, None, 17.3, 94.8, None, "400,000"),
    ("PacGAN2", "PacGAN", 7.9, 95.6, None, None, None, None, "400,000"),
    ("PacGAN4", "PacGAN", None, None, None, 24.8, 93.6, 0.04, "400,000"),
    ("VEEGAN", "VEEGAN", 8.0, 52.9, None, 24.6, 40.0, None, "—"),
]


def overrides(dataset: str, objective: str, seed: int, steps: int = 0) -> list[str]:
    """The `--set` list of one run: its objective, seed, and the monitor at the last step;
    `steps` shortens the run (and its decay, if it has one) for a quick look."""
    from training import config

    sets = [*OBJECTIVES[objective], f"seed={seed}"]
    base = config.load(CONFIGS[dataset], sets, family="toy2d")
    if steps:
        sets += [f"steps={steps}", f"decay_steps={steps // 2 if base.decay_steps else 0}"]
    return [*sets, f"monitor_every={steps or base.steps}", f"monitor_n={SAMPLES}"]


def train_and_score(dataset: str, objective: str, seed: int, steps: int = 0) -> dict:
    """One run through the training package; the figures its monitor logs at the last step."""
    from training import config
    from training.data import mixture_means
    from training.loops import trainer_for

    sets = overrides(dataset, objective, seed, steps)
    with tempfile.TemporaryDirectory() as tmp:
        quiet = [f"out_dir={tmp}", "progress=false", "sample_every=0"]
        cfg = config.load(CONFIGS[dataset], [*sets, *quiet], family="toy2d")
        trainer = trainer_for(cfg)
        trainer.run()
        lines = (cfg.run_dir / "metrics.jsonl").read_text().splitlines()
    last = [json.loads(line) for line in lines if '"monitor/' in line][-1]
    return {
        "dataset": dataset,
        "objective": objective,
        "seed": seed,
        "steps": cfg.steps,
        "discriminator_steps": cfg.steps * cfg.d_steps,
        "command": f"python -m training train toy2d --config "
        f"{CONFIGS[dataset].relative_to(ROOT)} " + " ".join(f"--set {s}" for s in sets),
        "wall_seconds": round(trainer.elapsed, 2),
        "modes": last["monitor/modes"],
        "num_modes": len(mixture_means(dataset)[0]),
        "high_quality": last["monitor/high_quality"],
        "reverse_kl": last["monitor/reverse_kl"],
    }


def _summary(runs: list[dict]) -> dict:
    modes = [r["modes"] for r in runs]
    hq = [100 * r["high_quality"] for r in runs]
    kl = [r["reverse_kl"] for r in runs]

    def ms(v: list[float]) -> dict:
        finite = [x for x in v if math.isfinite(x)]
        return {
            "mean": statistics.fmean(finite) if len(finite) == len(v) else math.inf,
            "sd": statistics.stdev(finite) if len(finite) == len(v) and len(v) > 1 else 0.0,
            "min": min(v),
            "max": max(v),
        }

    return {
        "modes": ms(modes),
        "high_quality_pct": ms(hq),
        "reverse_kl": ms(kl),
        "seeds": len(runs),
        "wall_seconds_mean": statistics.fmean(r["wall_seconds"] for r in runs),
    }


def _fmt(s: dict, digits: int) -> str:
    if not math.isfinite(s["mean"]):
        return "inf (a seed had no high-quality sample)"
    return f"{s['mean']:.{digits}f} ± {s['sd']:.{digits}f}"


def _pub(x: float | None, digits: int = 1) -> str:
    return "—" if x is None else f"{x:.{digits}f}"


def markdown(result: dict) -> str:
    summ = result["summary"]
    lines = [
        "| method | ring: modes (of 8) | ring: high quality % | ring: reverse KL "
        "| grid: modes (of 25) | grid: high quality % | grid: reverse KL | generator steps |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for method, source, rm, rh, rk, gm, gh, gk, steps in PUBLISHED:
        lines.append(
            f"| {method} ({source}, published) | {_pub(rm)} | {_pub(rh)} | {_pub(rk, 2)} "
            f"| {_pub(gm)} | {_pub(gh)} | {_pub(gk, 2)} | {steps} |"
        )
    for name in result["objectives"]:
        ring, grid = summ.get(f"ring/{name}"), summ.get(f"grid/{name}")
        cells = []
        for s in (ring, grid):
            if s is None:
                cells += ["—"] * 3
                continue
            cells += [
                f"{_fmt(s['modes'], 1)} (min {s['modes']['min']})",
                f"{_fmt(s['high_quality_pct'], 1)} (min {s['high_quality_pct']['min']:.1f})",
                f"{_fmt(s['reverse_kl'], 3)} (max {s['reverse_kl']['max']:.3f})",
            ]
        steps = result["steps"][name]
        label = f"**{name}** (this project, measured)" + (" — best recipe" if name == BEST else "")
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {steps:,} |")
    return "\n".join(lines)


def per_seed_markdown(result: dict) -> str:
    lines = [
        "| dataset | objective | seed | modes | high quality % | reverse KL | wall s |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in result["runs"]:
        lines.append(
            f"| {r['dataset']} | {r['objective']} | {r['seed']} | {r['modes']}/{r['num_modes']} "
            f"| {100 * r['high_quality']:.1f} | {r['reverse_kl']:.3f} | {r['wall_seconds']:.1f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--objectives", nargs="+", default=list(OBJECTIVES), choices=list(OBJECTIVES))
    p.add_argument("--datasets", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    p.add_argument("--steps", type=int, default=0, help="every run this many steps (0: its own)")
    p.add_argument("--workers", type=int, default=2, help="parallel runs (one thread each)")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "modes2d"))
    args = p.parse_args(argv)

    jobs = [
        (d, o, s, args.steps)
        for d in args.datasets
        for o in args.objectives
        for s in range(args.seeds)
    ]
    start = time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        futures = [pool.submit(train_and_score, *job) for job in jobs]
        runs = []
        for f in futures:
            r = f.result()
            runs.append(r)
            print(
                f"{r['dataset']:4} {r['objective']:8} seed {r['seed']}: "
                f"{r['modes']:2}/{r['num_modes']} modes, "
                f"{100 * r['high_quality']:5.1f} % high quality, "
                f"reverse KL {r['reverse_kl']:.3f} ({r['wall_seconds']:.0f} s)",
                flush=True,
            )
    wall = time.perf_counter() - start
    summary = {
        f"{d}/{o}": _summary([r for r in runs if r["dataset"] == d and r["objective"] == o])
        for d in args.datasets
        for o in args.objectives
    }
    result = {
        "benchmark": "PacGAN 2D mode collapse (ring of 8, std 0.01; grid of 25, std 0.05)",
        "samples": SAMPLES,
        "high_quality_within_std": 3,
        "command": "python benchmarks/modes2d.py "
        + " ".join(sys.argv[1:] if argv is None else argv),
        "objectives": args.objectives,
        "configs": {d: str(CONFIGS[d].relative_to(ROOT)) for d in args.datasets},
        "overrides": {o: OBJECTIVES[o] for o in args.objectives},
        "steps": {
            o: next(r["steps"] for r in runs if r["objective"] == o) for o in args.objectives
        },
        "architecture": "G: MLP z(2) -> 3x128 ReLU -> 2; D: MLP 2 -> 3x128 LeakyReLU(0.2) -> 1 "
        "(spectral norm on every D layer for hinge-sn)",
        "device": f"cpu ({platform.machine()}), one thread per run, {args.workers} runs at a time",
        "torch_threads_per_run": 1,
        "wall_seconds_total": round(wall, 1),
        "cpu_count": os.cpu_count(),
        "summary": summary,
        "runs": runs,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    md = [
        "# 2D mode-collapse benchmark (PacGAN protocol), measured",
        "",
        f"Command: `{result['command']}`; {len(runs)} runs, {wall:.0f} s wall in all "
        f"({result['device']}). Mean ± sd over {args.seeds} seeds (min / max in brackets); "
        f"{SAMPLES} samples per run; published rows are the papers' figures.",
        "",
        markdown(result),
        "",
        "## Every run",
        "",
        per_seed_markdown(result),
        "",
    ]
    out.with_suffix(".md").write_text("\n".join(md))
    print("\n" + markdown(result))
    print(f"\nwrote {out.with_suffix('.json')} and {out.with_suffix('.md')} ({wall:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
