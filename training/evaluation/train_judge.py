"""Train the MNIST judge on the first 9,000 digits, report its held-out accuracy, export to ONNX.

    python -m training.evaluation.train_judge --data ../shared/data/mnist/mnist10k.npz \
        --out judges/mnist

Writes `judge.onnx` (outputs `logits` and `features`) and `judge.json` (the card the metrics
cite). The accuracy reported is the ONNX file's own, on the 1,000 held-out digits it never saw.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from service.manifest import sha256_of
from training.evaluation.data import describe, load_split
from training.evaluation.judge import CARD_FILE, FEATURE_DIM, ONNX_FILE, Judge
from training.evaluation.strided_judge import StridedJudgeNet, deform
from training.revision import git_revision

CLASSES = [str(d) for d in range(10)]
ARCHITECTURES = {
    "vgg": "CNN 2x(conv3x3-BN-ReLU) blocks of 16, 32, 64 channels with 2x2 max pooling "
    "between, global average pool, Linear(64,128)+ReLU (features), Linear(128,10)",
    "strided": "conv5x5 1->16, conv5x5 stride 2 16->32, conv5x5 stride 2 32->64, each with "
    "GroupNorm(8) and GELU, flatten 64x7x7, Linear(3136,128)+GELU (features), Linear(128,10)",
}
AUGMENTATIONS = {
    "vgg": "random shift up to 2 pixels",
    "strided": "random affine (rotation +-15 deg, scale 0.85-1.15, shear +-0.15, shift +-2 px), "
    "elastic field (sigma 4 px, up to 2 px), stroke 3x3 dilation or erosion (p 0.25 each)",
}


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class JudgeNet(nn.Module):
    """A small VGG-style CNN: 28x28x1 -> 16 -> 32 -> 64 channels, global average pool, a
    128-unit penultimate layer (the features) and a linear classifier (the logits)."""

    def __init__(self, channels: tuple[int, int, int] = (16, 32, 64), num_classes: int = 10):
        super().__init__()
        c1, c2, c3 = channels
        self.body = nn.Sequential(
            _block(1, c1),
            nn.MaxPool2d(2),
            _block(c1, c2),
            nn.MaxPool2d(2),
            _block(c2, c3),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.penultimate = nn.Sequential(nn.Linear(c3, FEATURE_DIM), nn.ReLU(inplace=True))
        self.dropout = nn.Dropout(0.3)
        self.head = nn.Linear(FEATURE_DIM, num_classes)

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.penultimate(self.body(image))
        return self.head(self.dropout(features)), features


def export_onnx(net: nn.Module, path: Path, size: int = 28, channels: int = 1) -> None:
    """Single-file ONNX, opset 17, dynamic batch: `image` -> `logits`, `features`."""
    net.eval()
    example = torch.zeros(2, channels, size, size)
    torch.onnx.export(
        net,
        (example,),
        str(path),
        input_names=["image"],
        output_names=["logits", "features"],
        dynamic_axes={"image": {0: "N"}, "logits": {0: "N"}, "features": {0: "N"}},
        opset_version=17,
        dynamo=False,
    )


def _shift(x: torch.Tensor, gen: torch.Generator, max_shift: int = 2) -> torch.Tensor:
    """Random translation by up to `max_shift` pixels (pad with background, crop)."""
    n, c, h, w = x.shape
    m = max_shift
    padded = F.pad(x, (m, m, m, m), value=-1.0)
    dy = torch.randint(0, 2 * m + 1, (n,), generator=gen)
    dx = torch.randint(0, 2 * m + 1, (n,), generator=gen)
    rows = (dy[:, None] + torch.arange(h)[None, :])[:, None, :, None].expand(n, c, h, w + 2 * m)
    cols = (dx[:, None] + torch.arange(w)[None, :])[:, None, None, :].expand(n, c, h, w)
    return padded.gather(2, rows).gather(3, cols)


def train(
    train_x: np.ndarray,
    train_y: np.ndarray,
    epochs: int,
    batch_size: int,
    lr: float,
    seed: int,
    log=print,
    arch: str = "vgg",
) -> nn.Module:
    """`arch` vgg: JudgeNet with random shifts; strided: the second judge with deformations."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    net = JudgeNet() if arch == "vgg" else StridedJudgeNet()
    augment = _shift if arch == "vgg" else deform
    fit(net, train_x, train_y, epochs, batch_size, lr, gen, augment, log)
    return net


def fit(
    net: nn.Module,
    train_x: np.ndarray,
    train_y: np.ndarray,
    epochs: int,
    batch_size: int,
    lr: float,
    gen: torch.Generator,
    augment: Callable[[torch.Tensor, torch.Generator], torch.Tensor],
    log: Callable[[str], object],
    weight: torch.Tensor | None = None,
) -> nn.Module:
    """Every judge's recipe, in eval mode after: AdamW and a one-cycle LR, cross-entropy with
    label smoothing 0.05 (`weight` per class), batches of `augment`ed images in a seeded order."""
    x = torch.from_numpy(train_x)
    y = torch.from_numpy(train_y)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    steps_per_epoch = math.ceil(len(x) / batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=lr, total_steps=epochs * steps_per_epoch, pct_start=0.2
    )
    for epoch in range(epochs):
        net.train()
        order = torch.randperm(len(x), generator=gen)
        total, correct, loss_sum = 0, 0, 0.0
        for i in range(0, len(x), batch_size):
            idx = order[i : i + batch_size]
            xb = augment(x[idx], gen)
            logits, _ = net(xb)
            loss = F.cross_entropy(logits, y[idx], weight=weight, label_smoothing=0.05)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            loss_sum += loss.item() * len(idx)
            correct += int((logits.argmax(1) == y[idx]).sum())
            total += len(idx)
        log(
            f"epoch {epoch + 1}/{epochs}: loss {loss_sum / total:.4f}, "
            f"train acc {correct / total:.4f}"
        )
    return net.eval()


def _command() -> str:
    words = sys.argv[1:]
    if words and words[0] == "judge":
        return "python -m training " + " ".join(words)
    return "python -m training.evaluation.train_judge " + " ".join(words)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", required=True, help="mnist10k.npz")
    p.add_argument("--out", default="judges/mnist", help="judge folder to write")
    p.add_argument(
        "--arch",
        choices=ARCHITECTURES,
        default="vgg",
        help="vgg: the project's first judge (shifts); strided: the second (training/"
        "evaluation/strided_judge.py: affine, elastic and stroke-width deformations)",
    )
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    add_arguments(p)
    return run(p.parse_args(argv))


def run(args: argparse.Namespace) -> int:
    torch.set_num_threads(args.threads)
    train_x, train_y = load_split(args.data, "train")
    held_x, held_y = load_split(args.data, "heldout")
    start = time.perf_counter()
    arch = getattr(args, "arch", "vgg")
    net = train(train_x, train_y, args.epochs, args.batch_size, args.lr, args.seed, arch=arch)
    wall = time.perf_counter() - start

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    onnx_path = out / ONNX_FILE
    export_onnx(net, onnx_path)
    with torch.no_grad():
        torch_acc = float((net(torch.from_numpy(held_x))[0].argmax(1).numpy() == held_y).mean())

    card = {
        "name": "mnist-judge" if arch == "vgg" else "mnist-strided-judge",
        "classes": CLASSES,
        "input": {"name": "image", "shape": [None, 1, 28, 28], "range": [-1.0, 1.0]},
        "outputs": {"logits": [None, len(CLASSES)], "features": [None, FEATURE_DIM]},
        "architecture": ARCHITECTURES[arch],
        "parameters": sum(p.numel() for p in net.parameters()),
        "data": {
            "train": describe(args.data, "train"),
            "heldout": describe(args.data, "heldout"),
            "source": "MNIST (LeCun, Cortes, Burges) via ../shared/data/mnist/mnist10k.npz",
        },
        "training": {
            "epochs": args.epochs,
            "batch_size": args.batch_size,
            "optimizer": f"AdamW lr {args.lr} one-cycle, weight decay 1e-4",
            "loss": "cross-entropy, label smoothing 0.05",
            "augmentation": AUGMENTATIONS[arch],
            "seed": args.seed,
            "wall_seconds": round(wall, 1),
            "device": f"cpu ({platform.processor() or platform.machine()}, {args.threads} threads)",
            "torch": torch.__version__,
            "code_revision": git_revision(),
            "command": _command(),
        },
        "sha256": sha256_of(onnx_path),
    }
    (out / CARD_FILE).write_text(json.dumps(card, indent=2) + "\n")

    judge = Judge.load(out)
    logits, _ = judge.run(held_x)
    pred = logits.argmax(1)
    acc = float((pred == held_y).mean())
    per_class = {
        CLASSES[c]: round(float((pred[held_y == c] == c).mean()), 4) for c in range(len(CLASSES))
    }
    card["heldout_accuracy"] = round(acc, 4)
    card["heldout_accuracy_per_class"] = per_class
    card["heldout_errors"] = int((pred != held_y).sum())
    card["torch_heldout_accuracy"] = round(torch_acc, 4)
    (out / CARD_FILE).write_text(json.dumps(card, indent=2) + "\n")
    print(f"held-out accuracy (ONNX, {len(held_y)} digits): {acc:.4f}; wall {wall:.0f} s")
    print(f"wrote {onnx_path} ({onnx_path.stat().st_size} bytes) and {out / CARD_FILE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
