"""Every family and objective trains a few steps on tiny data and its losses move."""

from __future__ import annotations

import json
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


def _moved(records: list[dict]) -> None:
    assert len(records) == records[-1]["step"]
    keys = [k for k in records[0] if k.startswith("loss")]
    for key in keys:
        values = [r[key] for r in records]
        assert len(set(values)) > 1, f"{key} never changed: {values}"


@pytest.mark.parametrize("family", ["dcgan", "cgan", "cyclegan", "toy2d"])
def test_family_trains_and_writes_run(family: str, tmp_path: Path) -> None:
    records = _train(tiny_values(family, tmp_path))
    _moved(records)
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
    ],
)
def test_objectives_and_stabilisers(options: dict, tmp_path: Path) -> None:
    _moved(_train(tiny_values("toy2d", tmp_path, **options)))


@pytest.mark.parametrize(
    "options",
    [
        {"loss": "wgan-gp", "d_norm": "none", "cond_d": "concat"},
        {"loss": "hinge", "spectral_norm": True, "d_norm": "none"},
    ],
)
def test_conditional_variants(options: dict, tmp_path: Path) -> None:
    _moved(_train(tiny_values("cgan", tmp_path, **options)))


def test_lr_decays_linearly_to_zero_over_the_last_steps(tmp_path: Path) -> None:
    records = _train(tiny_values("toy2d", tmp_path, steps=6, decay_steps=3))
    lrs = [r["lr"] for r in records]
    assert lrs[:3] == [2e-4] * 3
    assert lrs[3] > lrs[4] > lrs[5] > 0
