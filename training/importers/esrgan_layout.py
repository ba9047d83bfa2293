"""Which ESRGAN-family network a state_dict holds, and with which options, read from its keys
and shapes alone, so a checkpoint imports with no option given. (A 6-block network loaded
as the 23-block default fails with missing keys: the usual trap with these releases.)

An option given anyway must agree with the checkpoint: a refusal names the key that says
otherwise. The one thing the keys cannot tell is which weightless activation an
SRVGGNetCompact without PReLU weights used (ReLU or leaky ReLU 0.1): that one must be said.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import torch
from torch import nn

from training.importers.state_dict import CheckpointError
from training.nets.esrgan import ACTIVATIONS, UNSHUFFLE, RRDBNet, SRVGGNetCompact

RRDB, SRVGG = "RRDBNet", "SRVGGNetCompact"
OPTIONS = {
    RRDB: ("scale", "num_feat", "num_block", "num_grow_ch"),
    SRVGG: ("scale", "num_feat", "num_conv", "act_type"),
}
SCALES = (1, 2, 4)
WEIGHTLESS = [a for a in ACTIVATIONS if a != "prelu"]


@dataclass
class Layout:
    arch: str
    options: dict[str, int | str | None]  # OPTIONS[arch]; act_type None until said
    evidence: dict[str, str]  # option (and "arch") -> the key and shape it was read from

    @property
    def multiple_of(self) -> int:
        """What the input's sides must divide by: RRDBNet's pixel unshuffle factor."""
        return UNSHUFFLE[int(self.options["scale"])] if self.arch == RRDB else 1  # type: ignore[arg-type]

    def build(self) -> nn.Module:
        return (RRDBNet if self.arch == RRDB else SRVGGNetCompact)(**self.options)  # type: ignore[arg-type]

    def describe(self) -> str:
        o = self.options
        if self.arch == RRDB:
            return (
                f"RRDBNet x{o['scale']}, {o['num_block']} blocks, {o['num_feat']} features, "
                f"growth {o['num_grow_ch']}"
            )
        return (
            f"SRVGGNetCompact x{o['scale']}, {o['num_conv']} body convolutions, "
            f"{o['num_feat']} features, {o['act_type']}"
        )


def _shape(t: torch.Tensor) -> str:
    return str(list(t.shape))


def _few(keys: list[str]) -> str:
    return ", ".join(keys[:3]) + (", ..." if len(keys) > 3 else "")


def read(state: dict[str, torch.Tensor], name: str) -> Layout:
    """The architecture and options `state` was made with."""
    if "conv_first.weight" in state:
        return _rrdb(state, name)
    if "body.0.weight" in state:
        return _srvgg(state, name)
    raise CheckpointError(
        f"{name} is not an ESRGAN-family network: it has neither conv_first.weight (RRDBNet) "
        f"nor body.0.weight (SRVGGNetCompact); its keys are {_few(list(state))}"
    )


def _conv(state: dict[str, torch.Tensor], key: str, name: str) -> torch.Tensor:
    weight = state.get(key)
    if weight is None or weight.dim() != 4:
        found = "missing" if weight is None else f"{_shape(weight)}"
        raise CheckpointError(f"{name}: {key} is {found}, not a convolution's weight")
    return weight


def _rrdb(state: dict[str, torch.Tensor], name: str) -> Layout:
    first = _conv(state, "conv_first.weight", name)
    by_channels = {3 * u * u: scale for scale, u in UNSHUFFLE.items()}
    scale = by_channels.get(first.shape[1])
    if scale is None:
        raise CheckpointError(
            f"{name}: conv_first.weight is {_shape(first)}: {first.shape[1]} input channels, "
            "where an RGB RRDBNet takes 3 (x4), 12 (x2) or 48 (x1)"
        )
    blocks = {int(m.group(1)) for k in state if (m := re.match(r"body\.(\d+)\.", k))}
    grow = _conv(state, "body.0.rdb1.conv1.weight", name)
    last = max(blocks)
    return Layout(
        RRDB,
        {
            "scale": scale,
            "num_feat": first.shape[0],
            "num_block": last + 1,
            "num_grow_ch": grow.shape[0],
        },
        {
            "arch": "it has conv_first.weight, so it is an RRDBNet",
            "scale": f"conv_first.weight is {_shape(first)}: {first.shape[1]} input channels "
            f"make x{scale} (x4 takes 3, x2 12, x1 48)",
            "num_feat": f"conv_first.weight is {_shape(first)}: {first.shape[0]} features",
            "num_block": f"its last block is body.{last}: {last + 1} blocks",
            "num_grow_ch": f"body.0.rdb1.conv1.weight is {_shape(grow)}: growth {grow.shape[0]}",
        },
    )


def _srvgg(state: dict[str, torch.Tensor], name: str) -> Layout:
    convs = sorted(
        int(m.group(1))
        for k, v in state.items()
        if (m := re.fullmatch(r"body\.(\d+)\.weight", k)) and v.dim() == 4
    )
    first = _conv(state, "body.0.weight", name)
    if len(convs) < 2:
        raise CheckpointError(f"{name}: an SRVGGNetCompact needs two convolutions at least")
    key = f"body.{convs[-1]}.weight"
    last = state[key]
    scale = math.isqrt(last.shape[0] // 3)
    if 3 * scale * scale != last.shape[0] or scale not in SCALES:
        raise CheckpointError(
            f"{name}: {key} is {_shape(last)}: {last.shape[0]} output channels, not "
            "3 x scale^2 for scale 1, 2 or 4"
        )
    prelu = "body.1.weight" in state
    return Layout(
        SRVGG,
        {
            "scale": scale,
            "num_feat": first.shape[0],
            "num_conv": len(convs) - 2,
            "act_type": "prelu" if prelu else None,
        },
        {
            "arch": "it has body.0.weight and no conv_first.weight, so it is an SRVGGNetCompact",
            "scale": f"{key} is {_shape(last)}: {last.shape[0]} = 3 x {scale}^2 channels",
            "num_feat": f"body.0.weight is {_shape(first)}: {first.shape[0]} features",
            "num_conv": f"its last convolution is {key}: {len(convs) - 2} between the first "
            "and the last",
            "act_type": "body.1.weight holds PReLU weights"
            if prelu
            else "it has no body.1.weight, so no PReLU weights",
        },
    )


def _flag(option: str) -> str:
    return "--" + option.replace("_", "-")


def agree(layout: Layout, arch: str | None, given: dict[str, int | str | None], name: str) -> None:
    """Check the options given on the command line (None: not given) against `layout`, and
    fill in the activation an SRVGGNetCompact's keys cannot tell."""
    if arch is not None and arch != layout.arch:
        raise CheckpointError(f"--arch {arch} disagrees with {name}: {layout.evidence['arch']}")
    for option, value in given.items():
        if value is None:
            continue
        if option not in layout.options:
            raise CheckpointError(
                f"{_flag(option)} is not an option of {layout.arch}, and {name} is one: "
                f"{layout.evidence['arch']}"
            )
        found = layout.options[option]
        if found is None:  # the activation, when there are no PReLU weights
            if value == "prelu":
                raise CheckpointError(
                    f"--act-type prelu disagrees with {name}: {layout.evidence[option]}"
                )
            layout.options[option] = value
        elif value != found:
            raise CheckpointError(
                f"{_flag(option)} {value} disagrees with {name}: {layout.evidence[option]}"
            )
    if layout.options.get("act_type", "") is None:
        raise CheckpointError(
            f"{name}: {layout.evidence['act_type']}: it was trained with an activation that "
            f"has none ({' or '.join(WEIGHTLESS)}); say which with --act-type"
        )
