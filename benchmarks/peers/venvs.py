"""Each peer's own virtual environment, made from its requirements.txt and remade when that
file changes. Never the project's: the peers' dependencies stay out of pyproject.toml."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
PEERS = ("naive", "litserve", "rayserve", "bentoml")


def ensure(peer: str, root: Path) -> Path:
    """The venv's python, installing the peer's requirements first when they changed."""
    venv = root / peer
    python = venv / "bin" / "python"
    wanted = (HERE / peer / "requirements.txt").read_text()
    stamp = venv / "installed-requirements.txt"
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return python
    print(f"making {venv} ({peer}): pip install -r {peer}/requirements.txt", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(python), "-m", "pip", "install", "-q"]
    subprocess.run([*pip, "-r", str(HERE / peer / "requirements.txt")], check=True)
    stamp.write_text(wanted)
    return python
