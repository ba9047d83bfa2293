"""Reading NVIDIA's StyleGAN snapshot pickles (stylegan2-ada-pytorch, stylegan3) without
running a line of the code inside them.

A snapshot is a pickle of `dict(training_set_kwargs, G, D, G_ema, augment_pipe)`. Every
network and submodule in it is a record for `torch_utils.persistence._reconstruct_persistent_obj`
that carries the whole source of the module defining its class; NVIDIA's loader `exec`s that
source to rebuild the object, so opening a snapshot from the internet runs whatever it holds.

Here the pickle is read by an unpickler that resolves only the globals such a file names
(`ALLOWED`) and refuses any other by name. A persistent-object record becomes a `Persistent`:
its class name, the sha256 of its module source (kept for the provenance, never run) and its
state (`_parameters`, `_buffers`, `_modules`, `_init_kwargs`, ...). Tensor storages are
`torch.save`d bytes inside the pickle and are read with `torch.load(weights_only=True)`.
Python 3.7 (stylegan2-ada-pytorch's) pickles with protocol 3, which writes a set as
`builtins.set`: the one global allowed beyond those the snapshot's own classes need.
"""

from __future__ import annotations

import hashlib
import io
import pickle
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

PERSISTENCE_VERSION = 6  # torch_utils.persistence's record format, the same in both repositories
PICKLE_PROTO = 0x80  # the first byte of a pickle of protocol 2 or newer


class SnapshotError(ValueError):
    """The file is not a StyleGAN snapshot this importer reads; the message says why."""


class EasyDict(dict):
    """`dnnlib.EasyDict` as data: a dict (attribute access is not needed here)."""


@dataclass
class Persistent:
    """One `persistence._reconstruct_persistent_obj` record: a network or submodule, inert."""

    class_name: str
    module_sha256: str
    state: dict[str, Any]

    @property
    def init_kwargs(self) -> dict[str, Any]:
        return dict(self.state.get("_init_kwargs") or {})

    @property
    def init_args(self) -> tuple:
        return tuple(self.state.get("_init_args") or ())

    def children(self) -> dict[str, Persistent]:
        return {k: v for k, v in (self.state.get("_modules") or {}).items() if v is not None}

    def tensors(self, prefix: str = "") -> dict[str, torch.Tensor]:
        """What `state_dict()` of the object would hold: parameters, persistent buffers, then
        each submodule's, under dotted names."""
        out: dict[str, torch.Tensor] = {}
        skip = set(self.state.get("_non_persistent_buffers_set") or ())
        for name, t in (self.state.get("_parameters") or {}).items():
            if t is not None:
                out[prefix + name] = _tensor(t, prefix + name)
        for name, t in (self.state.get("_buffers") or {}).items():
            if t is not None and name not in skip:
                out[prefix + name] = _tensor(t, prefix + name)
        for name, child in (self.state.get("_modules") or {}).items():
            if isinstance(child, Persistent):
                out.update(child.tensors(f"{prefix}{name}."))
            elif child is not None:
                raise SnapshotError(f"{prefix}{name} is a {type(child).__name__}, not a record")
        return out


def _tensor(t: Any, name: str) -> torch.Tensor:
    if not isinstance(t, torch.Tensor):
        raise SnapshotError(f"{name} is a {type(t).__name__}, not a tensor")
    return t.detach()


@dataclass
class Snapshot:
    """What an importer needs from a snapshot file."""

    g_ema: Persistent
    keys: list[str]  # the snapshot dict's, for the record
    module_sources: dict[str, list[str]] = field(default_factory=dict)  # sha256 -> classes
    training_set: dict[str, Any] = field(default_factory=dict)


def _load_from_bytes(data: bytes) -> torch.storage.TypedStorage:
    if not isinstance(data, bytes):
        raise SnapshotError("a storage record holds no bytes")
    try:
        storage = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise SnapshotError(f"a tensor storage holds more than tensors: {_first(exc)}") from None
    if not isinstance(storage, torch.storage.TypedStorage | torch.UntypedStorage):
        raise SnapshotError(f"a storage record holds a {type(storage).__name__}")
    return storage


def _rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks, metadata=None):
    if not isinstance(storage, torch.storage.TypedStorage | torch.UntypedStorage):
        raise SnapshotError(f"a tensor is built on a {type(storage).__name__}, not a storage")
    if hooks:
        raise SnapshotError("a tensor carries backward hooks")
    return torch._utils._rebuild_tensor_v2(
        storage, offset, size, stride, requires_grad, OrderedDict(), metadata
    )


def _rebuild_parameter(data, requires_grad, hooks):
    if not isinstance(data, torch.Tensor) or hooks:
        raise SnapshotError("a parameter record is not a plain tensor")
    return torch.nn.Parameter(data, requires_grad)


def _scalar(dtype: np.dtype, data: Any) -> np.generic:
    if not isinstance(dtype, np.dtype) or dtype.hasobject or not isinstance(data, bytes):
        raise SnapshotError(f"a numpy scalar of dtype {dtype!r} is refused")
    return np.frombuffer(data, dtype=dtype, count=1)[0]


def _reconstruct(cls: type, shape: tuple, dtype: bytes) -> np.ndarray:
    if cls is not np.ndarray:
        raise SnapshotError(f"a numpy array of class {getattr(cls, '__name__', cls)} is refused")
    return np.ndarray.__new__(np.ndarray, shape, dtype)


class _Records:
    """Collects the module sources' sha256 as the records are read."""

    def __init__(self) -> None:
        self.sources: dict[str, set[str]] = {}

    def persistent(self, meta: Any) -> Persistent:
        if not isinstance(meta, dict) or meta.get("type") != "class":
            raise SnapshotError("a persistent-object record is not a class record")
        if meta.get("version") != PERSISTENCE_VERSION:
            raise SnapshotError(
                f"persistence record version {meta.get('version')!r}; this importer reads "
                f"version {PERSISTENCE_VERSION} (stylegan2-ada-pytorch and stylegan3)"
            )
        src, name, state = meta.get("module_src"), meta.get("class_name"), meta.get("state")
        if not isinstance(src, str) or not isinstance(name, str) or not isinstance(state, dict):
            raise SnapshotError(f"persistent record {name!r} lacks its source, name or state")
        sha = hashlib.sha256(src.encode("utf-8")).hexdigest()  # recorded; never executed
        self.sources.setdefault(sha, set()).add(name)
        return Persistent(name, sha, dict(state))


def _allowed(records: _Records) -> dict[tuple[str, str], Callable[..., Any] | type]:
    return {
        ("torch_utils.persistence", "_reconstruct_persistent_obj"): records.persistent,
        ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
        ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
        ("torch.storage", "_load_from_bytes"): _load_from_bytes,
        ("collections", "OrderedDict"): OrderedDict,
        ("dnnlib.util", "EasyDict"): EasyDict,
        ("dnnlib", "EasyDict"): EasyDict,
        ("numpy.core.multiarray", "scalar"): _scalar,
        ("numpy._core.multiarray", "scalar"): _scalar,
        ("numpy", "dtype"): np.dtype,
        ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
        ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
        ("numpy", "ndarray"): np.ndarray,
        ("builtins", "set"): set,
    }


ALLOWED = sorted(".".join(key) for key in _allowed(_Records()))


class _Unpickler(pickle.Unpickler):
    def __init__(self, file, records: _Records) -> None:
        super().__init__(file)
        self.globals = _allowed(records)

    def find_class(self, module: str, name: str) -> Any:
        found = self.globals.get((module, name))
        if found is None:
            hint = (
                " (a TensorFlow StyleGAN pickle: convert it with NVIDIA's legacy.py first)"
                if module.startswith("dnnlib.tflib")
                else ""
            )
            raise SnapshotError(
                f"refused global {module}.{name}: a StyleGAN snapshot names only "
                f"{', '.join(ALLOWED)}{hint}"
            )
        return found

    def persistent_load(self, pid: Any) -> Any:
        raise SnapshotError(f"refused persistent id {str(pid)[:60]!r}: not a snapshot record")


def read(path: Path) -> Snapshot:
    """The snapshot's `G_ema` as an inert record, and what the provenance keeps."""
    if not path.is_file():
        raise SnapshotError(f"{path}: no such file")
    with path.open("rb") as f:
        if f.read(1) != bytes([PICKLE_PROTO]):
            raise SnapshotError(
                f"{path.name} is not a StyleGAN snapshot (not a pickle of protocol 2 or newer)"
            )
        f.seek(0)
        records = _Records()
        try:
            data = _Unpickler(f, records).load()
        except SnapshotError:
            raise
        except Exception as exc:  # a broken pickle raises anything from EOFError to KeyError
            raise SnapshotError(f"{path.name} is not a readable pickle: {_first(exc)}") from None
    if not isinstance(data, dict):
        raise SnapshotError(f"{path.name} holds a {type(data).__name__}, not a snapshot dict")
    g = data.get("G_ema")
    if not isinstance(g, Persistent):
        keys = ", ".join(sorted(map(str, data))) or "nothing"
        raise SnapshotError(f"{path.name} has no G_ema network (it holds {keys})")
    kwargs = data.get("training_set_kwargs")
    return Snapshot(
        g_ema=g,
        keys=sorted(map(str, data)),
        module_sources={sha: sorted(names) for sha, names in sorted(records.sources.items())},
        training_set=dict(kwargs) if isinstance(kwargs, dict) else {},
    )


def _first(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__
