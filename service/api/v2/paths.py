"""The path parameters of the /v2 routes, one definition for every module that serves them:
a V2 model's name and version, as models.py's patterns say, no longer than gRPC's calls take
them either."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path

from service.api.v2.models import NAME_PATTERN, VERSION_PATTERN

MAX_NAME = 72
MAX_VERSION = 64

Name = Annotated[
    str, Path(pattern=NAME_PATTERN, max_length=MAX_NAME, description="`<model>`, `<model>.a2b`")
]
Version = Annotated[str, Path(pattern=VERSION_PATTERN, max_length=MAX_VERSION)]
