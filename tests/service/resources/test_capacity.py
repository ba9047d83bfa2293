"""Usable cores and memory from the CPU affinity and the cgroup, and `workers=auto` from them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from service import settings
from service.resources import accelerator, capacity
from service.settings import Settings


def cgroup(root: Path, files: dict[str, str] | None = None) -> Path:
    """A cgroup folder holding `files` (path in the folder -> text)."""
    for name, text in (files or {}).items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n")
    return root


def test_a_cpu_quota_caps_the_cores_rounded_up(tmp_path: Path) -> None:
    affinity = len(os.sched_getaffinity(0))
    assert capacity.cores(cgroup(tmp_path / "none")) == affinity
    assert capacity.cores(cgroup(tmp_path / "free", {"cpu.max": "max 100000"})) == affinity
    one = cgroup(tmp_path / "one", {"cpu.max": "100000 100000"})
    assert capacity.cpu_quota(one) == 1.0 and capacity.cores(one) == 1
    half = cgroup(tmp_path / "half", {"cpu.max": "50000 100000"})
    assert capacity.cores(half) == 1  # never none
    v1 = cgroup(
        tmp_path / "v1", {"cpu/cpu.cfs_quota_us": "150000", "cpu/cpu.cfs_period_us": "100000"}
    )
    assert capacity.cpu_quota(v1) == 1.5 and capacity.cores(v1) == min(affinity, 2)
    unlimited_v1 = cgroup(
        tmp_path / "v1u", {"cpu/cpu.cfs_quota_us": "-1", "cpu/cpu.cfs_period_us": "100000"}
    )
    assert capacity.cpu_quota(unlimited_v1) is None


def test_a_memory_limit_is_read_from_either_cgroup_version(tmp_path: Path) -> None:
    assert capacity.memory_limit(cgroup(tmp_path / "v2", {"memory.max": "2147483648"})) == 2**31
    assert capacity.memory_limit(cgroup(tmp_path / "v2max", {"memory.max": "max"})) is None
    v1 = cgroup(tmp_path / "v1", {"memory/memory.limit_in_bytes": "1073741824"})
    assert capacity.memory_limit(v1) == 2**30
    v1_unlimited = cgroup(tmp_path / "v1u", {"memory/memory.limit_in_bytes": "9223372036854771712"})
    assert capacity.memory_limit(v1_unlimited) is None
    assert 0 < capacity.memory(v1) <= 2**30


def test_auto_is_one_worker_per_core_within_memory_and_one_on_cuda(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(capacity, "cores", lambda: 4)
    monkeypatch.setattr(capacity, "memory", lambda: 16 * 2**30)
    monkeypatch.setattr(accelerator, "tries_cuda", lambda provider: provider == "cuda")
    assert settings.auto_workers("cpu", memory_budget_mb=2048) == 4
    assert settings.auto_workers("cpu", memory_budget_mb=6144) == 2  # 16 GiB hold two budgets
    assert settings.auto_workers("cpu", memory_budget_mb=32768) == 1
    assert settings.auto_workers("cuda", memory_budget_mb=2048) == 1
    s = Settings(provider="cpu")
    assert (s.workers, s.intra_op_threads) == (4, 1)  # 4 workers x 1 thread on 4 cores
    assert Settings(provider="cuda").workers == 1


def test_workers_take_a_count_or_auto_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GANSERVE_WORKERS", "3")
    assert Settings().workers == 3
    monkeypatch.setenv("GANSERVE_WORKERS", "auto")
    assert Settings().workers == settings.auto_workers("auto", Settings().memory_budget_mb)
    for bad in ("0", "many"):
        monkeypatch.setenv("GANSERVE_WORKERS", bad)
        with pytest.raises(ValueError):
            Settings()
