"""The OpenAPI document, byte for byte: clients generate code from it, so it changes only on
purpose.

`openapi.json` beside this file is `/openapi.json` as served with the tests' models (one of
each kind, tests/onnx_models.py) and the fixture settings. A change to the API changes it:
write the new one with `OPENAPI_WRITE=1 python -m pytest tests/service/api/test_openapi_document.py`
and review its diff in the same commit.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from openapi_spec_validator import validate

RECORDED = Path(__file__).with_name("openapi.json")


@pytest.mark.anyio
async def test_the_served_document_is_the_recorded_one(client) -> None:
    served = (await client.get("/openapi.json")).content
    if os.environ.get("OPENAPI_WRITE") == "1":
        RECORDED.write_bytes(served)
    assert served == RECORDED.read_bytes(), "the OpenAPI document changed; see this module"


@pytest.mark.anyio
async def test_the_document_is_valid_openapi_and_every_ref_resolves(client) -> None:
    """openapi-spec-validator checks it against the OpenAPI 3.1 schema and resolves every
    `$ref` (FastAPI's own `HTTPValidationError`, never sent, once dangled from six routes)."""
    document = (await client.get("/openapi.json")).json()
    validate(document)
    refs = set(re.findall(r'"\$ref": "#/components/schemas/([^"]+)"', json.dumps(document)))
    assert refs <= set(document["components"]["schemas"]), refs
