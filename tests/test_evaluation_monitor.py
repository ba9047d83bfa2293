"""The mode-collapse monitors warn, naming the step, when coverage drops sharply."""

from __future__ import annotations

import numpy as np

from training.data import mixture_means
from training.evaluation.monitor import ClassMonitor, ModeMonitor


class _OneHotJudge:
    """A judge whose 'image' is already the class index; features are the one-hot logits."""

    def run(self, images):
        logits = np.eye(10)[np.asarray(images, dtype=np.int64)] * 5.0
        return logits, logits + 0.01 * np.random.default_rng(0).normal(size=logits.shape)


def test_class_monitor_reports_and_warns_on_collapse():
    warnings: list[str] = []
    real = np.eye(10)[np.arange(1000) % 10] * 5.0
    mon = ClassMonitor(_OneHotJudge(), real_features=real, warn=warnings.append)
    healthy = mon(100, np.arange(500) % 10)
    assert healthy["classes_present"] == 10 and healthy["class_kl"] < 1e-9
    assert healthy["fd_judge"] < 0.1
    assert warnings == []
    mon(200, np.arange(500) % 9)  # one class lost: below the alarm threshold of 2
    assert warnings == []
    collapsed = mon(300, np.full(500, 4))
    assert collapsed["classes_present"] == 1
    assert collapsed["fd_judge"] > 10 * healthy["fd_judge"]
    assert len(warnings) == 1 and "step 300" in warnings[0] and "step 100" in warnings[0]


def test_mode_monitor_warns_when_modes_vanish():
    warnings: list[str] = []
    means = mixture_means("grid")[0]
    mon = ModeMonitor(means, std=0.05, warn=warnings.append)
    all_modes = mon(10, np.repeat(means, 4, axis=0))
    assert all_modes["modes"] == 25 and all_modes["high_quality"] == 1.0
    mon(20, np.repeat(means[:23], 4, axis=0))  # 2 of 25 lost: the threshold for 25 modes is 2
    assert len(warnings) == 1 and "step 20" in warnings[0]
    ok = ModeMonitor(mixture_means("ring")[0], std=0.01, warn=warnings.append)
    ok(1, np.repeat(mixture_means("ring")[0], 3, axis=0))
    ok(2, np.repeat(mixture_means("ring")[0], 3, axis=0))
    assert len(warnings) == 1
