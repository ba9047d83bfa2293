"""Every family and objective trains a few steps on tiny data and logs every step;
test_training_steps.py checks that a step moves each player the right way."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from training_fixtures import tiny_values

from training import config
from training.loops import trainer_for


def _train(values: dict) -> list[dict]:
    cfg = config.build(values)
    trainer_for(cfg).run()
    lines = (cfg.run_dir / "metrics.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def _logged(records: list[dict]) -> None:
    """One line per step, each loss a finite number."""
    assert [r["step"] for r in records] == list(range(1, len(records) + 1))
    for record in records:
        losses = {k: v for k, v in record.items() if k.startswith("loss")}
        assert losses and all(math.isfinite(v) for v in losses.values()), record


@pytest.mark.parametrize("family", ["dcgan", "cgan", "cyclegan", "toy2d"])
def test_family_trains_and_writes_run(family: str, tmp_path: Path) -> None:
    records = _train(tiny_values(family, tmp_path))
    _logged(records)
    run = tmp_path / "runs" / family
    assert (run / "checkpoints" / "last.pt").is_file()
    assert (run / "config.json").is_file()
    assert list((run / "samples").glob("step_*.png"))


@pytest.mark.parametrize(
    "options",
    [
        {"loss": "minimax", "label_smoothing": 0.1},
        {"loss": "wgan-gp", "d_steps": 2},
        {"loss": "hinge", "spectral_norm": True},
        {"loss": "lsgan", "decay_steps": 2},
        {"loss": "nonsat", "r1_gamma": 0.1},
    ],
)
def test_objectives_and_stabilisers(options: dict, tmp_path: Path) -> None:
    _logged(_train(tiny_values("toy2d", tmp_path, **options)))


@pytest.mark.parametrize(
    "options",
    [
        {"loss": "wgan-gp", "d_norm": "none", "cond_d": "concat"},
        {"loss": "hinge", "spectral_norm": True, "d_norm": "none"},
        {"loss": "hinge", "spectral_norm": True, "d_norm": "none", "g_cond": "cbn"},
        {"loss": "nonsat", "g_cond": "cbn", "aux_weight": 1.0},
    ],
)
def test_conditional_variants(options: dict, tmp_path: Path) -> None:
    _logged(_train(tiny_values("cgan", tmp_path, **options)))


def test_lr_decays_linearly_to_zero_over_the_last_steps(tmp_path: Path) -> None:
    records = _train(tiny_values("toy2d", tmp_path, steps=6, decay_steps=3))
    lrs = [r["lr"] for r in records]
    assert lrs[:3] == [2e-4] * 3
    assert lrs[3] > lrs[4] > lrs[5] > 0


def test_conditional_batch_norm_carries_the_label_past_the_input() -> None:
    """With the input embedding silenced, only the per-label norms can tell labels apart."""
    import torch

    from training.nets.dcgan import Generator

    torch.manual_seed(0)
    g = Generator(8, 1, 16, 4, num_classes=3, embed_dim=4, cbn=True)
    with torch.no_grad():
        g.embed.weight.zero_()
        for m in g.modules():
            if hasattr(m, "beta"):
                m.beta.weight.normal_(0.0, 0.5)
    g.eval()
    z = torch.randn(1, 8).expand(3, 8)
    out = g(z, torch.arange(3))
    assert not torch.allclose(out[0], out[1]) and not torch.allclose(out[1], out[2])
    plain = Generator(8, 1, 16, 4, num_classes=3, embed_dim=4)
    with torch.no_grad():
        plain.embed.weight.zero_()
    plain.eval()
    flat = plain(z, torch.arange(3))
    assert torch.allclose(flat[0], flat[1]) and torch.allclose(flat[1], flat[2])
