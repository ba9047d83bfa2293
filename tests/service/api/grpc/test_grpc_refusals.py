"""Every refusal over gRPC: the status a gRPC client expects (INVALID_ARGUMENT with the REST
answer's message, NOT_FOUND, UNAUTHENTICATED, UNAVAILABLE with `retry-after`,
RESOURCE_EXHAUSTED for a message over the cap, DEADLINE_EXCEEDED), seen by the real
`tritonclient.grpc` and on the wire; whatever the request holds, never INTERNAL (hypothesis)."""

from __future__ import annotations

import asyncio

import grpc
import numpy as np
import pytest
import tritonclient.grpc as triton
import tritonclient.http as triton_http
from grpc_server import AUTH, HTTP_AUTH, KEY, infer, tensor
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from live_server import LiveServer
from onnx_models import DIM
from protocol_server import MAX_N, MAX_SIDE, http_tensors
from tritonclient.grpc import service_pb2, service_pb2_grpc

Z = np.zeros((2, DIM), np.float32)
IMAGE = np.zeros((1, 3, 8, 8), np.float32)
NAN_Z = Z.copy()
NAN_Z[1, 3] = np.nan
METADATA = tuple(AUTH.items())


def refused(client: triton.InferenceServerClient, model: str, inputs: dict, **kw) -> tuple:
    """(status, message) of what tritonclient.grpc raises for this infer."""
    with pytest.raises(triton.InferenceServerException) as caught:
        infer(client, model, inputs, **kw)
    return caught.value.status(), caught.value.message()


def rest_message(server: LiveServer, model: str, inputs: dict) -> str:
    """The REST twin's error message for the same inputs (binary tensors)."""
    client = triton_http.InferenceServerClient(f"127.0.0.1:{server.port}")
    with pytest.raises(triton_http.InferenceServerException) as caught:
        client.infer(model, http_tensors(inputs), headers=dict(HTTP_AUTH))
    assert caught.value.status() == "400"
    return caught.value.message()


@pytest.mark.parametrize(
    ("model", "inputs"),
    [
        ("uncond", {"seed": np.arange(MAX_N + 1)}),
        ("uncond", {"seed": np.zeros(0, np.int64)}),
        ("uncond", {"seed": np.array([3, -1])}),
        ("uncond", {"z": np.zeros((2, DIM + 1), np.float32)}),
        ("uncond", {"z": np.zeros((2, DIM), np.float64)}),
        ("uncond", {"z": np.zeros((2, DIM), np.int64)}),
        ("uncond", {"z": NAN_Z}),
        ("uncond", {"z": Z, "seed": np.array([1, 2])}),
        ("uncond", {"z": Z, "label": np.array([0, 1])}),
        ("uncond", {"noise": Z}),
        ("cond", {"z": Z}),
        ("cond", {"z": Z, "label": np.array([0, 3])}),
        ("cond", {"z": Z, "label": np.array([0])}),
        ("cond", {"z": Z, "label": np.array([0.0, 1.0], np.float32)}),
        ("trans.a2b", {"image": np.zeros((1, 1, 8, 8), np.float32)}),
        ("trans.a2b", {"image": np.zeros((3, 8, 8), np.float32)}),
        ("trans.a2b", {"image": np.zeros((1, 3, 8, MAX_SIDE + 1), np.float32)}),
        ("trans.a2b", {"image": np.zeros((1, 3, 60, 60), np.float32)}),
        ("trans.a2b", {"image": IMAGE + 2}),
        ("trans.a2b", {"image": np.full_like(IMAGE, np.nan)}),
    ],
)
def test_inputs_the_model_cannot_take_are_invalid_argument_with_the_rest_message(
    server: LiveServer, client: triton.InferenceServerClient, model: str, inputs: dict
) -> None:
    status, message = refused(client, model, inputs)
    assert status == "StatusCode.INVALID_ARGUMENT"
    assert message == rest_message(server, model, inputs)


def test_unknown_models_versions_and_outputs(client: triton.InferenceServerClient) -> None:
    seed = {"seed": np.array([1])}
    assert refused(client, "nope", seed)[0] == "StatusCode.NOT_FOUND"
    status, message = refused(client, "trans", seed)
    assert status == "StatusCode.NOT_FOUND" and "trans.a2b or trans.b2a" in message
    assert refused(client, "uncond.a2b", seed)[0] == "StatusCode.NOT_FOUND"
    assert refused(client, "uncond", seed, model_version="9")[0] == "StatusCode.NOT_FOUND"
    status, message = refused(client, "uncond", seed, outputs=("logits",))
    assert status == "StatusCode.INVALID_ARGUMENT" and "no output 'logits'" in message
    status, message = refused(client, "UPPER", seed)
    assert status == "StatusCode.INVALID_ARGUMENT" and "does not match" in message
    with pytest.raises(triton.InferenceServerException) as caught:
        client.get_model_metadata("nope", headers=AUTH)
    assert caught.value.status() == "StatusCode.NOT_FOUND"


def test_a_message_over_the_cap_is_resource_exhausted(client: triton.InferenceServerClient):
    """max_upload_bytes caps a message as it caps an HTTP body: gRPC refuses it unread."""
    status, message = refused(client, "trans.a2b", {"image": np.zeros((1, 3, 120, 120), "f4")})
    assert status == "StatusCode.RESOURCE_EXHAUSTED" and "larger than max" in message


def test_malformed_messages_and_fields_are_invalid_argument(grpc_port: int) -> None:
    seed = service_pb2.ModelInferRequest.InferInputTensor(name="seed", datatype="INT64", shape=[2])
    cases = {
        "raw_input_contents holds 1 bytes": dict(inputs=[seed], raw_input_contents=[b"x"]),
        "needs 16": dict(inputs=[seed], raw_input_contents=[bytes(8)]),
        "every input's bytes or none": dict(inputs=[seed, seed], raw_input_contents=[bytes(16)]),
        "given twice": dict(inputs=[seed, seed], raw_input_contents=[bytes(16)] * 2),
        "holds 0 values": dict(inputs=[seed]),
        "go in int64_contents": dict(
            inputs=[
                service_pb2.ModelInferRequest.InferInputTensor(
                    name="seed",
                    datatype="INT64",
                    shape=[1],
                    contents=service_pb2.InferTensorContents(fp32_contents=[1.0]),
                )
            ]
        ),
        "parameters ['priority'] are not supported": dict(
            inputs=[seed],
            raw_input_contents=[bytes(16)],
            parameters={"priority": service_pb2.InferParameter(int64_param=1)},
        ),
        "positive integer of microseconds": dict(
            inputs=[seed],
            raw_input_contents=[bytes(16)],
            parameters={"timeout": service_pb2.InferParameter(string_param="1")},
        ),
        "1..8 inputs": dict(),
    }
    with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
        stub = service_pb2_grpc.GRPCInferenceServiceStub(channel)
        for message, fields in cases.items():
            request = service_pb2.ModelInferRequest(model_name="uncond", **fields)
            with pytest.raises(grpc.RpcError) as caught:
                stub.ModelInfer(request, metadata=METADATA)
            assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, message
            assert message in caught.value.details(), caught.value.details()
        unreadable = channel.unary_unary("/inference.GRPCInferenceService/ModelInfer")
        with pytest.raises(grpc.RpcError) as caught:
            unreadable(b"\xff\xff\xff", metadata=METADATA)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "not a ModelInferRequest" in caught.value.details()


@pytest.mark.anyio
async def test_overload_is_unavailable_with_retry_after(grpc_port: int) -> None:
    request = service_pb2.ModelInferRequest(
        model_name="slow",
        inputs=[
            service_pb2.ModelInferRequest.InferInputTensor(
                name="seed", datatype="INT64", shape=[MAX_N]
            )
        ],
        raw_input_contents=[np.arange(MAX_N, dtype=np.int64).tobytes()],
    )
    async with grpc.aio.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
        stub = service_pb2_grpc.GRPCInferenceServiceStub(channel)
        calls = [stub.ModelInfer(request, metadata=METADATA) for _ in range(12)]
        answers = await asyncio.gather(*calls, return_exceptions=True)
        refusals = [a for a in answers if isinstance(a, grpc.aio.AioRpcError)]
        assert refusals and len(refusals) < len(answers), answers
        for refusal in refusals:
            assert refusal.code() == grpc.StatusCode.UNAVAILABLE
            assert "busy" in refusal.details()
            retry = dict(refusal.trailing_metadata())["retry-after"]
            assert int(retry) >= 1  # seconds, from the session's estimate


def test_a_passed_deadline_is_deadline_exceeded(client: triton.InferenceServerClient) -> None:
    """The client's deadline: its queued rows are dropped (counted 499, as a hang-up)."""
    seeds = {"seed": np.arange(MAX_N)}
    status, _ = refused(client, "slow", seeds, client_timeout=0.001)
    assert status == "StatusCode.DEADLINE_EXCEEDED"
    assert infer(client, "slow", seeds).as_numpy("image").shape[0] == MAX_N  # still serving


def test_every_call_but_live_and_ready_needs_the_key(client: triton.InferenceServerClient):
    assert client.is_server_live() and client.is_server_ready()
    for call in (
        lambda h: client.get_server_metadata(headers=h),
        lambda h: client.get_model_metadata("uncond", headers=h),
        lambda h: client.is_model_ready("uncond", headers=h),
        lambda h: client.infer("uncond", [tensor("seed", np.array([1]))], headers=h),
    ):
        with pytest.raises(triton.InferenceServerException) as caught:
            call({"authorization": "Bearer nope"})
        assert caught.value.status() == "StatusCode.UNAUTHENTICATED"


# -- fuzz -----------------------------------------------------------------------------------

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
NEVER = {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN, grpc.StatusCode.UNIMPLEMENTED}

parameters = st.dictionaries(
    st.sampled_from(["timeout", "binary_data_size", "priority", ""]),
    st.builds(service_pb2.InferParameter, int64_param=st.integers(-(2**63), 2**63 - 1))
    | st.builds(service_pb2.InferParameter, string_param=st.text(max_size=4))
    | st.builds(service_pb2.InferParameter, bool_param=st.booleans()),
    max_size=2,
)
contents = st.builds(
    service_pb2.InferTensorContents,
    int64_contents=st.lists(st.integers(-(2**63), 2**63 - 1), max_size=20),
    uint64_contents=st.lists(st.integers(0, 2**64 - 1), max_size=4),
    uint_contents=st.lists(st.integers(0, 2**32 - 1), max_size=4),
    fp32_contents=st.lists(st.floats(width=32), max_size=20),
    bool_contents=st.lists(st.booleans(), max_size=2),
)
inputs = st.builds(
    service_pb2.ModelInferRequest.InferInputTensor,
    name=st.sampled_from(["z", "seed", "label", "image", "", "x" * 70]),
    datatype=st.sampled_from(["FP32", "INT64", "UINT64", "UINT8", "FP64", "BYTES", ""]),
    shape=st.lists(st.integers(-2, 9) | st.integers(-(2**63), 2**63 - 1), max_size=5),
    parameters=parameters,
    contents=st.none() | contents,
)
requests = st.builds(
    service_pb2.ModelInferRequest,
    model_name=st.sampled_from(["uncond", "cond", "trans.a2b", "trans", "nope", "", "Ü"]),
    model_version=st.sampled_from(["", "0.1.0", "9", "../x"]),
    id=st.text(max_size=4) | st.just("i" * 300),
    parameters=parameters,
    inputs=st.lists(inputs, max_size=3),
    outputs=st.lists(
        st.builds(
            service_pb2.ModelInferRequest.InferRequestedOutputTensor,
            name=st.sampled_from(["image", "pixels", "translated", "logits"]),
        ),
        max_size=3,
    ),
    raw_input_contents=st.lists(st.binary(max_size=80), max_size=3),
)


@pytest.fixture(scope="module")
def stub(server: LiveServer, grpc_port: int):
    with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
        yield service_pb2_grpc.GRPCInferenceServiceStub(channel)


@FUZZ
@given(request=requests)
def test_any_request_is_answered_or_refused_never_internal(stub, request) -> None:
    try:
        stub.ModelInfer(request, metadata=METADATA, timeout=10)
    except grpc.RpcError as exc:
        assert exc.code() not in NEVER, (exc.code(), exc.details())
        assert exc.details()


def test_the_server_logged_no_traceback(server: LiveServer) -> None:
    assert server.proc.poll() is None
    output = server.output()
    assert "Traceback" not in output, output[-3000:]
    assert " -> 500" not in output, output[-3000:]
    assert KEY not in output
