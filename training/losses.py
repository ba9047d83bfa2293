"""Adversarial objectives on raw discriminator outputs (logits or critic values)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.nn import functional as F


def d_loss(kind: str, real: torch.Tensor, fake: torch.Tensor, smoothing: float = 0.0):
    """Discriminator loss; `smoothing` is one-sided: real targets become 1 - smoothing."""
    target = 1.0 - smoothing
    if kind in ("minimax", "nonsat"):
        return F.binary_cross_entropy_with_logits(
            real, torch.full_like(real, target)
        ) + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake))
    if kind == "lsgan":
        return 0.5 * ((real - target).pow(2).mean() + fake.pow(2).mean())
    if kind == "hinge":
        return F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()
    if kind == "wgan-gp":
        return fake.mean() - real.mean()
    raise ValueError(f"unknown loss {kind!r}")


def g_loss(kind: str, fake: torch.Tensor) -> torch.Tensor:
    if kind == "minimax":  # minimise log(1 - D(G(z))): saturates early, kept for comparison
        return -F.softplus(fake).mean()
    if kind == "nonsat":  # maximise log D(G(z))
        return F.softplus(-fake).mean()
    if kind == "lsgan":
        return 0.5 * (fake - 1.0).pow(2).mean()
    if kind in ("hinge", "wgan-gp"):
        return -fake.mean()
    raise ValueError(f"unknown loss {kind!r}")


def gradient_penalty(
    critic: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor, fake: torch.Tensor
) -> torch.Tensor:
    """WGAN-GP (Gulrajani et al.): (||grad D(x_hat)|| - 1)^2 on real/fake interpolates."""
    shape = (real.shape[0],) + (1,) * (real.ndim - 1)
    alpha = torch.rand(shape, device=real.device, dtype=real.dtype)
    mixed = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(mixed).sum(), mixed, create_graph=True)
    return (grad.flatten(1).norm(dim=1) - 1.0).pow(2).mean()


def r1_penalty(
    critic: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor, gamma: float
) -> torch.Tensor:
    """R1 (Mescheder et al. 2018): gamma/2 * E||grad D(x)||^2 on real data only."""
    real = real.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(real).sum(), real, create_graph=True)
    return 0.5 * gamma * grad.flatten(1).pow(2).sum(dim=1).mean()
