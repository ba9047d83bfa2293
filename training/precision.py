"""`amp=auto` and `channels_last=auto`: time one training step of each candidate, keep the fastest.

Whether bf16 autocast pays depends on the machine, not the model family: on a CPU with AMX or
AVX512_BF16 it ran the CycleGAN generator's step 2.5x faster than fp32, on an AVX-512 CPU
without them 2.3x slower, and on a GPU it is the usual win. So a run with either option left
at `auto` tries each candidate on its own first batch (one warm-up step, then one timed
step), restores the weights, optimisers, pools and random state it started from, and trains
with the fastest. The choice, the timings and the CPU's flags go into the run's record.

Once one candidate has been timed, a later one is stopped as soon as its warm-up step has run
SLOWER times the fastest warm-up so far (each warm-up carries its own one-time costs, cuDNN's
autotuning among them), or its timed step SLOWER times the fastest timed step: without bf16
hardware a bf16 CycleGAN step at 256 px takes minutes on a CPU, and the probe must not. The
stop comes from autograd's saved-tensor hooks, which every layer calls in its forward and
its backward.
"""

from __future__ import annotations

import contextlib
import copy
import platform
import time
from typing import Any, Protocol

import torch
from torch import nn


class Trainer(Protocol):
    """What choosing a precision needs of a trainer: training/loops/base.py's `Trainer`, which
    calls `choose(self)`, satisfies it (a protocol, so this module imports no loop)."""

    cfg: Any  # the run's config: amp, channels_last, family
    world: Any  # the distributed world: size
    device: torch.device
    models: dict[str, nn.Module]
    step: int
    amp: bool
    channels_last: bool

    def train_step(self, step: int) -> dict[str, float]: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state(self, state: dict[str, Any]) -> None: ...


# the flags that decide whether bf16 and fused kernels are fast on a CPU
CPU_FLAGS = ("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16", "amx_tile", "fma")


def cpu_info() -> dict[str, Any]:
    """The CPU's model name and which of CPU_FLAGS it has (Linux /proc/cpuinfo)."""
    model, flags = platform.processor() or platform.machine(), set()
    try:
        text = open("/proc/cpuinfo").read()  # noqa: SIM115
    except OSError:
        text = ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name":
            model = value.strip()
        elif key.strip() == "flags":
            flags = set(value.split())
            break
    return {
        "model": model,
        "flags": [f for f in CPU_FLAGS if f in flags],
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
    }


def device_info(device: torch.device) -> dict[str, Any]:
    info: dict[str, Any] = {"device": str(device), "cpu": cpu_info()}
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
        info["bf16_supported"] = torch.cuda.is_bf16_supported()
    return info


def candidates(amp: str, channels_last: str, device: torch.device) -> list[tuple[bool, bool]]:
    """(bf16, channels_last) pairs the options leave open."""
    bf16_ok = device.type != "cuda" or torch.cuda.is_bf16_supported()
    amps = [False, True] if amp == "auto" and bf16_ok else [amp == "bf16"]
    layouts = [False, True] if channels_last == "auto" else [channels_last == "on"]
    return [(a, c) for a in amps for c in layouts]


def _set_layout(trainer: Trainer, channels_last: bool) -> None:
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    for model in trainer.models.values():
        model.to(memory_format=fmt)
    trainer.channels_last = channels_last


SLOWER = 3.0  # a candidate that has run this many times the best timed step is stopped


class _TooSlow(Exception):
    """Raised inside a step that ran past its deadline."""


@contextlib.contextmanager
def _deadline(seconds: float | None):
    """Within it, the first layer to save or use a tensor for its backward after `seconds`
    raises _TooSlow (the hooks run in every layer's forward and backward, on the host)."""
    if seconds is None:
        yield
        return
    end = time.perf_counter() + seconds

    def check(tensor: torch.Tensor) -> torch.Tensor:
        if time.perf_counter() > end:
            raise _TooSlow
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(check, check):
        yield


def _time_step(trainer: Trainer, best: tuple[float, float] | None) -> dict[str, Any]:
    """A warm-up step (kernel choice, allocator, autotuning), then the timed one, each stopped
    once it has run SLOWER x the `best` (warm-up, timed) seconds so far."""
    cuda = trainer.device.type == "cuda"
    for model in trainer.models.values():
        model.train()

    def step(limit: float | None) -> float:
        start = time.perf_counter()
        with _deadline(limit):
            trainer.train_step(trainer.step)
            if cuda:
                torch.cuda.synchronize(trainer.device)
        return time.perf_counter() - start

    began = time.perf_counter()
    try:
        warm = step(None if best is None else SLOWER * best[0])
    except _TooSlow:
        return {"warm_up_seconds": round(time.perf_counter() - began, 4), "timed": False}
    began = time.perf_counter()
    try:
        seconds = step(None if best is None else SLOWER * best[1])
    except _TooSlow:
        seconds = time.perf_counter() - began
        return {
            "warm_up_seconds": round(warm, 4),
            "step_seconds": round(seconds, 4),
            "timed": False,
        }
    return {"warm_up_seconds": round(warm, 4), "step_seconds": round(seconds, 4), "timed": True}


def _timed(trainer: Trainer, settings: list[tuple[bool, bool]]) -> list[dict[str, Any]]:
    """Seconds of one training step with each (bf16, channels_last); the run's state, random
    streams included, is put back after each, so the run goes on as if nothing had run. A
    stopped candidate's entry has timed False and the seconds it ran before the stop."""
    start = copy.deepcopy(trainer.state_dict())
    timings: list[dict[str, Any]] = []
    for amp, layout in settings:
        trainer.load_state(start)
        trainer.amp = amp
        _set_layout(trainer, layout)
        done = [t for t in timings if t["timed"]]
        best = None
        if done:
            best = (min(t["warm_up_seconds"] for t in done), min(t["step_seconds"] for t in done))
        timings.append({"amp": amp, "channels_last": layout, **_time_step(trainer, best)})
    trainer.load_state(start)
    return timings


def step_seconds(trainer: Trainer) -> float:
    """One training step's time with the trainer's current settings (state put back)."""
    current = (trainer.amp, trainer.channels_last)
    seconds = _timed(trainer, [current])[0]["step_seconds"]
    trainer.amp = current[0]
    _set_layout(trainer, current[1])
    return seconds


def choose(trainer: Trainer, earlier: dict[str, Any] | None = None) -> dict[str, Any]:
    """Set trainer.amp and trainer.channels_last; return the record of how they were chosen.

    `earlier` is a resumed run's record: on the same machine its choice stands (so a resume
    continues bit for bit); elsewhere the probe runs again."""
    cfg = trainer.cfg
    here = device_info(trainer.device)
    record: dict[str, Any] = {"amp_option": cfg.amp, "channels_last_option": cfg.channels_last}
    record.update(here)
    options = candidates(cfg.amp, cfg.channels_last, trainer.device)
    same_machine = earlier and all(earlier.get(k) == v for k, v in here.items())
    if len(options) > 1 and same_machine and (earlier["amp"], earlier["channels_last"]) in options:
        options = [(earlier["amp"], earlier["channels_last"])]
        record["decided_by"] = "the run's own probe on this machine, at its start"
        record.update({k: earlier[k] for k in ("step_seconds", "candidates") if k in earlier})
    elif trainer.world.size > 1 and len(options) > 1:
        # DDP's wrapped modules keep their layout, so no probe: the family rule
        fast = trainer.device.type == "cuda" or cfg.family in ("dcgan", "cgan")
        options, record["decided_by"] = [(fast, fast)], "family rule (DDP: no probe)"
    elif len(options) == 1:
        record["decided_by"] = "option"
    else:
        timings = _timed(trainer, options)
        best = min((t for t in timings if t["timed"]), key=lambda t: t["step_seconds"])
        options = [(best["amp"], best["channels_last"])]
        record["decided_by"] = (
            "timed probe: one warm-up and one timed training step per candidate (each stopped "
            f"once it ran {SLOWER:g}x the fastest of its kind so far), the fastest"
        )
        record.update(step_seconds=best["step_seconds"], candidates=timings)
    trainer.amp = options[0][0]
    _set_layout(trainer, options[0][1])
    record.update(amp=trainer.amp, channels_last=trainer.channels_last)
    return record
