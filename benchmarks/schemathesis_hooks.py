"""Schemathesis hooks for the CLI run of `benchmarks/fuzz_cli.py`
(`SCHEMATHESIS_HOOKS=benchmarks.schemathesis_hooks`): realistic values where the OpenAPI
document cannot say them, so `/translate` and the V2 routes are reached, not refused at the
door.

- Uploads: the document's `encoding` says the file is JPEG, PNG or WebP; the CLI would send
  arbitrary bytes. Here every upload is a small real photo in one of the three
  (benchmarks/fuzz_uploads.py, as the in-process run's).
- `/generate`: that `labels` has `n` entries is in the field's description (and enforced by
  the server), which no generator reads; a positive case with `labels` gets `n` = their count.
- V2 infer: whether a model takes a tensor (names, datatypes, a shape its data fills) no JSON
  schema of the body can say; a positive case gets inputs the named model takes (seeds for a
  generator, a small image for a translation direction) and no binary header. Negative
  cases are left as generated.
"""

from __future__ import annotations

import schemathesis
from schemathesis import GenerationMode

from benchmarks.fuzz_uploads import register_photo_uploads

HEADER_LENGTH = "Inference-Header-Content-Length"


register_photo_uploads()


def _positive(case: schemathesis.Case) -> bool:
    return case.meta is not None and case.meta.generation.mode == GenerationMode.POSITIVE


def infer_body(model: str) -> dict:
    """Inputs `model` takes: a direction (`<model>.a2b`) an 8x8 image, a generator seeds."""
    if "." in model:
        image = {"name": "image", "shape": [1, 3, 8, 8], "datatype": "FP32", "data": [0.0] * 192}
        return {"inputs": [image]}
    return {"inputs": [{"name": "seed", "shape": [2], "datatype": "INT64", "data": [1, 2]}]}


@schemathesis.hook
def map_case(context: schemathesis.HookContext, case: schemathesis.Case) -> schemathesis.Case:
    if not _positive(case):
        return case
    path = case.operation.path
    body = case.body
    if path == "/generate" and isinstance(body, dict) and isinstance(body.get("labels"), list):
        body["n"] = len(body["labels"])
    elif path.endswith("/infer"):
        case.body = infer_body(case.path_parameters["name"])
        case.media_type = "application/json"
        if case.headers:
            case.headers.pop(HEADER_LENGTH, None)
    return case
