"""Every refusal of the Open Inference Protocol routes: a 400 (404 for a model or version that
is not there, 401 without the key, 503 + Retry-After when overloaded) in the protocol's
`{"error": "..."}`, seen by the real `tritonclient[http]` and on the wire; never a 500."""

from __future__ import annotations

import asyncio
import json
import re

import httpx
import numpy as np
import pytest
import tritonclient.http as triton
from live_server import LiveServer
from onnx_models import DIM
from protocol_server import MAX_N, MAX_SIDE, http_tensors
from v2_server import AUTH, KEY


def refused(
    client: triton.InferenceServerClient, model: str, inputs: dict[str, np.ndarray], **kw
) -> triton.InferenceServerException:
    """What tritonclient raises for this infer, sent as binary tensors."""
    with pytest.raises(triton.InferenceServerException) as caught:
        client.infer(model, http_tensors(inputs), headers=dict(AUTH), **kw)
    return caught.value


def post(server: LiveServer, model: str, body: bytes | dict, **headers: str) -> httpx.Response:
    content = json.dumps(body).encode() if isinstance(body, dict) else body
    return httpx.post(
        f"{server.url}/v2/models/{model}/infer", content=content, headers=AUTH | headers
    )


def one(name: str, datatype: str, shape: list[int], data: list) -> dict:
    return {"inputs": [{"name": name, "datatype": datatype, "shape": shape, "data": data}]}


Z = np.zeros((2, DIM), np.float32)
IMAGE = np.zeros((1, 3, 8, 8), np.float32)
NAN_Z = Z.copy()
NAN_Z[1, 3] = np.nan


OVER_CAP = "over the 64 KiB cap (max_upload_bytes = 65536 bytes)"


@pytest.mark.parametrize(
    ("model", "inputs", "message"),
    [
        ("uncond", {"seed": np.arange(MAX_N + 1)}, f"1..{MAX_N} are served"),
        ("uncond", {"seed": np.zeros(0, np.int64)}, "has 0 rows"),
        ("uncond", {"seed": np.array([3, -1])}, "negative"),
        ("uncond", {"z": np.zeros((2, DIM + 1), np.float32)}, f"must be [N, {DIM}]"),
        ("uncond", {"z": np.zeros((2, DIM), np.float64)}, "FP64' is not served"),
        ("uncond", {"z": np.zeros((2, DIM), np.int64)}, "must be FP32, got INT64"),
        ("uncond", {"z": NAN_Z}, "NaN or infinite"),
        ("uncond", {"z": np.full((1, DIM), np.inf, np.float32)}, "NaN or infinite"),
        ("uncond", {"z": Z, "seed": np.array([1, 2])}, "either z"),
        ("uncond", {"z": Z, "label": np.array([0, 1])}, "takes no input ['label']"),
        ("uncond", {"noise": Z}, "takes no input ['noise']"),
        ("cond", {"z": Z}, "give label"),
        ("cond", {"z": Z, "label": np.array([0, 3])}, "outside 0..2"),
        ("cond", {"z": Z, "label": np.array([0])}, "'label' has 1 rows"),
        ("cond", {"z": Z, "label": np.array([0.0, 1.0], np.float32)}, "must be INT64"),
        ("trans.a2b", {"image": np.zeros((1, 1, 8, 8), np.float32)}, "[N, 3, H, W]"),
        ("trans.a2b", {"image": np.zeros((3, 8, 8), np.float32)}, "4 axes"),
        ("trans.a2b", {"image": np.zeros((1, 3, 8, MAX_SIDE + 1), np.float32)}, "a side"),
        ("trans.a2b", {"image": np.zeros((1, 3, 60, 60), np.float32)}, "pixels an image"),
        ("trans.a2b", {"image": IMAGE + 2}, "outside [-1, 1]"),
        ("trans.a2b", {"image": np.full_like(IMAGE, np.nan)}, "NaN or infinite"),
        ("trans.a2b", {"image": np.zeros((1, 3, 120, 120), np.float32)}, OVER_CAP),
        ("trans.a2b", {"image": np.zeros((8, 3, 32, 32), np.float32)}, OVER_CAP),
    ],
)
def test_inputs_the_model_cannot_take_are_400s(
    client: triton.InferenceServerClient, model: str, inputs: dict, message: str
) -> None:
    err = refused(client, model, inputs)
    assert err.status() == "400", err
    assert message in err.message(), err.message()


def test_unknown_models_versions_and_outputs(client: triton.InferenceServerClient) -> None:
    seed = {"seed": np.array([1])}
    assert refused(client, "nope", seed).status() == "404"
    assert "trans.a2b or trans.b2a" in refused(client, "trans", seed).message()
    assert refused(client, "uncond.a2b", seed).status() == "404"
    assert refused(client, "uncond", seed, model_version="9").status() == "404"
    err = refused(client, "uncond", seed, outputs=[triton.InferRequestedOutput("logits")])
    assert err.status() == "400" and "no output 'logits'" in err.message()
    err = refused(client, "uncond", seed, request_compression_algorithm="gzip")
    assert err.status() == "400" and "compressed" in err.message()


@pytest.mark.parametrize(
    ("body", "headers", "message"),
    [
        (b"{", {}, "Invalid JSON"),
        (b"[]", {}, "body"),
        ({"inputs": []}, {}, "inputs"),
        (
            {"inputs": [{"name": "seed", "shape": ["2"], "datatype": "INT64", "data": [1, 2]}]},
            {},
            "shape",
        ),
        (one("seed", "INT64", [3], [1, 2]), {}, "2 values in shape [2]"),
        (one("seed", "INT64", [2, 2], [[1, 2], [3]]), {}, "not a regular array"),
        (one("seed", "INT64", [2], [1.5, 2]), {}, "not INT64"),
        (one("seed", "INT64", [2], [True, False]), {}, "not INT64"),
        (one("seed", "INT64", [2], ["1", "2"]), {}, "not INT64"),
        (one("seed", "INT64", [1], [2**63]), {}, "out of the range of INT64"),
        (one("seed", "UINT64", [1], [-1]), {}, "out of the range of UINT64"),
        (one("seed", "BYTES", [1], ["a"]), {}, "'BYTES' is not served"),
        (one("seed", "INT64", [1], None), {}, "neither data nor binary_data_size"),
        ({**one("seed", "INT64", [1], [1]), "extra": 1}, {}, "extra"),
        (
            {**one("seed", "INT64", [1], [1]), "parameters": {"binary_data_output": 1}},
            {},
            "true or false",
        ),
    ],
)
def test_malformed_requests_are_400s(
    server: LiveServer, body: bytes | dict, headers: dict, message: str
) -> None:
    r = post(server, "uncond", body, **headers)
    assert r.status_code == 400, r.text
    assert set(r.json()) == {"error"} and message in r.json()["error"], r.text


def _binary(header: dict, tail: bytes, length: int | None = None) -> tuple[bytes, dict]:
    head = json.dumps(header).encode()
    return head + tail, {HEADER: str(len(head) if length is None else length)}


HEADER = "Inference-Header-Content-Length"
# service/api/errors.py logs "METHOD PATH -> STATUS ...": a 500 answered, not a body of 5002 bytes
ANSWERED_500 = re.compile(r"-> 500\b")
SEED = {"name": "seed", "datatype": "INT64", "shape": [2]}


@pytest.mark.parametrize(
    ("header", "tail", "length", "message"),
    [
        ({"inputs": [{**SEED, "parameters": {"binary_data_size": 8}}]}, bytes(8), None, "needs 16"),
        ({"inputs": [{**SEED, "parameters": {"binary_data_size": 16}}]}, bytes(8), None, "8 left"),
        (
            {"inputs": [{**SEED, "parameters": {"binary_data_size": 16}}]},
            bytes(24),
            None,
            "belong to no input",
        ),
        (
            {"inputs": [{**SEED, "parameters": {"binary_data_size": "16"}}]},
            bytes(16),
            None,
            "non-negative",
        ),
        (
            {"inputs": [{**SEED, "parameters": {"binary_data_size": 16}, "data": [1, 2]}]},
            bytes(16),
            None,
            "both",
        ),
        (
            {"inputs": [{**SEED, "parameters": {"shared_memory_region": "r"}}]},
            b"",
            None,
            "not supported",
        ),
        ({"inputs": [{**SEED, "data": [1, 2]}]}, b"", 10**6, "the body has"),
    ],
)
def test_broken_binary_tensors_are_400s(
    server: LiveServer, header: dict, tail: bytes, length: int | None, message: str
) -> None:
    body, headers = _binary(header, tail, length)
    r = post(server, "uncond", body, **headers)
    assert r.status_code == 400, r.text
    assert message in r.json()["error"], r.text


def test_a_malformed_header_length_or_name_is_a_400(server: LiveServer) -> None:
    r = post(server, "uncond", one("seed", "INT64", [1], [1]), **{HEADER: "-3"})
    assert r.status_code == 400 and "error" in r.json()
    r = httpx.get(f"{server.url}/v2/models/UPPER", headers=AUTH)
    assert r.status_code == 400 and set(r.json()) == {"error"}


def test_every_v2_route_but_health_needs_the_key(server: LiveServer) -> None:
    for path in ("/v2/health/live", "/v2/health/ready"):
        assert httpx.get(server.url + path).status_code == 200
    for path in ("/v2", "/v2/models/uncond", "/v2/models/uncond/ready"):
        r = httpx.get(server.url + path, headers={"Authorization": "Bearer wrong"})
        assert r.status_code == 401 and set(r.json()) == {"error"}
    r = httpx.post(f"{server.url}/v2/models/uncond/infer", json=one("seed", "INT64", [1], [1]))
    assert r.status_code == 401


@pytest.mark.anyio
async def test_overload_is_503_with_retry_after(server: LiveServer) -> None:
    body = one("seed", "INT64", [MAX_N], list(range(MAX_N)))
    async with httpx.AsyncClient(base_url=server.url, headers=AUTH, timeout=30) as http:
        answers = await asyncio.gather(
            *(http.post("/v2/models/slow/infer", json=body) for _ in range(12))
        )
    statuses = [r.status_code for r in answers]
    assert set(statuses) == {200, 503}, statuses
    busy = next(r for r in answers if r.status_code == 503)
    assert int(busy.headers["retry-after"]) >= 1  # seconds, from the session's estimate
    assert "busy" in busy.json()["error"]


def test_the_server_logged_no_traceback(server: LiveServer) -> None:
    assert server.proc.poll() is None
    output = server.output()
    assert "Traceback" not in output, output[-3000:]
    assert not ANSWERED_500.search(output), output[-3000:]
    assert KEY not in output


@pytest.mark.anyio
async def test_not_ready_is_a_503_with_retry_after(app_client, models_dir, tmp_path) -> None:
    (models_dir / "uncond" / "generator.onnx").write_bytes(b"not onnx")
    async with app_client() as http:
        r = await http.get("/v2/models/uncond/ready")
        assert r.status_code == 503 and r.headers["retry-after"] == "30"
        assert "failed" in r.json()["error"]
        assert (await http.get("/v2/models/cond/ready")).status_code == 200
    async with app_client(models_dir=tmp_path / "empty") as http:
        r = await http.get("/v2/health/ready")
        assert r.status_code == 503 and r.headers["retry-after"] == "5"
        assert r.json() == {"error": "no model is ready; see /models"}
        assert (await http.get("/v2/health/live")).json() == {"live": True}
