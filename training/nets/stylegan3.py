"""StyleGAN3's generator (Karras et al. 2021, "Alias-Free Generative Adversarial Networks",
configs T and R) for inference, written from the paper in plain torch operations.

The synthesis network starts from Fourier features (`SynthesisInput`: fixed random
frequencies and phases, rotated and translated per sample by an affine map of w), followed
by layers that each run a modulated convolution, then the alias-free nonlinearity: bias,
up-sampling through a low-pass filter, leaky ReLU, low-pass filter and down-sampling
(`filtered_lrelu`). The filters are Kaiser-windowed sincs (config R: radially symmetric
jinc down-filters) designed here in numpy; a snapshot stores them as buffers anyway. The
layer schedule (cutoffs, stopbands, sampling rates, sizes, channels) follows the paper's
appendix F. The mapping network is StyleGAN2's with its hidden and embedding widths equal
to w_dim.

Submodule names follow NVIDIA's snapshots (`synthesis.input`, `synthesis.L{i}_{size}_{ch}`,
`affine`, `weight`, `bias`, `magnitude_ema`, `up_filter`, `down_filter`) so their G_ema
loads strictly. Modulation scales the activations, not per-sample weights, and the styles
are normalised per row (the paper's per-batch normalisation cancels in demodulation but for
its epsilon): no batch-sized grouped convolution, so exports keep a dynamic batch and each
row is computed as if alone.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from training.nets.stylegan2 import FullyConnectedLayer, MappedGenerator

# Options of the synthesis network (and its layers) that a snapshot may record.
OPTIONS = {
    "channel_base",
    "channel_max",
    "num_layers",
    "num_critical",
    "first_cutoff",
    "first_stopband",
    "last_stopband_rel",
    "margin_size",
    "output_scale",
    "conv_kernel",
    "filter_size",
    "lrelu_upsampling",
    "use_radial_filters",
    "conv_clamp",
}


def _kaiser_beta(numtaps: int, width: float) -> float:
    """Kaiser's empirical window parameter for a transition `width` (a fraction of Nyquist)."""
    attenuation = 2.285 * (numtaps - 1) * math.pi * width + 7.95
    if attenuation > 50:
        return 0.1102 * (attenuation - 8.7)
    if attenuation > 21:
        return 0.5842 * (attenuation - 21) ** 0.4 + 0.07886 * (attenuation - 21)
    return 0.0


def lowpass_filter(
    numtaps: int, cutoff: float, width: float, fs: float, radial: bool = False
) -> torch.Tensor | None:
    """A Kaiser-windowed ideal low-pass: a 1D sinc (separable), or with `radial` a 2D jinc,
    normalised to unit gain at DC; None for a single tap (no filtering)."""
    if numtaps == 1:
        return None
    beta = _kaiser_beta(numtaps, width / (fs / 2))
    window = np.kaiser(numtaps, beta)
    if not radial:
        band = cutoff / (fs / 2)
        taps = band * np.sinc(band * (np.arange(numtaps) - (numtaps - 1) / 2)) * window
        return torch.as_tensor(taps / taps.sum(), dtype=torch.float32)
    x = (np.arange(numtaps) - (numtaps - 1) / 2) / fs
    r = torch.as_tensor(np.hypot(*np.meshgrid(x, x)), dtype=torch.float64)
    arg = 2 * math.pi * cutoff * r
    jinc = torch.where(r > 0, torch.special.bessel_j1(arg) / (math.pi * r), cutoff)
    f = jinc.numpy() * np.outer(window, window)
    return torch.as_tensor(f / f.sum(), dtype=torch.float32)


def _axis_fir(
    x: torch.Tensor, f: torch.Tensor, axis: int, up: int, down: int, pad: tuple[int, int]
) -> torch.Tensor:
    """Along one axis (2: H, 3: W): insert up-1 zeros after each sample, zero-pad (crop
    where negative), convolve each channel with the taps `f`, keep every down-th sample."""
    c = x.shape[1]
    if up > 1 and axis == 3:  # [N, C, H, W, 1] -> [N, C, H, W, up] -> [N, C, H, W * up]
        x = F.pad(x.unsqueeze(4), [0, up - 1]).flatten(3)
    elif up > 1:  # [N, C, H, 1, W] -> [N, C, H, up, W] -> [N, C, H * up, W]
        x = F.pad(x.unsqueeze(3), [0, 0, 0, up - 1]).flatten(2, 3)
    lo, hi = pad
    x = F.pad(x, [lo, hi, 0, 0] if axis == 3 else [0, 0, lo, hi])
    k = f.flip(0)
    weight = k.reshape(1, 1, -1, 1) if axis == 2 else k.reshape(1, 1, 1, -1)
    stride = (down, 1) if axis == 2 else (1, down)
    return F.conv2d(x, weight.expand(c, -1, -1, -1), stride=stride, groups=c)


def upfirdn2d(
    x: torch.Tensor,
    f: torch.Tensor | None,
    up: int = 1,
    down: int = 1,
    padding: tuple[int, int, int, int] = (0, 0, 0, 0),
    gain: float = 1.0,
) -> torch.Tensor:
    """Up-sample by zero insertion, pad (x0, x1, y0, y1), filter, down-sample; `f` is 1D
    (applied along W then H) or 2D; None is the identity filter."""
    px0, px1, py0, py1 = padding
    if f is None and up == down == 1:
        return F.pad(x, [px0, px1, py0, py1])
    if f is None:
        f = torch.ones(1, device=x.device)
    if f.ndim == 1:
        f = f * math.sqrt(gain)
        x = _axis_fir(x, f, 3, up, down, (px0, px1))
        return _axis_fir(x, f, 2, up, down, (py0, py1))
    if up > 1 or min(padding) < 0:
        raise ValueError("2D filters are only used to filter and down-sample")
    x = F.pad(x, [px0, px1, py0, py1])
    weight = (f * gain).flip([0, 1]).expand(x.shape[1], 1, *f.shape)
    return F.conv2d(x, weight, stride=down, groups=x.shape[1])


def filtered_lrelu(
    x: torch.Tensor,
    fu: torch.Tensor | None,
    fd: torch.Tensor | None,
    bias: torch.Tensor,
    up: int,
    down: int,
    padding: tuple[int, int, int, int],
    gain: float,
    slope: float,
    clamp: float | None,
) -> torch.Tensor:
    """The alias-free nonlinearity: bias, up-sample through fu, leaky ReLU (times gain,
    clipped), then filter with fd and down-sample."""
    x = x + bias.reshape(1, -1, 1, 1)
    x = upfirdn2d(x, fu, up=up, padding=padding, gain=up**2)
    x = F.leaky_relu(x, slope) if slope != 1 else x
    if gain != 1:
        x = x * gain
    if clamp is not None:
        x = x.clamp(-clamp, clamp)
    return upfirdn2d(x, fd, down=down)


class SynthesisInput(nn.Module):
    """Fourier features on a grid of `size` pixels at `sampling_rate`, their frequencies
    rotated and phases shifted per sample by (cos, sin, tx, ty) = affine(w), then mixed by
    a learned channel matrix. `transform` is a user-set inverse transform of the image: the
    buffer (what NVIDIA's gen_images.py overwrites), or per row [N, 3, 3] in its place."""

    def __init__(
        self, w_dim: int, channels: int, size: int, sampling_rate: float, bandwidth: float
    ) -> None:
        super().__init__()
        self.channels, self.size = channels, int(size)
        self.sampling_rate, self.bandwidth = float(sampling_rate), float(bandwidth)
        freqs = torch.randn(channels, 2)
        radii = freqs.square().sum(dim=1, keepdim=True).sqrt()
        freqs = freqs / (radii * radii.square().exp().pow(0.25)) * bandwidth
        self.weight = nn.Parameter(torch.randn(channels, channels))
        self.affine = FullyConnectedLayer(w_dim, 4)
        with torch.no_grad():  # starts as the identity transform
            self.affine.weight.zero_()
            self.affine.bias.copy_(torch.tensor([1.0, 0.0, 0.0, 0.0]))
        self.register_buffer("transform", torch.eye(3))
        self.register_buffer("freqs", freqs)
        self.register_buffer("phases", torch.rand(channels) - 0.5)

    def forward(self, w: torch.Tensor, transform: torch.Tensor | None = None) -> torch.Tensor:
        t = self.affine(w)
        t = t / t[:, :2].norm(dim=1, keepdim=True)
        cos, sin, tx, ty = t.unbind(dim=1)
        zero, one = torch.zeros_like(cos), torch.ones_like(cos)
        rotate = torch.stack(
            [
                torch.stack([cos, -sin, zero], 1),
                torch.stack([sin, cos, zero], 1),
                torch.stack([zero, zero, one], 1),
            ],
            1,
        )
        shift = torch.stack(
            [
                torch.stack([one, zero, -tx], 1),
                torch.stack([zero, one, -ty], 1),
                torch.stack([zero, zero, one], 1),
            ],
            1,
        )
        m = rotate @ shift @ (self.transform if transform is None else transform)
        phases = self.phases + (self.freqs @ m[:, :2, 2:]).squeeze(2)  # [N, C]
        freqs = self.freqs @ m[:, :2, :2]  # [N, C, 2]
        nyquist = self.sampling_rate / 2
        amplitudes = (1 - (freqs.norm(dim=2) - self.bandwidth) / (nyquist - self.bandwidth)).clamp(
            0, 1
        )
        # pixel centres, in units of the sampling rate, centred on the image
        coords = (
            torch.arange(self.size, device=w.device) + 0.5 - self.size / 2
        ) / self.sampling_rate
        fx, fy = freqs[:, None, None, :, 0], freqs[:, None, None, :, 1]  # [N, 1, 1, C]
        x = coords.reshape(1, 1, -1, 1) * fx + coords.reshape(1, -1, 1, 1) * fy
        x = torch.sin((x + phases[:, None, None]) * (2 * math.pi)) * amplitudes[:, None, None]
        x = x @ (self.weight / math.sqrt(self.channels)).t()  # [N, H, W, C]
        return x.permute(0, 3, 1, 2)


class SynthesisLayer(nn.Module):
    """A modulated convolution (padding kernel-1), then `filtered_lrelu`; the last layer
    (`is_torgb`) is a 1x1 convolution without demodulation and with a linear output."""

    def __init__(
        self,
        w_dim: int,
        is_torgb: bool,
        is_critically_sampled: bool,
        in_channels: int,
        out_channels: int,
        in_size: int,
        out_size: int,
        in_sampling_rate: int,
        out_sampling_rate: int,
        in_cutoff: float,
        out_cutoff: float,
        in_half_width: float,
        out_half_width: float,
        conv_kernel: int = 3,
        filter_size: int = 6,
        lrelu_upsampling: int = 2,
        use_radial_filters: bool = False,
        conv_clamp: float | None = 256,
    ) -> None:
        super().__init__()
        self.is_torgb, self.in_channels, self.out_channels = is_torgb, in_channels, out_channels
        self.out_size = out_size
        self.conv_kernel = 1 if is_torgb else conv_kernel
        self.conv_clamp = conv_clamp
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        k = self.conv_kernel
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, k, k))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.register_buffer("magnitude_ema", torch.ones([]))
        tmp_rate = max(in_sampling_rate, out_sampling_rate) * (1 if is_torgb else lrelu_upsampling)
        self.up = round(tmp_rate / in_sampling_rate)
        self.down = round(tmp_rate / out_sampling_rate)
        up_taps = filter_size * self.up if self.up > 1 and not is_torgb else 1
        down_taps = filter_size * self.down if self.down > 1 and not is_torgb else 1
        radial = use_radial_filters and not is_critically_sampled
        self.register_buffer(
            "up_filter", lowpass_filter(up_taps, in_cutoff, in_half_width * 2, tmp_rate)
        )
        self.register_buffer(
            "down_filter",
            lowpass_filter(down_taps, out_cutoff, out_half_width * 2, tmp_rate, radial),
        )
        # pad so that the output has out_size samples, centred (the paper's appendix C.3)
        total = (out_size - 1) * self.down + 1 - (in_size + k - 1) * self.up
        total += up_taps + down_taps - 2
        lo = (total + self.up) // 2
        self.padding = (lo, total - lo, lo, total - lo)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        styles = self.affine(w)
        weight = self.weight
        if self.is_torgb:
            styles = styles / math.sqrt(self.in_channels * self.conv_kernel**2)
        else:  # both normalised first (for range); the demodulation cancels their scale
            weight = weight * weight.square().mean(dim=[1, 2, 3], keepdim=True).rsqrt()
            styles = styles * styles.square().mean(dim=1, keepdim=True).rsqrt()
        x = x * (styles * self.magnitude_ema.rsqrt()).unsqueeze(2).unsqueeze(3)
        x = F.conv2d(x, weight, padding=self.conv_kernel - 1)
        if not self.is_torgb:
            energy = styles.square().matmul(weight.square().sum(dim=[2, 3]).t())
            x = x * (energy + 1e-8).rsqrt().unsqueeze(2).unsqueeze(3)
        return filtered_lrelu(
            x,
            self.up_filter,
            self.down_filter,
            self.bias,
            self.up,
            self.down,
            self.padding,
            gain=1.0 if self.is_torgb else math.sqrt(2),
            slope=1.0 if self.is_torgb else 0.2,
            clamp=self.conv_clamp,
        )


class SynthesisNetwork(nn.Module):
    """ws [N, num_ws, w_dim] -> image: the input layer, `num_layers` layers whose cutoff
    rises geometrically from `first_cutoff` to half the resolution (the last `num_critical`
    critically sampled), and the toRGB layer; times `output_scale`."""

    def __init__(
        self,
        w_dim: int,
        img_resolution: int,
        img_channels: int,
        channel_base: int = 32768,
        channel_max: int = 512,
        num_layers: int = 14,
        num_critical: int = 2,
        first_cutoff: float = 2,
        first_stopband: float = 2**2.1,
        last_stopband_rel: float = 2**0.3,
        margin_size: int = 10,
        output_scale: float = 0.25,
        **layer_kwargs,
    ) -> None:
        super().__init__()
        self.w_dim, self.img_resolution = w_dim, img_resolution
        self.num_ws = num_layers + 2
        self.output_scale = output_scale
        last_cutoff = img_resolution / 2
        last_stopband = last_cutoff * last_stopband_rel
        exponents = np.minimum(np.arange(num_layers + 1) / (num_layers - num_critical), 1)
        cutoffs = first_cutoff * (last_cutoff / first_cutoff) ** exponents
        stopbands = first_stopband * (last_stopband / first_stopband) ** exponents
        rates = np.exp2(np.ceil(np.log2(np.minimum(stopbands * 2, img_resolution))))
        half_widths = np.maximum(stopbands, rates / 2) - cutoffs
        sizes = rates + margin_size * 2
        sizes[-2:] = img_resolution
        channels = np.rint(np.minimum((channel_base / 2) / cutoffs, channel_max))
        channels[-1] = img_channels
        self.input = SynthesisInput(w_dim, int(channels[0]), int(sizes[0]), rates[0], cutoffs[0])
        self.layer_names = []
        for i in range(num_layers + 1):
            prev = max(i - 1, 0)
            layer = SynthesisLayer(
                w_dim=w_dim,
                is_torgb=i == num_layers,
                is_critically_sampled=i >= num_layers - num_critical,
                in_channels=int(channels[prev]),
                out_channels=int(channels[i]),
                in_size=int(sizes[prev]),
                out_size=int(sizes[i]),
                in_sampling_rate=int(rates[prev]),
                out_sampling_rate=int(rates[i]),
                in_cutoff=float(cutoffs[prev]),
                out_cutoff=float(cutoffs[i]),
                in_half_width=float(half_widths[prev]),
                out_half_width=float(half_widths[i]),
                **layer_kwargs,
            )
            name = f"L{i}_{int(sizes[i])}_{int(channels[i])}"
            setattr(self, name, layer)
            self.layer_names.append(name)

    def forward(self, ws: torch.Tensor, transform: torch.Tensor | None = None) -> torch.Tensor:
        """`transform` [N, 3, 3]: each row's input transform instead of the stored buffer."""
        x = self.input(ws[:, 0], transform)
        for i, name in enumerate(self.layer_names, start=1):
            x = getattr(self, name)(x, ws[:, i])
        return x * self.output_scale if self.output_scale != 1 else x


class Generator(MappedGenerator):
    """z, c (one-hot; ignored when c_dim is 0), psi -> image: NVIDIA's StyleGAN3
    G(z, c, truncation_psi) (it has no noise inputs)."""

    synthesis_network = SynthesisNetwork
    mapping_layers = 2
