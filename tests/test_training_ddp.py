"""DDP under torchrun: 2 CPU processes with gloo train, log and checkpoint once (rank 0)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from training_fixtures import tiny_values

from training import checkpoint

ROOT = Path(__file__).parents[1]


@pytest.mark.slow
def test_two_cpu_processes_with_gloo(tmp_path: Path) -> None:
    values = tiny_values("dcgan", tmp_path, steps=3, name="ddp")
    config_file = tmp_path / "ddp.json"
    config_file.write_text(json.dumps(values))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--standalone",
        "-m",
        "training",
        "train",
        "dcgan",
        "--config",
        str(config_file),
    ]
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    state = checkpoint.load(checkpoint.find(tmp_path / "runs" / "ddp"))
    assert state["step"] == 3 and state["world_size"] == 2
    lines = (tmp_path / "runs" / "ddp" / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 3  # rank 0 alone writes
