"""CycleGAN networks (Zhu et al.): ResNet generator with reflection padding and instance
norm (two stride-2 downsamplings, so H and W must divide by 4) and the 70x70 PatchGAN.

`Downscaled` wraps a generator trained on photos shrunk by N (config `downscale`) so that it
translates full-size photos: the Laplacian-pyramid split of LPTN (Liang et al. 2021), where the
network changes the coarse image and the photo's own fine detail is added back unchanged.

The generator upsamples with transposed convolutions (the authors' choice) or, with
`upsample="resize"`, with nearest-neighbour resizing then a 3x3 convolution, which avoids the
checkerboard artifacts of strided transposed convolutions (Odena et al. 2016).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from training.nets.common import init_dcgan, maybe_sn

MULTIPLE_OF = 4


def _norm(width: int) -> nn.Module:
    return nn.InstanceNorm2d(width, affine=False, track_running_stats=False)


class ResnetBlock(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1),
            nn.Conv2d(width, width, 3),
            _norm(width),
            nn.ReLU(True),
            nn.ReflectionPad2d(1),
            nn.Conv2d(width, width, 3),
            _norm(width),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


def _upsample(width: int, mode: str) -> list[nn.Module]:
    """Double H and W and halve the width."""
    if mode == "transpose":
        return [nn.ConvTranspose2d(width, width // 2, 3, 2, 1, output_padding=1)]
    return [
        nn.Upsample(scale_factor=2, mode="nearest"),
        nn.ReflectionPad2d(1),
        nn.Conv2d(width, width // 2, 3),
    ]


class ResnetGenerator(nn.Module):
    def __init__(
        self, ngf: int = 64, n_blocks: int = 9, channels: int = 3, upsample: str = "transpose"
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(3),
            nn.Conv2d(channels, ngf, 7),
            _norm(ngf),
            nn.ReLU(True),
        ]
        width = ngf
        for _ in range(2):
            layers += [nn.Conv2d(width, width * 2, 3, 2, 1), _norm(width * 2), nn.ReLU(True)]
            width *= 2
        layers += [ResnetBlock(width) for _ in range(n_blocks)]
        for _ in range(2):
            layers += [*_upsample(width, upsample), _norm(width // 2), nn.ReLU(True)]
            width //= 2
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(width, channels, 7), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        init_dcgan(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class PatchDiscriminator(nn.Module):
    """n_layers=3 gives the 70x70 receptive field; one logit per patch."""

    def __init__(
        self, ndf: int = 64, n_layers: int = 3, channels: int = 3, sn: bool = False
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = [
            maybe_sn(nn.Conv2d(channels, ndf, 4, 2, 1), sn),
            nn.LeakyReLU(0.2, True),
        ]
        width = ndf
        for i in range(1, n_layers + 1):
            out = ndf * min(2**i, 8)
            stride = 2 if i < n_layers else 1
            layers += [
                maybe_sn(nn.Conv2d(width, out, 4, stride, 1), sn),
                _norm(out),
                nn.LeakyReLU(0.2, True),
            ]
            width = out
        layers.append(maybe_sn(nn.Conv2d(width, 1, 4, 1, 1), sn))
        self.net = nn.Sequential(*layers)
        init_dcgan(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class Downscaled(nn.Module):
    """Full-size photo -> full-size translation, with `g` working at 1/factor of the size.

    out = up(g(down(x))) + (x - up(down(x))): `down` is the mean of each factor x factor
    block, `up` bilinear. An identity `g` gives back x exactly, so nothing is lost beyond
    what g changes, and sides must divide by MULTIPLE_OF * factor.
    """

    def __init__(self, g: nn.Module, factor: int) -> None:
        super().__init__()
        self.g, self.factor = g, factor

    def _up(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, scale_factor=self.factor, mode="bilinear", align_corners=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        small = F.avg_pool2d(x, self.factor)
        detail = x - self._up(small)
        return (self._up(self.g(small)) + detail).clamp(-1.0, 1.0)
