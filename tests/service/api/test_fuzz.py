"""Schemathesis against the service's own OpenAPI document: every operation, valid and invalid
inputs, on a real `python -m service` over loopback, once open and once behind an API key.

Every answer must be documented (status, content type, JSON schema, required headers), no
answer may be a 5xx, and with a key set no operation that declares it may answer without it.
The run is bounded (`EXAMPLES` per operation); docs/reliability.md has a longer one.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, assume, given, settings
from live_server import LiveServer, live_server
from onnx_models import make_models_dir
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from benchmarks.fuzz_uploads import register_photo_uploads
from service.api.middleware import PUBLIC_PATHS
from service.api.openapi import ROUTE_ERRORS

KEY = "fuzz-key-0123456789"
# service/api/errors.py logs "METHOD PATH -> STATUS ...": a 500 answered, not a body of 5002 bytes
ANSWERED_500 = re.compile(r"-> 500\b")
# Per operation and mode; FUZZ_EXAMPLES=1000 for the longer run in docs/reliability.md.
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_models_dir(tmp_path_factory.mktemp("models"))


def _serve(models: Path, tmp: Path, **extra: str) -> Iterator[LiveServer]:
    # Small caps so that fuzzed uploads and counts reach them.
    with live_server(
        models,
        tmp / "server.log",
        max_n="16",
        max_upload_bytes="65536",
        log_level="warning",
        **extra,
    ) as server:
        yield server


@pytest.fixture(scope="module")
def open_server(models: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    yield from _serve(models, tmp_path_factory.mktemp("open"))


@pytest.fixture(scope="module")
def keyed_server(models: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    yield from _serve(models, tmp_path_factory.mktemp("keyed"), api_key=KEY)


@pytest.fixture(scope="module")
def open_schema(open_server: LiveServer):
    return schemathesis.openapi.from_url(f"{open_server.url}/openapi.json")


@pytest.fixture(scope="module")
def keyed_schema(keyed_server: LiveServer):
    return schemathesis.openapi.from_url(f"{keyed_server.url}/openapi.json")


# Operations with parameters or a body: only they have invalid inputs to generate.
WITH_INPUTS = {
    ("post", "/generate"),
    ("post", "/interpolate"),
    ("post", "/translate"),
    ("get", "/models/{name}"),
    ("get", "/v2/models/{name}"),
    ("get", "/v2/models/{name}/versions/{version}"),
    ("get", "/v2/models/{name}/ready"),
    ("get", "/v2/models/{name}/versions/{version}/ready"),
    ("post", "/v2/models/{name}/infer"),
    ("post", "/v2/models/{name}/versions/{version}/infer"),
    ("get", "/v2/models/{name}/config"),
    ("get", "/v2/models/{name}/versions/{version}/config"),
    ("get", "/v2/models/{name}/stats"),
    ("get", "/v2/models/{name}/versions/{version}/stats"),
    ("post", "/v2/repository/index"),
}
CASES = [(*op, GenerationMode.POSITIVE) for op in sorted(ROUTE_ERRORS)] + [
    (*op, GenerationMode.NEGATIVE) for op in sorted(WITH_INPUTS)
]


register_photo_uploads()  # real photos, as the document's `encoding` says the upload is


# A V2 infer body is schema-valid whatever its tensors hold; whether the model takes them
# (names, datatypes, shapes, data that fills the shape) no JSON schema of the body can say.
# Every other check runs on these two operations, and every check on all the others.
SCHEMA_CANNOT_SAY = {
    ("post", "/v2/models/{name}/infer"): [positive_data_acceptance],
    ("post", "/v2/models/{name}/versions/{version}/infer"): [positive_data_acceptance],
}


def _sendable(case) -> bool:
    """A multipart field is a string on the wire: a negative case whose form field is an
    object or a list is sent as other fields (or none), so the server never sees the value
    the case claims to test."""
    body = case.body if case.media_type == "multipart/form-data" else None
    if not isinstance(body, dict):
        return True
    return not any(isinstance(v, dict | list) for k, v in body.items() if k != "file")


def _counts_agree(case, mode: GenerationMode) -> bool:
    """`labels` has `n` entries: said in the field's description (one shape per `n` was more
    than schemathesis's canonicaliser takes) and enforced by the server, which refuses a
    positive case that breaks it; benchmarks/schemathesis_hooks.py mends such a case instead."""
    body = case.body if mode == GenerationMode.POSITIVE else None
    if not isinstance(body, dict) or not isinstance(body.get("labels"), list):
        return True
    return len(body["labels"]) == body.get("n", 1)


def _fuzz(schema, method: str, path: str, mode: GenerationMode, headers: dict) -> None:
    excluded = SCHEMA_CANNOT_SAY.get((method, path), [])

    @given(case=schema[path][method.upper()].as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
    def run(case) -> None:
        assume(_sendable(case) and _counts_agree(case, mode))
        case.call_and_validate(headers=headers, excluded_checks=excluded, timeout=30)

    run()


@pytest.mark.parametrize(("method", "path", "mode"), CASES)
def test_fuzz_without_api_key(open_schema, method: str, path: str, mode) -> None:
    _fuzz(open_schema, method, path, mode, {})


@pytest.mark.parametrize(("method", "path", "mode"), CASES)
def test_fuzz_with_api_key(keyed_schema, method: str, path: str, mode) -> None:
    """The key on every call; schemathesis's `ignored_auth` check also sends each protected
    operation without it and with a wrong one, and needs a 401 both times."""
    _fuzz(keyed_schema, method, path, mode, {"Authorization": f"Bearer {KEY}"})


def _secured(schema) -> set[str]:
    return {
        path
        for path, ops in schema.raw_schema["paths"].items()
        for op in ops.values()
        if op.get("security") == [{"bearer": []}]
    }


def test_every_operation_has_its_errors_documented(open_schema, keyed_schema) -> None:
    operations = {
        (method, path) for path, ops in open_schema.raw_schema["paths"].items() for method in ops
    }
    assert operations == set(ROUTE_ERRORS)
    assert "HTTPValidationError" not in open_schema.raw_schema["components"]["schemas"]
    assert _secured(open_schema) == set()
    # Every path but the public ones (tests/service/api/test_security.py holds that list).
    assert _secured(keyed_schema) == {path for _, path in ROUTE_ERRORS} - PUBLIC_PATHS
    with_inputs = {
        (method, path)
        for path, ops in open_schema.raw_schema["paths"].items()
        for method, op in ops.items()
        if op.get("parameters") or op.get("requestBody")
    }
    assert with_inputs == WITH_INPUTS


def test_the_fuzzed_servers_logged_no_traceback(open_server, keyed_server) -> None:
    for server in (open_server, keyed_server):
        assert server.proc.poll() is None
        output = server.output()
        assert "Traceback" not in output, output[-3000:]
        assert not ANSWERED_500.search(output), output[-3000:]
        assert KEY not in output
