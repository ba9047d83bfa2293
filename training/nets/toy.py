"""Small MLPs for the 2D mixture-of-Gaussians benchmark."""

from __future__ import annotations

import torch
from torch import nn

from training.nets.common import maybe_sn


def _mlp(inp: int, out: int, hidden: int, depth: int, act: nn.Module, sn: bool) -> nn.Sequential:
    layers: list[nn.Module] = []
    width = inp
    for _ in range(depth):
        layers += [maybe_sn(nn.Linear(width, hidden), sn), act]
        width = hidden
    layers.append(maybe_sn(nn.Linear(width, out), sn))
    return nn.Sequential(*layers)


class ToyGenerator(nn.Module):
    def __init__(self, z_dim: int, hidden: int, depth: int) -> None:
        super().__init__()
        self.net = _mlp(z_dim, 2, hidden, depth, nn.ReLU(), False)

    def forward(self, z: torch.Tensor, label: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(z)


class ToyDiscriminator(nn.Module):
    def __init__(self, hidden: int, depth: int, sn: bool = False) -> None:
        super().__init__()
        self.net = _mlp(2, 1, hidden, depth, nn.LeakyReLU(0.2), sn)

    def forward(self, x: torch.Tensor, label: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(x).squeeze(1)
