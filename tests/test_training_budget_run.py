"""The prepared GPU run on CPU with tiny networks and photos made here: the shell command
trains for a wall-clock budget, exports, evaluates and leaves at most 8 files in OUT, and a
second call resumes; the step plan, the precision probe and its stop of a far slower
candidate, max_seconds, preload and the compact photo copy."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from training_fixtures import assert_same_state, tiny_photos, tiny_values

from training import budget_run, checkpoint, cli, compact_photos, config
from training.data import PhotoFolder, split_files
from training.loops import trainer_for
from training.loops.budget import Budget

ROOT = Path(__file__).resolve().parents[1]
TINY_GPU_RECIPE = [
    "load_size=20",
    "crop_size=16",
    "ngf=4",
    "ndf=4",
    "n_blocks=1",
    "d_layers=1",
    "batch_size=2",
    "pool_size=3",
    "val_images=2",
    "holdout=2,2",
    "threads=1",
    "checkpoint_every=2",
    "log_every=1",
    "amp=auto",
    "channels_last=auto",
]


def run_gpu_script(carry: Path, out: Path, runs: Path) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "OUT": str(out),
        "PY": sys.executable,
        "CARRY": str(carry),
        "SECONDS_TOTAL": "1",  # spent before training starts: one step, then export, evaluate
    }
    sets = [w for s in [*TINY_GPU_RECIPE, f"out_dir={runs}"] for w in ("--set", s)]
    cmd = ["bash", str(ROOT / "scripts" / "gpu-cyclegan.sh"), "--reserve", "0", *sets]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)


def test_the_gpu_command_trains_exports_evaluates_and_resumes(tmp_path: Path) -> None:
    carry = tmp_path / "carry"
    tiny_photos(carry / "horse2zebra", n=8)
    out, runs = tmp_path / "out", tmp_path / "runs"
    done = run_gpu_script(carry, out, runs)
    assert done.returncode == 0, done.stdout + done.stderr
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    model = ["a2b.onnx", "b2a.onnx", "gallery.png", "model.json", "README.md", "samples.png"]
    assert files == sorted(["metrics.jsonl", "run.log", *(f"model/{f}" for f in model)])
    assert len(files) <= 8  # what comes back from the GPU machine
    m = json.loads((out / "model" / "model.json").read_text())
    t = m["training"]
    assert t["precision"]["decided_by"].startswith("timed probe")
    assert len(t["precision"]["candidates"]) == 4 and "flags" in t["precision"]["cpu"]
    first_steps = t["steps"]
    assert first_steps >= 1 and t["budget"]["steps"] == t["config"]["steps"]
    assert t["config"]["max_seconds"] > 0 and t["config"]["preload"] is True
    assert 0 <= m["metrics"]["translation"]["a2b_judged_b"] <= 1
    log = (out / "run.log").read_text()
    assert log.count("max |onnxruntime - torch|") == 2 and "onnxruntime 1." in log
    run_dir = runs / "cyclegan-horse2zebra-gpu"
    recorded = json.loads((run_dir / "config.json").read_text())
    assert recorded["precision"]["amp"] == t["precision"]["amp"]
    assert checkpoint.load(checkpoint.find(run_dir))["step"] == first_steps

    # a second call resumes the run folder (in-process here: the same code the script runs)
    out2 = tmp_path / "out2"
    sets = [w for s in [*TINY_GPU_RECIPE, f"out_dir={runs}"] for w in ("--set", s)]
    words = ["--config", str(ROOT / "training/configs/cyclegan-horse2zebra-gpu.json")]
    words += ["--data", str(carry / "horse2zebra"), "--judge", str(ROOT / "judges/horse2zebra")]
    words += ["--out", str(out2), "--seconds", "1", "--reserve", "0", "--eval-threads", "1"]
    assert budget_run.main([*words, *sets]) == 0
    t2 = json.loads((out2 / "model" / "model.json").read_text())["training"]
    assert t2["resumes"][0]["from_step"] == first_steps
    assert t2["steps"] > first_steps  # a finished run gets a warm restart
    assert checkpoint.load(checkpoint.find(run_dir))["step"] == t2["steps"]
    assert t2["precision"]["decided_by"].startswith("the run's own probe")  # same machine


def _planned(tmp: Path, step_seconds: float, seconds_left: float, step: int = 0, steps: int = 9):
    cfg = config.build(tiny_values("cyclegan", tmp, steps=steps, decay_steps=0))
    trainer = SimpleNamespace(
        cfg=cfg, step=step, extra={"precision": {"step_seconds": step_seconds}}
    )
    return cfg, budget_run.plan(trainer, resumed=step > 0, seconds_left=seconds_left)


def test_the_plan_fits_the_steps_to_the_time_left(tmp_path: Path) -> None:
    cfg, record = _planned(tmp_path, step_seconds=0.5, seconds_left=100)
    assert (cfg.steps, cfg.decay_steps, cfg.max_seconds) == (180, 90, 100)  # 90 % of 100 s
    assert record["steps"] == 180 and record["from_step"] == 0
    cfg, _ = _planned(tmp_path, step_seconds=2.0, seconds_left=-5)  # the budget went on loading
    assert (cfg.steps, cfg.max_seconds) == (1, 1.0)
    cfg, _ = _planned(
        tmp_path, step_seconds=0.5, seconds_left=100, step=4, steps=9
    )  # cut short: finish
    assert (cfg.steps, cfg.decay_steps) == (9, 0)
    cfg, _ = _planned(
        tmp_path, step_seconds=0.5, seconds_left=100, step=9, steps=9
    )  # done: restart
    assert (cfg.steps, cfg.decay_steps) == (189, 180)


def test_the_probe_restores_the_start_and_records_the_fastest(tmp_path: Path) -> None:
    values = tiny_values("cyclegan", tmp_path, batch_size=2, amp="auto", channels_last="auto")
    probed = trainer_for(config.build(values))
    record = probed.extra["precision"]
    best = min(record["candidates"], key=lambda c: c["step_seconds"])
    assert (record["amp"], record["channels_last"]) == (best["amp"], best["channels_last"])
    assert (probed.amp, probed.channels_last) == (best["amp"], best["channels_last"])
    plain = trainer_for(config.build({**values, "amp": "off", "channels_last": "off"}))
    assert plain.extra["precision"]["decided_by"] == "option"
    assert probed.step == 0 and not probed.pool_a.images
    for key, model in probed.models.items():
        other = plain.models[key].state_dict()
        for name, value in model.state_dict().items():
            assert torch.equal(value, other[name]), f"{key}.{name} moved in the probe"
    for key, optim in probed.optims.items():
        assert not optim.state, f"optimiser {key} kept the probe's steps"


def test_max_seconds_stops_with_a_checkpoint_that_resumes(tmp_path: Path) -> None:
    cfg = config.build(tiny_values("cyclegan", tmp_path, steps=100000, max_seconds=0.5))
    trainer = trainer_for(cfg)
    trainer.run()
    assert 0 < trainer.step < 100000
    state = checkpoint.load(checkpoint.find(cfg.run_dir))
    assert state["step"] == trainer.step


def test_max_seconds_stops_before_a_step_that_would_not_fit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a clock the test moves, 0.3 s a step and 0.1 s a checkpoint after each, a 1 s
    budget: two steps (0.8 s), then a stop, since a third with the closing checkpoint would
    end at 1.3 s (checked only between steps, the budget let it run, to 1.3 s); the run then
    resumes to where an uncut one ends, bit for bit."""
    now = [0.0]
    monkeypatch.setattr(Budget, "clock", staticmethod(lambda: now[0]))
    options = {"steps": 5, "checkpoint_every": 1}
    cut = config.build(tiny_values("dcgan", tmp_path, name="cut", max_seconds=1.0, **options))
    trainer = trainer_for(cut)
    step, save = trainer.train_step, trainer.save

    def timed_step(s: int) -> dict:
        now[0] += 0.3
        return step(s)

    def timed_save() -> None:
        now[0] += 0.1
        save()

    trainer.train_step, trainer.save = timed_step, timed_save
    trainer.run()
    assert trainer.step == 2 and now[0] <= 1.0
    assert checkpoint.load(checkpoint.find(cut.run_dir))["step"] == 2
    assert cli.main(["resume", str(cut.run_dir)]) == 0  # this clock stands still now

    whole = config.build(tiny_values("dcgan", tmp_path, name="whole", **options))
    trainer_for(whole).run()
    assert_same_state(
        checkpoint.load(checkpoint.find(whole.run_dir)),
        checkpoint.load(checkpoint.find(cut.run_dir)),
    )


def test_preloaded_photos_give_the_same_crops(tmp_path: Path) -> None:
    root = tiny_photos(tmp_path / "photos", n=6)
    files = split_files(root / "trainA", 0)[0]
    lazy = PhotoFolder(files, 20, 16, True)
    cached = PhotoFolder(files, 20, 16, True, preload=True)
    index = np.array([0, 3, 5, 1])
    assert torch.equal(lazy.batch(index, 0, 7), cached.batch(index, 0, 7))
    assert torch.equal(lazy.item(2, None), cached.item(2, None))


def test_the_compact_copy_keeps_the_split_and_the_validation_files(tmp_path: Path) -> None:
    root = tiny_photos(tmp_path / "photos", n=8, size=300)
    out = tmp_path / "compact"
    assert compact_photos.main(["--data", str(root), "--out", str(out), "--holdout", "2,3"]) == 0
    for sub, n in (("trainA", 2), ("trainB", 3)):
        train, val = split_files(root / sub, n)
        small_train, small_val = split_files(out / sub, n)
        assert [f.name for f in small_train] == [f.name for f in train]
        assert [f.read_bytes() for f in small_val] == [f.read_bytes() for f in val]
        from PIL import Image

        with Image.open(small_train[1]) as image:
            assert image.size == (256, 256) and image.format == "JPEG"


@pytest.mark.parametrize("bad", ["max_seconds=-1"])
def test_bad_budget_options_are_refused(tmp_path: Path, bad: str) -> None:
    with pytest.raises(config.ConfigError, match="max_seconds"):
        config.build(tiny_values("cyclegan", tmp_path), [bad])


def test_a_candidate_past_its_deadline_is_stopped_in_its_warm_up(tmp_path: Path) -> None:
    from training import precision

    trainer = trainer_for(config.build(tiny_values("cyclegan", tmp_path, batch_size=2)))
    calls = []
    original = trainer.train_step
    trainer.train_step = lambda s: calls.append(s) or original(s)
    stopped = precision._time_step(trainer, best=(1e-9, 1e-9))
    assert not stopped["timed"] and "step_seconds" not in stopped and len(calls) == 1
    timed = precision._time_step(trainer, best=None)
    assert timed["timed"] and timed["step_seconds"] > 0 and len(calls) == 3


def test_a_far_slower_candidate_is_stopped_within_its_step(tmp_path: Path) -> None:
    """As bf16 on a CPU without bf16 hardware: the probe stops it partway, keeps fp32."""
    from training import precision

    values = tiny_values("cyclegan", tmp_path, batch_size=2, amp="off", channels_last="off")
    trainer = trainer_for(config.build(values))
    inner = []
    original = trainer.train_step

    def step(s: int) -> dict[str, float]:  # bf16: 200 steps' work in one
        for _ in range(200 if trainer.amp else 1):
            losses = original(s)
            inner.append(trainer.amp)
        return losses

    trainer.train_step = step
    trainer.cfg.amp = trainer.cfg.channels_last = "auto"
    record = precision.choose(trainer)
    assert record["amp"] is False and trainer.amp is False
    slow = [c for c in record["candidates"] if c["amp"]]
    assert len(slow) == 2 and not any(c["timed"] for c in slow)
    assert inner.count(True) < 200  # the two together stopped within one of their steps
