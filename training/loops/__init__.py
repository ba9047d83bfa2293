"""Training loops: `base` holds what every family shares, the others one family each."""

from __future__ import annotations

from training.config import Config


def trainer_for(cfg: Config, state: dict | None = None):
    if cfg.family == "cyclegan":
        from training.loops.cyclegan import CycleTrainer

        return CycleTrainer(cfg, state)
    from training.loops.gan import GanTrainer

    return GanTrainer(cfg, state)
