"""The adversarial objectives and penalties, against closed forms and the direction each
player is pushed: a sign error or a swapped argument fails here."""

from __future__ import annotations

import math

import pytest
import torch

from training.losses import d_loss, g_loss, gradient_penalty, r1_penalty

KINDS = ("minimax", "nonsat", "wgan-gp", "hinge", "lsgan")
HIGH, LOW = torch.full((4,), 2.0), torch.full((4,), -2.0)


@pytest.mark.parametrize("kind", KINDS)
def test_d_is_rewarded_for_scoring_real_above_fake(kind: str) -> None:
    assert d_loss(kind, HIGH, LOW) < d_loss(kind, LOW, HIGH)
    real = torch.zeros(4, requires_grad=True)
    fake = torch.zeros(4, requires_grad=True)
    d_loss(kind, real, fake).backward()
    assert (real.grad < 0).all() and (fake.grad >= 0).all()  # descent raises real, lowers fake


@pytest.mark.parametrize("kind", KINDS)
def test_g_is_rewarded_when_d_scores_its_fakes_higher(kind: str) -> None:
    assert g_loss(kind, HIGH) < g_loss(kind, LOW)
    fake = torch.zeros(4, requires_grad=True)
    g_loss(kind, fake).backward()
    assert (fake.grad < 0).all()


def test_closed_forms_at_zero_scores() -> None:
    zero = torch.zeros(8)
    assert d_loss("nonsat", zero, zero).item() == pytest.approx(2 * math.log(2))
    assert g_loss("nonsat", zero).item() == pytest.approx(math.log(2))
    assert g_loss("minimax", zero).item() == pytest.approx(-math.log(2))
    assert d_loss("hinge", zero, zero).item() == pytest.approx(2.0)
    assert d_loss("lsgan", zero, zero).item() == pytest.approx(0.5)
    assert g_loss("lsgan", zero).item() == pytest.approx(0.5)
    assert d_loss("wgan-gp", HIGH, LOW).item() == pytest.approx(-4.0)


def test_one_sided_label_smoothing_moves_only_the_real_target() -> None:
    best = torch.tensor([math.log(0.9 / 0.1)], requires_grad=True)  # sigmoid(best) = 0.9
    d_loss("nonsat", best, torch.full((1,), -20.0), smoothing=0.1).backward()
    assert best.grad.abs().item() < 1e-6
    fake = torch.zeros(1, requires_grad=True)
    d_loss("nonsat", torch.zeros(1), fake, smoothing=0.1).backward()
    assert fake.grad.item() == pytest.approx(0.5)  # the fake target stays 0


@pytest.mark.parametrize("loss", [d_loss, g_loss])
def test_unknown_objective_is_an_error(loss) -> None:
    args = (torch.zeros(1), torch.zeros(1)) if loss is d_loss else (torch.zeros(1),)
    with pytest.raises(ValueError, match="unknown loss"):
        loss("wasserstein", *args)


def _linear_critic(weight: list[float]):
    w = torch.tensor(weight, requires_grad=True)
    return w, lambda x: x @ w


def test_gradient_penalty_is_zero_for_a_1_lipschitz_critic_and_grows_with_the_slope() -> None:
    real, fake = torch.randn(16, 2), torch.randn(16, 2)
    _, unit = _linear_critic([0.6, 0.8])
    assert gradient_penalty(unit, real, fake).item() == pytest.approx(0.0, abs=1e-10)
    w, steep = _linear_critic([3.0, 4.0])
    penalty = gradient_penalty(steep, real, fake)
    assert penalty.item() == pytest.approx((5.0 - 1.0) ** 2)
    penalty.backward()  # differentiable in the critic's weights, which it pulls towards norm 1
    assert torch.allclose(w.grad, 2 * (5.0 - 1.0) * torch.tensor([3.0, 4.0]) / 5.0)


def test_r1_penalty_is_half_gamma_times_the_squared_gradient_norm_on_real_data() -> None:
    w, critic = _linear_critic([3.0, 4.0])
    real = torch.randn(16, 2)
    penalty = r1_penalty(critic, real, gamma=0.1)
    assert penalty.item() == pytest.approx(0.5 * 0.1 * 25.0)
    penalty.backward()
    assert torch.allclose(w.grad, 0.1 * torch.tensor([3.0, 4.0]))
    assert not real.requires_grad  # the caller's batch is left alone
    quadratic = r1_penalty(lambda x: (x**2).sum(1), real, gamma=2.0)
    assert quadratic.item() == pytest.approx((4 * real.pow(2).sum(1)).mean().item(), rel=1e-5)
