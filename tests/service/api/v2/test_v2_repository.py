"""The repository side of the Open Inference Protocol that Triton's client calls, driven by the
real `tritonclient[http]`: the repository index (every model and direction with its state),
each model's Triton-style configuration, the statistics extension's counts and durations,
and a translation model named without its direction answered with the directions it has."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import numpy as np
import pytest
import tritonclient.http as triton
from live_server import LiveServer, live_server
from onnx_models import DIM, make_broken, make_models_dir
from protocol_server import MAX_N
from v2_server import AUTH, KEY

SESSIONS = {"uncond", "cond", "trans.a2b", "trans.b2a"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The tiny models of every kind, and `broken`: a generator whose ONNX file is not the one
    its manifest hashed, so it fails to load."""
    models = make_models_dir(tmp_path_factory.mktemp("models"))
    make_broken(models / "broken", models / "uncond")
    with live_server(
        models,
        tmp_path_factory.mktemp("log") / "server.log",
        api_key=KEY,
        max_n=str(MAX_N),
        max_delay_ms="2",
        log_level="warning",
    ) as srv:
        yield srv


def _seeds(seeds: list[int]) -> list[triton.InferInput]:
    t = triton.InferInput("seed", [len(seeds)], "INT64")
    t.set_data_from_numpy(np.array(seeds, np.int64))
    return [t]


def test_the_index_lists_every_model_and_direction_with_its_state(
    server: LiveServer, client: triton.InferenceServerClient
) -> None:
    index = client.get_model_repository_index(headers=dict(AUTH))
    by_name = {entry["name"]: entry for entry in index}
    assert set(by_name) == SESSIONS | {"broken"}
    for name in SESSIONS:
        assert by_name[name] == {"name": name, "version": "0.1.0", "state": "READY", "reason": ""}
    assert by_name["broken"]["state"] == "UNAVAILABLE"
    assert "sha256" in by_name["broken"]["reason"]
    # Triton's `{"ready": true}`: only those that serve
    r = httpx.post(f"{server.url}/v2/repository/index", json={"ready": True}, headers=AUTH)
    assert r.status_code == 200, r.text
    assert {entry["name"] for entry in r.json()} == SESSIONS
    assert httpx.post(f"{server.url}/v2/repository/index").status_code == 401


def test_a_generators_configuration(client: triton.InferenceServerClient) -> None:
    config = client.get_model_config("cond", headers=dict(AUTH))
    assert config == {
        "name": "cond",
        "platform": "onnxruntime_onnx",
        "backend": "onnxruntime",
        "version_policy": {"specific": {"versions": ["0.1.0"]}},
        "max_batch_size": MAX_N,
        "input": [
            {"name": "z", "data_type": "TYPE_FP32", "dims": [DIM]},
            {"name": "label", "data_type": "TYPE_INT64", "dims": [1], "reshape": {"shape": []}},
        ],
        "output": [
            {"name": "image", "data_type": "TYPE_FP32", "dims": [3, 8, 8]},
            {"name": "pixels", "data_type": "TYPE_UINT8", "dims": [8, 8, 3]},
        ],
        "dynamic_batching": {"max_queue_delay_microseconds": 2000},
        "instance_group": [{"kind": "KIND_CPU", "count": 1}],
    }


def test_a_translation_directions_configuration(client: triton.InferenceServerClient) -> None:
    config = client.get_model_config("trans.b2a", model_version="0.1.0", headers=dict(AUTH))
    assert config["name"] == "trans.b2a"
    assert config["input"] == [{"name": "image", "data_type": "TYPE_FP32", "dims": [3, -1, -1]}]
    assert config["output"] == [
        {"name": "translated", "data_type": "TYPE_FP32", "dims": [3, -1, -1]},
        {"name": "pixels", "data_type": "TYPE_UINT8", "dims": [-1, -1, 3]},
    ]
    with pytest.raises(triton.InferenceServerException) as other_version:
        client.get_model_config("trans.b2a", model_version="9", headers=dict(AUTH))
    assert other_version.value.status() == "404"


def test_statistics_count_the_requests_and_runs(client: triton.InferenceServerClient) -> None:
    def stats() -> dict:
        (model,) = client.get_inference_statistics("uncond", headers=dict(AUTH))["model_stats"]
        return model

    before = stats()
    for seeds in ([1], [2, 3], [4, 5, 6]):
        client.infer("uncond", _seeds(seeds), headers=dict(AUTH))
    after = stats()
    assert (after["name"], after["version"]) == ("uncond", "0.1.0")
    assert after["inference_count"] - before["inference_count"] == 6  # rows
    runs = after["execution_count"] - before["execution_count"]
    assert 1 <= runs <= 3
    assert after["last_inference"] >= max(before["last_inference"], 1)
    infer, was = after["inference_stats"], before["inference_stats"]
    for key in ("success", "queue", "compute_infer"):
        assert infer[key]["count"] - was[key]["count"] == 3, key
        assert infer[key]["ns"] > was[key]["ns"], key
    assert infer["fail"] == was["fail"]
    # A request's end to end time holds its queue wait and its run.
    spent = {k: infer[k]["ns"] - was[k]["ns"] for k in ("success", "queue", "compute_infer")}
    assert spent["success"] >= spent["queue"] + spent["compute_infer"] * 0.99
    sizes = {b["batch_size"]: b["compute_infer"]["count"] for b in after["batch_stats"]}
    assert sum(size * count for size, count in sizes.items()) == after["inference_count"]
    # Without a name: every V2 model that serves.
    every = client.get_inference_statistics(headers=dict(AUTH))["model_stats"]
    assert {m["name"] for m in every} == SESSIONS


@pytest.mark.parametrize("route", ["", "/ready", "/config", "/stats"])
def test_a_translation_model_without_its_direction_names_them(
    server: LiveServer, route: str
) -> None:
    r = httpx.get(f"{server.url}/v2/models/trans{route}", headers=AUTH)
    assert r.status_code == 404, r.text
    assert r.json() == {
        "error": "'trans' is a translation model: name one of its directions, "
        "trans.a2b or trans.b2a"
    }
