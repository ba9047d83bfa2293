"""What model.json's `source` says about an imported model: where its weights came from
(file names and sha256), whose architecture with which options, and under what licence."""

from __future__ import annotations

import datetime as dt
import platform
from pathlib import Path
from typing import Any

import torch

from service.manifest import sha256_of

AUTHORS = (
    "Zhu, Park, Isola, Efros et al., github.com/junyanz/pytorch-CycleGAN-and-pix2pix "
    "(models/networks.py)"
)
AUTHORS_LICENCE = (
    "The authors' code is BSD-licensed. Their released weights carry no stated licence; "
    "ganserve claims none either way: ask the authors before redistributing them or using "
    "them beyond research."
)
ESRGAN_AUTHORS = (
    "Xintao Wang et al.: ESRGAN's RRDBNet as BasicSR defines it "
    "(github.com/XPixelGroup/BasicSR, basicsr/archs/rrdbnet_arch.py) and Real-ESRGAN's "
    "SRVGGNetCompact (github.com/xinntao/Real-ESRGAN, realesrgan/archs/srvgg_arch.py)"
)
ESRGAN_LICENCE = (
    "BasicSR's code is Apache-2.0 and Real-ESRGAN's BSD-3-Clause; ganserve rebuilt the "
    "networks and copies none of their code. Their released weights state no separate "
    "licence of their own; ganserve claims none for them either way."
)
UNKNOWN_LICENCE = (
    "Unknown: whatever the file's makers gave it. ganserve records none and claims none."
)


def file_record(path: Path, **extra: Any) -> dict[str, Any]:
    return {"file": path.name, "sha256": sha256_of(path), **extra}


def authors_record(
    origin: str,
    files: dict[str, dict[str, Any]],
    command: str,
    architecture: str,
    options: dict[str, Any],
    parity: dict[str, dict[str, float]],
) -> dict[str, Any]:
    """The `source` entry of one of the CycleGAN/pix2pix authors' networks."""
    return record(
        origin,
        files,
        AUTHORS_LICENCE,
        command,
        authors=AUTHORS,
        architecture=architecture,
        options=options,
        onnx_parity_max_abs_diff=parity,
        torch=torch.__version__,
    )


def record(
    origin: str,
    files: dict[str, dict[str, Any]],
    licence: str,
    command: str,
    **details: Any,
) -> dict[str, Any]:
    """The `source` entry: `origin` in words, then files per role, details, licence."""
    return {
        "origin": origin,
        "files": files,
        **details,
        "licence": licence,
        "command": command,
        "imported_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
    }
