"""The `evaluate`, `judge` and `judge-photos` subcommands of `python -m training`.

    python -m training evaluate models/dcgan-mnist --data ../shared/data/mnist/mnist10k.npz
    python -m training evaluate models/cyclegan-horse2zebra --data ../shared/data/horse2zebra
    python -m training.evaluation MODEL_DIR --data PATH        (the same, standalone)

`evaluate` picks the evaluation by the folder's kind (generators: `evaluate`, translation:
`translation`), prints its table, and writes the figures into model.json `metrics` and the
model card.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from service.manifest import MANIFEST_FILE, Manifest
from training.evaluation.data import TRAIN_COUNT
from training.model_folder import CARD_FILE, evaluation_section, write_card, write_metrics


def add_commands(sub) -> None:
    """Register `evaluate`, `judge` and `judge-photos` on the training CLI's subparsers."""
    from training.evaluation import photo_judge, train_judge

    commands = [
        (
            "evaluate",
            "score an exported model folder with the judge; write metrics into model.json",
            sys.modules[__name__],
            _evaluate,
        ),
        (
            "judge",
            "train the MNIST judge (first 9,000 digits) and export it to ONNX",
            train_judge,
            _judge,
        ),
        (
            "judge-photos",
            "train a two-domain photo judge (trainA vs trainB, validation held out), to ONNX",
            photo_judge,
            _judge_photos,
        ),
    ]
    for name, help_text, module, handler in commands:
        p = sub.add_parser(
            name,
            help=help_text,
            description=module.__doc__,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.add_arguments(p)
        p.set_defaults(handler=handler)


def add_arguments(p: argparse.ArgumentParser) -> None:
    from training.evaluation import evaluate, translation

    p.add_argument("model_dir", help="an exported model folder (model.json + ONNX)")
    p.add_argument(
        "--data",
        required=True,
        help="mnist10k.npz (first 9,000 train, rest held out), or for a translation model the "
        "root with trainA/ and trainB/",
    )
    p.add_argument(
        "--judge",
        default=None,
        help=f"judge folder (judge.onnx + judge.json); default {evaluate.DEFAULT_JUDGE}, or "
        f"{translation.DEFAULT_JUDGE} for translation models",
    )
    p.add_argument(
        "--second-judge",
        default=None,
        help="generators: a second judge folder; every figure by both, the worse first "
        "(model.json metrics.second_judge)",
    )
    p.add_argument("--n", type=int, default=5000, help="generated samples (seeds 0..n-1)")
    p.add_argument("--k", type=int, default=3, help="k of the k-NN manifolds")
    p.add_argument(
        "--holdout",
        default=None,
        help="translation: held-out photos NA,NB (default: the model's training config)",
    )
    p.add_argument(
        "--threads", type=int, default=2, help="translation: ONNX Runtime threads per generator"
    )
    p.add_argument("--train-count", type=int, default=TRAIN_COUNT, help=argparse.SUPPRESS)
    p.add_argument(
        "--no-write", action="store_true", help="print only; leave model.json and README.md alone"
    )


def run(args: argparse.Namespace, command: str | None = None) -> int:
    """Evaluate the folder by its kind; print the table; write metrics and the card."""
    from training.evaluation import evaluate, translation

    folder = Path(args.model_dir)
    manifest = Manifest.load(folder)
    gallery = None
    if manifest.kind == "translation":
        if manifest.roles() != ("a2b", "b2a"):
            raise ValueError(
                f"{manifest.name} has only {', '.join(manifest.roles())}: translation "
                "evaluation (judged translations and cycle L1) needs both directions"
            )
        holdout = tuple(int(n) for n in args.holdout.split(",")) if args.holdout else None
        judge = args.judge or translation.DEFAULT_JUDGE
        result = translation.evaluate(folder, args.data, judge, holdout, command, args.threads)
        table = translation.format_table(manifest.name, manifest, result)
        gallery = translation.GALLERY_FILE
    else:
        judges = [args.judge or evaluate.DEFAULT_JUDGE, *filter(None, [args.second_judge])]
        result, *others = (
            evaluate.evaluate(
                folder,
                args.data,
                j,
                n=args.n,
                k=args.k,
                train_count=args.train_count,
                command=command,
            )
            for j in judges
        )
        table = evaluate.format_table(manifest.name, manifest.kind, result)
        if others:  # every figure by both judges, the worse first
            print(table + "\n")
            table = evaluate.format_two(manifest.name, manifest.kind, result, others[0])
            result["second_judge"] = others[0]
    print(table)
    if not args.no_write:
        write_metrics(folder, result)
        write_card(folder, evaluation=evaluation_section(result["evaluation"], table, gallery))
        print(f"\nwrote metrics into {folder / MANIFEST_FILE} and {folder / CARD_FILE}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """`python -m training.evaluation MODEL_DIR --data PATH`."""
    p = argparse.ArgumentParser(prog="python -m training evaluate", description=__doc__)
    add_arguments(p)
    args = p.parse_args(argv)
    words = sys.argv[1:] if argv is None else argv
    return run(args, command="python -m training evaluate " + " ".join(words))


def _evaluate(args: argparse.Namespace) -> int:
    try:
        return run(args, command="python -m training " + shlex.join(sys.argv[1:]))
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _judge(args: argparse.Namespace) -> int:
    from training.evaluation import train_judge

    return train_judge.run(args)


def _judge_photos(args: argparse.Namespace) -> int:
    from training.evaluation import photo_judge

    return photo_judge.run(args, command="python -m training " + shlex.join(sys.argv[1:]))
