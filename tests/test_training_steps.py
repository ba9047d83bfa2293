"""One training step moves each player the right way on the batch it saw, for every family and
objective: D scores real above fake by more, G's fakes score higher against the D it was
trained against (CycleGAN: its cycle error falls), and every model's weights change. A wrong
sign, swapped real and fake, or an optimiser that never steps fails here."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch
from torch.nn import functional as F
from training_fixtures import tiny_values

from training import config
from training.loops import trainer_for

OBJECTIVES = ["minimax", "nonsat", "wgan-gp", "hinge", "lsgan"]


def _margin(d, real, fake, *y) -> float:
    with torch.no_grad():
        return (d(real, *y).float().mean() - d(fake, *y).float().mean()).item()


def _weights(models: dict) -> dict:
    return {k: [p.detach().clone() for p in m.parameters()] for k, m in models.items()}


def _all_changed(before: dict, models: dict) -> None:
    """Every model moved (not every tensor: a linear loss gives D's last bias no gradient)."""
    for key, model in models.items():
        pairs = zip(before[key], model.parameters(), strict=True)
        assert any(not torch.equal(old, new) for old, new in pairs), f"{key} did not change"


@pytest.mark.parametrize(
    ("family", "loss"),
    [("toy2d", loss) for loss in OBJECTIVES] + [("dcgan", "nonsat"), ("cgan", "hinge")],
)
def test_one_step_improves_d_then_g(family: str, loss: str, tmp_path: Path) -> None:
    # the gradient penalty may outweigh the critic's margin in one step: tested on its own
    gp = {"gp_weight": 0.0} if loss == "wgan-gp" else {}
    cfg = config.build(tiny_values(family, tmp_path, loss=loss, batch_size=64, lr=1e-3, **gp))
    trainer = trainer_for(cfg)
    g, d = trainer.models["g"], trainer.models["d"]
    real, y = trainer.real_batch(0)  # the batch step 0's D update sees
    rng = torch.get_rng_state()
    z = torch.randn(len(real), cfg.z_dim)  # and its noise: the step's first draw
    torch.set_rng_state(rng)
    g0, d0, before = copy.deepcopy(g), copy.deepcopy(d), _weights(trainer.models)
    with torch.no_grad():
        fake = g0(z, y).float()
    trainer.train_step(0)
    _all_changed(before, trainer.models)
    assert _margin(d, real, fake, y) > _margin(d0, real, fake, y)
    z2 = torch.randn(256, cfg.z_dim)
    y2 = torch.randint(trainer.num_classes, (256,)) if trainer.conditional else None
    with torch.no_grad():
        assert d(g(z2, y2), y2).mean() > d(g0(z2, y2), y2).mean()


def test_one_cyclegan_step_lowers_the_cycle_error_and_sharpens_both_discriminators(
    tmp_path: Path,
) -> None:
    cfg = config.build(tiny_values("cyclegan", tmp_path, lr=1e-3))
    trainer = trainer_for(cfg)
    m = trainer.models
    a = trainer.domain_a.batch(trainer.order_a.indices(0), cfg.seed, 0)  # step 0's photos
    b = trainer.domain_b.batch(trainer.order_b.indices(0), cfg.seed + 1, 0)
    old, before = copy.deepcopy(m), _weights(m)

    def cycle(models) -> float:
        with torch.no_grad():
            return (
                F.l1_loss(models["g_ba"](models["g_ab"](a)), a)
                + F.l1_loss(models["g_ab"](models["g_ba"](b)), b)
            ).item()

    with torch.no_grad():
        fake_b, fake_a = old["g_ab"](a), old["g_ba"](b)
    logged = trainer.train_step(0)
    _all_changed(before, m)
    assert cycle(m) < cycle(old)
    assert _margin(m["d_b"], b, fake_b) > _margin(old["d_b"], b, fake_b)
    assert _margin(m["d_a"], a, fake_a) > _margin(old["d_a"], a, fake_a)
    # loss_g is the whole objective G minimised, its parts named
    weighted = cfg.lambda_cycle * (logged["cycle_l1"] + cfg.lambda_identity * logged["identity_l1"])
    assert logged["loss_g"] == pytest.approx(logged["loss_g_adv"] + weighted, rel=1e-5)
