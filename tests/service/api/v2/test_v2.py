"""The Open Inference Protocol with the real client: `tritonclient[http]` against `python -m
service` under uvicorn. Metadata, readiness, infer in JSON and in binary for each kind, the
same images as /generate and /translate byte for byte, and concurrent infers in one batch."""

from __future__ import annotations

import asyncio

import httpx
import numpy as np
import pytest
import tritonclient.http as triton
import tritonclient.http.aio as triton_aio
from live_server import LiveServer
from onnx_models import CLASSES, DIM
from protocol_server import MAX_N, batches, generate_pixels, http_tensors, translate_pixels
from v2_server import AUTH

from service.imaging import to_uint8
from service.latents import latents


def run(
    client: triton.InferenceServerClient,
    model: str,
    inputs: dict[str, np.ndarray],
    binary: bool,
    outputs: tuple[str, ...] = ("image", "pixels"),
    version: str = "",
) -> triton.InferResult:
    return client.infer(
        model,
        http_tensors(inputs, binary),
        model_version=version,
        outputs=[triton.InferRequestedOutput(name, binary_data=binary) for name in outputs],
        headers=dict(AUTH),
    )


def test_server_metadata_and_health(client: triton.InferenceServerClient) -> None:
    meta = client.get_server_metadata(headers=AUTH)
    assert meta["name"] == "ganserve"
    assert meta["extensions"] == ["binary_tensor_data", "model_repository", "statistics"]
    # Health needs no key (probes); everything else does.
    assert client.is_server_live()
    assert client.is_server_ready()
    with pytest.raises(triton.InferenceServerException) as denied:
        client.get_server_metadata()
    assert denied.value.status() == "401"
    assert "bearer token" in denied.value.message()


def test_model_metadata_and_readiness(client: triton.InferenceServerClient) -> None:
    cond = client.get_model_metadata("cond", headers=AUTH)
    assert cond["platform"] == "onnxruntime_onnx"
    assert cond["versions"] == ["0.1.0"]
    assert cond["inputs"] == [
        {"name": "z", "datatype": "FP32", "shape": [-1, DIM]},
        {"name": "label", "datatype": "INT64", "shape": [-1]},
    ]
    assert cond["outputs"] == [
        {"name": "image", "datatype": "FP32", "shape": [-1, 3, 8, 8]},
        {"name": "pixels", "datatype": "UINT8", "shape": [-1, 8, 8, 3]},
    ]
    trans = client.get_model_metadata("trans.b2a", model_version="0.1.0", headers=AUTH)
    assert trans["name"] == "trans.b2a"
    assert trans["inputs"] == [{"name": "image", "datatype": "FP32", "shape": [-1, 3, -1, -1]}]
    assert [o["shape"] for o in trans["outputs"]] == [[-1, 3, -1, -1], [-1, -1, -1, 3]]
    for name in ("uncond", "cond", "trans.a2b", "trans.b2a", "slow", "style"):
        assert client.is_model_ready(name, headers=AUTH)
    assert client.is_model_ready("uncond", "0.1.0", headers=AUTH)
    assert not client.is_model_ready("uncond", "2.0.0", headers=AUTH)
    assert not client.is_model_ready("trans", headers=AUTH)  # a direction is needed
    assert not client.is_model_ready("nope", headers=AUTH)


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
@pytest.mark.parametrize("model", ["uncond", "cond", "style"])
def test_seeds_give_generates_images_byte_for_byte(
    server: LiveServer, client: triton.InferenceServerClient, model: str, binary: bool
) -> None:
    seeds = np.arange(40, 45, dtype=np.uint64 if binary else np.int64)
    result = run(client, model, {"seed": seeds}, binary)
    expected = generate_pixels(server, {"model": model, "n": 5, "seed": 40}, AUTH)
    pixels = result.as_numpy("pixels")
    assert pixels.dtype == np.uint8 and pixels.shape == expected.shape
    assert np.array_equal(pixels, expected)
    image = result.as_numpy("image")
    assert image.dtype == np.float32 and image.shape[0] == 5
    assert np.array_equal(to_uint8(image).reshape(expected.shape), expected)
    assert result.get_response()["model_version"] == "0.1.0"


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_z_and_label_give_the_same_images_as_their_seeds(
    client: triton.InferenceServerClient, binary: bool
) -> None:
    seeds = [7, 8, 9]
    labels = np.array([2, 0, 1], np.int64)
    by_z = run(client, "cond", {"z": latents(seeds, DIM), "label": labels}, binary)
    by_seed = run(client, "cond", {"seed": np.array(seeds), "label": labels}, binary)
    assert np.array_equal(by_z.as_numpy("image"), by_seed.as_numpy("image"))
    uncond = run(client, "uncond", {"z": latents(seeds, DIM)}, binary, outputs=("image",))
    assert uncond.as_numpy("image").shape == (3, 1, 8, 8)
    assert uncond.as_numpy("pixels") is None  # only what was asked for


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_a_stylegan_takes_z_or_seed_label_and_psi_as_generate_does(
    server: LiveServer, client: triton.InferenceServerClient, binary: bool
) -> None:
    """One V2 model for the StyleGAN's two sessions: its mapping's feeds in (the label as
    conditional models take it, psi per row), its synthesis' image out."""
    meta = client.get_model_metadata("style", headers=AUTH)
    assert meta["inputs"] == [
        {"name": "z", "datatype": "FP32", "shape": [-1, 8]},
        {"name": "label", "datatype": "INT64", "shape": [-1]},
        {"name": "psi", "datatype": "FP32", "shape": [-1]},
    ]
    assert meta["outputs"][0] == {"name": "image", "datatype": "FP32", "shape": [-1, 3, 8, 8]}
    labels = np.array([2, 0, 1], np.int64)
    psi = np.array([0.5, 0.5, 0.5], np.float32)
    by_z = run(client, "style", {"z": latents([7, 8, 9], 8), "label": labels, "psi": psi}, binary)
    expected = generate_pixels(
        server,
        {"model": "style", "n": 3, "seed": 7, "labels": [2, 0, 1], "truncation_psi": 0.5},
        AUTH,
    )
    assert np.array_equal(by_z.as_numpy("pixels"), expected)
    with pytest.raises(triton.InferenceServerException) as refused:
        run(client, "style", {"seed": np.arange(3), "psi": np.full(3, 2.5, np.float32)}, binary)
    assert refused.value.status() == "400"
    assert "outside [-2, 2]" in refused.value.message()


def test_a_seed_without_label_takes_generates_default_label(
    server: LiveServer, client: triton.InferenceServerClient
) -> None:
    """/generate without a label gives seed i the label i % classes; so does seed alone."""
    seeds = np.arange(3, 3 + 2 * len(CLASSES))
    alone = run(client, "cond", {"seed": seeds}, True, outputs=("pixels",))
    labelled = run(
        client, "cond", {"seed": seeds, "label": seeds % len(CLASSES)}, True, outputs=("pixels",)
    )
    assert np.array_equal(alone.as_numpy("pixels"), labelled.as_numpy("pixels"))


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_translation_matches_translate_byte_for_byte(
    server: LiveServer, client: triton.InferenceServerClient, binary: bool
) -> None:
    """A 7x5 photo (not a multiple of the model's 4): padded inside, cropped back."""
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (5, 7, 3), dtype=np.uint8)
    expected = translate_pixels(server, rgb, AUTH)
    image = rgb.transpose(2, 0, 1)[None].astype(np.float32) / np.float32(127.5) - np.float32(1)
    result = run(client, "trans.b2a", {"image": image}, binary, outputs=("translated", "pixels"))
    assert result.as_numpy("translated").shape == (1, 3, 5, 7)
    assert np.array_equal(result.as_numpy("pixels")[0], expected)


def test_default_outputs_are_all_outputs_in_binary(client: triton.InferenceServerClient) -> None:
    """No outputs named: tritonclient asks for every output as binary data."""
    result = client.infer(
        "uncond", http_tensors({"seed": np.array([1, 2])}), request_id="req-1", headers=dict(AUTH)
    )
    response = result.get_response()
    assert response["id"] == "req-1"
    assert [o["name"] for o in response["outputs"]] == ["image", "pixels"]
    assert all("binary_data_size" in o["parameters"] for o in response["outputs"])
    assert result.as_numpy("pixels").shape == (2, 8, 8, 1)


@pytest.mark.anyio
async def test_concurrent_infers_share_a_batch(
    server: LiveServer, client: triton.InferenceServerClient
) -> None:
    """Nine infers at once (tritonclient's asyncio client) on a slow model, one of them full:
    they meet in the queue and share runs, and each gets the rows it would get alone."""
    seeds = [list(range(200, 200 + MAX_N))] + [[100 + i] for i in range(8)]
    alone = [run(client, "slow", {"seed": np.array(s)}, True).as_numpy("image") for s in seeds]
    before = batches(server, "slow")
    aio = triton_aio.InferenceServerClient(f"127.0.0.1:{server.port}", conn_limit=len(seeds))
    try:
        results = await asyncio.gather(
            *(
                aio.infer("slow", http_tensors({"seed": np.array(s)}), headers=dict(AUTH))
                for s in seeds
            )
        )
    finally:
        await aio.close()
    together = [r.as_numpy("image") for r in results]
    runs = batches(server, "slow") - before
    assert runs < len(seeds), runs
    for a, b in zip(alone, together, strict=True):
        assert np.array_equal(a, b)
    metrics = httpx.get(f"{server.url}/metrics").text
    assert 'route="/v2/models/{name}/infer",status="200"' in metrics
    assert 'ganserve_images_total{model="slow",route="/v2/models/{name}/infer"}' in metrics


def test_the_server_logged_no_traceback(server: LiveServer) -> None:
    assert server.proc.poll() is None
    assert "Traceback" not in server.output()
