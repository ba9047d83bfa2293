"""The state_dict inside an ESRGAN-family checkpoint, in BasicSR's parameter names.

BasicSR's `save_network` writes `{'params': sd}`, with an EMA copy `{'params_ema': sd}` beside
or instead of it; Real-ESRGAN's inference prefers `params_ema`, as this does. A bare state_dict
(the original ESRGAN release, a hand-saved network) is taken too. The original ESRGAN code
named the same RRDBNet's parameters differently (`RRDB_trunk.0.RDB1.conv1`, `trunk_conv`,
`upconv1`, `HRconv`): they are renamed to BasicSR's, as BasicSR's own conversion script does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import torch

from training.importers.state_dict import CheckpointError, load, tensors

PREFERRED = ("params_ema", "params")
ORIGINAL_NAMES = [  # the original ESRGAN code's name -> BasicSR's
    (re.compile(r"^RRDB_trunk\.(\d+)\.RDB([123])\."), r"body.\1.rdb\2."),
    (re.compile(r"^trunk_conv\."), "conv_body."),
    (re.compile(r"^upconv([12])\."), r"conv_up\1."),
    (re.compile(r"^HRconv\."), "conv_hr."),
]


@dataclass
class Weights:
    state: dict[str, torch.Tensor]  # in BasicSR's names
    form: str  # "params_ema", "params" or "state_dict"
    renamed: int  # keys renamed from the original ESRGAN names


def read(path: Path) -> Weights:
    """The network's tensors from one of the three forms; anything else is refused."""
    held = load(path)
    if isinstance(held, dict) and any(key in held for key in PREFERRED):
        form = next(key for key in PREFERRED if key in held)
        state = tensors(held[form], f"{path.name}[{form!r}]")
    elif isinstance(held, dict) and held and all(torch.is_tensor(v) for v in held.values()):
        form, state = "state_dict", tensors(held, path.name)
    elif isinstance(held, dict) and held:
        keys = ", ".join(repr(k)[:40] for k in list(held)[:4])
        raise CheckpointError(
            f"{path.name} holds {keys}{', ...' if len(held) > 4 else ''}: not an ESRGAN "
            "checkpoint, which is {'params_ema': state_dict}, {'params': state_dict} or a "
            "state_dict"
        )
    else:
        state, form = tensors(held, path.name), "state_dict"  # refuses with what it is
    state, renamed = rename_original(state, path.name)
    return Weights(state, form, renamed)


def rename_original(state: dict[str, torch.Tensor], name: str) -> tuple[dict, int]:
    """BasicSR's names for the original ESRGAN code's; the count of keys renamed."""
    renamed: dict[str, torch.Tensor] = {}
    origin: dict[str, str] = {}
    for key, value in state.items():
        new = key
        for pattern, replacement in ORIGINAL_NAMES:
            new = pattern.sub(replacement, new)
        if new in origin:
            raise CheckpointError(
                f"{name} has both {origin[new]} and {key}: the original ESRGAN names and "
                "BasicSR's, mixed"
            )
        renamed[new], origin[new] = value, key
    return renamed, sum(new != key for new, key in origin.items())
