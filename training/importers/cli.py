"""`python -m training import {cyclegan,pix2pix,esrgan,onnx,stylegan}`: someone else's model
as a folder the service loads (see `python -m training import <source> --help`)."""

from __future__ import annotations

import argparse
import re
import shlex
import sys
from collections.abc import Callable
from pathlib import Path

from training.importers.unet import LEVELS

# The ESRGAN options are read from the checkpoint; one given must agree with it.
ESRGAN_OPTIONS: list[tuple[str, dict, str]] = [
    ("arch", {"choices": ["RRDBNet", "SRVGGNetCompact"]}, "the network (default: from keys)"),
    ("scale", {"type": int, "choices": [1, 2, 4]}, "output size / input size"),
    ("num_feat", {"type": int}, "feature channels (their num_feat)"),
    ("num_block", {"type": int}, "RRDBNet: RRDB blocks (their num_block)"),
    ("num_grow_ch", {"type": int}, "RRDBNet: growth channels (their num_grow_ch)"),
    ("num_conv", {"type": int}, "SRVGGNetCompact: body convolutions (their num_conv)"),
    (
        "act_type",
        {"choices": ["prelu", "relu", "leakyrelu"]},
        "SRVGGNetCompact: activation; needed only without PReLU weights (no body.1.weight)",
    ),
]


def _domains(text: str) -> tuple[str, str]:
    parts = tuple(p.strip() for p in text.split(","))
    if len(parts) != 2 or not all(parts):
        raise argparse.ArgumentTypeError(f"{text!r}: give two names, like horse,zebra")
    return parts  # type: ignore[return-value]


def guess_domains(path: Path) -> tuple[str, str]:
    """`horse2zebra.pth` or `horse2zebra_pretrained/latest_net_G.pth` -> (horse, zebra)."""
    for name in (path.stem, path.parent.name):
        found = re.search(r"([a-z]+)2([a-z]+)", name.lower())
        if found:
            return found.group(1), found.group(2)
    return "a", "b"


def _common(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--out", type=Path, required=True, help="models/<name>: the model folder")
    p.add_argument(
        "--domains",
        type=_domains,
        help="names of domains a and b, like horse,zebra (default: from a file name "
        "like horse2zebra, else a,b)",
    )
    p.add_argument("--photos-a", type=Path, help=f"a photo or a folder of {what}, for samples.png")
    p.add_argument("--photos-b", type=Path, help="the same for b2a, when there is one")


def _torch(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tolerance", type=float, default=1e-4, help="largest |onnxruntime - torch|")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset (>= 17)")


def add_commands(sub) -> None:
    """Register `import` and its sources on the training CLI's subparsers."""
    imp = sub.add_parser(
        "import",
        help="serve someone else's model: the CycleGAN/pix2pix authors' checkpoints, "
        "ESRGAN/Real-ESRGAN, NVIDIA's StyleGAN snapshots, any ONNX",
        description=__doc__,
    )
    sources = imp.add_subparsers(dest="source", required=True)
    cyc = sources.add_parser(
        "cyclegan",
        help="the CycleGAN authors' ResNet generator(s): one file = a2b, two = a2b and b2a",
        description=_doc("cyclegan"),
    )
    cyc.add_argument("files", type=Path, nargs="+", metavar="G.pth", help="G [G_B]")
    cyc.add_argument("--ngf", type=int, default=64, help="generator width (their --ngf)")
    cyc.add_argument("--n-blocks", type=int, default=9, help="9 (resnet_9blocks) or 6")
    cyc.add_argument("--dropout", action="store_true", help="trained without --no_dropout")
    _common(cyc, "domain a (without: no samples.png)")
    _torch(cyc)
    pix = sources.add_parser(
        "pix2pix", help="the pix2pix authors' U-Net generator (a2b)", description=_doc("pix2pix")
    )
    pix.add_argument("files", type=Path, nargs=1, metavar="G.pth")
    pix.add_argument("--netG", choices=sorted(LEVELS), default="unet_256", dest="net")
    pix.add_argument("--ngf", type=int, default=64, help="generator width (their --ngf)")
    pix.add_argument(
        "--eval-norm",
        action="store_true",
        help="BatchNorm with running statistics (checkpoints meant for their --eval)",
    )
    _common(pix, "inputs (without: no samples.png)")
    _torch(pix)
    esr = sources.add_parser(
        "esrgan",
        help="an ESRGAN / Real-ESRGAN checkpoint (RRDBNet x4/x2/x1, SRVGGNetCompact): "
        "super-resolution",
        description=_doc("esrgan"),
    )
    esr.add_argument("files", type=Path, nargs=1, metavar="CHECKPOINT.pth")
    esr.add_argument("--out", type=Path, required=True, help="models/<name>: the model folder")
    esr.add_argument("--photo", type=Path, help="a photo whose centre samples.png enlarges")
    for option, kind, what in ESRGAN_OPTIONS:
        esr.add_argument("--" + option.replace("_", "-"), dest=option, help=what, **kind)
    _torch(esr)
    esr.set_defaults(handler=_run_esrgan)
    onx = sources.add_parser(
        "onnx",
        help="an ONNX generator or translator exported elsewhere, served as is",
        description=_doc("onnx_file"),
    )
    onx.add_argument("files", type=Path, nargs="+", metavar="MODEL.onnx", help="a2b [b2a]")
    onx.add_argument("--classes", help="conditional generators: class names in label order")
    _common(onx, "domain a (translators)")
    for p in (cyc, pix, onx):
        p.set_defaults(handler=_run)
    sg = sources.add_parser(
        "stylegan",
        help="an NVIDIA StyleGAN2-ADA or StyleGAN3 snapshot (.pkl), read without running it",
        description=_doc("stylegan"),
    )
    sg.add_argument("files", type=Path, nargs=1, metavar="SNAPSHOT.pkl")
    sg.add_argument("--out", type=Path, required=True, help="models/<name>: the model folder")
    sg.add_argument(
        "--psi", type=float, default=1.0, help="truncation psi of requests naming none (1.0)"
    )
    sg.add_argument("--classes", help="conditional snapshots: class names in label order")
    sg.add_argument("--tolerance", type=float, default=1e-3, help="largest |onnxruntime - torch|")
    sg.add_argument("--opset", type=int, default=18, help="ONNX opset (>= 18)")
    sg.set_defaults(handler=_run_stylegan)


def _run_esrgan(args: argparse.Namespace) -> int:
    from training.importers import esrgan, low_res
    from training.importers.job import Job
    from training.importers.state_dict import CheckpointError

    job = Job(args.out, None, _command())
    job.tolerance, job.opset = args.tolerance, args.opset
    given = {option: getattr(args, option) for option, _, _ in ESRGAN_OPTIONS if option != "arch"}
    return _exit_code(
        lambda: esrgan.run(args.files[0], args.arch, given, args.photo, job),
        (CheckpointError, low_res.PhotoError, FileNotFoundError),
    )


def _doc(module: str) -> str:
    from importlib import import_module

    return import_module(f"training.importers.{module}").__doc__ or ""


def _run_stylegan(args: argparse.Namespace) -> int:
    from training.importers import stylegan
    from training.importers.job import Job
    from training.importers.state_dict import CheckpointError
    from training.importers.stylegan_pickle import SnapshotError

    job = Job(args.out, ("a", "b"), _command(), tolerance=args.tolerance, opset=args.opset)
    return _exit_code(
        lambda: stylegan.run(args.files[0], args.psi, _classes(args.classes), job),
        (SnapshotError, CheckpointError),
    )


def _run(args: argparse.Namespace) -> int:
    from training.importers import cyclegan, onnx_file, photos, pix2pix
    from training.importers.job import Job
    from training.importers.state_dict import CheckpointError

    domains = args.domains or guess_domains(args.files[0])

    def work() -> None:
        if len(args.files) > 2:
            raise CheckpointError("give one file (a2b) or two (a2b, b2a)")
        size = 2 ** LEVELS[args.net] if args.source == "pix2pix" else 256
        samples = {
            role: photos.load(path, size)
            for role, path in (("a2b", args.photos_a), ("b2a", args.photos_b))
            if path is not None
        }
        job = Job(args.out, domains, _command(), samples)
        if args.source == "cyclegan":
            job.tolerance, job.opset = args.tolerance, args.opset
            cyclegan.run(args.files, args.ngf, args.n_blocks, args.dropout, job)
        elif args.source == "pix2pix":
            job.tolerance, job.opset = args.tolerance, args.opset
            pix2pix.run(args.files[0], args.net, args.ngf, args.eval_norm, job)
        else:
            onnx_file.run(args.files, _classes(args.classes), job)

    return _exit_code(work, (CheckpointError, onnx_file.OnnxImportError, FileNotFoundError))


def _command() -> str:
    """The command line that made the model folder, for the record."""
    return "python -m training " + shlex.join(sys.argv[1:])


def _classes(text: str | None) -> list[str] | None:
    """`--classes a, b`: class names in label order; None when not given."""
    return [c.strip() for c in text.split(",")] if text else None


def _exit_code(work: Callable[[], object], refused: tuple[type[Exception], ...]) -> int:
    """0 when `work` ran; 2 when it refused its input (`refused`: a file or option it cannot
    take), 3 when the export failed its checks; the error on stderr."""
    from training.export import ExportError

    try:
        work()
    except refused as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ExportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    return 0
