"""The second MNIST judge: another architecture, trained on deformed digits.

`cgan-mnist` was trained with an auxiliary classifier much like `judges/mnist`, so that judge
can be pleased by digits shaped for a VGG-style classifier. This one shares neither its
architecture nor its augmentation: 5x5 convolutions that downsample by stride (no pooling),
GroupNorm and GELU, and a flattened 7x7 map into the features, so where a stroke is still
matters; and each training digit is deformed (Simard et al. 2003): a random affine map,
an elastic displacement field, and a thinner or thicker stroke.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from training.evaluation.judge import FEATURE_DIM


class StridedJudgeNet(nn.Module):
    """conv5x5 1->16, conv5x5 stride 2 16->32 (14x14), conv5x5 stride 2 32->64 (7x7), each with
    GroupNorm(8) and GELU; flatten, Linear(3136, 128) + GELU (the features), dropout 0.3,
    Linear(128, 10)."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()

        def conv(cin: int, cout: int, stride: int) -> list[nn.Module]:
            return [nn.Conv2d(cin, cout, 5, stride, 2), nn.GroupNorm(8, cout), nn.GELU()]

        self.body = nn.Sequential(*conv(1, 16, 1), *conv(16, 32, 2), *conv(32, 64, 2), nn.Flatten())
        self.penultimate = nn.Sequential(nn.Linear(64 * 7 * 7, FEATURE_DIM), nn.GELU())
        self.dropout = nn.Dropout(0.3)
        self.head = nn.Linear(FEATURE_DIM, num_classes)

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.penultimate(self.body(image))
        return self.head(self.dropout(features)), features


def _affine(n: int, gen: torch.Generator) -> torch.Tensor:
    """[N, 2, 3] maps: rotation +-15 degrees, scale 0.85-1.15, shear +-0.15, shift +-2 px."""

    def uniform(lo: float, hi: float) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(n, generator=gen)

    angle = uniform(-math.radians(15), math.radians(15))
    scale, shear = uniform(0.85, 1.15), uniform(-0.15, 0.15)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0], theta[:, 0, 1] = cos, -sin + shear
    theta[:, 1, 0], theta[:, 1, 1] = sin, cos
    theta[:, 0, 2], theta[:, 1, 2] = uniform(-2 / 14, 2 / 14), uniform(-2 / 14, 2 / 14)
    return theta


def _elastic(n: int, size: int, gen: torch.Generator, alpha: float = 2.0) -> torch.Tensor:
    """[N, H, W, 2] displacements: white noise smoothed by a Gaussian (sigma 4 px), scaled
    to about `alpha` pixels."""
    noise = torch.rand(n, 2, size, size, generator=gen) * 2 - 1
    radius, sigma = 8, 4.0
    x = torch.arange(-radius, radius + 1, dtype=torch.float32)
    kernel = torch.exp(-(x**2) / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    smooth = F.conv2d(
        noise.reshape(-1, 1, size, size), kernel.view(1, 1, 1, -1), padding=(0, radius)
    )
    smooth = F.conv2d(smooth, kernel.view(1, 1, -1, 1), padding=(radius, 0))
    smooth = smooth.reshape(n, 2, size, size)
    smooth = smooth / smooth.abs().amax(dim=(1, 2, 3), keepdim=True).clamp_min(1e-6)
    return (alpha * 2 / size) * smooth.permute(0, 2, 3, 1)


def _stroke(x: torch.Tensor, gen: torch.Generator, p: float = 0.25) -> torch.Tensor:
    """Thicker (3x3 dilation) or thinner (erosion) strokes, each with probability p."""
    pick = torch.rand(len(x), generator=gen)[:, None, None, None]
    thick = F.max_pool2d(x, 3, 1, 1)
    thin = -F.max_pool2d(-x, 3, 1, 1)
    return torch.where(pick < p, thick, torch.where(pick < 2 * p, thin, x))


def deform(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Digits [N, 1, H, W] in [-1, 1] (background -1): affine, elastic, stroke width."""
    n, _, h, _ = x.shape
    grid = F.affine_grid(_affine(n, gen), list(x.shape), align_corners=False)
    grid = grid + _elastic(n, h, gen)
    moved = F.grid_sample(x + 1, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return _stroke(moved - 1, gen).clamp(-1, 1)
