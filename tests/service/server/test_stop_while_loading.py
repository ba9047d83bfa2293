"""SIGTERM while `python -m service` is still loading its models (what `docker stop` sends a
container that is starting): it stops within a second or two, as a SIGTERM after startup
would, never ready, instead of after the whole load (docker's 10 s grace then SIGKILLs it)."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from live_server import ROOT, clean_env, free_port
from onnx_models import make_slow_unconditional

pytestmark = pytest.mark.slow

# Each takes seconds to load (warm-up and timing runs of MAX_BATCH rows), longer than PROMPT_S
# after the signal: the exit must not wait for the one being loaded either.
MODELS = 2
LAYERS = 384
MAX_BATCH = "512"
PROMPT_S = 3.0


def start(tmp_path: Path, workers: str) -> tuple[subprocess.Popen, Path]:
    for i in range(MODELS):
        make_slow_unconditional(tmp_path / "models" / f"slow{i}", layers=LAYERS)
    (tmp_path / "tmp").mkdir()
    env = clean_env() | {"GANSERVE_PROVIDER": "cpu", "GANSERVE_INTRA_OP_THREADS": "1"}
    env |= {"GANSERVE_MAX_BATCH": MAX_BATCH, "TMPDIR": str(tmp_path / "tmp")}
    command = [sys.executable, "-m", "service", "--host", "127.0.0.1", "--workers", workers]
    command += ["--port", str(free_port()), "--models", str(tmp_path / "models")]
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    return proc, log


def loading(log: Path) -> int:
    """Workers in their lifespan's startup (spawned workers log no INFO of ganserve's)."""
    return log.read_text().count("Waiting for application startup.")


# As after startup: one process killed by the SIGTERM it got, a supervisor's exit 0, or
# uvicorn's 0 after Ctrl-C.
CASES = [("1", signal.SIGTERM, -signal.SIGTERM), ("2", signal.SIGTERM, 0), ("1", signal.SIGINT, 0)]


@pytest.mark.parametrize(("workers", "sig", "exit_code"), CASES)
def test_a_signal_while_the_models_load_stops_at_once(
    tmp_path: Path, workers: str, sig: signal.Signals, exit_code: int
) -> None:
    proc, log = start(tmp_path, workers)
    try:
        deadline = time.monotonic() + 60
        while loading(log) < int(workers):
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        time.sleep(1.0)  # into the first model
        sent = time.monotonic()
        proc.send_signal(sig)
        code = proc.wait(PROMPT_S)
        took = time.monotonic() - sent
    except subprocess.TimeoutExpired:
        pytest.fail(f"still running {PROMPT_S} s after {sig.name}:\n{log.read_text()[-3000:]}")
    finally:
        proc.kill()
        proc.wait()
    output = log.read_text()
    assert output.count(f"{sig.name} while the models load: stopping") == int(workers), output
    assert code == exit_code, output
    assert "Traceback" not in output and "ERROR" not in output, output
    assert "ganserve: models: " not in output  # startup never ended loaded: never ready
    pids = [int(p) for p in re.findall(r"Started server process \[(\d+)\]", output)]
    assert len(pids) == int(workers) and not any(Path(f"/proc/{p}").exists() for p in pids)
    assert not list((tmp_path / "tmp").glob("ganserve-*"))  # the workers' folder and metrics
    print(f"workers={workers}: exit {code} {took:.2f} s after {sig.name}")
