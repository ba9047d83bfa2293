"""Tensors on the wire: JSON `data` (row-major, flat or nested) and the binary tensor extension
(raw little-endian bytes after the JSON header, `Inference-Header-Content-Length` saying where
the JSON ends and `binary_data_size` how long each tensor is).

Everything a client can get wrong here is a 400 with a message naming the tensor.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
from pydantic import ValidationError

from service.api.content_types import is_json, media_type
from service.api.errors import ApiError
from service.api.v2.schemas import InferRequest, RequestInput

HEADER_LENGTH = "Inference-Header-Content-Length"
BINARY_EXTENSION = "binary_tensor_data"
# The datatypes a served model takes or gives, little-endian on the wire.
DTYPES = {
    "FP32": np.dtype("<f4"),
    "INT64": np.dtype("<i8"),
    "UINT64": np.dtype("<u8"),
    "UINT8": np.dtype("u1"),
}
DATATYPE_OF = {dtype.str: name for name, dtype in DTYPES.items()}  # '<f4' -> 'FP32'
# numpy kinds that JSON numbers of each datatype may parse to: no bools, strings or nulls,
# and no fractions for integer types.
JSON_KINDS = {"FP32": "iuf", "INT64": "iu", "UINT64": "iu", "UINT8": "iu"}


# An infer body is JSON, or JSON and then raw tensors; tritonclient sends no content type.
TENSOR_BODY = ("application/octet-stream",)
SEND_TENSORS = (
    "send the body as JSON with content-type: application/json (or JSON and then binary "
    f"tensors as application/octet-stream, with {HEADER_LENGTH})"
)


def check_content_type(content_type: str | None) -> None:
    """Refuse a body declared as something else (a form, text); none declared is JSON."""
    if content_type and not (is_json(content_type) or media_type(content_type) in TENSOR_BODY):
        raise refuse(f"{SEND_TENSORS}; got {media_type(content_type)}")


def refuse(message: str) -> ApiError:
    return ApiError(400, "invalid_request", message)


def decode_request(body: bytes, header_length: int | None) -> tuple[InferRequest, dict]:
    """The request object and its inputs by name, as arrays of the declared shapes."""
    if header_length is None:
        header, binary = body, b""
    elif header_length > len(body):
        raise refuse(f"{HEADER_LENGTH} is {header_length}, the body has {len(body)} bytes")
    else:
        header, binary = body[:header_length], body[header_length:]
    try:
        request = InferRequest.model_validate_json(header)
    except ValidationError as exc:
        raise refuse(_describe(exc)) from exc
    arrays: dict[str, np.ndarray] = {}
    offset = 0
    for tensor in request.inputs:
        if tensor.name in arrays:
            raise refuse(f"input {tensor.name!r} is given twice")
        arrays[tensor.name], offset = _decode_input(tensor, binary, offset)
    if offset != len(binary):
        raise refuse(f"{len(binary) - offset} bytes after the JSON belong to no input")
    return request, arrays


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:3]:
        where = ".".join(str(p) for p in err["loc"]) or "body"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)


def _decode_input(tensor: RequestInput, binary: bytes, offset: int) -> tuple[np.ndarray, int]:
    name = tensor.name
    dtype = DTYPES.get(tensor.datatype)
    if dtype is None:
        raise refuse(
            f"input {name!r}: datatype {tensor.datatype!r} is not served; one of {list(DTYPES)}"
        )
    shape = tuple(tensor.shape)
    count = math.prod(shape)
    params = tensor.parameters or {}
    unknown = set(params) - {"binary_data_size"}
    if unknown:
        raise refuse(f"input {name!r}: parameters {sorted(unknown)} are not supported")
    size = params.get("binary_data_size")
    if size is None:
        if tensor.data is None:
            raise refuse(f"input {name!r} has neither data nor binary_data_size")
        return _from_json(name, tensor.data, shape, tensor.datatype), offset
    if tensor.data is not None:
        raise refuse(f"input {name!r} has both data and binary_data_size")
    if type(size) is not int or size < 0:
        raise refuse(f"input {name!r}: binary_data_size must be a non-negative integer")
    if size != count * dtype.itemsize:
        raise refuse(
            f"input {name!r}: binary_data_size is {size} bytes, shape {list(shape)} of "
            f"{tensor.datatype} needs {count * dtype.itemsize}"
        )
    if offset + size > len(binary):
        raise refuse(f"input {name!r}: {size} bytes announced, {len(binary) - offset} left")
    chunk = np.frombuffer(binary, dtype, count, offset).reshape(shape)
    return chunk.astype(dtype.newbyteorder("="), copy=True), offset + size


def _from_json(name: str, data: list[Any], shape: tuple[int, ...], datatype: str) -> np.ndarray:
    try:
        values = np.array(data)
    except (ValueError, TypeError, RecursionError) as exc:
        raise refuse(f"input {name!r}: data is not a regular array of numbers") from exc
    if values.size and values.dtype.kind not in JSON_KINDS[datatype]:
        raise refuse(f"input {name!r}: data holds values that are not {datatype}")
    if values.shape != shape and not (values.ndim == 1 and values.size == math.prod(shape)):
        raise refuse(
            f"input {name!r}: data has {values.size} values in shape {list(values.shape)}, "
            f"the tensor's shape is {list(shape)}"
        )
    target = DTYPES[datatype].newbyteorder("=")
    if target.kind in "iu" and values.size:
        info = np.iinfo(target)
        if int(values.min()) < info.min or int(values.max()) > info.max:
            raise refuse(f"input {name!r}: values out of the range of {datatype}")
    return values.astype(target).reshape(shape)


def requested_outputs(request: InferRequest, available: list[str]) -> dict[str, bool]:
    """Output name -> whether it goes as binary data, in the order asked (none asked: all)."""
    default = (request.parameters or {}).get("binary_data_output", False)
    if type(default) is not bool:
        raise refuse("parameter binary_data_output must be true or false")
    if not request.outputs:
        return dict.fromkeys(available, default)
    chosen: dict[str, bool] = {}
    for output in request.outputs:
        if output.name not in available:
            raise refuse(f"no output {output.name!r}; the outputs are {available}")
        if output.name in chosen:
            raise refuse(f"output {output.name!r} is asked for twice")
        params = output.parameters or {}
        unknown = set(params) - {"binary_data"}
        if unknown:
            raise refuse(f"output {output.name!r}: parameters {sorted(unknown)} are not supported")
        binary = params.get("binary_data", default)
        if type(binary) is not bool:
            raise refuse(f"output {output.name!r}: binary_data must be true or false")
        chosen[output.name] = binary
    return chosen


def encode_response(
    head: dict[str, Any], outputs: dict[str, np.ndarray], binary: dict[str, bool]
) -> tuple[bytes, dict[str, str], str]:
    """The body, extra headers and media type of an inference response.

    `head` holds the response fields but `outputs`; an output whose `binary` flag is set goes
    as raw bytes after the JSON, the others as flat `data` lists.
    """
    tensors, chunks = [], []
    for name, array in outputs.items():
        entry: dict[str, Any] = {
            "name": name,
            "datatype": DATATYPE_OF[array.dtype.str],
            "shape": list(array.shape),
        }
        if binary[name]:
            raw = np.ascontiguousarray(array).tobytes()
            entry["parameters"] = {"binary_data_size": len(raw)}
            chunks.append(raw)
        else:
            entry["data"] = array.ravel().tolist()
        tensors.append(entry)
    header = json.dumps({**head, "outputs": tensors}, separators=(",", ":")).encode()
    if not chunks:
        return header, {}, "application/json"
    return (
        b"".join([header, *chunks]),
        {HEADER_LENGTH: str(len(header))},
        "application/octet-stream",
    )
