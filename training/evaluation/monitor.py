"""Mode-collapse monitors for a training loop (`monitor_every`).

Every N steps the loop draws a fixed batch of samples (fixed noise, so the numbers move only
when the generator does) and calls a monitor with the step and the samples as numpy arrays.
The monitor returns figures for the metrics log and the progress bar, and prints a warning
naming the step when the coverage drops sharply below the best seen so far.

- `ClassMonitor`: images scored by a judge (`Judge`): classes present (>= 1 % of the batch),
  KL of the predicted-class histogram from uniform, FD-judge against real features and, for a
  conditional generator, the judge's accuracy on the requested labels (worst and mean).
- `StackedMonitor`: Stacked MNIST, each channel judged on its own: modes (digit triples) and
  their KL from uniform.
- `ModeMonitor`: 2D samples scored with PacGAN's metrics: modes captured, high-quality share.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import numpy as np

from training.evaluation import metrics as M


def _default_warn(message: str) -> None:
    print(f"WARNING: {message}", file=sys.stderr, flush=True)


class _Watch:
    """What every monitor keeps: its figures per call, the best coverage so far, and a warning
    when a later coverage falls `drop` or more below it."""

    def __init__(self, drop: int, warn: Callable[[str], None]) -> None:
        self.drop = drop
        self.warn = warn
        self.best = 0
        self.best_step: int | None = None
        self.history: list[dict[str, float]] = []

    def _record(self, out: dict[str, float], covered: int, of: int, what: str) -> dict[str, float]:
        step = out["step"]
        if self.best - covered >= self.drop:
            self.warn(
                f"step {step}: {what} fell to {covered}/{of} from "
                f"{self.best} at step {self.best_step} (mode collapse?)"
            )
        if covered > self.best:
            self.best, self.best_step = int(covered), step
        self.history.append(out)
        return out


class ClassMonitor(_Watch):
    """Class coverage, class KL and FD-judge of a fixed batch of generated images."""

    def __init__(
        self,
        judge: Any,
        real_features: np.ndarray | None = None,
        drop: int = 2,
        warn: Callable[[str], None] = _default_warn,
    ):
        super().__init__(drop, warn)
        self.judge = judge
        self.real_stats = M.gaussian_stats(real_features) if real_features is not None else None

    def __call__(
        self, step: int, images: np.ndarray, labels: np.ndarray | None = None
    ) -> dict[str, float]:
        """`labels`: the labels a conditional generator was asked for, one per image."""
        logits, features = self.judge.run(images)
        predictions = logits.argmax(1)
        hist = M.class_histogram(predictions, logits.shape[1])
        present = M.classes_present(hist)
        out: dict[str, float] = {
            "step": step,
            "classes_present": present,
            "class_kl": M.kl_from_uniform(hist),
        }
        if self.real_stats is not None and len(features) > 1:
            out["fd_judge"] = M.frechet_distance_from_stats(
                *M.gaussian_stats(features), *self.real_stats
            )
        if labels is not None:
            accuracy = [
                a
                for a in M.per_label_accuracy(predictions, labels, logits.shape[1])
                if a is not None
            ]
            out["label_accuracy_min"] = min(accuracy)
            out["label_accuracy_mean"] = float(np.mean(accuracy))
        return self._record(out, present, logits.shape[1], "class coverage")


class ModeMonitor(_Watch):
    """Modes captured and high-quality share of a fixed batch of 2D samples."""

    def __init__(
        self,
        means: np.ndarray,
        std: float,
        drop: int | None = None,
        warn: Callable[[str], None] = _default_warn,
    ):
        self.means = np.asarray(means, dtype=np.float64)
        self.std = std
        super().__init__(drop if drop is not None else max(1, len(self.means) // 10), warn)

    def __call__(self, step: int, samples: np.ndarray) -> dict[str, float]:
        m = M.mode_metrics(samples, self.means, self.std)
        out: dict[str, float] = {
            "step": step,
            "modes": m["modes"],
            "high_quality": m["high_quality"],
            "reverse_kl": m["reverse_kl"],
        }
        return self._record(out, m["modes"], len(self.means), "modes captured")


class StackedMonitor(_Watch):
    """Stacked MNIST: modes (triples of the judge's digit per channel, of 1,000) and their KL."""

    def __init__(self, judge: Any, drop: int = 50, warn: Callable[[str], None] = _default_warn):
        super().__init__(drop, warn)
        self.judge = judge

    def __call__(self, step: int, images: np.ndarray) -> dict[str, float]:
        """images [N, C, H, W] at the judge's size, one digit per channel."""
        m = M.stacked_modes(channel_predictions(self.judge, images), self.judge.num_classes)
        out: dict[str, float] = {
            "step": step,
            "modes": m["modes"],
            "mode_kl": m["kl_from_uniform"],
        }
        return self._record(out, m["modes"], m["num_modes"], "Stacked MNIST modes")


def channel_predictions(judge: Any, images: np.ndarray) -> np.ndarray:
    """The judge's class for every channel of every image: int [N, C]."""
    n, c, h, w = images.shape
    logits, _ = judge.run(np.ascontiguousarray(images.reshape(n * c, 1, h, w)))
    return logits.argmax(1).reshape(n, c)
