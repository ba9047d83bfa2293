"""The ESRGAN family's super-resolution generators, written for `import esrgan` from the facts
of BasicSR's `RRDBNet` and Real-ESRGAN's `SRVGGNetCompact` (docs/training.md), so that their
released checkpoints load strictly: every parameter is named as theirs.

ganserve does not train these; it imports them. Their authors' packages are not a dependency
(`import basicsr` breaks on current torchvision), hence this rebuild. Inputs are RGB in
[0, 1]; the output is `scale` times larger and not clamped (their inference clamps after).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

# RRDBNet keeps its x4 trunk for the smaller scales: the photo is first folded into channels
# (pixel unshuffle), by 2 for x2 and by 4 for x1, so its sides must divide by that factor.
UNSHUFFLE = {4: 1, 2: 2, 1: 4}
ACTIVATIONS = ("prelu", "relu", "leakyrelu")


class ResidualDenseBlock(nn.Module):
    """Five 3x3 convolutions, each fed every feature map before it; the residual is scaled
    by 0.2."""

    def __init__(self, num_feat: int, num_grow_ch: int) -> None:
        super().__init__()
        for k in range(1, 6):
            width = num_feat if k == 5 else num_grow_ch
            setattr(self, f"conv{k}", nn.Conv2d(num_feat + (k - 1) * num_grow_ch, width, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [x]
        for k in range(1, 5):
            conv = getattr(self, f"conv{k}")
            features.append(F.leaky_relu(conv(torch.cat(features, 1)), 0.2))
        return x + 0.2 * self.conv5(torch.cat(features, 1))


class RRDB(nn.Module):
    """Three dense blocks in a residual, scaled by 0.2 again."""

    def __init__(self, num_feat: int, num_grow_ch: int) -> None:
        super().__init__()
        self.rdb1 = ResidualDenseBlock(num_feat, num_grow_ch)
        self.rdb2 = ResidualDenseBlock(num_feat, num_grow_ch)
        self.rdb3 = ResidualDenseBlock(num_feat, num_grow_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + 0.2 * self.rdb3(self.rdb2(self.rdb1(x)))


class RRDBNet(nn.Module):
    """ESRGAN's generator (BasicSR's RRDBNet for 3 channels in and out): the trunk works at
    a quarter of the output size and two nearest x2 up-samplings each add a convolution."""

    def __init__(
        self, scale: int = 4, num_feat: int = 64, num_block: int = 23, num_grow_ch: int = 32
    ) -> None:
        super().__init__()
        self.unshuffle = UNSHUFFLE[scale]
        self.conv_first = nn.Conv2d(3 * self.unshuffle**2, num_feat, 3, 1, 1)
        self.body = nn.Sequential(*(RRDB(num_feat, num_grow_ch) for _ in range(num_block)))
        self.conv_body = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_up1 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_up2 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_hr = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_last = nn.Conv2d(num_feat, 3, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.unshuffle > 1:
            x = F.pixel_unshuffle(x, self.unshuffle)
        feat = self.conv_first(x)
        feat = feat + self.conv_body(self.body(feat))
        for conv in (self.conv_up1, self.conv_up2):
            feat = F.leaky_relu(conv(F.interpolate(feat, scale_factor=2, mode="nearest")), 0.2)
        return self.conv_last(F.leaky_relu(self.conv_hr(feat), 0.2))


def _activation(act_type: str, num_feat: int) -> nn.Module:
    if act_type == "prelu":
        return nn.PReLU(num_parameters=num_feat)
    if act_type == "relu":
        return nn.ReLU()
    return nn.LeakyReLU(0.1)


class SRVGGNetCompact(nn.Module):
    """Real-ESRGAN's compact network: plain 3x3 convolutions at the input size, the last one
    giving 3 x scale^2 channels that a pixel shuffle turns into the residual over the input
    enlarged by nearest neighbour. `body` alternates convolutions (even indices) and
    activations (odd), so only PReLU puts weights at `body.1`."""

    def __init__(
        self, scale: int = 4, num_feat: int = 64, num_conv: int = 16, act_type: str = "prelu"
    ) -> None:
        super().__init__()
        self.scale = scale
        layers: list[nn.Module] = [nn.Conv2d(3, num_feat, 3, 1, 1), _activation(act_type, num_feat)]
        for _ in range(num_conv):
            layers += [nn.Conv2d(num_feat, num_feat, 3, 1, 1), _activation(act_type, num_feat)]
        layers.append(nn.Conv2d(num_feat, 3 * scale * scale, 3, 1, 1))
        self.body = nn.Sequential(*layers)
        self.upsampler = nn.PixelShuffle(scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        base = F.interpolate(x, scale_factor=self.scale, mode="nearest")
        return self.upsampler(self.body(x)) + base
