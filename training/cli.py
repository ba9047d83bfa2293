"""`python -m training {train,resume,export,evaluate,import,...}`: see --help of each."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from training import checkpoint, config
from training.config import FAMILIES, ConfigError

# What a resumed run may change: its length and learning-rate decay (to extend a run across
# sessions), and how it reports. Everything else would make the checkpoint a different run.
RESUMABLE = (
    "steps",
    "decay_steps",
    "progress",
    "log_every",
    "sample_every",
    "checkpoint_every",
    "threads",
    "max_seconds",
    "preload",
)


def _add_overrides(parser: argparse.ArgumentParser, help: str) -> None:
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help=help
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m training", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser(
        "train",
        help="start a run",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Train one model family; the run folder is OUT_DIR/NAME.",
        epilog="options for --set key=value (also the keys of a config file):\n"
        + config.describe_options(),
    )
    train.add_argument("family", choices=FAMILIES)
    train.add_argument("--config", type=Path, help="JSON file of options (training/configs/)")
    _add_overrides(train, "override one option (repeatable)")
    resume = sub.add_parser(
        "resume",
        help="continue a run from its last checkpoint",
        description="Continue exactly where the checkpoint stopped (weights, EMA, optimisers, "
        "schedulers, image pools, RNG states, data position).",
    )
    resume.add_argument("checkpoint", help="run folder or checkpoint file")
    _add_overrides(resume, f"change one of {', '.join(RESUMABLE)}")
    export = sub.add_parser(
        "export",
        help="write an ONNX model folder the service loads",
        description="Write ONNX, model.json, samples.png and README.md; fail if ONNX Runtime "
        "and PyTorch disagree by more than --tolerance.",
    )
    export.add_argument("checkpoint", help="run folder or checkpoint file")
    export.add_argument("--out", type=Path, required=True, help="models/<name>")
    export.add_argument("--name", help="model name (default: the folder name)")
    export.add_argument("--version", default="0.1.0", help="model version")
    export.add_argument("--description", default="", help="one line for model.json")
    export.add_argument(
        "--tolerance", type=float, default=1e-4, help="largest allowed |onnxruntime - torch|"
    )
    export.add_argument("--opset", type=int, default=17, help="ONNX opset (>= 17)")
    from training.evaluation.cli import add_commands  # evaluate, judge, judge-photos
    from training.importers import cli as importers

    add_commands(sub)
    importers.add_commands(sub)
    return parser


def train(family: str, config_file: Path | None, overrides: list[str]) -> Path:
    from training.loops import trainer_for

    cfg = (
        config.load(config_file, overrides, family)
        if config_file
        else config.build({"family": family}, overrides)
    )
    trainer = trainer_for(cfg)
    trainer.extra["command"] = "python -m training " + shlex.join(sys.argv[1:])
    return _run(trainer)


def resume(path: str, overrides: list[str]) -> Path:
    from training.loops import trainer_for

    for item in overrides:
        if item.partition("=")[0] not in RESUMABLE:
            raise ConfigError(f"--set {item!r}: a resumed run may only change {RESUMABLE}")
    state = checkpoint.load(checkpoint.find(path))
    cfg = config.build(state["config"], overrides)
    trainer = trainer_for(cfg, state)
    # every run of a model goes into its provenance: where it resumed, and how
    trainer.extra["resumes"] = [
        *trainer.extra.get("resumes", []),
        {
            "from_step": state["step"],
            "command": "python -m training " + shlex.join(sys.argv[1:]),
        },
    ]
    return _run(trainer)


def _run(trainer) -> Path:
    from training import distributed

    try:
        path = trainer.run()
    finally:
        distributed.teardown()
    if trainer.world.main:
        print(f"checkpoint: {path}")
    return path


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if hasattr(args, "handler"):  # evaluate, judge, import
        return args.handler(args)
    from training.export import ExportError
    from training.loops.base import NonFiniteLoss

    try:
        if args.command == "train":
            train(args.family, args.config, args.overrides)
        elif args.command == "resume":
            resume(args.checkpoint, args.overrides)
        else:
            from training.export import export

            export(
                args.checkpoint,
                args.out,
                args.name,
                args.tolerance,
                args.opset,
                args.version,
                args.description,
            )
    except (ConfigError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (NonFiniteLoss, ExportError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    return 0
