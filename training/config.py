"""Every training knob, named once (like the CycleGAN authors' options file).

A run is described by one flat `Config`; JSON files under training/configs/ set some fields
and `--set key=value` overrides them. Validation names the offending option.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

FAMILIES = ("dcgan", "cgan", "cyclegan", "toy2d")
LOSSES = ("minimax", "nonsat", "wgan-gp", "hinge", "lsgan")
TOY_DATA = ("ring", "grid")


class ConfigError(ValueError):
    """A wrong option or value; the message names it."""


def _opt(default: Any, help: str, **kw: Any) -> Any:
    return field(default=default, metadata={"help": help, **kw})


@dataclass
class Config:
    family: str = _opt("dcgan", "model family", choices=FAMILIES)
    name: str = _opt("run", "run name; also the default exported model name")
    # data
    data: str = _opt("", "npz file, class-folder root, trainA/trainB root, or ring/grid (toy2d)")
    train_count: int = _opt(0, "npz: use the first N examples for training (0 = all)")
    image_size: int = _opt(32, "dcgan/cgan: side the images are resized to (32, 64 or 128)")
    channels: int = _opt(1, "dcgan/cgan: image channels (1 or 3)")
    classes: list = field(
        default_factory=list,
        metadata={"help": "cgan: class names in label order (default: labels or folder names)"},
    )
    downscale: int = _opt(
        1,
        "cyclegan: the generators work at 1/N of a photo's resolution (1, 2 or 4): training "
        "photos are resized to load_size as usual, and the exported model shrinks a photo by N, "
        "translates it, enlarges the result and adds back the photo's own finer detail",
        choices=(1, 2, 4),
    )
    load_size: int = _opt(286, "cyclegan: resize photos to this side before cropping")
    crop_size: int = _opt(256, "cyclegan: random crop side (a multiple of 4)")
    flip: bool = _opt(True, "cyclegan: random horizontal flips")
    domains: list = field(
        default_factory=lambda: ["a", "b"],
        metadata={"help": "cyclegan: names of domain A and B"},
    )
    holdout: list = field(
        default_factory=lambda: [0, 0],
        metadata={
            "help": "cyclegan: the last N photos of trainA and of trainB (sorted by name) are "
            "held out for validation and never trained on"
        },
    )
    val_images: int = _opt(4, "cyclegan: fixed validation photos per domain for samples")
    # networks
    z_dim: int = _opt(100, "latent size (toy2d: 2 is usual)")
    ngf: int = _opt(64, "generator width")
    ndf: int = _opt(64, "discriminator width")
    embed_dim: int = _opt(50, "cgan: label embedding size concatenated to z")
    cond_d: str = _opt(
        "projection", "cgan: projection or concat discriminator", choices=("projection", "concat")
    )
    g_cond: str = _opt(
        "embed",
        "cgan: label into G as an embedding concatenated to z, or also class-conditional "
        "batch norm in every G layer",
        choices=("embed", "cbn"),
    )
    aux_weight: float = _opt(
        0.0, "cgan: weight of an AC-GAN auxiliary classifier loss in D (real) and G (0 = off)"
    )
    d_norm: str = _opt("batch", "dcgan/cgan discriminator norm", choices=("batch", "none"))
    n_blocks: int = _opt(9, "cyclegan: ResNet blocks in G")
    upsample: str = _opt(
        "transpose",
        "cyclegan: G upsampling, transposed conv or nearest resize + conv (no checkerboard)",
        choices=("transpose", "resize"),
    )
    d_layers: int = _opt(3, "cyclegan: PatchGAN layers (3 = 70x70 receptive field)")
    init_from: str = _opt(
        "",
        "cyclegan: start both generators from an exported translation model folder (its "
        "ONNX weights; same ngf, n_blocks, upsample) to fine-tune it; D starts fresh",
    )
    hidden: int = _opt(128, "toy2d: MLP width")
    depth: int = _opt(3, "toy2d: MLP hidden layers")
    # objective and stabilisers
    loss: str = _opt("nonsat", "adversarial loss", choices=LOSSES)
    gp_weight: float = _opt(10.0, "wgan-gp: gradient penalty weight")
    r1_gamma: float = _opt(
        0.0,
        "dcgan/cgan/toy2d: R1 penalty gamma/2 * E||grad D(real)||^2 on real data "
        "(Mescheder et al. 2018; 0 = off)",
    )
    spectral_norm: bool = _opt(False, "spectral norm on every D layer")
    d_steps: int = _opt(1, "discriminator steps per generator step")
    label_smoothing: float = _opt(0.0, "one-sided: real targets are 1 - this")
    ema_decay: float = _opt(0.999, "EMA of G weights (0 = off; export uses EMA)")
    lambda_cycle: float = _opt(10.0, "cyclegan: cycle-consistency weight")
    lambda_identity: float = _opt(0.5, "cyclegan: identity weight, times lambda_cycle")
    pool_size: int = _opt(50, "cyclegan: image pool of past fakes (0 = off)")
    lr: float = _opt(2e-4, "Adam learning rate (G and D)")
    beta1: float = _opt(0.5, "Adam beta1")
    beta2: float = _opt(0.999, "Adam beta2")
    decay_steps: int = _opt(0, "linear LR decay to 0 over the last N steps (0 = constant)")
    # loop
    steps: int = _opt(1000, "generator steps")
    batch_size: int = _opt(64, "batch size per process")
    seed: int = _opt(0, "seed for weights, data order, noise")
    device: str = _opt(
        "auto", "auto (CUDA when present), cpu or cuda", choices=("auto", "cpu", "cuda")
    )
    amp: str = _opt(
        "auto",
        "bf16 autocast: auto (whichever of bf16 and fp32 ran a timed training step faster on "
        "this machine; training/precision.py), bf16, off",
        choices=("auto", "bf16", "off"),
    )
    channels_last: str = _opt(
        "auto",
        "channels_last memory: auto (timed with amp), on or off",
        choices=("auto", "on", "off"),
    )
    threads: int = _opt(0, "torch CPU threads (0 = torch's default)")
    max_seconds: float = _opt(
        0.0,
        "stop this call, with a checkpoint, before a step that would end past N seconds of "
        "training (0 = no limit)",
    )
    preload: bool = _opt(
        False,
        "cyclegan: decode and resize every photo once into memory (about 0.25 MB each at "
        "load_size 286) rather than at every step, for a GPU that outruns JPEG decoding",
    )
    log_every: int = _opt(50, "steps between metric lines")
    sample_every: int = _opt(500, "steps between sample grids (0 = only at the end)")
    checkpoint_every: int = _opt(200, "steps between checkpoints (a kill loses at most this)")
    out_dir: str = _opt("runs", "runs are written to OUT_DIR/NAME")
    progress: bool = _opt(True, "tqdm progress bar")
    # mode-collapse monitor (docs/evaluation.md): off unless monitor_every > 0
    monitor_every: int = _opt(
        0, "steps between mode-collapse checks of a fixed batch of samples (0 = off)"
    )
    monitor_judge: str = _opt("", "dcgan/cgan: judge folder the monitor scores samples with")
    monitor_n: int = _opt(1000, "samples in the monitor's batch (seeds 0..N-1, fixed)")

    def validate(self) -> Config:
        for f in fields(self):
            choices = f.metadata.get("choices")
            if choices and getattr(self, f.name) not in choices:
                raise ConfigError(f"{f.name}={getattr(self, f.name)!r}: choose from {choices}")
        positive = (
            "steps",
            "batch_size",
            "d_steps",
            "z_dim",
            "ngf",
            "ndf",
            "log_every",
            "checkpoint_every",
            "hidden",
            "depth",
            "embed_dim",
            "val_images",
        )
        for name in positive:
            if getattr(self, name) < 1:
                raise ConfigError(f"{name}={getattr(self, name)!r}: must be at least 1")
        for name in (
            "train_count",
            "sample_every",
            "pool_size",
            "decay_steps",
            "n_blocks",
            "threads",
        ):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name}={getattr(self, name)!r}: must not be negative")
        if self.max_seconds < 0:
            raise ConfigError(f"max_seconds={self.max_seconds}: must not be negative")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ConfigError(f"ema_decay={self.ema_decay}: must be in [0, 1)")
        if not 0.0 <= self.label_smoothing < 0.5:
            raise ConfigError(f"label_smoothing={self.label_smoothing}: must be in [0, 0.5)")
        if self.decay_steps > self.steps:
            raise ConfigError(f"decay_steps={self.decay_steps}: more than steps={self.steps}")
        if not self.data:
            raise ConfigError("data: a data path (or ring/grid for toy2d) is required")
        if self.family in ("dcgan", "cgan"):
            if self.image_size not in (16, 32, 64, 128):
                raise ConfigError(f"image_size={self.image_size}: use 16, 32, 64 or 128")
            if self.channels not in (1, 3):
                raise ConfigError(f"channels={self.channels}: use 1 or 3")
        if self.r1_gamma < 0 or (self.r1_gamma and self.family == "cyclegan"):
            raise ConfigError(f"r1_gamma={self.r1_gamma}: a weight >= 0, not for cyclegan")
        if self.init_from and self.family != "cyclegan":
            raise ConfigError(f"init_from={self.init_from!r}: only cyclegan can start from one")
        if self.family == "cyclegan":
            if self.crop_size % 4 or self.crop_size > self.load_size:
                raise ConfigError(f"crop_size={self.crop_size}: a multiple of 4, <= load_size")
            if self.crop_size < 2 ** (self.d_layers + 2):
                raise ConfigError(
                    f"crop_size={self.crop_size}: d_layers={self.d_layers} "
                    f"needs at least {2 ** (self.d_layers + 2)}"
                )
            if len(self.domains) != 2:
                raise ConfigError(f"domains={self.domains}: name exactly two domains")
            self.holdout = _counts("holdout", self.holdout, 2)
        if self.aux_weight < 0 or (self.aux_weight and self.family != "cgan"):
            raise ConfigError(f"aux_weight={self.aux_weight}: a weight >= 0, for cgan only")
        if self.monitor_every:
            _check_monitor(self)
        if self.data.startswith("stacked:") and (self.family != "dcgan" or self.channels != 3):
            raise ConfigError(f"data={self.data!r}: Stacked MNIST is for dcgan with channels=3")
        if self.family == "toy2d" and self.data not in TOY_DATA:
            raise ConfigError(f"data={self.data!r}: toy2d data is one of {TOY_DATA}")
        return self

    @property
    def run_dir(self) -> Path:
        return Path(self.out_dir) / self.name

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _check_monitor(cfg: Config) -> None:
    if cfg.monitor_every < 0:
        raise ConfigError(f"monitor_every={cfg.monitor_every}: must not be negative")
    if cfg.monitor_n < 10:
        raise ConfigError(f"monitor_n={cfg.monitor_n}: must be at least 10")
    if cfg.family == "cyclegan":
        raise ConfigError("monitor_every: cyclegan has no classes or modes to monitor; use 0")
    if cfg.family in ("dcgan", "cgan") and not cfg.monitor_judge:
        raise ConfigError("monitor_judge: the monitor needs a judge folder (e.g. judges/mnist)")


def _counts(name: str, values: list, length: int) -> list[int]:
    """A list of `length` counts >= 0; `--set holdout=66,134` gives strings."""
    try:
        counts = [int(v) for v in values]
    except (TypeError, ValueError):
        counts = []
    if len(counts) != length or min(counts) < 0:
        raise ConfigError(f"{name}={values!r}: expected {length} counts >= 0")
    return counts


def _parse(f: dataclasses.Field, text: str) -> Any:
    kind = type(f.default) if f.default is not dataclasses.MISSING else list
    try:
        if kind is bool:
            if text.lower() in ("1", "true", "yes", "on"):
                return True
            if text.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError("expected true or false")
        if kind is list:
            return json.loads(text) if text.startswith("[") else text.split(",")
        return kind(text)
    except ValueError as exc:
        raise ConfigError(f"{f.name}={text!r}: {exc}") from None


def build(values: dict[str, Any], overrides: list[str] = ()) -> Config:
    """A validated Config from a dict (a config file) and `key=value` overrides."""
    known = {f.name: f for f in fields(Config)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConfigError(f"unknown option(s) {unknown}; see --help")
    values = dict(values)
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep:
            raise ConfigError(f"--set {item!r}: expected key=value")
        if key not in known:
            raise ConfigError(f"unknown option {key!r}; see --help")
        values[key] = _parse(known[key], text)
    for key, value in values.items():
        default = known[key].default
        if default is not dataclasses.MISSING and isinstance(default, bool | int | float):
            expected = (
                float
                if isinstance(default, float) and not isinstance(default, bool)
                else type(default)
            )
            if expected is float and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            if type(value) is not expected:
                raise ConfigError(f"{key}={value!r}: expected {expected.__name__}")
            values[key] = value
    return Config(**values).validate()


def load(path: Path, overrides: list[str] = (), family: str | None = None) -> Config:
    try:
        values = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"config {path}: {exc}") from None
    if family is not None:
        if values.get("family", family) != family:
            raise ConfigError(f"config {path} is for family {values['family']!r}, not {family!r}")
        values["family"] = family
    return build(values, overrides)


def describe_options() -> str:
    """One line per option, for --help."""
    lines = []
    for f in fields(Config):
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        lines.append(f"  {f.name:<17} {f.metadata['help']} [default: {default!r}]")
    return "\n".join(lines)
