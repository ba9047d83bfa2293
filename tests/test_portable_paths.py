"""No shipped model folder or judge names a path of the machine that made it (issue 30): the
manifests and cards as shipped, and the rules their writers follow (training/portable_paths.py)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from training.portable_paths import portable, portable_command, portable_record
from training.revision import REPO_ROOT

SHIPPED = sorted(
    path
    for pattern in ("models/*/model.json", "models/*/README.md", "judges/*/judge.json")
    for path in REPO_ROOT.glob(pattern)
)
# An absolute path: a slash after a quote, a backtick, a space, `=` or a line's start, then a
# name (not a URL's `//`, not a ratio like `1/4`).
ABSOLUTE = re.compile(r"""(?:^|[\s"'`=(])(/[A-Za-z0-9_.~-]+/[^\s"'`)]*)""", re.MULTILINE)


def test_the_shipped_files_are_found() -> None:
    names = {p.parent.name for p in SHIPPED}
    assert {"dcgan-mnist", "cgan-mnist", "cyclegan-horse2zebra", "horse2zebra"} <= names


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_no_shipped_manifest_or_card_names_an_absolute_path(path: Path) -> None:
    text = path.read_text()
    found = ABSOLUTE.findall(text)
    if path.suffix == ".json":  # every string value, also one a regex could miss
        found += [s for s in _strings(json.loads(text)) if s.startswith(("/", "~"))]
    assert not found, f"{path.relative_to(REPO_ROOT)}: {found}"


def test_the_check_finds_what_it_looks_for() -> None:
    assert ABSOLUTE.findall("exported from `/work/runs/x/last.pt` with") == ["/work/runs/x/last.pt"]
    assert ABSOLUTE.findall('"data": "/root/data/h2z"') == ["/root/data/h2z"]
    assert ABSOLUTE.findall("--set data=/tmp/x run") == ["/tmp/x"]
    assert not ABSOLUTE.findall("https://example.org/a/b at 1/4 size, a2b/b2a")


def _strings(value: object) -> list[str]:
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return [value] if isinstance(value, str) else []


def test_a_path_is_made_relative_to_the_repository_else_a_base_else_named() -> None:
    assert portable(f"{REPO_ROOT}/runs/m/checkpoints/last.pt", "/srv/runs") == (
        "runs/m/checkpoints/last.pt"
    )
    assert portable("/srv/runs/m/checkpoints/last.pt", "/srv/runs") == "m/checkpoints/last.pt"
    assert portable("/srv/runs", "/srv/runs") == "runs"  # the base itself: its name
    assert portable("/data/mnist/mnist10k.npz") == "mnist10k.npz"
    assert portable("data/mnist10k.npz") == "data/mnist10k.npz"  # relative: as given
    assert portable("ring") == "ring"


def test_commands_and_records_are_rewritten_word_by_word() -> None:
    command = "python -m training train x --set data=/d/h2z --set out_dir=/srv/runs --seed 1"
    assert portable_command(command, "/srv/runs") == (
        "python -m training train x --set data=h2z --set out_dir=runs --seed 1"
    )
    assert portable_command("python -m training resume '/srv/runs/my run'", "/srv/runs") == (
        "python -m training resume 'my run'"
    )
    record = {
        "data": "/d/h2z",
        "config": {"out_dir": "/srv/runs", "lr": 0.1, "domains": ["horse", "/x/zebra"]},
        "resumes": [{"command": "python -m training resume /srv/runs/m"}],
    }
    assert portable_record(record, "/srv/runs") == {
        "data": "h2z",
        "config": {"out_dir": "runs", "lr": 0.1, "domains": ["horse", "zebra"]},
        "resumes": [{"command": "python -m training resume m"}],
    }
