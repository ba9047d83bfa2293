"""StyleGAN2's generator (Karras et al. 2020, "Analyzing and Improving the Image Quality of
StyleGAN", config F, `skip` architecture) for inference, written from the paper.

Its submodules carry the names NVIDIA's snapshots use, so a snapshot's `G_ema` state loads
strictly: `mapping.{embed,fc0..,w_avg}`, `synthesis.b{res}.{const,conv0,conv1,torgb,
resample_filter}`, each layer's `affine`, `weight`, `bias`, `noise_const`, `noise_strength`.

Modulation scales the activations instead of the weights (the paper's section 2.2 shows the
two equal): a style multiplies the input channels, one convolution with the shared weight
runs for the whole batch, the demodulation coefficients `rsqrt(s^2 . sum_k w^2 + 1e-8)`
multiply the output channels. No grouped convolution depends on the batch size, so an ONNX
export keeps a dynamic batch and each row is computed as if alone. Noise is the stored
`noise_const` (NVIDIA's `noise_mode='const'`): a seed always gives the same image.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import nn
from torch.nn import functional as F

LRELU_SLOPE = 0.2
LRELU_GAIN = math.sqrt(2)  # keeps the activations' second moment through leaky ReLU
FIR = (1, 3, 3, 1)  # the binomial low-pass filter of up-sampling


def normalize_2nd_moment(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    return x * (x.square().mean(dim=1, keepdim=True) + eps).rsqrt()


def bias_act(
    x: torch.Tensor,
    bias: torch.Tensor | None,
    activation: str = "linear",
    gain: float = 1.0,
    clamp: float | None = None,
) -> torch.Tensor:
    """Add a per-channel bias, apply the activation (leaky ReLU scaled by sqrt(2)) and the
    extra gain, then clip to +-clamp when one is set."""
    if bias is not None:
        x = x + bias.reshape([1, -1] + [1] * (x.ndim - 2))
    if activation == "lrelu":
        x = F.leaky_relu(x, LRELU_SLOPE)
        gain = gain * LRELU_GAIN
    if gain != 1:
        x = x * gain
    if clamp is not None:
        x = x.clamp(-clamp, clamp)
    return x


def fir_filter(taps: Sequence[float]) -> torch.Tensor:
    """The separable 2D filter of 1D taps, normalised to sum 1."""
    f = torch.as_tensor(taps, dtype=torch.float32)
    f = torch.outer(f, f)
    return f / f.sum()


def _depthwise(f: torch.Tensor, channels: int, gain: float) -> torch.Tensor:
    return (f * gain).expand(channels, 1, *f.shape)


def upsample2x(x: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    """Double H and W: zeros between the samples, then the low-pass filter (gain 4 keeps the
    mean), as one transposed depthwise convolution of stride 2."""
    pad = (f.shape[-1] - 2) // 2
    return F.conv_transpose2d(
        x, _depthwise(f, x.shape[1], 4.0), stride=2, padding=pad, groups=x.shape[1]
    )


def blur(x: torch.Tensor, f: torch.Tensor, pad: tuple[int, int], gain: float) -> torch.Tensor:
    """Convolve each channel with the filter (true convolution), after zero padding
    (before, after) on both axes."""
    x = F.pad(x, [pad[0], pad[1], pad[0], pad[1]])
    return F.conv2d(x, _depthwise(f.flip([0, 1]), x.shape[1], gain), groups=x.shape[1])


class FullyConnectedLayer(nn.Module):
    """A dense layer with the equalized learning rate: the weight is stored [out, in] at
    unit variance / lr_multiplier and used times lr_multiplier / sqrt(in)."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        activation: str = "linear",
        lr_multiplier: float = 1.0,
        bias_init: float = 0.0,
    ) -> None:
        super().__init__()
        self.activation = activation
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_multiplier)
        self.bias = nn.Parameter(torch.full([out_features], float(bias_init)))
        self.weight_gain = lr_multiplier / math.sqrt(in_features)
        self.bias_gain = lr_multiplier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.matmul((self.weight * self.weight_gain).t())
        return bias_act(x, self.bias * self.bias_gain, self.activation)


class MappingNetwork(nn.Module):
    """z (and an embedded label) -> w, broadcast to `num_ws` rows and truncated towards the
    tracked average `w_avg` by psi."""

    def __init__(
        self,
        z_dim: int,
        c_dim: int,
        w_dim: int,
        num_ws: int,
        num_layers: int = 8,
        embed_features: int | None = None,
        layer_features: int | None = None,
        activation: str = "lrelu",
        lr_multiplier: float = 0.01,
    ) -> None:
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim = z_dim, c_dim, w_dim
        self.num_ws, self.num_layers = num_ws, num_layers
        embed = (embed_features or w_dim) if c_dim > 0 else 0
        hidden = layer_features or w_dim
        sizes = [z_dim + embed] + [hidden] * (num_layers - 1) + [w_dim]
        if c_dim > 0:
            self.embed = FullyConnectedLayer(c_dim, embed)
        for i in range(num_layers):
            layer = FullyConnectedLayer(sizes[i], sizes[i + 1], activation, lr_multiplier)
            setattr(self, f"fc{i}", layer)
        self.register_buffer("w_avg", torch.zeros(w_dim))

    def forward(
        self, z: torch.Tensor, c: torch.Tensor | None, psi: torch.Tensor | float = 1.0
    ) -> torch.Tensor:
        """ws [N, num_ws, w_dim]; `psi` a number or one per row [N]."""
        parts = []
        if self.z_dim > 0:
            parts.append(normalize_2nd_moment(z))
        if self.c_dim > 0:
            parts.append(normalize_2nd_moment(self.embed(c)))
        x = torch.cat(parts, dim=1) if len(parts) > 1 else parts[0]
        for i in range(self.num_layers):
            x = getattr(self, f"fc{i}")(x)
        x = x.unsqueeze(1).repeat(1, self.num_ws, 1)
        if isinstance(psi, torch.Tensor):
            return self.w_avg.lerp(x, psi.reshape(-1, 1, 1))
        return x if psi == 1 else self.w_avg.lerp(x, psi)


def modulated_conv2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    styles: torch.Tensor,
    demodulate: bool = True,
    up: bool = False,
    resample_filter: torch.Tensor | None = None,
) -> torch.Tensor:
    """Convolution with weights scaled per sample by `styles` [N, in] (and normalised per
    output channel when `demodulate`), computed on the activations so the batch shares one
    weight; `up` doubles H and W (transposed convolution, then the low-pass filter)."""
    x = x * styles.reshape(*styles.shape, 1, 1)
    if up:
        # the transposed convolution gives 2H + k - 2 samples; the filter's padding brings
        # them back to 2H, centred as zero insertion followed by the filter would be
        x = F.conv_transpose2d(x, weight.transpose(0, 1), stride=2)
        k, taps = weight.shape[-1], resample_filter.shape[-1]
        pad = (k // 2 + (taps + 1) // 2 - (k - 1), k // 2 + (taps - 2) // 2 - (k - 2))
        x = blur(x, resample_filter, pad, 4.0)
    else:
        x = F.conv2d(x, weight, padding=weight.shape[-1] // 2)
    if demodulate:
        energy = styles.square().matmul(weight.square().sum(dim=[2, 3]).t())  # [N, out]
        x = x * (energy + 1e-8).rsqrt().reshape(*energy.shape, 1, 1)
    return x


class SynthesisLayer(nn.Module):
    """Modulated 3x3 convolution (optionally up-sampling), constant noise, bias, leaky ReLU."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        w_dim: int,
        resolution: int,
        up: bool = False,
        kernel_size: int = 3,
        use_noise: bool = True,
        resample_filter: Sequence[float] = FIR,
        conv_clamp: float | None = None,
    ) -> None:
        super().__init__()
        self.resolution, self.up, self.use_noise = resolution, up, use_noise
        self.conv_clamp = conv_clamp
        self.register_buffer("resample_filter", fir_filter(resample_filter))
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        shape = [out_channels, in_channels, kernel_size, kernel_size]
        self.weight = nn.Parameter(torch.randn(shape))
        if use_noise:
            self.register_buffer("noise_const", torch.randn(resolution, resolution))
            self.noise_strength = nn.Parameter(torch.zeros([]))
        self.bias = nn.Parameter(torch.zeros(out_channels))

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        x = modulated_conv2d(
            x, self.weight, self.affine(w), up=self.up, resample_filter=self.resample_filter
        )
        if self.use_noise:
            x = x + self.noise_const * self.noise_strength
        return bias_act(x, self.bias, "lrelu", clamp=self.conv_clamp)


class ToRGBLayer(nn.Module):
    """1x1 modulated convolution to colours, without demodulation."""

    def __init__(
        self, in_channels: int, out_channels: int, w_dim: int, conv_clamp: float | None = None
    ) -> None:
        super().__init__()
        self.conv_clamp = conv_clamp
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, 1, 1))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.weight_gain = 1 / math.sqrt(in_channels)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        styles = self.affine(w) * self.weight_gain
        x = modulated_conv2d(x, self.weight, styles, demodulate=False)
        return bias_act(x, self.bias, clamp=self.conv_clamp)


class SynthesisBlock(nn.Module):
    """One resolution: (the learned constant, or the previous features up-sampled by conv0),
    conv1, and torgb added to the up-sampled image so far (the `skip` architecture)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        w_dim: int,
        resolution: int,
        img_channels: int,
        resample_filter: Sequence[float] = FIR,
        conv_clamp: float | None = 256,
        use_noise: bool = True,
    ) -> None:
        super().__init__()
        self.first = in_channels == 0
        self.register_buffer("resample_filter", fir_filter(resample_filter))
        layer = {
            "w_dim": w_dim,
            "resolution": resolution,
            "use_noise": use_noise,
            "resample_filter": resample_filter,
            "conv_clamp": conv_clamp,
        }
        if self.first:
            self.const = nn.Parameter(torch.randn(out_channels, resolution, resolution))
        else:
            self.conv0 = SynthesisLayer(in_channels, out_channels, up=True, **layer)
        self.conv1 = SynthesisLayer(out_channels, out_channels, **layer)
        self.torgb = ToRGBLayer(out_channels, img_channels, w_dim, conv_clamp)
        self.num_conv = 1 if self.first else 2
        self.num_torgb = 1

    def forward(
        self, x: torch.Tensor | None, img: torch.Tensor | None, ws: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if self.first:
            x = self.const.unsqueeze(0).expand(ws.shape[0], -1, -1, -1)
            x = self.conv1(x, ws[:, 0])
        else:
            x = self.conv1(self.conv0(x, ws[:, 0]), ws[:, 1])
        y = self.torgb(x, ws[:, self.num_conv])
        img = y if img is None else upsample2x(img, self.resample_filter) + y
        return x, img


class SynthesisNetwork(nn.Module):
    """ws [N, num_ws, w_dim] -> image [N, C, R, R]: blocks b4 ... b<R>, channels
    min(channel_base / res, channel_max); a block's ws overlap the next one's by its torgb."""

    def __init__(
        self,
        w_dim: int,
        img_resolution: int,
        img_channels: int,
        channel_base: int = 32768,
        channel_max: int = 512,
        **block_kwargs,
    ) -> None:
        super().__init__()
        if img_resolution < 4 or img_resolution & (img_resolution - 1):
            raise ValueError(f"img_resolution {img_resolution} is not a power of two >= 4")
        self.w_dim, self.img_resolution = w_dim, img_resolution
        self.block_resolutions = [2**i for i in range(2, img_resolution.bit_length())]
        channels = {r: min(channel_base // r, channel_max) for r in self.block_resolutions}
        self.num_ws = 0
        for res in self.block_resolutions:
            block = SynthesisBlock(
                channels[res // 2] if res > 4 else 0,
                channels[res],
                w_dim,
                res,
                img_channels,
                **block_kwargs,
            )
            self.num_ws += block.num_conv
            setattr(self, f"b{res}", block)
        self.num_ws += block.num_torgb

    def forward(self, ws: torch.Tensor) -> torch.Tensor:
        x = img = None
        start = 0
        for res in self.block_resolutions:
            block = getattr(self, f"b{res}")
            x, img = block(x, img, ws[:, start : start + block.num_conv + block.num_torgb])
            start += block.num_conv
        return img


class MappedGenerator(nn.Module):
    """z [N, z_dim], c [N, c_dim] (one-hot labels; ignored when c_dim is 0), psi -> image
    [N, C, R, R]: the mapping network's ws through a synthesis network. StyleGAN2's and
    StyleGAN3's generators differ only in theirs and in their mapping's default depth."""

    synthesis_network: Callable[..., nn.Module]
    mapping_layers: int

    def __init__(
        self,
        z_dim: int,
        c_dim: int,
        w_dim: int,
        img_resolution: int,
        img_channels: int,
        mapping_kwargs: dict | None = None,
        **synthesis_kwargs,
    ) -> None:
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim = z_dim, c_dim, w_dim
        self.img_resolution, self.img_channels = img_resolution, img_channels
        self.synthesis = self.synthesis_network(
            w_dim, img_resolution, img_channels, **synthesis_kwargs
        )
        self.num_ws = self.synthesis.num_ws
        mapping = {"num_layers": self.mapping_layers, **(mapping_kwargs or {})}
        self.mapping = MappingNetwork(z_dim, c_dim, w_dim, self.num_ws, **mapping)

    def forward(
        self, z: torch.Tensor, c: torch.Tensor | None, truncation_psi: torch.Tensor | float = 1.0
    ) -> torch.Tensor:
        return self.synthesis(self.mapping(z, c, truncation_psi))


class Generator(MappedGenerator):
    """z [N, z_dim], c [N, c_dim] (one-hot labels; ignored when c_dim is 0), psi -> image
    [N, C, R, R] in about [-1, 1]: NVIDIA's G(z, c, truncation_psi, noise_mode='const')."""

    synthesis_network = SynthesisNetwork
    mapping_layers = 8
