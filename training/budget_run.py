"""Train a recipe for a fixed wall-clock budget, export it, evaluate it, and leave the model
folder and the run's figures in one output folder: the command for a machine lent for minutes.

    python -m training.budget_run --config training/configs/cyclegan-horse2zebra-gpu.json \
        --data gpu-carry/horse2zebra --judge judges/horse2zebra --seconds 540 --out OUT

`--seconds` is the whole call: loading, the precision probe, training, export and evaluation.
`--reserve` of it is kept for the export (with its ONNX Runtime parity check) and the
evaluation. Once the probe (training/precision.py) has timed a training step, a new run gets
as many steps as fit in the time left (90 %, for checkpoints and samples), the learning rate
constant for the first half and linear to 0 over the second, and `max_seconds` stops it at
the budget whatever the estimate. The run folder (`out_dir`/`name`, under the git-ignored
runs/ by default) keeps its checkpoint between calls: a second call resumes it, to its
planned steps if the first was cut short, or else for a further budget with the learning rate
back at its start and decaying to 0 again (a warm restart). OUT gets `model/` (the exported
folder, evaluated: a2b.onnx, b2a.onnx, model.json, README.md, samples.png, gallery.png) and
`metrics.jsonl` (the training curve); the shell wrapper adds the log.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import shutil
import sys
import time
from pathlib import Path

from training import checkpoint, config, precision
from training.cli import RESUMABLE

STEP_SHARE = 0.9  # of the training time, for steps; the rest for checkpoints and samples


def _trainer(args: argparse.Namespace, command: str):
    """A new run from the config, or the run folder's checkpoint resumed."""
    from training.loops import trainer_for

    cfg = config.load(args.config, [f"data={args.data}", *args.overrides])
    ckpt = cfg.run_dir / "checkpoints" / checkpoint.LAST
    if not ckpt.is_file():
        trainer = trainer_for(cfg)
        trainer.extra["command"] = command
        return trainer, False
    state = checkpoint.load(ckpt)
    keep = [o for o in args.overrides if o.partition("=")[0] in RESUMABLE]
    trainer = trainer_for(config.build(state["config"], keep), state)
    trainer.extra["resumes"] = [
        *trainer.extra.get("resumes", []),
        {"from_step": state["step"], "command": command},
    ]
    return trainer, True


def plan(trainer, resumed: bool, seconds_left: float) -> dict:
    """Fit the steps to the time left; set max_seconds; return the plan for the record."""
    cfg = trainer.cfg
    step_seconds = trainer.extra["precision"].get("step_seconds") or precision.step_seconds(trainer)
    planned = max(1, int(STEP_SHARE * seconds_left / step_seconds))
    if not resumed:
        cfg.steps, cfg.decay_steps = planned, planned // 2
    elif trainer.step >= cfg.steps:  # finished: a warm restart over the new steps
        cfg.steps, cfg.decay_steps = trainer.step + planned, planned
    cfg.max_seconds = max(1.0, seconds_left)
    return {
        "training_seconds": round(seconds_left, 1),
        "step_seconds": step_seconds,
        "from_step": trainer.step,
        "steps": cfg.steps,
        "decay_steps": cfg.decay_steps,
    }


def _versions() -> str:
    """What the machine runs, for the log (a GPU machine's Python is not this checkout's)."""
    import onnxruntime
    import torch

    return (
        f"python {platform.python_version()}, torch {torch.__version__} (cuda "
        f"{torch.cuda.is_available()}), onnxruntime {onnxruntime.__version__}"
    )


def collect(run_dir: Path, out: Path) -> list[Path]:
    """The training curve beside the exported model; every file OUT now holds."""
    shutil.copyfile(run_dir / "metrics.jsonl", out / "metrics.jsonl")
    return sorted(p for p in out.rglob("*") if p.is_file())


def main(argv: list[str] | None = None) -> int:
    began = time.perf_counter()
    p = argparse.ArgumentParser(
        prog="python -m training.budget_run",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--config", type=Path, required=True, help="a recipe (training/configs/)")
    p.add_argument("--data", required=True, help="root with trainA/ and trainB/")
    p.add_argument("--judge", required=True, help="photo judge folder for the evaluation")
    p.add_argument("--out", type=Path, required=True, help="folder for the model and figures")
    p.add_argument("--seconds", type=float, required=True, help="the whole call's budget")
    p.add_argument("--reserve", type=float, default=150.0, help="seconds kept for export/eval")
    p.add_argument(
        "--eval-threads", type=int, default=os.cpu_count() or 2, help="ONNX Runtime threads"
    )
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    args = p.parse_args(argv)
    command = "python -m training.budget_run " + shlex.join(sys.argv[1:] if argv is None else argv)
    from training import cli

    print(_versions(), flush=True)
    trainer, resumed = _trainer(args, command)
    left = args.seconds - args.reserve - (time.perf_counter() - began)
    trainer.extra["budget"] = plan(trainer, resumed, left)
    print(f"precision: {trainer.extra['precision']}", flush=True)
    print(f"budget: {trainer.extra['budget']}", flush=True)
    ckpt = trainer.run()
    trained = time.perf_counter() - began
    model = args.out / "model"
    if cli.main(["export", str(ckpt), "--out", str(model)]) != 0:
        return 3
    words = ["evaluate", str(model), "--data", args.data, "--judge", args.judge]
    if cli.main([*words, "--threads", str(args.eval_threads)]) != 0:
        return 2
    files = collect(trainer.run_dir, args.out)
    print(
        f"step {trainer.step}; training done at {trained:.0f} s, all done at "
        f"{time.perf_counter() - began:.0f} s of {args.seconds:.0f}; in {args.out}: "
        + ", ".join(str(f.relative_to(args.out)) for f in files),
        flush=True,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
