"""Each peer's own virtual environment, made from its requirements.txt and remade when that
file changes. Never the project's: the peers' dependencies stay out of pyproject.toml.

The peers get the ONNX Runtime release that ganserve runs on here (their requirements admit
a range, and pip would take the newest), so that the runtime is not one of the differences
measured."""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata
from pathlib import Path

HERE = Path(__file__).resolve().parent
PEERS = ("naive", "litserve", "rayserve", "bentoml")


def runtime_pin() -> str:
    """`onnxruntime==<the version ganserve imports>` (its GPU build names the same release)."""
    for dist in ("onnxruntime-gpu", "onnxruntime"):
        try:
            return f"onnxruntime=={metadata.version(dist)}\n"
        except metadata.PackageNotFoundError:
            continue
    raise SystemExit("ONNX Runtime is not installed in this environment: make setup-dev")


def ensure(peer: str, root: Path) -> Path:
    """The venv's python, installing the peer's requirements first when they (or the pinned
    runtime) changed."""
    venv = root / peer
    python = venv / "bin" / "python"
    pin = runtime_pin()
    wanted = (HERE / peer / "requirements.txt").read_text() + pin
    stamp = venv / "installed-requirements.txt"
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return python
    print(f"making {venv} ({peer}): pip install -r {peer}/requirements.txt {pin}", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    constraint = venv / "runtime-constraint.txt"
    constraint.write_text(pin)
    pip = [str(python), "-m", "pip", "install", "-q", "-c", str(constraint)]
    subprocess.run([*pip, "-r", str(HERE / peer / "requirements.txt")], check=True)
    stamp.write_text(wanted)
    return python
