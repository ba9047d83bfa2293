"""What every family's loop shares: device, precision, DDP, logging, samples, checkpoints,
resume and the non-finite guard. A family supplies `build`, `train_step` and `samples`."""

from __future__ import annotations

import contextlib
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from training import checkpoint, distributed, precision
from training.config import Config
from training.ema import EMA
from training.imaging import save_png
from training.loops.budget import Budget
from training.revision import git_revision


class NonFiniteLoss(RuntimeError):
    pass


def pick_device(choice: str) -> torch.device:
    if choice == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device=cuda but CUDA is not available")
    if choice == "auto":
        choice = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(choice)


class Trainer:
    """Owns models, optimisers, schedulers and the step counter of one run."""

    def __init__(self, cfg: Config, state: dict[str, Any] | None = None) -> None:
        self.cfg = cfg
        device = pick_device(cfg.device)
        self.world = distributed.setup(device.type)
        self.device = (
            torch.device("cuda", self.world.local_rank) if device.type == "cuda" else device
        )
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # fixed shapes: autotune each convolution
        # bf16 autocast and channels_last: set by training.precision once the models exist
        self.amp, self.channels_last = False, False
        self.step = 0
        self.elapsed = 0.0
        self.extra: dict[str, Any] = dict(state["extra"]) if state else {}
        torch.manual_seed(cfg.seed)  # identical initial weights on every rank
        self.models: dict[str, nn.Module] = {}
        self.optims: dict[str, torch.optim.Optimizer] = {}
        self.build()
        for model in self.models.values():
            model.to(self.device)
        self.emas = {
            k: EMA(m, cfg.ema_decay)
            for k, m in self.models.items()
            if k.startswith("g") and cfg.ema_decay > 0
        }
        self.make_optimisers()
        self.scheds = {
            k: torch.optim.lr_scheduler.LambdaLR(o, self._lr_factor) for k, o in self.optims.items()
        }
        self.wrapped = {k: self._wrap(m) for k, m in self.models.items()}
        torch.manual_seed(cfg.seed * 1000 + 1 + self.world.rank)  # noise differs per rank
        if state:
            self.load_state(state)
        # measured on this machine at every start (a resume may run elsewhere)
        self.extra["precision"] = precision.choose(self, self.extra.get("precision"))
        self.run_dir = cfg.run_dir
        self.ckpt_path = self.run_dir / "checkpoints" / checkpoint.LAST

    # --- family hooks -------------------------------------------------------------------
    def build(self) -> None:
        raise NotImplementedError

    def train_step(self, step: int) -> dict[str, float]:
        raise NotImplementedError

    def samples(self) -> np.ndarray:
        """A uint8 HxWx3 picture of the current (EMA) generator."""
        raise NotImplementedError

    def monitor(self) -> dict[str, float]:
        """Mode-collapse figures of a fixed batch of samples (`monitor_every`); see gan.py."""
        return {}

    def family_state(self) -> dict[str, Any]:
        return {}

    def load_family_state(self, state: dict[str, Any]) -> None:
        return None

    # --- shared machinery ---------------------------------------------------------------
    def make_optimisers(self) -> None:
        cfg = self.cfg
        groups: dict[str, list[nn.Parameter]] = {}
        for name, model in self.models.items():
            groups.setdefault(name[0], []).extend(model.parameters())
        self.optims = {
            k: torch.optim.Adam(p, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2))
            for k, p in groups.items()
        }

    def _lr_factor(self, step: int) -> float:
        """Constant, then linear to zero over the last `decay_steps` (CycleGAN's schedule)."""
        start = self.cfg.steps - self.cfg.decay_steps
        return 1.0 - max(0, step - start) / (self.cfg.decay_steps + 1)

    def _wrap(self, model: nn.Module) -> nn.Module:
        if self.world.size == 1:
            return model
        ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=ids)

    def autocast(self):
        if not self.amp:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=torch.bfloat16)

    def to_device(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.device, non_blocking=True)
        if self.channels_last and x.ndim == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    def export_generators(self) -> dict[str, nn.Module]:
        """EMA weights where kept, else the live ones."""
        return {
            k: (self.emas[k].model if k in self.emas else m)
            for k, m in self.models.items()
            if k.startswith("g")
        }

    def state_dict(self) -> dict[str, Any]:
        return {
            "format": 1,
            "config": self.cfg.to_dict(),
            "step": self.step,
            "elapsed": self.elapsed,
            "device": str(self.device),
            "world_size": self.world.size,
            "git": git_revision() or "unknown",
            "models": {k: m.state_dict() for k, m in self.models.items()},
            "ema": {k: e.state_dict() for k, e in self.emas.items()},
            "ema_updates": {k: e.updates for k, e in self.emas.items()},
            "optims": {k: o.state_dict() for k, o in self.optims.items()},
            "scheds": {k: s.state_dict() for k, s in self.scheds.items()},
            "rng": checkpoint.rng_state(),
            "family": self.family_state(),
            "extra": self.extra,
        }

    def load_state(self, state: dict[str, Any]) -> None:
        for k, m in self.models.items():
            m.load_state_dict(state["models"][k])
        for k, e in self.emas.items():
            e.load_state_dict(state["ema"][k], state.get("ema_updates", {}).get(k, state["step"]))
        for k, o in self.optims.items():
            o.load_state_dict(state["optims"][k])
        for k, s in self.scheds.items():
            s.load_state_dict(state["scheds"][k])
        self.step, self.elapsed = state["step"], state["elapsed"]
        self.load_family_state(state["family"])
        if self.world.size == 1:  # per-rank streams are not saved; DDP resumes approximately
            checkpoint.set_rng_state(state["rng"])

    def save(self) -> None:
        if self.world.main:
            checkpoint.save(self.state_dict(), self.ckpt_path)

    def write_samples(self) -> None:
        if self.world.main:
            save_png(self.samples(), self.run_dir / "samples" / f"step_{self.step:07d}.png")

    def run(self) -> Path:
        """Train to `cfg.steps`; returns the checkpoint path."""
        from tqdm import tqdm

        cfg, main = self.cfg, self.world.main
        if main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            # the options, and what amp/channels_last=auto chose on this machine and why
            record = {**cfg.to_dict(), "precision": self.extra["precision"]}
            (self.run_dir / "config.json").write_text(json.dumps(record, indent=2) + "\n")
        log = _MetricsLog(self.run_dir) if main else None
        bar = tqdm(
            total=cfg.steps,
            initial=self.step,
            disable=not (main and cfg.progress),
            dynamic_ncols=True,
            desc=cfg.name,
        )
        budget = Budget(cfg.max_seconds)
        base_elapsed = self.elapsed
        watched: dict[str, str] = {}  # the monitor's latest figures, shown in the bar
        try:
            while self.step < cfg.steps:
                if cfg.max_seconds and distributed.any_rank(
                    not budget.room_for_a_step(), self.world
                ):
                    budget.save(self.save)  # out of time: stop where a resume can pick up
                    if main:
                        print(
                            f"max_seconds={cfg.max_seconds}: stopped at step {self.step} after "
                            f"{budget.used():.1f} s, the next step not fitting in the time left"
                        )
                    break
                for m in self.models.values():
                    m.train()
                losses = self.train_step(self.step)
                bad = {k: v for k, v in losses.items() if not math.isfinite(v)}
                if bad:
                    where = self.ckpt_path if self.ckpt_path.exists() else "none written yet"
                    raise NonFiniteLoss(
                        f"non-finite loss {bad} at step {self.step}; stopped. Last good "
                        f"checkpoint: {where}. Try a lower lr, another loss or spectral_norm."
                    )
                for k, e in self.emas.items():
                    e.update(self.models[k])
                for s in self.scheds.values():
                    s.step()
                self.step += 1
                self.elapsed = base_elapsed + budget.used()
                bar.update(1)
                bar.set_postfix(
                    {**{k: f"{v:.3f}" for k, v in losses.items()}, **watched}, refresh=False
                )
                if self.step % cfg.log_every == 0 or self.step == cfg.steps:
                    record = {k: distributed.mean(v, self.world) for k, v in losses.items()}
                    lr = self.scheds[next(iter(self.scheds))].get_last_lr()[0]
                    if log:
                        log.write(
                            {
                                "step": self.step,
                                **record,
                                "lr": lr,
                                "elapsed": round(self.elapsed, 3),
                            }
                        )
                if cfg.monitor_every and self.step % cfg.monitor_every == 0 and main:
                    watched = self._watch(log, bar.disable)
                if cfg.sample_every and self.step % cfg.sample_every == 0:
                    self.write_samples()
                if self.step % cfg.checkpoint_every == 0 or self.step == cfg.steps:
                    budget.save(self.save)
                budget.stepped()
        finally:
            bar.close()
            if log:
                log.close()
        if not cfg.sample_every or self.step % cfg.sample_every:
            self.write_samples()
        return self.ckpt_path

    def _watch(self, log: _MetricsLog | None, quiet_bar: bool) -> dict[str, str]:
        """Run the monitor; log its figures as `monitor/<name>`; return them for the bar."""
        figures = {k: v for k, v in self.monitor().items() if k != "step"}
        if log:
            log.write({"step": self.step, **{f"monitor/{k}": v for k, v in figures.items()}})
        shown = {k: f"{v:.3g}" if isinstance(v, float) else str(v) for k, v in figures.items()}
        if quiet_bar:  # no progress bar: one line per check instead
            print(f"step {self.step}: " + ", ".join(f"{k} {v}" for k, v in shown.items()))
        return shown


class _MetricsLog:
    """JSON lines in metrics.jsonl, and TensorBoard scalars when tensorboard is installed."""

    def __init__(self, run_dir: Path) -> None:
        self.file = (run_dir / "metrics.jsonl").open("a")
        try:
            from torch.utils.tensorboard import SummaryWriter

            self.tb = SummaryWriter(run_dir / "tensorboard")
        except ImportError:
            self.tb = None

    def write(self, record: dict[str, Any]) -> None:
        self.file.write(json.dumps(record) + "\n")
        self.file.flush()
        if self.tb:
            for k, v in record.items():
                if k != "step":
                    self.tb.add_scalar(k, v, record["step"])

    def close(self) -> None:
        self.file.close()
        if self.tb:
            self.tb.close()
