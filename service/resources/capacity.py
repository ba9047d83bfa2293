"""What this process may use: cores and memory as its CPU affinity and its container allow.

`os.cpu_count()` is the host's: a container started with `--cpus 2` (a CFS quota) on a
16-core host sees 16 there, and 16 busy threads or workers in it would be throttled to 2
cores' worth. The quota and the memory limit are read from the cgroup (v2, else v1), as
the JVM, Go and .NET runtimes do for their own thread counts.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP = Path("/sys/fs/cgroup")


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def cpu_quota(root: Path = CGROUP) -> float | None:
    """Cores' worth of CPU time the cgroup allows (`docker --cpus`), None if unlimited."""
    v2 = _read(root / "cpu.max")  # "<quota> <period>" or "max <period>"
    if v2 is not None:
        quota, _, period = v2.partition(" ")
        if quota == "max" or not period:
            return None
        return int(quota) / int(period)
    quota_us = _read(root / "cpu" / "cpu.cfs_quota_us") or _read(root / "cpu.cfs_quota_us")
    period_us = _read(root / "cpu" / "cpu.cfs_period_us") or _read(root / "cpu.cfs_period_us")
    if quota_us is None or period_us is None or int(quota_us) <= 0:
        return None
    return int(quota_us) / int(period_us)


def memory_limit(root: Path = CGROUP) -> int | None:
    """Bytes the cgroup allows (`docker --memory`), None if unlimited."""
    value = _read(root / "memory.max") or _read(root / "memory" / "memory.limit_in_bytes")
    if value is None or value == "max":
        return None
    limit = int(value)
    return None if limit >= 1 << 60 else limit  # v1 writes "unlimited" as about 2**63


def cores(root: Path = CGROUP) -> int:
    """Cores this process may keep busy: its affinity mask (`--cpuset-cpus`), and no more
    than the CPU quota, rounded up (a 1.5-core quota still runs two threads usefully)."""
    try:
        count = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        count = os.cpu_count() or 1
    quota = cpu_quota(root)
    if quota is not None:
        count = min(count, math.ceil(quota))
    return max(1, count)


def memory(root: Path = CGROUP) -> int:
    """Bytes this process may hold: the cgroup's limit, else the machine's memory."""
    physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    limit = memory_limit(root)
    return physical if limit is None else min(limit, physical)
