"""ONNX Runtime sessions: provider choice, the signature check per kind, and the run itself."""

from __future__ import annotations

import logging
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from service.engine.admission import WorkEstimate
from service.manifest import MAPPING, SYNTHESIS, Manifest
from service.resources.accelerator import tries_cuda
from service.stylegan_transform import synthesis_feeds

log = logging.getLogger("ganserve.runtime")

CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"

# What each kind's session must take and give: name -> (element type, rank). A translation
# graph cannot name its output `image` (ONNX value names are unique and the input has it),
# so its first output may have any name.
ANY = "*"
Args = dict[str, tuple[str, int]]
SIGNATURES: dict[str, tuple[Args, Args]] = {
    "unconditional": ({"z": ("tensor(float)", 2)}, {"image": ("tensor(float)", 4)}),
    "conditional": (
        {"z": ("tensor(float)", 2), "label": ("tensor(int64)", 1)},
        {"image": ("tensor(float)", 4)},
    ),
    "translation": ({"image": ("tensor(float)", 4)}, {ANY: ("tensor(float)", 4)}),
    "super-resolution": ({"image": ("tensor(float)", 4)}, {ANY: ("tensor(float)", 4)}),
}
# A StyleGAN's two sessions, by role (the mapping takes `c` only when c_dim > 0; the
# synthesis `transform` only when the manifest records a StyleGAN3's stored transform).
STYLEGAN_SIGNATURES: dict[str, tuple[Args, Args]] = {
    MAPPING: (
        {"z": ("tensor(float)", 2), "c": ("tensor(float)", 2), "psi": ("tensor(float)", 1)},
        {"ws": ("tensor(float)", 3)},
    ),
    SYNTHESIS: (
        {"ws": ("tensor(float)", 3), "transform": ("tensor(float)", 3)},
        {"image": ("tensor(float)", 4)},
    ),
}
# The kinds whose sessions take photos of any size (their rows' work is their pixels).
PHOTO_KINDS = ("translation", "super-resolution")


def holds_large_runs(manifest: Manifest, role: str) -> bool:
    """A photo session, or a StyleGAN's synthesis (a 1024x1024 row holds about a gigabyte of
    activations): its runs reserve their peak from the memory budget, and it runs without
    ORT's arena, which would keep its largest run's buffers for good."""
    return manifest.kind in PHOTO_KINDS or role == SYNTHESIS


class SignatureError(ValueError):
    """The ONNX graph does not take or give what the manifest's kind promises."""


def output_name(session: ort.InferenceSession) -> str:
    """The output every caller reads: the first (a translator's may have any name, see above)."""
    return session.get_outputs()[0].name


@dataclass
class ProviderChoice:
    """Which providers to ask ORT for; what a session really uses is read back afterwards."""

    setting: str  # auto | cuda | cpu

    def __post_init__(self) -> None:
        # In `auto` mode, skip CUDA where it cannot possibly load (no driver), and stop asking
        # once it failed to load for one session: every failed attempt logs a screenful.
        self._try_cuda = tries_cuda(self.setting)
        if self.setting == "auto" and not self._try_cuda:
            log.info(  # the same in every worker: once (service/server/logs.py)
                "provider=auto: no CUDA build or NVIDIA driver here, serving on CPU",
                extra={"once": True},
            )

    def requested(self) -> list[str]:
        return [CUDA, CPU] if self._try_cuda else [CPU]

    def observe(self, in_use: str) -> None:
        if self.setting == "auto" and self._try_cuda and in_use != CUDA:
            log.warning("CUDA did not load; serving on %s", in_use)
            self._try_cuda = False


def make_session(
    path: Path,
    choice: ProviderChoice,
    intra_op_threads: int,
    inter_op_threads: int,
    *,
    arena: bool = True,
) -> ort.InferenceSession:
    """`arena=False` for inputs of changing size: ORT's CPU arena and memory patterns keep
    the largest run's buffers for good (a 1024x1024 CycleGAN run left 1.1 GiB held); without
    them each run allocates and frees, at no measured cost in speed (docs/reliability.md)."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = intra_op_threads
    options.inter_op_num_threads = inter_op_threads
    options.enable_cpu_mem_arena = arena
    options.enable_mem_pattern = arena
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Idle ORT threads would spin between runs, stealing the cores that decode, encode and
    # serve HTTP; the batcher keeps runs big, so waking them costs little.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = ort.InferenceSession(str(path), sess_options=options, providers=choice.requested())
    choice.observe(session.get_providers()[0])
    return session


def cpu_session(path: str | Path, threads: int = 1) -> ort.InferenceSession:
    """A plain CPU session for offline work (evaluation, export checks, tests, tools), with
    ORT's warnings quietened: errors still raise."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=[CPU])


def seconds_per_run(session: ort.InferenceSession, inputs: dict[str, np.ndarray]) -> float:
    """Median of three timed runs, after one that allocates."""
    session.run(None, inputs)
    times = []
    for _ in range(3):
        start = time.perf_counter()
        session.run(None, inputs)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def fewer_threads_if_faster(
    session: ort.InferenceSession,
    path: Path,
    choice: ProviderChoice,
    inter_op_threads: int,
    probe: dict[str, np.ndarray],
    *,
    arena: bool = True,
) -> tuple[ort.InferenceSession, int]:
    """The faster on `probe` of `session` and the same model with one intra-op thread.

    On a small CPU, splitting every operator of a small network across threads costs more
    in synchronisation than it gains (measured on 2 cores: a 32x32 DCGAN runs 37% faster on
    one thread, a 256x256 CycleGAN 1.7x faster on two), and the spare core then serves HTTP.
    """
    single = make_session(path, choice, 1, inter_op_threads, arena=arena)
    if seconds_per_run(single, probe) < seconds_per_run(session, probe):
        return single, 1
    return session, session.get_session_options().intra_op_num_threads


def signature(manifest: Manifest, role: str) -> tuple[Args, Args]:
    """The inputs and first output the `role` session of this manifest's kind must have."""
    if manifest.kind != "stylegan":
        return SIGNATURES[manifest.kind]
    inputs, outputs = STYLEGAN_SIGNATURES[role]
    style = manifest.stylegan
    absent = set()
    if style is not None and style.c_dim == 0:
        absent.add("c")
    if style is None or style.transform is None:
        absent.add("transform")
    return {name: arg for name, arg in inputs.items() if name not in absent}, outputs


def check_signature(session: ort.InferenceSession, manifest: Manifest, role: str) -> None:
    """Names, element types and ranks per kind (and role); static sizes must agree with the
    manifest."""
    if manifest.kind not in SIGNATURES and manifest.kind != "stylegan":
        raise SignatureError(f"this version does not serve kind {manifest.kind!r}")
    want_in, want_out = signature(manifest, role)
    _check_args("input", session.get_inputs(), want_in)
    _check_args("output", session.get_outputs()[:1], want_out)
    out = session.get_outputs()[0].shape
    if manifest.kind in PHOTO_KINDS:
        if isinstance(out[1], int) and out[1] != 3:
            raise SignatureError(f"{manifest.kind} output has {out[1]} channels, not 3")
        return
    args = {a.name: a.shape for a in [*session.get_inputs(), session.get_outputs()[0]]}
    for name, sizes in _static_sizes(manifest, role).items():
        for axis, (got, want) in enumerate(zip(args[name][1:], sizes, strict=True), start=1):
            if isinstance(got, int) and got != want:
                where = (
                    f"{name} has {got} entries"
                    if len(sizes) == 1
                    else f"{name} axis {axis} is {got}"
                )
                raise SignatureError(f"{where}, the manifest says {want}")


def _static_sizes(manifest: Manifest, role: str) -> dict[str, tuple[int, ...]]:
    """A generator's sizes after the batch axis, as its manifest states them."""
    spec = manifest.image
    image = (spec.channels, spec.height, spec.width)
    style = manifest.stylegan
    if style is None:
        assert manifest.latent is not None
        return {"z": (manifest.latent.dim,), "image": image}
    ws = (style.num_ws, style.w_dim)
    if role == SYNTHESIS:
        sizes = {"ws": ws, "image": image}
        if style.transform is not None:
            sizes["transform"] = (3, 3)
        return sizes
    sizes = {"z": (style.z_dim,), "ws": ws}
    if style.c_dim:
        sizes["c"] = (style.c_dim,)
    return sizes


def _check_args(what: str, args: list, want: dict[str, tuple[str, int]]) -> None:
    got = {a.name: (a.type, len(a.shape)) for a in args}
    if ANY in want:
        got = {ANY: got[args[0].name]} if args else {}
    if what == "input" and set(got) != set(want):
        raise SignatureError(f"inputs are {sorted(got)}, expected {sorted(want)}")
    for name, (dtype, rank) in want.items():
        if name not in got:
            raise SignatureError(f"{what} {name!r} missing; found {sorted(got)}")
        if got[name] != (dtype, rank):
            raise SignatureError(
                f"{what} {name!r} is {got[name][0]} of rank {got[name][1]}, "
                f"expected {dtype} of rank {rank}"
            )


def warmup_inputs(manifest: Manifest, rows: int, role: str) -> dict[str, np.ndarray]:
    """Zeros of the right shape (a StyleGAN mapping's psi ones, a StyleGAN3 synthesis' stored
    transform): the first run allocates arenas and picks kernels."""
    if manifest.kind in PHOTO_KINDS:
        spec = manifest.image
        return {"image": np.zeros((rows, 3, spec.height, spec.width), np.float32)}
    style = manifest.stylegan
    if style is not None and role == SYNTHESIS:
        return synthesis_feeds(
            np.zeros((rows, style.num_ws, style.w_dim), np.float32), style.transform
        )
    assert manifest.latent is not None
    inputs = {"z": np.zeros((rows, manifest.latent.dim), np.float32)}
    if manifest.kind == "conditional":
        inputs["label"] = np.zeros(rows, np.int64)
    if style is not None:
        if style.c_dim:
            inputs["c"] = np.eye(style.c_dim, dtype=np.float32)[np.zeros(rows, np.int64)]
        inputs["psi"] = np.ones(rows, np.float32)
    return inputs


def output_of(manifest: Manifest, role: str, inputs: dict[str, np.ndarray]) -> tuple[int, ...]:
    """The shape a session of `role` must give for `inputs`."""
    rows = len(next(iter(inputs.values())))
    if manifest.kind in PHOTO_KINDS:
        return output_shape(manifest, inputs["image"].shape)
    style = manifest.stylegan
    if style is not None and role == MAPPING:
        return rows, style.num_ws, style.w_dim
    spec = manifest.image
    return rows, spec.channels, spec.height, spec.width


def output_shape(manifest: Manifest, input_shape: tuple[int, ...]) -> tuple[int, ...]:
    """What a photo session must give for `input_shape`: the same for translation, the
    sides `scale` times larger for super-resolution."""
    rows, channels, height, width = input_shape
    scale = manifest.scale or 1
    return rows, channels, height * scale, width * scale


def batch_buckets(max_batch: int) -> tuple[int, ...]:
    """Powers of two below max_batch, and max_batch: 1, 2, 4, ..., 32, 64."""
    sizes = [1 << i for i in range(max_batch.bit_length()) if 1 << i < max_batch]
    return (*sizes, max_batch)


@dataclass(eq=False)
class Runner:
    """One ONNX session: the run, its padding to a bucket, and its measured cost. The batcher
    in front of it is paired with it one layer up (service/repository/model.py)."""

    key: str  # metrics label and log name: `name` or `name:direction`
    session: ort.InferenceSession
    provider: str
    # Batch sizes runs are padded up to (empty: run as is). On CUDA every new input shape
    # costs a cuDNN algorithm search, so batches are padded to a few warmed-up sizes.
    buckets: tuple[int, ...] = ()
    threads: int = 1  # ONNX Runtime intra-op threads of this session
    estimate: WorkEstimate = field(default_factory=WorkEstimate)  # cost per unit of work

    def __post_init__(self) -> None:
        self._output = [output_name(self.session)]

    def run(
        self, inputs: dict[str, np.ndarray], options: ort.RunOptions | None = None
    ) -> np.ndarray:
        """The first output for `inputs`, padded with zero rows up to a bucket and cut back.
        `options` lets another thread stop the run (`terminate`) between operators."""
        rows = len(next(iter(inputs.values())))
        size = next((b for b in self.buckets if b >= rows), rows)
        if size == rows:
            return self.session.run(self._output, inputs, options)[0]
        padded = {}
        for name, arr in inputs.items():
            padded[name] = np.zeros((size, *arr.shape[1:]), arr.dtype)
            padded[name][:rows] = arr
        return self.session.run(self._output, padded, options)[0][:rows]

    def describe(self) -> dict[str, Any]:
        def args(items: list) -> list[dict[str, Any]]:
            return [{"name": a.name, "type": a.type, "shape": list(a.shape)} for a in items]

        return {
            "key": self.key,
            "provider": self.provider,
            "intra_op_threads": self.threads,
            "inputs": args(self.session.get_inputs()),
            "outputs": args(self.session.get_outputs()[:1]),
        }
