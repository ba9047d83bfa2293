"""What a translation session costs on a `max_side` photo, measured once per model file and
machine and kept for the next start.

Timing that photo takes seconds (the shipped CycleGAN: 7-9 s a direction on one core), which
made start-up a minute long when every worker measured every direction. A start that finds
the figure here serves at once with it. The entry is keyed by everything the figure depends
on (the ONNX file's sha256, provider, intra-op threads, ONNX Runtime version, CPU model and
the photo's side), so another file, setting or machine measures afresh.

The folder is `cache_dir`, by default the user's cache folder, never `models/` (which may be
read-only): `$XDG_CACHE_HOME/ganserve`, else `~/.cache/ganserve`, else, where neither can be
written (a container user without a home), `<temp>/ganserve-<uid>`, made private to this
user. An unreadable or malformed entry is ignored (measured again); a folder that cannot be
written costs only the cache, with one warning.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import json
import logging
import os
import platform
import stat
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import onnxruntime as ort

log = logging.getLogger("ganserve.repository")


@functools.cache
def cpu_model() -> str:
    """The CPU's model name (/proc/cpuinfo), else what the platform says."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    return platform.processor() or platform.machine()


@dataclass(frozen=True)
class CostKey:
    """What a measured cost depends on."""

    sha256: str  # the ONNX file
    provider: str
    threads: int
    side: int  # the probe photo's side (max_side, rounded up to the model's multiple_of)
    onnxruntime: str = ort.__version__
    cpu: str = field(default_factory=cpu_model)

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class Cost:
    """One `side` x `side` photo's run: seconds and peak resident bytes per pixel."""

    unit_s: float
    unit_bytes: int | None


def default_folder() -> Path | None:
    """The user's cache folder for ganserve (XDG); None for a user without a home."""
    try:
        base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    except RuntimeError:
        return None
    return Path(base) / "ganserve"


def _private_temp_folder() -> Path:
    return Path(tempfile.gettempdir()) / f"ganserve-{os.getuid()}"


def _usable(folder: Path, private: bool) -> bool:
    """Made (mode 0700 when `private`) and writable; a shared temp folder must be ours."""
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = folder.stat()
    except OSError:
        return False
    if private and (info.st_uid != os.getuid() or stat.S_IMODE(info.st_mode) & 0o077):
        return False  # someone else's, or open to others: its entries could be planted
    return os.access(folder, os.W_OK | os.X_OK)


class CostCache:
    """Entries in one folder, one JSON file each; `None` folder: nothing is kept."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder

    @classmethod
    def open(cls, setting: Path | None) -> CostCache:
        """The `cache_dir` setting's folder, or the default's first usable choice."""
        if setting is not None:
            choices = [(setting, False)]
        else:
            home = default_folder()
            choices = [(home, False)] if home is not None else []
            choices.append((_private_temp_folder(), True))
        for folder, private in choices:
            if _usable(folder, private):
                return cls(folder)
        where = " or ".join(str(f) for f, _ in choices)
        log.warning("no writable cache folder (%s): photo costs are measured every start", where)
        return cls(None)

    def _path(self, key: CostKey) -> Path | None:
        return None if self.folder is None else self.folder / f"cost-{key.digest()}.json"

    def get(self, key: CostKey) -> Cost | None:
        path = self._path(key)
        if path is None:
            return None
        try:
            entry = json.loads(path.read_text())
            unit_s, unit_bytes = entry["unit_s"], entry["unit_bytes"]
        except (OSError, ValueError, KeyError, TypeError):
            return None  # absent, or not an entry this version wrote: measure again
        if entry.get("key") != asdict(key):
            return None
        if not isinstance(unit_s, float) or not 0 < unit_s < 1:
            return None
        if unit_bytes is not None and (not isinstance(unit_bytes, int) or unit_bytes < 0):
            return None
        return Cost(unit_s, unit_bytes)

    def put(self, key: CostKey, cost: Cost) -> None:
        path = self._path(key)
        if path is None:
            return
        entry = {"key": asdict(key), **asdict(cost), "measured_at": time.time()}
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        try:
            tmp.write_text(json.dumps(entry, indent=1))
            tmp.replace(path)  # readers see the old entry or the new one, never half
        except OSError as exc:
            log.warning("cannot keep a measured cost in %s: %s", self.folder, exc)

    @contextlib.contextmanager
    def claim(self, key: CostKey) -> Iterator[bool]:
        """Whether this process may measure `key` now: no other process (another worker) is
        measuring it. Without a folder every process measures for itself."""
        path = self._path(key)
        if path is None:
            yield True
            return
        try:
            handle = path.with_suffix(".lock").open("a")
        except OSError:
            yield True
            return
        with handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                yield False
                return
            yield True  # the lock goes with the handle
