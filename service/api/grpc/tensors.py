"""Tensors in gRPC messages: an input's values in the `contents` field of its datatype, or its
raw little-endian bytes in `raw_input_contents` (every input or none, in input order); the
outputs answered the way the inputs came, as KServe's model server does.

Everything a client can get wrong here is an `ApiError(400)` naming the tensor, the messages
worded as /v2's over REST (service/api/v2/tensors.py) where the two protocols agree.
"""

from __future__ import annotations

import math

import numpy as np

from service.api.grpc.protocol.grpc_service_pb2 import ModelInferRequest, ModelInferResponse
from service.api.v2.tensors import DATATYPE_OF, DTYPES, refuse

# The field of InferTensorContents each served datatype's values go in.
CONTENTS = {
    "FP32": "fp32_contents",
    "INT64": "int64_contents",
    "UINT64": "uint64_contents",
    "UINT8": "uint_contents",
}
CONTENT_FIELDS = (
    "bool_contents",
    "int_contents",
    "int64_contents",
    "uint_contents",
    "uint64_contents",
    "fp32_contents",
    "fp64_contents",
    "bytes_contents",
)
MAX_TENSORS = 8  # inputs or outputs per request, as over REST
MAX_AXES = 8
MAX_NAME = 64

Arrays = dict[str, np.ndarray]


def decode_inputs(request: ModelInferRequest) -> Arrays:
    """The inputs by name, as arrays of the declared shapes."""
    inputs = request.inputs
    raw = request.raw_input_contents
    if not 1 <= len(inputs) <= MAX_TENSORS:
        raise refuse(f"a request has 1..{MAX_TENSORS} inputs, this one {len(inputs)}")
    if raw and len(raw) != len(inputs):
        raise refuse(
            f"raw_input_contents holds {len(raw)} tensors for {len(inputs)} inputs; "
            "it holds every input's bytes or none"
        )
    arrays: Arrays = {}
    for index, tensor in enumerate(inputs):
        name = tensor.name
        if not 1 <= len(name) <= MAX_NAME:
            raise refuse(f"an input's name has 1..{MAX_NAME} characters, not {len(name)}")
        if name in arrays:
            raise refuse(f"input {name!r} is given twice")
        _no_parameters(f"input {name!r}", tensor.parameters)
        dtype = DTYPES.get(tensor.datatype)
        if dtype is None:
            raise refuse(
                f"input {name!r}: datatype {tensor.datatype[:16]!r} is not served; "
                f"one of {list(DTYPES)}"
            )
        shape = tuple(tensor.shape)
        if len(shape) > MAX_AXES or any(d < 0 for d in shape):
            raise refuse(f"input {name!r}: shape {list(shape)} is not 0..{MAX_AXES} sizes >= 0")
        count = math.prod(shape)
        if raw:
            if tensor.HasField("contents"):
                raise refuse(f"input {name!r} has both contents and raw_input_contents")
            arrays[name] = _from_raw(name, raw[index], dtype, shape, count, tensor.datatype)
        else:
            arrays[name] = _from_contents(name, tensor, shape, count)
    return arrays


def timeout_parameter(request: ModelInferRequest) -> float | None:
    """The request's `timeout` parameter (microseconds, as Triton's and tritonclient's
    `infer(timeout=...)`), in seconds; the one request parameter served."""
    parameters = request.parameters
    unknown = set(parameters) - {"timeout"}
    if unknown:
        raise refuse(f"the request: parameters {sorted(unknown)[:8]} are not supported")
    if "timeout" not in parameters:
        return None
    parameter = parameters["timeout"]
    kind = parameter.WhichOneof("parameter_choice")
    value = getattr(parameter, kind) if kind in ("int64_param", "uint64_param") else 0
    if value <= 0:
        raise refuse("parameter timeout must be a positive integer of microseconds")
    return value / 1e6


def _no_parameters(where: str, parameters: object) -> None:
    if parameters:
        raise refuse(f"{where}: parameters {sorted(parameters)[:8]} are not supported")


def _from_raw(
    name: str, chunk: bytes, dtype: np.dtype, shape: tuple[int, ...], count: int, datatype: str
) -> np.ndarray:
    if len(chunk) != count * dtype.itemsize:
        raise refuse(
            f"input {name!r}: raw_input_contents holds {len(chunk)} bytes, shape {list(shape)} "
            f"of {datatype} needs {count * dtype.itemsize}"
        )
    return np.frombuffer(chunk, dtype).reshape(shape).astype(dtype.newbyteorder("="))


def _from_contents(
    name: str, tensor: ModelInferRequest.InferInputTensor, shape: tuple[int, ...], count: int
) -> np.ndarray:
    field = CONTENTS[tensor.datatype]
    contents = tensor.contents
    stray = [f for f in CONTENT_FIELDS if f != field and len(getattr(contents, f))]
    if stray:
        raise refuse(f"input {name!r}: {tensor.datatype} values go in {field}, not {stray[0]}")
    values = getattr(contents, field)
    if len(values) != count:
        raise refuse(
            f"input {name!r}: {field} holds {len(values)} values, shape {list(shape)} needs {count}"
        )
    target = DTYPES[tensor.datatype].newbyteorder("=")
    if tensor.datatype == "UINT8" and values and max(values) > 255:
        raise refuse(f"input {name!r}: values out of the range of UINT8")
    return np.array(values, target).reshape(shape)


def requested_outputs(request: ModelInferRequest, available: list[str]) -> list[str]:
    """The outputs asked for, in the order asked (none asked: all)."""
    if not request.outputs:
        return list(available)
    if len(request.outputs) > MAX_TENSORS:
        raise refuse(f"a request asks for at most {MAX_TENSORS} outputs")
    chosen: list[str] = []
    for output in request.outputs:
        if output.name not in available:
            raise refuse(f"no output {output.name[:MAX_NAME]!r}; the outputs are {available}")
        if output.name in chosen:
            raise refuse(f"output {output.name!r} is asked for twice")
        _no_parameters(f"output {output.name!r}", output.parameters)
        chosen.append(output.name)
    return chosen


def encode_response(head: dict[str, str], outputs: Arrays, raw: bool) -> ModelInferResponse:
    """The response: `head` (model_name, model_version, id) and the outputs, as raw bytes in
    raw_output_contents when `raw`, else in their datatype's contents field."""
    response = ModelInferResponse(**head)
    for name, array in outputs.items():
        datatype = DATATYPE_OF[array.dtype.str]
        tensor = response.outputs.add(name=name, datatype=datatype, shape=array.shape)
        if raw:
            response.raw_output_contents.append(np.ascontiguousarray(array).tobytes())
        else:
            getattr(tensor.contents, CONTENTS[datatype]).extend(array.ravel().tolist())
    return response
