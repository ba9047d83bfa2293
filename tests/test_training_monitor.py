"""The mode-collapse monitor inside the training loop, and Stacked MNIST data, on tiny data.

The judge is hand-built (`tiny_judge`: the nearest class template of the tiny npz, exported
to ONNX like a real judge folder), so the loop runs the same code path as with judges/mnist.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from training_fixtures import tiny_judge, tiny_npz, tiny_values

from training import config
from training.config import ConfigError
from training.loops import trainer_for
from training.stacked import StackedDigits, load_stacked

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def judge(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("judge")
    return tiny_judge(root / "judge", tiny_npz(root / "tiny.npz"))


def _monitor_lines(cfg: config.Config) -> list[dict]:
    lines = [json.loads(x) for x in (cfg.run_dir / "metrics.jsonl").read_text().splitlines()]
    return [r for r in lines if any(k.startswith("monitor/") for k in r)]


@pytest.mark.parametrize("family", ["dcgan", "cgan"])
def test_the_loop_logs_class_coverage_kl_and_fd(family, judge, tmp_path, capsys) -> None:
    cfg = config.build(
        tiny_values(family, tmp_path, monitor_every=2, monitor_judge=str(judge), monitor_n=30)
    )
    trainer_for(cfg).run()
    records = _monitor_lines(cfg)
    assert [r["step"] for r in records] == [2, 4]
    for r in records:
        assert 1 <= r["monitor/classes_present"] <= 3
        assert 0.0 <= r["monitor/class_kl"] <= np.log(3) + 1e-9
        assert r["monitor/fd_judge"] >= 0.0
        if family == "cgan":
            assert 0.0 <= r["monitor/label_accuracy_min"] <= r["monitor/label_accuracy_mean"] <= 1
        else:
            assert "monitor/label_accuracy_min" not in r
    out = capsys.readouterr().out  # no progress bar: one line per check
    assert "step 2: classes_present" in out and "step 4: classes_present" in out


def test_the_loop_logs_modes_for_2d_data(tmp_path) -> None:
    cfg = config.build(tiny_values("toy2d", tmp_path, monitor_every=4, monitor_n=200))
    trainer_for(cfg).run()
    (record,) = _monitor_lines(cfg)
    assert record["step"] == 4
    assert 0 <= record["monitor/modes"] <= 8 and 0.0 <= record["monitor/high_quality"] <= 1.0


def test_the_monitor_sees_what_the_judge_sees(judge, tmp_path) -> None:
    """A generator whose output is always one class's template: 1 class present, KL ln 3."""
    cfg = config.build(
        tiny_values("dcgan", tmp_path, monitor_every=1, monitor_judge=str(judge), monitor_n=30)
    )
    trainer = trainer_for(cfg)
    with np.load(tmp_path / "tiny.npz") as data:
        one = data["images"][data["labels"] == 1].mean(0)
    template = torch.from_numpy(one.astype(np.float32) / 127.5 - 1.0)[None, None]

    class Collapsed(torch.nn.Module):
        def forward(self, z, label=None):
            return torch.nn.functional.interpolate(template, size=16).expand(len(z), 1, 16, 16)

    trainer.export_generators = lambda: {"g": Collapsed()}
    figures = trainer.monitor()
    assert figures["classes_present"] == 1
    assert figures["class_kl"] == pytest.approx(np.log(3))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"family": "dcgan", "monitor_every": 5}, "monitor_judge"),
        ({"family": "dcgan", "monitor_every": -1}, "monitor_every=-1"),
        ({"family": "toy2d", "monitor_every": 5, "monitor_n": 3}, "monitor_n=3"),
        ({"family": "cyclegan", "monitor_every": 5}, "cyclegan has no classes"),
        ({"family": "dcgan", "data": "stacked:x.npz", "channels": 1}, "Stacked MNIST"),
        ({"family": "cgan", "data": "stacked:x.npz", "channels": 3}, "Stacked MNIST"),
        ({"family": "dcgan", "aux_weight": 1.0}, "aux_weight=1.0"),
        ({"family": "cgan", "aux_weight": -1.0}, "aux_weight=-1.0"),
    ],
)
def test_monitor_stacked_and_aux_options_are_checked(overrides, message, tmp_path) -> None:
    values = tiny_values(overrides["family"], tmp_path)
    with pytest.raises(ConfigError, match=message):
        config.build({**values, **overrides})


def test_stacked_digits_put_three_digits_in_three_channels(tmp_path) -> None:
    data = load_stacked(f"stacked:{tiny_npz(tmp_path / 'd.npz', n=30)}", 16, train_count=24)
    assert len(data.digits) == 24 and len(data) == 100_000
    assert data.table.max() < 24
    x, y = data.batch(np.array([0, 7, 99_999]))
    assert x.shape == (3, 3, 16, 16)
    with np.load(tmp_path / "d.npz") as arrays:
        digit_labels = arrays["labels"][:24]
    for row, i in enumerate([0, 7, 99_999]):
        a, b, c = data.table[i].tolist()
        for channel, j in enumerate((a, b, c)):
            assert torch.equal(x[row, channel], data.digits[j, 0])
        assert y[row] == 100 * digit_labels[a] + 10 * digit_labels[b] + digit_labels[c]
    again = StackedDigits(data.digits, torch.from_numpy(digit_labels))
    assert torch.equal(again.table, data.table)  # the same data set in every run


def test_a_stacked_run_logs_modes(judge, tmp_path) -> None:
    values = tiny_values(
        "dcgan", tmp_path, channels=3, monitor_every=4, monitor_judge=str(judge), monitor_n=30
    )
    cfg = config.build({**values, "data": "stacked:" + values["data"]})
    trainer_for(cfg).run()
    (record,) = _monitor_lines(cfg)
    assert 1 <= record["monitor/modes"] <= 27  # a 3-class judge: 3^3 triples at most
    assert record["monitor/mode_kl"] >= 0.0


def test_the_stacked_mnist_benchmark_runs_end_to_end(judge, tmp_path) -> None:
    """Tiny setting: a 3-class judge has 27 modes; the real reference covers them all. A
    second judge, of one class, finds its 1 mode of 1, the better count: shown second."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "stacked_mnist", Path(__file__).parents[1] / "benchmarks" / "stacked_mnist.py"
    )
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    data = tiny_npz(tmp_path / "d.npz", n=64)
    out = tmp_path / "results" / "stacked"
    tiny = ["ngf=4", "ndf=4", "z_dim=8", "image_size=16", "batch_size=4", "monitor_n=30"]
    one_class = tiny_judge(tmp_path / "one-class", tiny_npz(tmp_path / "one.npz", classes=1))
    args = ["--data", str(data), "--judge", str(judge), "--steps", "4", "--decay-steps", "0"]
    args += ["--second-judge", str(one_class)]
    args += ["--n", "300", "--train-count", "48", "--runs", str(tmp_path / "runs")]
    args += ["--threads", "1", "--monitor-every", "2", "--out", str(out)]
    assert bench.main(args + [x for kv in tiny for x in ("--set", kv)]) == 0
    result = json.loads(out.with_suffix(".json").read_text())
    first, second = result["judges"]
    assert first["judge"]["path"] == judge.as_posix()
    assert result["samples"] == 300 and first["generated"]["num_modes"] == 27
    assert 1 <= first["generated"]["modes"] <= 27
    assert first["real_reference"]["modes"] == 27  # 300 random triples of 16 held-out digits
    assert second["judge"]["path"] == one_class.as_posix()
    assert second["generated"]["num_modes"] == second["generated"]["modes"] == 1
    assert [m["step"] for m in result["monitor"]] == [2, 4]
    table = out.with_suffix(".md").read_text()
    assert "| PacDCGAN |" in table
    assert table.index(f"by `{judge.as_posix()}`") < table.index(f"by `{one_class.as_posix()}`")
    assert out.with_suffix(".png").is_file()
