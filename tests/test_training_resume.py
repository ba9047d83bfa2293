"""An interrupted and resumed run ends bitwise where an uninterrupted one does; checkpoints
are atomic; a non-finite loss stops the run and keeps the last good checkpoint."""

from __future__ import annotations

from pathlib import Path

import pytest
from training_fixtures import assert_same_state, tiny_values

from training import checkpoint, cli, config
from training.loops import trainer_for
from training.loops.base import NonFiniteLoss


class _Killed(Exception):
    pass


def _interrupt_at(trainer, step: int) -> None:
    original = trainer.train_step

    def step_or_die(s: int) -> dict:
        if s == step:
            raise _Killed
        return original(s)

    trainer.train_step = step_or_die


@pytest.mark.parametrize(
    ("family", "options"),
    [
        ("dcgan", {"steps": 7, "checkpoint_every": 3, "batch_size": 16}),  # crosses epochs
        ("cgan", {"steps": 5, "checkpoint_every": 2}),
        ("cyclegan", {"steps": 5, "checkpoint_every": 2, "decay_steps": 3}),
    ],
)
def test_resume_matches_uninterrupted(family: str, options: dict, tmp_path: Path) -> None:
    whole = config.build(tiny_values(family, tmp_path, name="whole", **options))
    trainer_for(whole).run()

    parts = config.build(tiny_values(family, tmp_path, name="parts", **options))
    trainer = trainer_for(parts)
    kill_at = options["checkpoint_every"] + 1  # one step lost after the checkpoint
    _interrupt_at(trainer, kill_at)
    with pytest.raises(_Killed):
        trainer.run()
    assert checkpoint.load(checkpoint.find(parts.run_dir))["step"] == kill_at - 1
    assert cli.main(["resume", str(parts.run_dir)]) == 0

    assert_same_state(
        checkpoint.load(checkpoint.find(whole.run_dir)),
        checkpoint.load(checkpoint.find(parts.run_dir)),
    )


def test_checkpoint_write_is_atomic(tmp_path: Path) -> None:
    path = tmp_path / "c" / "last.pt"
    checkpoint.save({"step": 1}, path)
    checkpoint.save({"step": 2}, path)
    assert checkpoint.load(path)["step"] == 2
    assert [p.name for p in path.parent.iterdir()] == ["last.pt"]


def test_non_finite_loss_stops_with_last_good_checkpoint(tmp_path: Path) -> None:
    cfg = config.build(tiny_values("toy2d", tmp_path, steps=6, checkpoint_every=2))
    trainer = trainer_for(cfg)
    original = trainer.train_step
    trainer.train_step = lambda s: {"loss_d": float("nan")} if s == 3 else original(s)
    with pytest.raises(NonFiniteLoss, match=r"non-finite loss .*loss_d.* at step 3"):
        trainer.run()
    assert checkpoint.load(checkpoint.find(cfg.run_dir))["step"] == 2
