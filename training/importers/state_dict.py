"""Reading someone else's checkpoint: untrusted input, loaded only as tensors.

`read` accepts what the authors' `save_networks` writes (a bare state_dict, with or without
the `module.` prefix DataParallel adds, and the `_metadata` attribute), and refuses anything
else with a sentence instead of a traceback; its two halves, `load` (the file) and `tensors`
(its state_dict), serve formats that wrap the state_dict, like BasicSR's `{'params': ...}`.
`fit` drops the InstanceNorm running statistics older releases carry (InstanceNorm without
affine normalises by each image's own statistics, so they were never used) and loads
strictly, naming the option to change when the layout is another one.
"""

from __future__ import annotations

import pickle
import zipfile
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

NORM_STATS = ("running_mean", "running_var", "num_batches_tracked")
PREFIX = "module."
LEGACY = b"\x80\x02"  # torch.save before PyTorch 1.6: a pickle (protocol 2) stream


class CheckpointError(ValueError):
    """The file is not a checkpoint this importer can load; the message says why."""


def read(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a state_dict file, with the DataParallel prefix and metadata removed."""
    return tensors(load(path), path.name)


def load(path: Path) -> object:
    """What a torch.save file holds, loaded as tensors and plain containers only."""
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file")
    with path.open("rb") as f:
        head = f.read(2)
    if not zipfile.is_zipfile(path) and head != LEGACY:
        raise CheckpointError(
            f"{path.name} is not a PyTorch checkpoint (neither torch.save's zip archive nor "
            "its older pickle format)"
        )
    try:
        # weights_only: tensors and plain containers; no code from the file ever runs
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(
            f"{path.name} holds more than tensors, which a checkpoint from elsewhere may not "
            f"(loaded with weights_only=True): {_reason(exc)}"
        ) from None
    except (RuntimeError, EOFError, ValueError, OSError, zipfile.BadZipFile) as exc:
        raise CheckpointError(f"{path.name} is not a readable checkpoint: {_first(exc)}") from None
    return state


def tensors(state: object, name: str) -> dict[str, torch.Tensor]:
    """`state` as a state_dict, or a refusal naming what it is instead (`name`: where it
    came from, for the message)."""
    if not isinstance(state, dict) or not state:
        raise CheckpointError(f"{name} holds a {type(state).__name__}, not a state_dict")
    if {"config", "models", "step"} <= set(state):
        raise CheckpointError(
            f"{name} is a ganserve training checkpoint: use `python -m training export`"
        )
    bad = [k for k, v in state.items() if not isinstance(k, str) or not torch.is_tensor(v)]
    if bad:
        raise CheckpointError(
            f"{name} is not a state_dict: {len(bad)} entries are not tensors "
            f"(first: {str(bad[0])[:60]!r})"
        )
    state = dict(state)  # a plain dict: the authors' loader deletes `_metadata` too
    if all(k.startswith(PREFIX) for k in state):
        state = {k[len(PREFIX) :]: v for k, v in state.items()}
    return state


def fit(
    net: nn.Module,
    state: dict[str, torch.Tensor],
    source: str,
    chosen: str,
    advice: Callable[[dict[str, torch.Tensor]], str],
) -> list[str]:
    """Load `state` into `net` strictly; return the InstanceNorm statistics it dropped.

    `chosen` names the options `net` was built with, `advice(state)` what the checkpoint
    looks like instead, for the refusal.
    """
    modules = dict(net.named_modules())
    wanted = net.state_dict()
    dropped = []
    for key in list(state):
        owner, _, leaf = key.rpartition(".")
        instance_norm = isinstance(modules.get(owner), nn.InstanceNorm2d)
        if leaf in NORM_STATS and key not in wanted and instance_norm:
            dropped.append(key)
            del state[key]
    missing = [k for k in wanted if k not in state]
    unexpected = [k for k in state if k not in wanted]
    shapes = [
        f"{k} is {list(state[k].shape)} in the file, {list(v.shape)} here"
        for k, v in wanted.items()
        if k in state and state[k].shape != v.shape
    ]
    if missing or unexpected or shapes:
        problems = []
        if missing:
            problems.append(f"{len(missing)} keys missing ({_few(missing)})")
        if unexpected:
            problems.append(f"{len(unexpected)} unexpected keys ({_few(unexpected)})")
        if shapes:
            problems.append(f"{len(shapes)} shapes differ ({'; '.join(shapes[:2])})")
        raise CheckpointError(
            f"{source} does not fit {chosen}. {advice(state)} ({'; '.join(problems)})"
        )
    net.load_state_dict(state, strict=True)
    return dropped


def _few(keys: list[str]) -> str:
    return ", ".join(keys[:3]) + (", ..." if len(keys) > 3 else "")


def _reason(exc: Exception) -> str:
    """The line of torch's weights_only refusal that names what the file holds."""
    lines = [line.strip() for line in str(exc).splitlines() if "Unsupported" in line]
    return lines[0][:200] if lines else _first(exc)


def _first(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__
