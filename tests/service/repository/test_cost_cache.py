"""The cost cache: a measured photo cost kept per model file and machine, never trusted
blindly (a malformed or foreign entry is measured again), never fatal to lack."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from service.repository import cost_cache
from service.repository.cost_cache import Cost, CostCache, CostKey

KEY = CostKey("ab" * 32, "CPUExecutionProvider", 1, 1024)


def test_an_entry_comes_back_for_its_key_only(tmp_path: Path) -> None:
    cache = CostCache(tmp_path)
    cache.put(KEY, Cost(7.5e-6, 600))
    assert cache.get(KEY) == Cost(7.5e-6, 600)
    for other in (
        CostKey("cd" * 32, KEY.provider, 1, 1024),
        CostKey(KEY.sha256, KEY.provider, 2, 1024),  # threads
        CostKey(KEY.sha256, KEY.provider, 1, 512),  # side
        CostKey(KEY.sha256, KEY.provider, 1, 1024, onnxruntime="0.1"),
        CostKey(KEY.sha256, KEY.provider, 1, 1024, cpu="another CPU"),
    ):
        assert cache.get(other) is None
    assert KEY.cpu == cost_cache.cpu_model() != ""


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not json",
        "[]",
        '{"unit_s": 1e-6}',
        '{"key": null, "unit_s": 1e-6, "unit_bytes": 5}',
        "KEYED:" + '{"unit_s": "fast", "unit_bytes": 5}',
        "KEYED:" + '{"unit_s": -1.0, "unit_bytes": 5}',
        "KEYED:" + '{"unit_s": 1e-6, "unit_bytes": -5}',
        "KEYED:" + '{"unit_s": 1e-6, "unit_bytes": 1.5}',
    ],
)
def test_a_malformed_entry_is_ignored(tmp_path: Path, text: str) -> None:
    cache = CostCache(tmp_path)
    cache.put(KEY, Cost(1e-6, 5))
    (path,) = tmp_path.glob("cost-*.json")
    if text.startswith("KEYED:"):
        entry = json.loads(text.removeprefix("KEYED:"))
        text = json.dumps({"key": json.loads(path.read_text())["key"], **entry})
    path.write_text(text)
    assert cache.get(KEY) is None


def test_the_default_folder_is_the_users_cache(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert CostCache.open(None).folder == tmp_path / "xdg" / "ganserve"
    assert CostCache.open(tmp_path / "set").folder == tmp_path / "set"


def test_a_home_without_a_cache_falls_back_to_a_private_temp_folder(tmp_path, monkeypatch):
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "file" / "x"))  # cannot be made
    monkeypatch.setattr(cost_cache.tempfile, "gettempdir", lambda: str(tmp_path / "tmp"))
    folder = CostCache.open(None).folder
    assert folder == tmp_path / "tmp" / f"ganserve-{os.getuid()}"
    assert folder is not None and folder.stat().st_mode & 0o777 == 0o700


def test_a_folder_that_cannot_be_made_keeps_nothing_and_stops_nothing(
    tmp_path: Path, caplog
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    cache = CostCache.open(blocker / "sub")  # under a file: cannot be made
    assert cache.folder is None and "no writable cache folder" in caplog.text
    cache.put(KEY, Cost(1e-6, 5))
    assert cache.get(KEY) is None
    with cache.claim(KEY) as ours:
        assert ours  # every process measures for itself


def test_a_shared_temp_folder_open_to_others_is_not_used(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "file" / "x"))
    (tmp_path / "file").write_text("")  # the user's cache cannot be made
    monkeypatch.setattr(cost_cache, "_private_temp_folder", lambda: tmp_path / "open")
    (tmp_path / "open").mkdir(mode=0o777)
    (tmp_path / "open").chmod(0o777)
    assert CostCache.open(None).folder is None


def test_one_process_at_a_time_measures_a_key(tmp_path: Path) -> None:
    cache = CostCache(tmp_path)
    with cache.claim(KEY) as first:
        with cache.claim(KEY) as second:  # another open file: as another worker's
            assert first and not second
        with cache.claim(CostKey("cd" * 32, KEY.provider, 1, 1024)) as other_key:
            assert other_key
    with cache.claim(KEY) as again:
        assert again
