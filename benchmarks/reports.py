"""How every benchmark report opens (how, when, at which revision and where it ran) and is saved.

One shape for all of them, so that a figure in benchmarks/results/ can always be traced to
its command, revision and machine.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from benchmarks.sysinfo import git_revision


def opening(command: str, host: dict) -> dict:
    """The report's first keys; `host` is sysinfo.machine(), taken before the load is added."""
    return {
        "command": command,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "git": git_revision(),
        "machine": host,
    }


def save(out: Path, name: str, report: dict, markdown: str) -> None:
    """`out`/<name>.json (the figures) and `out`/<name>.md (the table a reader opens)."""
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / f"{name}.md").write_text(markdown)
