"""Unpack wheels into a folder for PYTHONPATH, on a machine without pip or network.

    python3 scripts/unpack_wheels.py gpu-carry/wheels gpu-carry/site

A wheel is a zip of importable files; only those whose distribution is not importable here
already are unpacked, so the machine's own packages (torch's typing_extensions) stay.
"""

from __future__ import annotations

import importlib.util
import sys
import zipfile
from pathlib import Path


def unpack(wheels: Path, site: Path) -> list[str]:
    done = []
    for wheel in sorted(wheels.glob("*.whl")):
        module = wheel.name.split("-")[0].lower()
        if importlib.util.find_spec(module) is None:
            with zipfile.ZipFile(wheel) as archive:
                archive.extractall(site)
            done.append(wheel.name)
    return done


if __name__ == "__main__":
    names = unpack(Path(sys.argv[1]), Path(sys.argv[2]))
    print(f"unpacked {len(names)} wheel(s) into {sys.argv[2]}: {', '.join(names) or 'none needed'}")
