"""Train the horse-versus-zebra judge on the training photos only; report its accuracy on the
held-out validation photos; export it to ONNX.

    python -m training judge-photos --data ../shared/data/horse2zebra --out judges/horse2zebra \
        --holdout 66,134

Domain A (trainA, horses) is class 0 and domain B (trainB, zebras) class 1. The last
`holdout` photos of each folder in sorted order are the validation photos, the same split the
CycleGAN trains without (`holdout` in its config). Photos are resized to 128x128. The judge
folder has the MNIST judge's layout (judge.onnx with `logits` and `features`, judge.json), so
`training.evaluation.judge.Judge` loads either.

Colour is taken away as evidence (`training.evaluation.colour`): every training photo, horse or
zebra, gets a random hue, saturation, brightness and contrast, or is made grey, or gets the
colour cast of a translation model's a2b (`--cast-model`: an affine colour map fitted on
training horses and their translations), so a greenish-grey horse is still a horse and the
judge has to find stripes. The card reports its accuracy on the validation photos as they
are, in grey and with that cast.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from service.manifest import sha256_of
from training.data import open_rgb, split_files
from training.evaluation import colour
from training.evaluation.judge import CARD_FILE, FEATURE_DIM, ONNX_FILE, Judge
from training.evaluation.train_judge import (
    _block,
    _shift,
    export_onnx,
    fit,
)
from training.revision import git_revision

SIZE = 128


class PhotoJudgeNet(nn.Module):
    """A stride-2 stem (128 -> 64 px, 16 channels), then conv blocks of 32, 64 and 128 channels
    with 2x2 max pooling between, global average pool, a 128-unit feature layer and the head."""

    def __init__(self, num_classes: int = 2) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(3, 16, 3, 2, 1, bias=False),
            nn.BatchNorm2d(16),
            nn.ReLU(inplace=True),
            _block(16, 32),
            nn.MaxPool2d(2),
            _block(32, 64),
            nn.MaxPool2d(2),
            _block(64, 128),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.penultimate = nn.Sequential(nn.Linear(128, FEATURE_DIM), nn.ReLU(inplace=True))
        self.dropout = nn.Dropout(0.3)
        self.head = nn.Linear(FEATURE_DIM, num_classes)

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.penultimate(self.body(image))
        return self.head(self.dropout(features)), features


def to_judge_input(rgb: np.ndarray) -> np.ndarray:
    """uint8 [H, W, 3] photo -> float32 [3, SIZE, SIZE] in [-1, 1] (bicubic resize)."""
    image = Image.fromarray(rgb)
    if image.size != (SIZE, SIZE):
        image = image.resize((SIZE, SIZE), Image.Resampling.BICUBIC)
    return np.asarray(image).transpose(2, 0, 1).astype(np.float32) / 127.5 - 1.0


def load_photos(files: list[Path]) -> np.ndarray:
    return np.stack([to_judge_input(np.asarray(open_rgb(f))) for f in files])


def load_split(root: str | Path, holdout: tuple[int, int]) -> dict[str, tuple[np.ndarray, ...]]:
    """{'train': (x, y), 'val': (x, y)} with A = 0 and B = 1."""
    parts: dict[str, list] = {"train": [[], []], "val": [[], []]}
    for label, (sub, n) in enumerate(zip(("trainA", "trainB"), holdout, strict=True)):
        train, val = split_files(Path(root) / sub, n)
        for part, files in (("train", train), ("val", val)):
            parts[part][0].append(load_photos(files))
            parts[part][1].append(np.full(len(files), label, np.int64))
    return {k: (np.concatenate(x), np.concatenate(y)) for k, (x, y) in parts.items()}


def train(
    x: np.ndarray,
    y: np.ndarray,
    epochs: int,
    batch_size: int,
    lr: float,
    seed: int,
    colour_map: np.ndarray | None = None,
) -> PhotoJudgeNet:
    """Class-balanced cross-entropy with flips, shifts of up to 8 pixels and random colour."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    net = PhotoJudgeNet()
    weight = torch.tensor(len(y) / (2 * np.bincount(y, minlength=2)), dtype=torch.float32)

    def augment(xb: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        flip = torch.rand(len(xb), generator=gen) < 0.5
        xb = torch.where(flip[:, None, None, None], xb.flip(3), xb)
        return colour.augment(_shift(xb, gen, max_shift=8), gen, colour_map)

    return fit(
        net, x, y, epochs, batch_size, lr, gen, augment, lambda s: print(s, flush=True), weight
    )


def model_colour_map(model_dir: Path, files: list[Path]) -> np.ndarray:
    """The colour cast of a translation model's a2b, fitted on `files` and their outputs."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(model_dir / "a2b.onnx"), providers=["CPUExecutionProvider"])
    photos = [np.asarray(open_rgb(f).resize((256, 256), Image.Resampling.BICUBIC)) for f in files]
    outputs = []
    for photo in photos:
        x = photo.transpose(2, 0, 1)[None].astype(np.float32) / 127.5 - 1.0
        out = session.run(None, {"image": x})[0][0]
        outputs.append(np.clip((out.transpose(1, 2, 0) + 1) * 127.5 + 0.5, 0, 255).astype(np.uint8))
    return colour.fit_colour_map(np.stack(photos), np.stack(outputs))


def robustness(judge: Judge, x: np.ndarray, y: np.ndarray, colour_map, classes) -> dict:
    """Accuracy per class on the validation photos as they are, in grey, with the cast."""
    xt = torch.from_numpy(x)
    variants = {"as_is": xt, "greyscale": colour.greyscale(xt)}
    if colour_map is not None:
        variants["model_cast"] = colour.apply_colour_map(xt, colour_map)
    out = {}
    for name, images in variants.items():
        pred = judge.run(images.numpy())[0].argmax(1)
        out[name] = {
            "accuracy": round(float((pred == y).mean()), 4),
            **{c: round(float((pred[y == k] == k).mean()), 4) for k, c in enumerate(classes)},
        }
    return out


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", required=True, help="a root with trainA/ (class 0) and trainB/")
    p.add_argument("--out", default="judges/horse2zebra", help="judge folder to write")
    p.add_argument("--holdout", default="66,134", help="last N of trainA,trainB held out")
    p.add_argument("--classes", default="horse,zebra", help="names of A and B")
    p.add_argument(
        "--cast-model",
        default="models/cyclegan-horse2zebra",
        help="translation model folder whose a2b colour cast is a training augmentation "
        "('' for none)",
    )
    p.add_argument("--cast-photos", type=int, default=16, help="training horses to fit it on")
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)


def run(args: argparse.Namespace, command: str) -> int:
    torch.set_num_threads(args.threads)
    holdout = tuple(int(n) for n in args.holdout.split(","))
    classes = args.classes.split(",")
    split = load_split(args.data, holdout)
    colour_map = None
    if args.cast_model:
        horses = split_files(Path(args.data) / "trainA", holdout[0])[0][: args.cast_photos]
        colour_map = model_colour_map(Path(args.cast_model), horses)
    start = time.perf_counter()
    net = train(*split["train"], args.epochs, args.batch_size, args.lr, args.seed, colour_map)
    wall = time.perf_counter() - start
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    export_onnx(net, out / ONNX_FILE, size=SIZE, channels=3)
    train_y, (val_x, val_y) = split["train"][1], split["val"]
    card = {
        "name": f"{classes[0]}-vs-{classes[1]}-judge",
        "classes": classes,
        "input": {"name": "image", "shape": [None, 3, SIZE, SIZE], "range": [-1.0, 1.0]},
        "outputs": {"logits": [None, 2], "features": [None, FEATURE_DIM]},
        "architecture": PhotoJudgeNet.__doc__.replace("\n    ", " "),
        "parameters": sum(p.numel() for p in net.parameters()),
        "data": {
            "root": str(Path(args.data).resolve()),
            "train": f"trainA and trainB less the held-out photos: "
            f"{int((train_y == 0).sum())} {classes[0]}, {int((train_y == 1).sum())} {classes[1]}",
            "heldout": f"the last {holdout[0]} of trainA and the last {holdout[1]} of trainB "
            "in sorted order (never trained on)",
            "preprocessing": f"whole photo resized to {SIZE}x{SIZE} (bicubic), [-1, 1]",
        },
        "training": {
            "epochs": args.epochs,
            "batch_size": args.batch_size,
            "optimizer": f"AdamW lr {args.lr} one-cycle, weight decay 1e-4",
            "loss": "class-weighted cross-entropy, label smoothing 0.05",
            "augmentation": "horizontal flip, shift up to 8 pixels; colour, for both classes "
            "alike: grey (p 0.2), the cast model's colour cast at strength 0.5-1 (p 0.25), else "
            "any hue, saturation 0.3-1.5, brightness 0.75-1.25, contrast 0.7-1.3",
            "cast_model": args.cast_model or None,
            "cast_map": None if colour_map is None else colour_map.round(4).tolist(),
            "cast_fitted_on": f"the first {args.cast_photos} training horses and their a2b",
            "seed": args.seed,
            "wall_seconds": round(wall, 1),
            "device": f"cpu ({platform.machine()}, {args.threads} threads, shared machine)",
            "torch": torch.__version__,
            "code_revision": git_revision(),
            "command": command,
        },
        "sha256": sha256_of(out / ONNX_FILE),
    }
    (out / CARD_FILE).write_text(json.dumps(card, indent=2) + "\n")
    pred = Judge.load(out).run(val_x)[0].argmax(1)
    card["heldout_accuracy"] = round(float((pred == val_y).mean()), 4)
    card["heldout_accuracy_per_class"] = {
        name: round(float((pred[val_y == c] == c).mean()), 4) for c, name in enumerate(classes)
    }
    card["heldout_errors"] = int((pred != val_y).sum())
    card["heldout_colour_robustness"] = robustness(
        Judge.load(out), val_x, val_y, colour_map, classes
    )
    (out / CARD_FILE).write_text(json.dumps(card, indent=2) + "\n")
    print(
        f"held-out accuracy (ONNX, {len(val_y)} photos): {card['heldout_accuracy']:.4f} "
        f"{card['heldout_accuracy_per_class']}; wall {wall:.0f} s"
    )
    print(f"colour robustness: {json.dumps(card['heldout_colour_robustness'])}")
    return 0
