"""`kill -9` at random moments of a real `python -m training` process, then `resume`, several
times: every checkpoint left behind loads, and the finished run equals an uninterrupted one
bitwise. With a checkpoint every step, many kills land inside a checkpoint write."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from training_fixtures import assert_same_state, tiny_values

from training import checkpoint, config
from training.loops import trainer_for

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
STEPS = 120
KILLS = 4


def _start(args: list[str]) -> subprocess.Popen:
    env = os.environ | {"PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "training", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _kill_at_a_random_moment(proc: subprocess.Popen, ckpt: Path, rng: random.Random) -> bool:
    """Once training is under way (a checkpoint newer than the start exists), SIGKILL after a
    random delay. False when the run finished first."""
    started = time.time()
    deadline = time.monotonic() + 120
    while not (ckpt.exists() and ckpt.stat().st_mtime > started):
        if proc.poll() is not None:
            return False
        assert time.monotonic() < deadline, "the run made no checkpoint"
        time.sleep(0.02)
    time.sleep(rng.uniform(0.0, 0.5))
    if proc.poll() is not None:
        return False
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return True


def test_kill_9_then_resume_repeatedly_matches_an_uninterrupted_run(tmp_path: Path) -> None:
    options = {"steps": STEPS, "checkpoint_every": 1, "batch_size": 16, "log_every": 10}
    whole = config.build(tiny_values("dcgan", tmp_path, name="whole", **options))
    trainer_for(whole).run()

    values = tiny_values("dcgan", tmp_path, name="killed", **options)
    config_file = tmp_path / "killed.json"
    config_file.write_text(json.dumps(values))
    run_dir = Path(values["out_dir"]) / "killed"
    ckpt = run_dir / "checkpoints" / checkpoint.LAST

    rng = random.Random(8)
    proc = _start(["train", "dcgan", "--config", str(config_file)])
    steps_at_kill, torn_writes = [], 0
    for _ in range(KILLS):
        if not _kill_at_a_random_moment(proc, ckpt, rng):
            break
        state = checkpoint.load(ckpt)  # never torn: the last complete write, whole
        assert not steps_at_kill or state["step"] >= steps_at_kill[-1]
        steps_at_kill.append(state["step"])
        torn_writes += (ckpt.parent / f".{ckpt.name}.tmp").exists()
        proc = _start(["resume", str(run_dir)])
    assert proc.wait(120) == 0, proc.stderr.read().decode()[-2000:]

    print(f"killed at checkpoint steps {steps_at_kill}; {torn_writes} kills mid-write")
    assert len(steps_at_kill) >= 3 and steps_at_kill[-1] < STEPS
    assert_same_state(checkpoint.load(checkpoint.find(whole.run_dir)), checkpoint.load(ckpt))
