"""The Open Inference Protocol over gRPC with the real client: `tritonclient.grpc` against
`python -m service`. Every call answers as its REST twin under /v2 does; infer with raw tensors
(what tritonclient sends) and with `contents`, seeds giving /generate's pixels byte for byte, z
and label, a translation giving /translate's, and gRPC and HTTP requests sharing one run."""

from __future__ import annotations

import asyncio

import grpc
import httpx
import numpy as np
import pytest
import tritonclient.grpc as triton
import tritonclient.grpc.aio as triton_aio
from google.protobuf import json_format
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_server import AUTH, HTTP_AUTH, infer, tensor
from live_server import LiveServer
from onnx_models import CLASSES, DIM
from protocol_server import MAX_N, batches, generate_pixels, translate_pixels
from tritonclient.grpc import model_config_pb2, service_pb2, service_pb2_grpc

from service.imaging import to_uint8
from service.latents import latents

MODELS = ("uncond", "cond", "trans.a2b", "trans.b2a", "slow", "style")


def test_health_server_metadata_and_the_key(
    server: LiveServer, client: triton.InferenceServerClient, grpc_port: int
) -> None:
    # Live and ready need no key (probes), as /v2/health/*; everything else does.
    assert client.is_server_live()
    assert client.is_server_ready()
    meta = client.get_server_metadata(headers=AUTH)
    rest = httpx.get(f"{server.url}/v2", headers=HTTP_AUTH).json()
    assert (meta.name, meta.version, list(meta.extensions)) == (
        rest["name"],
        rest["version"],
        rest["extensions"],
    )
    for headers in (None, {"authorization": "Bearer wrong"}):
        with pytest.raises(triton.InferenceServerException) as denied:
            client.get_server_metadata(headers=headers)
        assert denied.value.status() == "StatusCode.UNAUTHENTICATED"
        assert "bearer token" in denied.value.message()
    with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for service in ("", "inference.GRPCInferenceService"):
            answer = health.Check(health_pb2.HealthCheckRequest(service=service))
            assert answer.status == health_pb2.HealthCheckResponse.SERVING


def test_model_metadata_and_readiness_are_the_rest_answers(
    server: LiveServer, client: triton.InferenceServerClient
) -> None:
    for name in MODELS:
        meta = client.get_model_metadata(name, headers=AUTH)
        rest = httpx.get(f"{server.url}/v2/models/{name}", headers=HTTP_AUTH).json()
        assert {
            "name": meta.name,
            "versions": list(meta.versions),
            "platform": meta.platform,
            "inputs": [
                {"name": t.name, "datatype": t.datatype, "shape": list(t.shape)}
                for t in meta.inputs
            ],
            "outputs": [
                {"name": t.name, "datatype": t.datatype, "shape": list(t.shape)}
                for t in meta.outputs
            ],
        } == rest
        assert client.is_model_ready(name, headers=AUTH)
    assert client.get_model_metadata("trans.b2a", "0.1.0", headers=AUTH).name == "trans.b2a"
    assert client.is_model_ready("uncond", "0.1.0", headers=AUTH)
    assert not client.is_model_ready("uncond", "2.0.0", headers=AUTH)
    assert not client.is_model_ready("trans", headers=AUTH)  # a direction is needed
    assert not client.is_model_ready("nope", headers=AUTH)


@pytest.mark.parametrize("model", ["uncond", "cond", "style"])
def test_seeds_give_generates_images_byte_for_byte(
    server: LiveServer, client: triton.InferenceServerClient, model: str
) -> None:
    for dtype in (np.int64, np.uint64):
        result = infer(client, model, {"seed": np.arange(40, 45, dtype=dtype)})
        expected = generate_pixels(server, {"model": model, "n": 5, "seed": 40}, HTTP_AUTH)
        pixels = result.as_numpy("pixels")
        assert pixels.dtype == np.uint8 and np.array_equal(pixels, expected)
        image = result.as_numpy("image")
        assert image.dtype == np.float32 and image.shape[0] == 5
        assert np.array_equal(to_uint8(image).reshape(expected.shape), expected)
        response = result.get_response()
        assert (response.model_name, response.model_version) == (model, "0.1.0")
        assert [o.name for o in response.outputs] == ["image", "pixels"]  # none asked: all


def test_a_stylegans_label_and_psi_give_generates_images(
    server: LiveServer, client: triton.InferenceServerClient
) -> None:
    inputs = {
        "seed": np.arange(7, 10),
        "label": np.array([2, 0, 1], np.int64),
        "psi": np.full(3, -0.5, np.float32),
    }
    result = infer(client, "style", inputs, ("pixels",))
    body = {"model": "style", "n": 3, "seed": 7, "labels": [2, 0, 1], "truncation_psi": -0.5}
    assert np.array_equal(result.as_numpy("pixels"), generate_pixels(server, body, HTTP_AUTH))
    with pytest.raises(triton.InferenceServerException) as refused:
        infer(client, "style", {**inputs, "psi": np.full(2, 0.5, np.float32)})
    assert refused.value.status() == "StatusCode.INVALID_ARGUMENT"
    assert "'psi' has 2 rows" in refused.value.message()


def test_a_seed_without_label_takes_generates_default_label(
    client: triton.InferenceServerClient,
) -> None:
    seeds = np.arange(3, 3 + 2 * len(CLASSES))
    alone = infer(client, "cond", {"seed": seeds}, ("pixels",))
    labelled = infer(client, "cond", {"seed": seeds, "label": seeds % len(CLASSES)}, ("pixels",))
    assert np.array_equal(alone.as_numpy("pixels"), labelled.as_numpy("pixels"))
    assert alone.as_numpy("image") is None  # only what was asked for
    assert alone.get_response().id  # none given: one made, as over REST


def _contents_request(model: str, inputs: dict[str, np.ndarray]) -> service_pb2.ModelInferRequest:
    request = service_pb2.ModelInferRequest(model_name=model, id="by-contents")
    fields = {np.float32: "fp32_contents", np.int64: "int64_contents"}
    for name, array in inputs.items():
        tensor = request.inputs.add(
            name=name, datatype=triton.np_to_triton_dtype(array.dtype), shape=array.shape
        )
        getattr(tensor.contents, fields[array.dtype.type]).extend(array.ravel().tolist())
    return request


def test_contents_in_give_contents_out_and_z_the_images_of_its_seeds(
    client: triton.InferenceServerClient, grpc_port: int
) -> None:
    """`contents` instead of raw bytes (a client that writes them reads them); z and label
    give the images of the seeds whose latents they are."""
    seeds, labels = [7, 8, 9], np.array([2, 0, 1], np.int64)
    by_seed = infer(client, "cond", {"seed": np.array(seeds), "label": labels})
    request = _contents_request("cond", {"z": latents(seeds, DIM), "label": labels})
    with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
        stub = service_pb2_grpc.GRPCInferenceServiceStub(channel)
        response = stub.ModelInfer(request, metadata=tuple(AUTH.items()))
    assert not response.raw_output_contents and response.id == "by-contents"
    image, pixels = response.outputs
    assert (image.datatype, list(image.shape)) == ("FP32", [3, 3, 8, 8])
    assert (pixels.datatype, list(pixels.shape)) == ("UINT8", [3, 8, 8, 3])
    z_image = np.array(image.contents.fp32_contents, np.float32).reshape(image.shape)
    assert np.array_equal(z_image, by_seed.as_numpy("image"))
    z_pixels = np.array(pixels.contents.uint_contents, np.uint8).reshape(pixels.shape)
    assert np.array_equal(z_pixels, by_seed.as_numpy("pixels"))


def test_translation_matches_translate_byte_for_byte(
    server: LiveServer, client: triton.InferenceServerClient
) -> None:
    """A 7x5 photo (not a multiple of the model's 4): padded inside, cropped back."""
    rgb = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    expected = translate_pixels(server, rgb, HTTP_AUTH)
    image = rgb.transpose(2, 0, 1)[None].astype(np.float32) / np.float32(127.5) - np.float32(1)
    result = infer(client, "trans.b2a", {"image": image}, ("translated", "pixels"))
    assert result.as_numpy("translated").shape == (1, 3, 5, 7)
    assert np.array_equal(result.as_numpy("pixels")[0], expected)


@pytest.mark.anyio
async def test_grpc_and_http_requests_share_runs(server: LiveServer, grpc_port: int) -> None:
    """Five gRPC infers and five HTTP ones at once on a slow model meet in its queue and share
    runs, each getting the rows it would get alone; the metrics label gRPC's route."""
    seeds = [[100 + i, 300 + i] for i in range(5)]  # 15 rows in all: within queue_size
    rest_seeds = [[500 + i] for i in range(5)]
    before = batches(server, "slow")
    client = triton_aio.InferenceServerClient(f"127.0.0.1:{grpc_port}")
    body = {"inputs": [{"name": "seed", "datatype": "INT64", "shape": [1], "data": [0]}]}
    try:
        async with httpx.AsyncClient(base_url=server.url, headers=HTTP_AUTH) as http:
            answers = await asyncio.gather(
                *(
                    client.infer(
                        "slow",
                        [tensor("seed", np.array(s))],
                        headers=dict(AUTH),
                    )
                    for s in seeds
                ),
                *(
                    http.post(
                        "/v2/models/slow/infer",
                        json={"inputs": [{**body["inputs"][0], "data": s}]},
                    )
                    for s in rest_seeds
                ),
            )
    finally:
        await client.close()
    runs = batches(server, "slow") - before
    assert runs < len(seeds) + len(rest_seeds), runs
    sync = triton.InferenceServerClient(f"127.0.0.1:{grpc_port}")
    for s, answer in zip(seeds, answers, strict=False):
        alone = infer(sync, "slow", {"seed": np.array(s)})
        assert np.array_equal(alone.as_numpy("image"), answer.as_numpy("image"))
    for r in answers[len(seeds) :]:
        assert r.status_code == 200, r.text
    metrics = httpx.get(f"{server.url}/metrics").text
    assert 'ganserve_requests_total{model="slow",route="grpc:ModelInfer",status="200"}' in metrics
    assert 'ganserve_images_total{model="slow",route="grpc:ModelInfer"}' in metrics
    assert 'ganserve_request_seconds_count{route="grpc:ModelInfer"}' in metrics


def test_the_repository_index_is_the_rest_index(
    server: LiveServer, client: triton.InferenceServerClient, grpc_port: int
) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
        stub = service_pb2_grpc.GRPCInferenceServiceStub(channel)
        for ready in (False, True):  # tritonclient.grpc never sends `ready`: the stub does
            index = stub.RepositoryIndex(
                service_pb2.RepositoryIndexRequest(ready=ready), metadata=tuple(AUTH.items())
            )
            rest = httpx.post(
                f"{server.url}/v2/repository/index", json={"ready": ready}, headers=HTTP_AUTH
            ).json()
            expected = service_pb2.RepositoryIndexResponse()
            assert index == json_format.ParseDict({"models": rest}, expected)
    names = {m.name: m for m in client.get_model_repository_index(headers=AUTH).models}
    assert set(names) == {*MODELS, "broken"}
    assert names["broken"].state == "UNAVAILABLE" and "sha256" in names["broken"].reason
    assert not client.is_model_ready("broken", headers=AUTH)


def test_each_configuration_is_the_rest_configuration(
    server: LiveServer, client: triton.InferenceServerClient
) -> None:
    """Triton's ModelConfig message of what GET /v2/models/{name}/config answers in JSON, but
    its version_policy: Triton's versions are integers, ganserve's the manifest's strings."""
    for name in MODELS:
        config = client.get_model_config(name, headers=AUTH).config
        rest = httpx.get(f"{server.url}/v2/models/{name}/config", headers=HTTP_AUTH).json()
        assert rest.pop("version_policy") == {"specific": {"versions": ["0.1.0"]}}
        assert config == json_format.ParseDict(rest, model_config_pb2.ModelConfig())
    assert client.get_model_config("uncond", "0.1.0", headers=AUTH).config.max_batch_size == MAX_N
    with pytest.raises(triton.InferenceServerException) as missing:
        client.get_model_config("trans", headers=AUTH)
    assert missing.value.status() == "StatusCode.NOT_FOUND"


def test_the_statistics_are_the_rest_statistics(
    server: LiveServer, client: triton.InferenceServerClient
) -> None:
    """What the one worker counted, whichever protocol asks; gRPC's infers count in it."""
    before = client.get_inference_statistics("uncond", headers=AUTH).model_stats[0]
    infer(client, "uncond", {"seed": np.arange(3)})
    stats = client.get_inference_statistics("uncond", headers=AUTH)
    (after,) = stats.model_stats
    assert after.inference_stats.success.count == before.inference_stats.success.count + 1
    assert after.inference_count == before.inference_count + 3
    rest = httpx.get(f"{server.url}/v2/models/uncond/stats", headers=HTTP_AUTH).json()
    assert stats == json_format.ParseDict(rest, service_pb2.ModelStatisticsResponse())
    every = client.get_inference_statistics(headers=AUTH)
    rest = httpx.get(f"{server.url}/v2/models/stats", headers=HTTP_AUTH).json()
    assert every == json_format.ParseDict(rest, service_pb2.ModelStatisticsResponse())
    assert {m.name for m in every.model_stats} == set(MODELS)


def test_the_server_logged_no_traceback(server: LiveServer) -> None:
    assert server.proc.poll() is None
    assert "Traceback" not in server.output()
