"""The second MNIST judge: its deformations on a known digit, and a short training run that
writes a judge folder of the first judge's layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from training_fixtures import tiny_npz

from service.engine.runtime import cpu_session
from training.evaluation import strided_judge, train_judge


def bar(n: int = 16) -> torch.Tensor:
    x = -torch.ones(n, 1, 28, 28)
    x[:, :, 6:22, 12:16] = 1.0  # a vertical stroke in the middle
    return x


def test_deformations_keep_the_digit_in_range_and_in_frame() -> None:
    x = bar()
    out = strided_judge.deform(x, torch.Generator().manual_seed(0))
    assert out.shape == x.shape and out.min() >= -1 and out.max() <= 1
    assert not torch.equal(out, x)
    ink = (out > 0).float().mean(dim=(1, 2, 3))
    assert (ink > 0.01).all()  # every digit still has its stroke
    assert (out[:, :, :3, :3] < -0.9).all() and (out[:, :, -3:, -3:] < -0.9).all()  # corners


def test_stroke_width_thickens_and_thins() -> None:
    x = bar(400)
    out = strided_judge._stroke(x, torch.Generator().manual_seed(0))
    ink = (out > 0).float().sum(dim=(1, 2, 3))
    base = float((x[0] > 0).sum())
    assert (ink > base).any() and (ink < base).any() and (ink == base).any()


def test_the_strided_judge_trains_and_exports_like_the_first(tmp_path: Path) -> None:
    data = np.load(tiny_npz(tmp_path / "tiny.npz", n=96, classes=10))
    x = data["images"].astype(np.float32)[:, None] / 127.5 - 1.0
    net = train_judge.train(x, data["labels"], 1, 32, 3e-3, 0, log=print, arch="strided")
    assert isinstance(net, strided_judge.StridedJudgeNet)
    train_judge.export_onnx(net, tmp_path / "judge.onnx")
    session = cpu_session(tmp_path / "judge.onnx")
    logits, feats = session.run(["logits", "features"], {"image": x[:3]})
    assert logits.shape == (3, 10) and feats.shape == (3, train_judge.FEATURE_DIM)
