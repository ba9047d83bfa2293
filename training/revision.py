"""The git revision of this checkout, recorded with every checkpoint, export and measurement."""

from __future__ import annotations

import subprocess
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def git_revision(short: bool = False, checkout: Path = REPO_ROOT) -> str | None:
    """HEAD of the repository holding this code (not of the current folder), or of another
    `checkout`; None outside git."""
    try:
        return subprocess.run(
            ["git", "rev-parse", *(["--short"] if short else []), "HEAD"],
            cwd=checkout,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
