"""Paths as a shipped model folder records them: never the absolute paths of the machine that
made it.

model.json (`training`, `source`, `metrics.evaluation`) and the model card (README.md) say
where a model came from: its data, its run's checkpoint, the commands that made it. Written
as the machine saw them (`/work/runs/...`, `/root/data/...`) they leak that machine's layout
to everyone who reads `/models`, and mean nothing on another. So a path is written:

- relative to the repository, when it lies in it (`runs/dcgan-mnist/checkpoints/last.pt`);
- else relative to a base the writer names (the runs folder: `cyclegan-horse2zebra/...`);
- else by its last part alone (a data set outside both: `horse2zebra`, `mnist10k.npz`).

A relative path is kept as it was given. Commands are rewritten word by word (`--data /x/y`,
`--set data=/x/y`).
"""

from __future__ import annotations

import shlex
from pathlib import PurePosixPath
from typing import Any

from training.revision import REPO_ROOT


def portable(path: str, *bases: PurePosixPath | str) -> str:
    """`path` as a shipped folder may record it (see the module's docstring)."""
    p = PurePosixPath(path)
    if not p.is_absolute():
        return path
    for base in (PurePosixPath(REPO_ROOT), *map(PurePosixPath, bases)):
        if p.is_relative_to(base) and p != base:
            return p.relative_to(base).as_posix()
    return p.name


def portable_command(command: str, *bases: PurePosixPath | str) -> str:
    """`command` with each absolute path in it (a word, or the value of `key=`) portable."""
    try:
        words = shlex.split(command)
    except ValueError:  # unbalanced quotes: not a command we wrote
        return command
    out = []
    for word in words:
        key, eq, value = word.partition("=")
        if eq and value.startswith("/"):
            out.append(f"{key}={portable(value, *bases)}")
        else:
            out.append(portable(word, *bases) if word.startswith("/") else word)
    return shlex.join(out)


def portable_record(record: Any, *bases: PurePosixPath | str) -> Any:
    """A copy of a JSON-like record with every absolute path portable: a string value that is
    an absolute path, and every `command`."""
    if isinstance(record, dict):
        return {
            k: portable_command(v, *bases)
            if k == "command" and isinstance(v, str)
            else portable_record(v, *bases)
            for k, v in record.items()
        }
    if isinstance(record, list):
        return [portable_record(v, *bases) for v in record]
    if isinstance(record, str) and record.startswith("/"):
        return portable(record, *bases)
    return record
