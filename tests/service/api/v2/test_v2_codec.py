"""The protocol's tensor codec: whatever bytes arrive, decoding answers a 400 or arrays of the
declared shapes (hypothesis), and what it encodes is what tritonclient's own decoder reads."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tritonclient.http as triton
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.api.errors import ApiError
from service.api.v2.tensors import DTYPES, decode_request, encode_response

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=20,
)
inputs = st.fixed_dictionaries(
    {
        "name": st.sampled_from(["z", "seed", "image", ""]),
        "shape": st.lists(st.integers(-1, 4), max_size=4) | json_values,
        "datatype": st.sampled_from([*DTYPES, "FP64", "BYTES", "x"]),
    },
    optional={
        "data": st.lists(json_values, max_size=6) | json_values,
        "parameters": st.fixed_dictionaries({"binary_data_size": st.integers(-1, 64)})
        | json_values,
    },
)


def _decodes_or_refuses(body: bytes, length: int | None) -> None:
    try:
        request, arrays = decode_request(body, length)
    except ApiError as exc:
        assert exc.status == 400 and exc.message
        return
    for tensor in request.inputs:
        assert arrays[tensor.name].shape == tuple(tensor.shape)
        assert arrays[tensor.name].dtype == DTYPES[tensor.datatype].newbyteorder("=")


@FAST
@given(st.lists(inputs, min_size=1, max_size=3), st.binary(max_size=64), st.booleans())
def test_any_request_decodes_or_is_a_400(tensors: list, tail: bytes, binary: bool) -> None:
    head = json.dumps({"inputs": tensors}).encode()
    _decodes_or_refuses(head + tail if binary else head, len(head) if binary else None)


@FAST
@given(st.binary(max_size=200), st.none() | st.integers(0, 300))
def test_any_bytes_decode_or_are_a_400(body: bytes, length: int | None) -> None:
    _decodes_or_refuses(body, length)


def test_nested_and_flat_json_data_are_the_same_tensor() -> None:
    nested = {
        "inputs": [{"name": "z", "shape": [2, 2], "datatype": "FP32", "data": [[1, 2], [3, 4]]}]
    }
    flat = {"inputs": [{"name": "z", "shape": [2, 2], "datatype": "FP32", "data": [1, 2, 3, 4]}]}
    a = decode_request(json.dumps(nested).encode(), None)[1]["z"]
    b = decode_request(json.dumps(flat).encode(), None)[1]["z"]
    assert a.dtype == np.float32 and np.array_equal(a, b) and a.tolist() == [[1, 2], [3, 4]]


@pytest.mark.parametrize("binary", [False, True])
def test_tritonclient_reads_what_is_encoded(binary: bool) -> None:
    rng = np.random.default_rng(0)
    outputs = {
        "image": rng.standard_normal((2, 3, 4, 5)).astype(np.float32),
        "pixels": rng.integers(0, 256, (2, 4, 5, 3), dtype=np.uint8),
    }
    head = {"model_name": "m", "model_version": "1", "id": "x"}
    body, headers, media_type = encode_response(head, outputs, dict.fromkeys(outputs, binary))
    length = headers.get("Inference-Header-Content-Length")
    assert media_type == ("application/octet-stream" if binary else "application/json")
    result = triton.InferResult.from_response_body(body, header_length=length and int(length))
    for name, array in outputs.items():
        got = result.as_numpy(name)
        assert got.dtype == array.dtype and np.array_equal(got, array)
    assert result.get_response()["id"] == "x"
