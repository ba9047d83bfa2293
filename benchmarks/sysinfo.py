"""What a benchmark report says about where it ran: CPU model, cores, versions, git revision."""

from __future__ import annotations

import contextlib
import os
import platform
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def machine() -> dict:
    """CPU model (lscpu's "Model name"), usable cores, versions and the load at the start."""
    model = platform.processor() or platform.machine()
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        model = next(
            (ln.split(":", 1)[1].strip() for ln in out.splitlines() if ln.startswith("Model name")),
            model,
        )
    import onnxruntime

    return {
        "cpu": model,
        "cores": len(os.sched_getaffinity(0)),
        "arch": platform.machine(),
        "python": platform.python_version(),
        "onnxruntime": onnxruntime.__version__,
        "load_average_at_start": os.getloadavg(),
    }


def git_revision(checkout: Path = ROOT) -> str:
    """The short revision the figures were measured at (training.revision reads it)."""
    from training.revision import git_revision as revision

    return revision(short=True, checkout=checkout) or "unknown"
