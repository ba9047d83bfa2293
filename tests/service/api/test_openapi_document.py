"""The OpenAPI document, byte for byte: clients generate code from it, so it changes only on
purpose.

`openapi.json` beside this file is `/openapi.json` as served with the tests' models (one of
each kind, tests/onnx_models.py) and the fixture settings. A change to the API changes it:
write the new one with `OPENAPI_WRITE=1 python -m pytest tests/service/api/test_openapi_document.py`
and review its diff in the same commit.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

RECORDED = Path(__file__).with_name("openapi.json")


@pytest.mark.anyio
async def test_the_served_document_is_the_recorded_one(client) -> None:
    served = (await client.get("/openapi.json")).content
    if os.environ.get("OPENAPI_WRITE") == "1":
        RECORDED.write_bytes(served)
    assert served == RECORDED.read_bytes(), "the OpenAPI document changed; see this module"
