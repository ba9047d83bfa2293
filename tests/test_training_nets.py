"""The networks' shapes and the architecture rules of their papers (DCGAN guidelines, the
CycleGAN ResNet generator and the 70x70 PatchGAN), at every supported size."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from training.nets.cyclegan import Downscaled, PatchDiscriminator, ResnetGenerator
from training.nets.dcgan import Discriminator, Generator

FORBIDDEN = (nn.Linear, nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)
CONVS = (nn.Conv2d, nn.ConvTranspose2d)


def _layers(net: nn.Module) -> list[nn.Module]:
    """The leaf modules in forward order (Sequential order is forward order here)."""
    return [m for m in net.modules() if not list(m.children())]


def _receptive_field(layers: list[nn.Module]) -> int:
    field = 1
    for m in reversed([m for m in layers if isinstance(m, nn.Conv2d)]):
        field = field * m.stride[0] + (m.kernel_size[0] - m.stride[0])
    return field


@pytest.mark.parametrize("size", [32, 64, 128])
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("classes", [0, 10])
def test_dcgan_shapes_and_guidelines(size: int, channels: int, classes: int) -> None:
    torch.manual_seed(0)
    g = Generator(16, channels, size, 8, num_classes=classes, embed_dim=4 if classes else 0)
    d = Discriminator(channels, size, 8, num_classes=classes, cond="projection")
    z, label = torch.randn(3, 16), torch.tensor([0, 1, 2])
    with torch.no_grad():
        images = g(z, label if classes else None)
        logits = d(images, label if classes else None)
    assert images.shape == (3, channels, size, size)
    assert images.abs().max() <= 1.0
    assert logits.shape == (3,)

    for net in (g, d):
        assert not any(isinstance(m, FORBIDDEN) for m in _layers(net)), "pooling or FC layer"
    g_layers = [m for m in _layers(g) if not isinstance(m, nn.Embedding)]
    # G: every conv but the last is followed by batch norm and ReLU; the output is conv, Tanh.
    assert isinstance(g_layers[-1], nn.Tanh) and isinstance(g_layers[-2], nn.ConvTranspose2d)
    for i, m in enumerate(g_layers[:-2]):
        if isinstance(m, CONVS):
            assert isinstance(g_layers[i + 1], nn.BatchNorm2d)
            assert isinstance(g_layers[i + 2], nn.ReLU)
    # D: no norm after the input conv, batch norm after the others, LeakyReLU throughout.
    d_layers = _layers(d.features)
    assert isinstance(d_layers[0], nn.Conv2d) and isinstance(d_layers[1], nn.LeakyReLU)
    convs = [i for i, m in enumerate(d_layers) if isinstance(m, nn.Conv2d)]
    for i in convs[1:]:
        assert isinstance(d_layers[i + 1], nn.BatchNorm2d)
        assert isinstance(d_layers[i + 2], nn.LeakyReLU)
    strides = {m.stride for m in d_layers if isinstance(m, nn.Conv2d)}
    assert strides == {(2, 2)}, "D downsamples with strided convolutions only"


def test_concat_discriminator_takes_one_hot_channels() -> None:
    d = Discriminator(3, 32, 8, num_classes=10, cond="concat")
    assert d.features[0].in_channels == 3 + 10
    assert d(torch.randn(2, 3, 32, 32), torch.tensor([1, 9])).shape == (2,)


@pytest.mark.parametrize("upsample", ["transpose", "resize"])
def test_resnet_generator_keeps_any_size_divisible_by_4(upsample: str) -> None:
    g = ResnetGenerator(ngf=4, n_blocks=2, upsample=upsample)
    layers = _layers(g)
    assert sum(isinstance(m, nn.ReflectionPad2d) for m in layers) >= 2 + 2 * 2
    assert any(isinstance(m, nn.InstanceNorm2d) for m in layers)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in layers)
    assert len([m for m in g.net if type(m).__name__ == "ResnetBlock"]) == 2
    with torch.no_grad():
        for h, w in ((32, 32), (36, 60)):
            assert g(torch.randn(1, 3, h, w)).shape == (1, 3, h, w)


class _Shift(nn.Module):
    """A stand-in generator that brightens every pixel by a constant."""

    def __init__(self, by: float) -> None:
        super().__init__()
        self.by = by

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.by


@pytest.mark.parametrize("factor", [2, 4])
def test_downscaled_keeps_the_photo_detail_that_g_leaves_alone(factor: int) -> None:
    x = torch.rand(2, 3, 24, 40) * 1.6 - 0.8  # sharp noise: all of it fine detail
    with torch.no_grad():
        assert torch.allclose(Downscaled(_Shift(0.0), factor)(x), x, atol=1e-6)
        assert torch.allclose(Downscaled(_Shift(0.1), factor)(x), x + 0.1, atol=1e-6)
        assert Downscaled(_Shift(5.0), factor)(x).max() == 1.0  # still an image in [-1, 1]


def test_downscaled_generator_sees_the_photo_at_a_fraction_of_its_size() -> None:
    seen: list[tuple[int, ...]] = []
    g = ResnetGenerator(ngf=4, n_blocks=1, upsample="resize")
    g.register_forward_hook(lambda _m, args, _out: seen.append(tuple(args[0].shape)))
    with torch.no_grad():
        assert Downscaled(g, 2)(torch.randn(1, 3, 40, 56)).shape == (1, 3, 40, 56)
    assert seen == [(1, 3, 20, 28)]


def test_patchgan_sees_70x70_patches() -> None:
    d = PatchDiscriminator(ndf=4, n_layers=3)
    assert _receptive_field(_layers(d)) == 70
    with torch.no_grad():
        assert d(torch.randn(1, 3, 256, 256)).shape == (1, 1, 30, 30)  # as the authors' D
