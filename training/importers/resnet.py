"""The CycleGAN authors' ResNet generator, rebuilt module for module so their checkpoints load
strictly: one `nn.Sequential` named `model`, residual blocks with a `conv_block`, every
convolution with a bias, InstanceNorm without affine parameters or running statistics.

Layout of `model` (9 blocks): 0 ReflectionPad(3), 1 Conv 7x7, 2 IN, 3 ReLU; 4-6 and 7-9 two
stride-2 convolutions with IN and ReLU; 10-18 the blocks; 19-21 and 22-24 two transposed
convolutions with IN and ReLU; 25 ReflectionPad(3), 26 Conv 7x7, 27 Tanh.
"""

from __future__ import annotations

import torch
from torch import nn

MULTIPLE_OF = 4  # two stride-2 downsamplings


def _norm(width: int) -> nn.Module:
    return nn.InstanceNorm2d(width, affine=False, track_running_stats=False)


class ResnetBlock(nn.Module):
    """x + conv_block(x); with dropout, Dropout(0.5) sits at index 4 and the rest shift."""

    def __init__(self, width: int, dropout: bool) -> None:
        super().__init__()
        layers = [nn.ReflectionPad2d(1), nn.Conv2d(width, width, 3), _norm(width), nn.ReLU(True)]
        if dropout:
            layers.append(nn.Dropout(0.5))
        layers += [nn.ReflectionPad2d(1), nn.Conv2d(width, width, 3), _norm(width)]
        self.conv_block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_block(x)


class ResnetGenerator(nn.Module):
    def __init__(self, ngf: int = 64, n_blocks: int = 9, dropout: bool = False) -> None:
        super().__init__()
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(3),
            nn.Conv2d(3, ngf, 7),
            _norm(ngf),
            nn.ReLU(True),
        ]
        for mult in (1, 2):
            layers += [
                nn.Conv2d(ngf * mult, ngf * mult * 2, 3, stride=2, padding=1),
                _norm(ngf * mult * 2),
                nn.ReLU(True),
            ]
        layers += [ResnetBlock(ngf * 4, dropout) for _ in range(n_blocks)]
        for mult in (4, 2):
            layers += [
                nn.ConvTranspose2d(
                    ngf * mult, ngf * mult // 2, 3, stride=2, padding=1, output_padding=1
                ),
                _norm(ngf * mult // 2),
                nn.ReLU(True),
            ]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, 3, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


def options_of(state: dict[str, torch.Tensor]) -> dict[str, object] | None:
    """The --ngf, --n-blocks and --dropout a ResNet checkpoint was made with, or None when its
    keys are not the ResNet generator's (to name the option to change in a refusal)."""
    first = state.get("model.1.weight")
    if first is None or first.dim() != 4:
        return None
    blocks = {key.split(".")[1] for key in state if ".conv_block." in key}
    return {
        "ngf": first.shape[0],
        "n_blocks": len(blocks),
        "dropout": any(".conv_block.6." in key for key in state),
    }
