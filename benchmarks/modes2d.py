"""The 2D mode-collapse benchmark, as PacGAN (Lin et al. 2018) defines it.

    python benchmarks/modes2d.py                      # 2 datasets x 4 objectives x 5 seeds
    python benchmarks/modes2d.py --seeds 1 --objectives ns   # a quick look

Data: ring of 8 (means on the unit circle, std 0.01) and grid of 25 (means {-4,-2,0,2,4}^2,
std 0.05), fresh samples every batch. After training, 2,500 samples from z ~ N(0, I) are
scored with `training.evaluation.metrics.mode_metrics`: a sample is high quality within 3
standard deviations of its nearest mode, a mode is captured with at least one high-quality
sample, and the reverse KL is KL(q || uniform) of the high-quality samples' mode histogram.

Every run is short (seconds of one CPU thread; `STEPS` below) where the papers train for
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
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from training.evaluation.metrics import grid_modes, mode_metrics, ring_modes  # noqa: E402

DATASETS = {
    "ring": {"means": ring_modes(), "std": 0.01},
    "grid": {"means": grid_modes(), "std": 0.05},
}
SAMPLES = 2500


@dataclass(frozen=True)
class Recipe:
    loss: str  # ns | wgan-gp | hinge
    steps: int  # generator steps
    lr: float = 1e-3
    betas: tuple[float, float] = (0.5, 0.999)
    n_dis: int = 1  # discriminator steps per generator step
    spectral_norm: bool = False
    gp: float = 0.0  # WGAN-GP weight (interpolates, target norm 1)
    r1: float = 0.0  # R1 weight (gradient norm on real data, Mescheder et al. 2018)
    r1_per_std2: float = 0.0  # R1 weight scaled to the data: gamma = r1_per_std2 * std^2
    decay_from: float = 1.0  # learning rates fall linearly to 0 after this share of steps
    batch: int = 128
    hidden: int = 128
    depth: int = 3
    z_dim: int = 2


# The objectives, each given roughly the same CPU time (about 15-20 s of one thread), except
# the last, which is the best recipe given four times as many steps.
RECIPES: dict[str, Recipe] = {
    "ns": Recipe("ns", steps=6000),
    "wgan-gp": Recipe("wgan-gp", steps=1200, lr=2e-4, betas=(0.0, 0.9), n_dis=5, gp=10.0),
    "hinge-sn": Recipe("hinge", steps=6000, lr=2e-4, spectral_norm=True),
    # best found: non-saturating + R1 scaled to the data (gamma = 40 std^2: 0.1 on the grid,
    # 0.004 on the ring) + learning rates decaying linearly to 0 over the second half
    "ns-r1": Recipe("ns", steps=6000, r1_per_std2=40.0, decay_from=0.5),
    # the same with four times the steps (about 70 s a run)
    "ns-r1-24k": Recipe("ns", steps=24000, r1_per_std2=40.0, decay_from=0.5),
    # and eight times (about 150 s a run), for the ring's 98 % high-quality target
    "ns-r1-48k": Recipe("ns", steps=48000, r1_per_std2=40.0, decay_from=0.5),
}
BEST = "ns-r1-24k"

PUBLISHED = [
    # (method, source, ring modes, ring HQ %, ring rev KL, grid modes, grid HQ %, grid rev KL,
    #  generator steps)
    ("GAN", "PacGAN's runs", 6.3, 98.2, None, 17.3, 94.8, None, "400,000"),
    ("PacGAN2", "PacGAN", 7.9, 95.6, None, None, None, None, "400,000"),
    ("PacGAN4", "PacGAN", None, None, None, 24.8, 93.6, 0.04, "400,000"),
    ("VEEGAN", "VEEGAN", 8.0, 52.9, None, 24.6, 40.0, None, "—"),
]


def _mlp(inp: int, out: int, hidden: int, depth: int, sn: bool, leaky: bool):
    from torch import nn
    from torch.nn.utils import spectral_norm

    layers: list[nn.Module] = []
    d = inp
    for _ in range(depth):
        lin = nn.Linear(d, hidden)
        layers += [spectral_norm(lin) if sn else lin, nn.LeakyReLU(0.2) if leaky else nn.ReLU()]
        d = hidden
    lin = nn.Linear(d, out)
    layers.append(spectral_norm(lin) if sn else lin)
    return nn.Sequential(*layers)


def train_and_score(dataset: str, name: str, recipe: Recipe, seed: int) -> dict:
    """One run: train the recipe on the dataset with this seed, score 2,500 samples."""
    import torch
    from torch.nn import functional as F

    torch.set_num_threads(1)
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    spec = DATASETS[dataset]
    means = torch.tensor(spec["means"], dtype=torch.float32)
    std = float(spec["std"])

    def real_batch(n: int) -> torch.Tensor:
        idx = torch.randint(0, len(means), (n,), generator=gen)
        return means[idx] + std * torch.randn(n, 2, generator=gen)

    G = _mlp(recipe.z_dim, 2, recipe.hidden, recipe.depth, sn=False, leaky=False)
    D = _mlp(2, 1, recipe.hidden, recipe.depth, sn=recipe.spectral_norm, leaky=True)
    opt_g = torch.optim.Adam(G.parameters(), lr=recipe.lr, betas=recipe.betas)
    opt_d = torch.optim.Adam(D.parameters(), lr=recipe.lr, betas=recipe.betas)
    bs = recipe.batch
    r1 = recipe.r1 + recipe.r1_per_std2 * std**2
    knee = int(recipe.decay_from * recipe.steps)

    def lr_factor(step: int) -> float:
        return 1.0 if step < knee else (recipe.steps - step) / max(recipe.steps - knee, 1)

    scheds = [torch.optim.lr_scheduler.LambdaLR(o, lr_factor) for o in (opt_g, opt_d)]
    start = time.perf_counter()
    for _ in range(recipe.steps):
        for _ in range(recipe.n_dis):
            real = real_batch(bs).requires_grad_(r1 > 0)
            with torch.no_grad():
                fake = G(torch.randn(bs, recipe.z_dim, generator=gen))
            d_real, d_fake = D(real), D(fake)
            if recipe.loss == "ns":
                loss = F.softplus(-d_real).mean() + F.softplus(d_fake).mean()
            elif recipe.loss == "hinge":
                loss = F.relu(1 - d_real).mean() + F.relu(1 + d_fake).mean()
            else:  # wgan-gp
                loss = d_fake.mean() - d_real.mean()
            if recipe.gp > 0:
                a = torch.rand(bs, 1, generator=gen)
                mix = (a * real.detach() + (1 - a) * fake).requires_grad_(True)
                (grad,) = torch.autograd.grad(D(mix).sum(), mix, create_graph=True)
                loss = loss + recipe.gp * ((grad.norm(dim=1) - 1) ** 2).mean()
            if r1 > 0:
                (grad,) = torch.autograd.grad(d_real.sum(), real, create_graph=True)
                loss = loss + r1 / 2 * grad.pow(2).sum(dim=1).mean()
            opt_d.zero_grad(set_to_none=True)
            loss.backward()
            opt_d.step()
        d_fake = D(G(torch.randn(bs, recipe.z_dim, generator=gen)))
        loss_g = F.softplus(-d_fake).mean() if recipe.loss == "ns" else -d_fake.mean()
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        for sched in scheds:
            sched.step()
    wall = time.perf_counter() - start
    with torch.no_grad():
        z = torch.randn(
            SAMPLES, recipe.z_dim, generator=torch.Generator().manual_seed(10**6 + seed)
        )
        samples = G(z).numpy()
    m = mode_metrics(samples, spec["means"], std)
    return {
        "dataset": dataset,
        "objective": name,
        "seed": seed,
        "steps": recipe.steps,
        "discriminator_steps": recipe.steps * recipe.n_dis,
        "wall_seconds": round(wall, 2),
        **m,
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
        steps = RECIPES[name].steps
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
    p.add_argument("--objectives", nargs="+", default=list(RECIPES), choices=list(RECIPES))
    p.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    p.add_argument("--workers", type=int, default=2, help="parallel runs (one thread each)")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "modes2d"))
    args = p.parse_args(argv)

    jobs = [
        (d, o, RECIPES[o], s)
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
        "recipes": {o: asdict(RECIPES[o]) for o in args.objectives},
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
