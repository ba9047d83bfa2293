"""The pix2pix authors' U-Net generator, rebuilt module for module so their checkpoints load
strictly: nested skip blocks, each an `nn.Sequential` named `model` (keys `model.model.`...).

Outermost block: 0 Conv 4x4 s2 (no bias), 1 submodule, 2 ReLU, 3 ConvTranspose (bias), 4 Tanh.
Middle: 0 LeakyReLU 0.2, 1 Conv, 2 BN, 3 submodule, 4 ReLU, 5 ConvTranspose, 6 BN, and 7
Dropout 0.5 on the 512-channel levels. Innermost: 0 LeakyReLU, 1 Conv, 2 ReLU,
3 ConvTranspose, 4 BN. Every block but the outermost returns cat([x, model(x)]). (The
authors' LeakyReLU works in place, so their cat holds the activated x; the ReLU the parent
applies next maps both to the same values, so this one need not.)

BatchNorm: their test script runs the network in training mode on one image at a time, so
each image is normalised by its own statistics. `PerImageBatchNorm` does exactly that for
every image of a batch separately (an instance norm with the BatchNorm's affine weights),
so batching requests together never mixes them; `eval_norm` uses the running statistics.
Dropout is off (eval mode), where their test script leaves it on: results are deterministic.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

LEVELS = {"unet_256": 8, "unet_128": 7}  # downsamplings; sides must divide by 2**levels


class PerImageBatchNorm(nn.BatchNorm2d):
    """BatchNorm's parameters and buffers (so the checkpoint loads), each image normalised
    by its own mean and variance, as BatchNorm in training mode does for a batch of one."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.instance_norm(x, weight=self.weight, bias=self.bias, eps=self.eps)


class UnetBlock(nn.Module):
    def __init__(
        self,
        outer: int,
        inner: int,
        norm: type[nn.BatchNorm2d],
        submodule: nn.Module | None = None,
        outermost: bool = False,
        dropout: bool = False,
    ) -> None:
        super().__init__()
        self.outermost = outermost
        down = nn.Conv2d(3 if outermost else outer, inner, 4, stride=2, padding=1, bias=False)
        if outermost:
            layers = [down, submodule, nn.ReLU(True), nn.ConvTranspose2d(inner * 2, outer, 4, 2, 1)]
            layers.append(nn.Tanh())
        elif submodule is None:  # innermost
            up = nn.ConvTranspose2d(inner, outer, 4, 2, 1, bias=False)
            layers = [nn.LeakyReLU(0.2), down, nn.ReLU(True), up, norm(outer)]
        else:
            up = nn.ConvTranspose2d(inner * 2, outer, 4, 2, 1, bias=False)
            layers = [nn.LeakyReLU(0.2), down, norm(inner), submodule, nn.ReLU(True), up]
            layers += [norm(outer), nn.Dropout(0.5)] if dropout else [norm(outer)]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x) if self.outermost else torch.cat([x, self.model(x)], 1)


class UnetGenerator(nn.Module):
    def __init__(self, net: str = "unet_256", ngf: int = 64, eval_norm: bool = False) -> None:
        super().__init__()
        norm = nn.BatchNorm2d if eval_norm else PerImageBatchNorm
        block = UnetBlock(ngf * 8, ngf * 8, norm)
        for _ in range(LEVELS[net] - 5):
            block = UnetBlock(ngf * 8, ngf * 8, norm, block, dropout=True)
        for mult in (4, 2, 1):
            block = UnetBlock(ngf * mult, ngf * mult * 2, norm, block)
        self.model = UnetBlock(3, ngf, norm, block, outermost=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


def options_of(state: dict[str, torch.Tensor]) -> dict[str, object] | None:
    """The --netG and --ngf a U-Net checkpoint was made with, or None when its keys are not
    the U-Net's (to name the option to change in a refusal)."""
    first = state.get("model.model.0.weight")
    if first is None or first.dim() != 4:
        return None
    # the down-convolution of level 2 is model.model.1.model.1.weight; each deeper level
    # adds one "model.3." (the submodule's index) before its model.1.weight
    inner = "model.model.1."
    nested = [
        k[len(inner) :].count("model.3.")
        for k in state
        if k.startswith(inner) and k.endswith("model.1.weight")
    ]
    levels = max(nested, default=-1) + 2
    names = {v: k for k, v in LEVELS.items()}
    return {"netG": names.get(levels, f"a U-Net of {levels} levels"), "ngf": first.shape[0]}
