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
from service.manifest import Manifest
from service.resources.accelerator import tries_cuda

log = logging.getLogger("ganserve.runtime")

CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"

# What each kind's session must take and give: name -> (element type, rank). A translation
# graph cannot name its output `image` (ONNX value names are unique and the input has it),
# so its first output may have any name.
ANY = "*"
SIGNATURES: dict[str, tuple[dict[str, tuple[str, int]], dict[str, tuple[str, int]]]] = {
    "unconditional": ({"z": ("tensor(float)", 2)}, {"image": ("tensor(float)", 4)}),
    "conditional": (
        {"z": ("tensor(float)", 2), "label": ("tensor(int64)", 1)},
        {"image": ("tensor(float)", 4)},
    ),
    "translation": ({"image": ("tensor(float)", 4)}, {ANY: ("tensor(float)", 4)}),
}


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
            log.info("provider=auto: no CUDA build or NVIDIA driver here, serving on CPU")

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


def check_signature(session: ort.InferenceSession, manifest: Manifest) -> None:
    """Names, element types and ranks per kind; static sizes must agree with the manifest."""
    if manifest.kind not in SIGNATURES:
        raise SignatureError(f"this version does not serve kind {manifest.kind!r}")
    want_in, want_out = SIGNATURES[manifest.kind]
    _check_args("input", session.get_inputs(), want_in)
    _check_args("output", session.get_outputs()[:1], want_out)
    spec = manifest.image
    out = session.get_outputs()[0].shape
    if manifest.kind != "translation":
        dim = session.get_inputs()[[a.name for a in session.get_inputs()].index("z")].shape[1]
        if isinstance(dim, int) and manifest.latent and dim != manifest.latent.dim:
            raise SignatureError(f"z has {dim} entries, the manifest says {manifest.latent.dim}")
        expected = (spec.channels, spec.height, spec.width)
        for axis, (got, want) in enumerate(zip(out[1:], expected, strict=True), start=1):
            if isinstance(got, int) and got != want:
                raise SignatureError(f"image axis {axis} is {got}, the manifest says {want}")
    elif isinstance(out[1], int) and out[1] != 3:
        raise SignatureError(f"translation output has {out[1]} channels, not 3")


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


def warmup_inputs(manifest: Manifest, rows: int) -> dict[str, np.ndarray]:
    """Zeros of the right shape: the first run allocates arenas and picks kernels."""
    if manifest.kind == "translation":
        spec = manifest.image
        return {"image": np.zeros((rows, 3, spec.height, spec.width), np.float32)}
    assert manifest.latent is not None
    inputs = {"z": np.zeros((rows, manifest.latent.dim), np.float32)}
    if manifest.kind == "conditional":
        inputs["label"] = np.zeros(rows, np.int64)
    return inputs


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

    def run(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        """The first output for `inputs`, padded with zero rows up to a bucket and cut back."""
        rows = len(next(iter(inputs.values())))
        size = next((b for b in self.buckets if b >= rows), rows)
        if size == rows:
            return self.session.run(self._output, inputs)[0]
        padded = {}
        for name, arr in inputs.items():
            padded[name] = np.zeros((size, *arr.shape[1:]), arr.dtype)
            padded[name][:rows] = arr
        return self.session.run(self._output, padded)[0][:rows]

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
