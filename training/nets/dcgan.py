"""DCGAN G and D (Radford et al.): strided convs, BN except G's output and D's input,
ReLU/Tanh in G, LeakyReLU in D, no fully connected hidden layers. Optional labels make them
conditional: an embedding concatenated to z in G (and, with `g_cond="cbn"`, class-conditional
batch norm in every G layer); projection or one-hot channels in D.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from training.nets.common import init_dcgan, maybe_sn


def _levels(size: int) -> int:
    n = int(math.log2(size)) - 2  # 4x4 -> size takes n doublings
    if 2 ** (n + 2) != size or n < 2:
        raise ValueError(f"image size {size} must be a power of two >= 16")
    return n


class ConditionalBatchNorm2d(nn.Module):
    """Batch norm whose scale and shift are looked up per label (de Vries et al. 2017, as in
    Miyato & Koyama's projection cGAN), so every G layer sees the label, not only the input."""

    def __init__(self, features: int, num_classes: int) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(features, affine=False)
        self.gamma = nn.Embedding(num_classes, features)
        self.beta = nn.Embedding(num_classes, features)
        self.reset_affine()

    def reset_affine(self) -> None:
        """Start as plain batch norm (DCGAN's N(1, 0.02) scale, zero shift) for every label."""
        nn.init.normal_(self.gamma.weight, 1.0, 0.02)
        nn.init.zeros_(self.beta.weight)

    def forward(self, x: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        return self.bn(x) * self.gamma(label)[:, :, None, None] + self.beta(label)[:, :, None, None]


class Generator(nn.Module):
    def __init__(
        self,
        z_dim: int,
        channels: int,
        size: int,
        ngf: int,
        num_classes: int = 0,
        embed_dim: int = 0,
        cbn: bool = False,
    ) -> None:
        super().__init__()
        n = _levels(size)
        self.embed = nn.Embedding(num_classes, embed_dim) if num_classes else None
        self.cbn = bool(cbn and num_classes)

        def norm(width: int) -> nn.Module:
            if self.cbn:
                return ConditionalBatchNorm2d(width, num_classes)
            return nn.BatchNorm2d(width)

        width = ngf * 2 ** (n - 1)
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(
                z_dim + (embed_dim if num_classes else 0), width, 4, 1, 0, bias=False
            ),
            norm(width),
            nn.ReLU(True),
        ]
        for _ in range(n - 1):
            layers += [
                nn.ConvTranspose2d(width, width // 2, 4, 2, 1, bias=False),
                norm(width // 2),
                nn.ReLU(True),
            ]
            width //= 2
        layers += [nn.ConvTranspose2d(width, channels, 4, 2, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        init_dcgan(self)
        for m in self.modules():
            if isinstance(m, ConditionalBatchNorm2d):
                m.reset_affine()

    def forward(self, z: torch.Tensor, label: torch.Tensor | None = None) -> torch.Tensor:
        if self.embed is not None:
            z = torch.cat([z, self.embed(label)], 1)
        h = z[:, :, None, None]
        if not self.cbn:
            return self.net(h)
        for layer in self.net:
            h = layer(h, label) if isinstance(layer, ConditionalBatchNorm2d) else layer(h)
        return h


class Discriminator(nn.Module):
    def __init__(
        self,
        channels: int,
        size: int,
        ndf: int,
        num_classes: int = 0,
        cond: str = "projection",
        norm: str = "batch",
        sn: bool = False,
        aux: bool = False,
    ) -> None:
        super().__init__()
        n = _levels(size)
        self.num_classes, self.cond = num_classes, cond
        extra = num_classes if num_classes and cond == "concat" else 0
        layers: list[nn.Module] = [
            maybe_sn(nn.Conv2d(channels + extra, ndf, 4, 2, 1), sn),
            nn.LeakyReLU(0.2, True),
        ]
        width = ndf
        for _ in range(n - 1):
            layers.append(maybe_sn(nn.Conv2d(width, width * 2, 4, 2, 1, bias=norm == "none"), sn))
            if norm == "batch":
                layers.append(nn.BatchNorm2d(width * 2))
            layers.append(nn.LeakyReLU(0.2, True))
            width *= 2
        self.features = nn.Sequential(*layers)
        self.head = maybe_sn(nn.Conv2d(width, 1, 4, 1, 0), sn)
        self.project = (
            maybe_sn(nn.Embedding(num_classes, width), sn)
            if num_classes and cond == "projection"
            else None
        )
        # AC-GAN's auxiliary classifier (Odena et al. 2017) on the pooled features; no spectral
        # norm, so its logits can grow as sharp as cross-entropy asks
        self.aux = nn.Linear(width, num_classes) if aux and num_classes else None
        init_dcgan(self)

    def forward(
        self, x: torch.Tensor, label: torch.Tensor | None = None, with_aux: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """The critic's score; with `with_aux`, also the auxiliary classifier's logits."""
        if self.num_classes and self.cond == "concat":
            onehot = nn.functional.one_hot(label, self.num_classes).to(x.dtype)
            x = torch.cat([x, onehot[:, :, None, None].expand(-1, -1, *x.shape[2:])], 1)
        h = self.features(x)
        out = self.head(h).flatten(1).sum(1)
        if self.project is not None:  # Miyato & Koyama's projection: <embed(y), pooled h>
            out = out + (self.project(label) * h.sum((2, 3))).sum(1)
        if with_aux:
            return out, self.aux(h.mean((2, 3)))
        return out
