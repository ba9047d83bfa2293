"""Checkpoints laid out exactly as the CycleGAN/pix2pix authors' `save_networks` writes them,
from randomly initialised networks, for the importer tests.

The U-Net here is written after the authors' `UnetSkipConnectionBlock` as they run it: a
real `BatchNorm2d`, the in-place LeakyReLU whose effect reaches the skip connection, and
Dropout; the importer's own U-Net must compute the same, image by image. The ResNet
checkpoints come from the importer's rebuild, whose layout the tests check against the
facts of the authors' code (key names, 48 tensors, shapes, 11,378,179 parameters), and whose
arithmetic they check against the project's own CycleGAN generator.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import torch
from torch import nn

from training.importers.resnet import ResnetGenerator


class AuthorsUnetBlock(nn.Module):
    def __init__(self, outer: int, inner: int, submodule=None, outermost=False, dropout=False):
        super().__init__()
        self.outermost = outermost
        downconv = nn.Conv2d(3 if outermost else outer, inner, 4, 2, 1, bias=False)
        downrelu, uprelu = nn.LeakyReLU(0.2, True), nn.ReLU(True)
        if outermost:
            upconv = nn.ConvTranspose2d(inner * 2, outer, 4, 2, 1)
            model = [downconv, submodule, uprelu, upconv, nn.Tanh()]
        elif submodule is None:
            upconv = nn.ConvTranspose2d(inner, outer, 4, 2, 1, bias=False)
            model = [downrelu, downconv, uprelu, upconv, nn.BatchNorm2d(outer)]
        else:
            upconv = nn.ConvTranspose2d(inner * 2, outer, 4, 2, 1, bias=False)
            down = [downrelu, downconv, nn.BatchNorm2d(inner)]
            up = [uprelu, upconv, nn.BatchNorm2d(outer)]
            model = down + [submodule] + up + ([nn.Dropout(0.5)] if dropout else [])
        self.model = nn.Sequential(*model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.outermost:
            return self.model(x)
        return torch.cat([x, self.model(x)], 1)


class AuthorsUnet(nn.Module):
    def __init__(self, num_downs: int, ngf: int) -> None:
        super().__init__()
        block = AuthorsUnetBlock(ngf * 8, ngf * 8)
        for _ in range(num_downs - 5):
            block = AuthorsUnetBlock(ngf * 8, ngf * 8, block, dropout=True)
        for mult in (4, 2, 1):
            block = AuthorsUnetBlock(ngf * mult, ngf * mult * 2, block)
        self.model = AuthorsUnetBlock(3, ngf, block, outermost=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


def randomised(net: nn.Module, seed: int) -> nn.Module:
    """The authors' init (normal 0.02, norm weights around 1), and BatchNorm running
    statistics away from 0 and 1, so that a mix-up of the two BatchNorm modes shows."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.Conv2d | nn.ConvTranspose2d):
                m.weight.normal_(0, 0.02, generator=gen)
                if m.bias is not None:
                    m.bias.normal_(0, 0.02, generator=gen)
            elif isinstance(m, nn.BatchNorm2d):
                m.weight.normal_(1, 0.02, generator=gen)
                m.bias.normal_(0, 0.1, generator=gen)
                m.running_mean.normal_(0, 0.5, generator=gen)
                m.running_var.uniform_(0.5, 2, generator=gen)
                m.num_batches_tracked.fill_(1000)
    return net


def the_authors_way(net: AuthorsUnet, images: torch.Tensor) -> torch.Tensor:
    """Their test script: BatchNorm in training mode, one image at a time; dropout off here
    (the importer turns it off), and the running statistics left as they were."""
    saved = {k: v.clone() for k, v in net.state_dict().items()}
    net.train()
    for m in net.modules():
        if isinstance(m, nn.Dropout):
            m.eval()
    with torch.no_grad():
        out = torch.cat([net(x[None]) for x in images])
    net.load_state_dict(saved)
    return out


def save(state: dict[str, torch.Tensor], path: Path, metadata: bool = True) -> Path:
    """As `torch.save(net.state_dict())`: an OrderedDict carrying `_metadata`."""
    ordered = OrderedDict(state)
    if metadata:
        ordered._metadata = OrderedDict({"": {"version": 1}})  # type: ignore[attr-defined]
    torch.save(ordered, path)
    return path


def resnet_checkpoint(path: Path, ngf: int = 4, n_blocks: int = 9, seed: int = 0) -> Path:
    net = randomised(ResnetGenerator(ngf, n_blocks), seed)
    return save(net.state_dict(), path)


def unet_checkpoint(path: Path, num_downs: int = 7, ngf: int = 2, seed: int = 0) -> Path:
    return save(randomised(AuthorsUnet(num_downs, ngf), seed).state_dict(), path)
