"""Snapshot pickles laid out as NVIDIA's training loop writes them, made from ganserve's own
networks, for the StyleGAN importer tests.

NVIDIA's `persistence` decorator pickles every network and submodule as
`torch_utils.persistence._reconstruct_persistent_obj(meta)` with `meta = dict(type='class',
version=6, module_src=..., class_name=..., state=<the object's __dict__>)`, where `state`
holds `_parameters`, `_buffers`, `_modules` (records again), `_init_args`, `_init_kwargs` and
plain attributes (their float gains are numpy float64). This writer produces the same records
with placeholder source text, under stand-in `torch_utils.persistence` and `dnnlib.util`
modules that exist only while it pickles, so no test needs NVIDIA's code.
"""

from __future__ import annotations

import contextlib
import pickle
import sys
import types
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

PLACEHOLDER_SOURCE = "# the defining module's source would be here; ganserve never runs it\n"


def _never_called(meta: Any) -> None:
    raise AssertionError("the stand-in persistence module only names the function")


class EasyDict(dict):
    """Pickles as dnnlib.util.EasyDict."""


class _Record:
    def __init__(self, meta: dict[str, Any]) -> None:
        self.meta = meta

    def __reduce__(self):
        return (_never_called, (self.meta,))


@contextlib.contextmanager
def _nvidia_names():
    """`torch_utils.persistence` and `dnnlib.util` as pickle looks them up, for the dump."""
    persistence = types.ModuleType("torch_utils.persistence")
    persistence._reconstruct_persistent_obj = _never_called
    util = types.ModuleType("dnnlib.util")
    util.EasyDict = EasyDict
    saved = (_never_called.__module__, _never_called.__qualname__, EasyDict.__module__)
    _never_called.__module__, _never_called.__qualname__ = (
        persistence.__name__,
        "_reconstruct_persistent_obj",
    )
    _never_called.__name__ = "_reconstruct_persistent_obj"
    EasyDict.__module__ = util.__name__
    names = {
        "torch_utils": types.ModuleType("torch_utils"),
        "torch_utils.persistence": persistence,
        "dnnlib": types.ModuleType("dnnlib"),
        "dnnlib.util": util,
    }
    sys.modules.update(names)
    try:
        yield
    finally:
        for name in names:
            del sys.modules[name]
        _never_called.__module__, _never_called.__qualname__, EasyDict.__module__ = saved
        _never_called.__name__ = "_never_called"


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return EasyDict({k: _plain(v) for k, v in value.items()})
    return value


def record(
    module: nn.Module,
    source: str = PLACEHOLDER_SOURCE,
    init_kwargs: dict[str, Any] | None = None,
    class_name: str | None = None,
) -> _Record:
    """`module` as NVIDIA's persistence pickles it, its submodules as records too."""
    state = dict(vars(module))
    state["_modules"] = OrderedDict(
        (name, record(child, source)) for name, child in module.named_children()
    )
    for key, value in state.items():
        if isinstance(value, float):
            state[key] = np.float64(value)
    state["_init_args"] = ()
    state["_init_kwargs"] = _plain(init_kwargs or {})
    return _Record(
        {
            "type": "class",
            "version": 6,
            "module_src": source,
            "class_name": class_name or type(module).__name__,
            "state": state,
        }
    )


class _Inert(nn.Module):
    """Stands for D or the augmentation pipeline: a record with a tensor and a numpy array."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("p", torch.zeros([]))
        self.grid = np.arange(6, dtype=np.float32).reshape(2, 3)


def snapshot(
    g: nn.Module,
    g_kwargs: dict[str, Any],
    path: Path,
    source: str = PLACEHOLDER_SOURCE,
    protocol: int = 4,
    **replace: Any,
) -> Path:
    """A `network-snapshot-*.pkl` holding `g` as G and G_ema (with `g_kwargs` as its recorded
    init kwargs); `replace` swaps or adds entries of the snapshot dict."""
    data = {
        "training_set_kwargs": EasyDict(path="~/datasets/faces.zip", resolution=32, xflip=False),
        "G": record(g, source, g_kwargs),
        "D": record(_Inert(), source, {}, "Discriminator"),
        "G_ema": record(g, source, g_kwargs),
        "augment_pipe": record(_Inert(), source, {}, "AugmentPipe"),
    }
    data.update(replace)
    with _nvidia_names(), path.open("wb") as f:
        pickle.dump(data, f, protocol=protocol)
    return path
