"""Tiny data for the training tests (a 16px npz of blobs, two small photo folders, judges) and
the check that two checkpoints are bitwise the same run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def tiny_npz(path: Path, n: int = 64, size: int = 28, classes: int = 3) -> Path:
    """Each class a bright square in its own place, so the classes differ."""
    rng = np.random.default_rng(0)
    labels = np.arange(n) % classes
    images = (rng.random((n, size, size)) * 40).astype(np.uint8)
    for i, c in enumerate(labels):
        top = 2 + 6 * c
        images[i, top : top + 8, 4:20] = 220
    np.savez(path, images=images, labels=labels.astype(np.int64))
    return path


def tiny_judge(folder: Path, npz: Path) -> Path:
    """A judge folder for `tiny_npz` data: logits pick the nearest class mean, features are a
    fixed random projection; exported to ONNX like judges/mnist."""
    import json

    import torch

    from training.evaluation.train_judge import export_onnx

    with np.load(npz) as data:
        images, labels = data["images"], data["labels"]
    x = torch.from_numpy(images.astype(np.float32) / 127.5 - 1.0)
    classes = int(labels.max()) + 1
    flat = torch.stack([x[labels == c].mean(0) for c in range(classes)]).flatten(1)
    proj = torch.randn(flat.shape[1], 6, generator=torch.Generator().manual_seed(0)) / 28

    class Judge(torch.nn.Module):
        def forward(self, image):
            v = image.flatten(1)
            return v @ flat.T - 0.5 * (flat * flat).sum(1), v @ proj

    folder.mkdir(parents=True)
    size = images.shape[-1]
    export_onnx(Judge(), folder / "judge.onnx", size=size, channels=1)
    card = {
        "name": "tiny-judge",
        "classes": [str(c) for c in range(classes)],
        "input": {"shape": [None, 1, size, size]},
        "heldout_accuracy": None,
    }
    (folder / "judge.json").write_text(json.dumps(card))
    return folder


def tiny_photos(root: Path, n: int = 6, size: int = 24) -> Path:
    """trainA (reddish) and trainB (bluish) JPEGs; one grayscale, as in horse2zebra."""
    rng = np.random.default_rng(1)
    for sub, channel in (("trainA", 0), ("trainB", 2)):
        folder = root / sub
        folder.mkdir(parents=True)
        for i in range(n):
            pixels = (rng.random((size, size, 3)) * 80).astype(np.uint8)
            pixels[..., channel] += 150
            image = Image.fromarray(pixels)
            if i == 0:
                image = image.convert("L")
            image.save(folder / f"{i:03d}.jpg")
    return root


TINY = {
    "dcgan": {"image_size": 16, "channels": 1, "z_dim": 8, "ngf": 4, "ndf": 4},
    "cgan": {"image_size": 16, "channels": 1, "z_dim": 8, "ngf": 4, "ndf": 4, "embed_dim": 4},
    "cyclegan": {
        "load_size": 20,
        "crop_size": 16,
        "d_layers": 1,
        "ngf": 4,
        "ndf": 4,
        "n_blocks": 1,
        "val_images": 2,
        "domains": ["horse", "zebra"],
        "loss": "lsgan",
        "pool_size": 3,
    },
    "toy2d": {"data": "ring", "z_dim": 2, "hidden": 16, "depth": 2},
}


def tiny_values(family: str, tmp_path: Path, **overrides: object) -> dict:
    """Option values for a run that takes well under a second per few steps."""
    values: dict = {
        "family": family,
        "name": family,
        "steps": 4,
        "batch_size": 4,
        "threads": 1,
        "progress": False,
        "log_every": 1,
        "sample_every": 0,
        "checkpoint_every": 2,
        "out_dir": str(tmp_path / "runs"),
        "ema_decay": 0.9,
        # fixed, so runs compare bit for bit (auto times a step: tests/test_training_budget_run)
        "amp": "off",
        "channels_last": "off",
        **TINY[family],
    }
    if family in ("dcgan", "cgan"):
        npz = tmp_path / "tiny.npz"
        if not npz.exists():
            tiny_npz(npz)
        values["data"] = str(npz)
    if family == "cyclegan":
        root = tmp_path / "photos"
        if not root.exists():
            tiny_photos(root)
        values["data"] = str(root)
    values.update(overrides)
    return values


def colour_judge(folder: Path) -> Path:
    """A photo judge for `tiny_photos`: class 1 when blue outweighs red; features are the
    channel means of 4 quadrants."""
    import json

    import torch

    from training.evaluation.photo_judge import SIZE
    from training.evaluation.train_judge import export_onnx

    class ColourJudge(torch.nn.Module):
        def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            d = (image[:, 2] - image[:, 0]).mean((1, 2))
            feats = torch.nn.functional.adaptive_avg_pool2d(image, 2).flatten(1)
            return torch.stack([-d, d], 1), feats

    folder.mkdir(parents=True)
    export_onnx(ColourJudge(), folder / "judge.onnx", size=SIZE, channels=3)
    card = {"name": "colour-judge", "classes": ["horse", "zebra"], "heldout_accuracy": 1.0}
    (folder / "judge.json").write_text(json.dumps(card))
    return folder


def assert_same_state(a: dict, b: dict) -> None:
    """Two checkpoints bitwise equal: step, weights, EMA, optimiser and scheduler state, RNG."""
    import torch

    assert a["step"] == b["step"]
    for part in ("models", "ema", "optims", "scheds"):
        assert a[part].keys() == b[part].keys()
    for part in ("models", "ema"):
        for name, weights in a[part].items():
            for key, value in weights.items():
                assert torch.equal(value, b[part][name][key]), f"{part}.{name}.{key}"
    for name, opt in a["optims"].items():
        for idx, slot in opt["state"].items():
            other = b["optims"][name]["state"][idx]
            assert all(torch.equal(v, other[k]) for k, v in slot.items()), f"optim {name}"
    assert a["scheds"] == b["scheds"]
    assert torch.equal(a["rng"]["torch"], b["rng"]["torch"])
