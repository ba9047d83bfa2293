"""The `evaluate` and `judge` subcommands of `python -m training`."""

from __future__ import annotations

import argparse
import shlex
import sys


def add_commands(sub) -> None:
    """Register `evaluate` and `judge` on the training CLI's subparsers."""
    from training.evaluation import evaluate, photo_judge, train_judge

    ev = sub.add_parser(
        "evaluate",
        help="score an exported model folder with the judge; write metrics into model.json",
        description=evaluate.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    evaluate.add_arguments(ev)
    ev.set_defaults(handler=_evaluate)
    judge = sub.add_parser(
        "judge",
        help="train the MNIST judge (first 9,000 digits) and export it to ONNX",
        description=train_judge.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    train_judge.add_arguments(judge)
    judge.set_defaults(handler=_judge)
    photos = sub.add_parser(
        "judge-photos",
        help="train a two-domain photo judge (trainA vs trainB, validation held out), to ONNX",
        description=photo_judge.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    photo_judge.add_arguments(photos)
    photos.set_defaults(handler=_judge_photos)


def _evaluate(args: argparse.Namespace) -> int:
    from training.evaluation import evaluate

    try:
        return evaluate.run(args, command="python -m training " + shlex.join(sys.argv[1:]))
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _judge(args: argparse.Namespace) -> int:
    from training.evaluation import train_judge

    return train_judge.run(args)


def _judge_photos(args: argparse.Namespace) -> int:
    from training.evaluation import photo_judge

    return photo_judge.run(args, command="python -m training " + shlex.join(sys.argv[1:]))
