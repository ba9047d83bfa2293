"""The compose variants as docker-compose 1.29 resolves them: GPU by default, CPU by naming the
files, the service contract and the health-gated start order."""

from __future__ import annotations

import pytest
from deploy_files import (
    COMPOSE_VARIANTS,
    ROOT,
    compose_config,
    gpu_devices,
    runtime_env,
    unknown_settings,
    volumes,
)


@pytest.mark.parametrize("variant", sorted(COMPOSE_VARIANTS))
def test_compose_config_is_valid(variant: str) -> None:
    services = compose_config(variant, "--profile", "scale")["services"]
    assert {"ganserve", "ganserve-replica", "lb", "prometheus", "grafana"} <= set(services)


def test_plain_compose_up_reserves_the_gpu_and_cpu_variant_does_not() -> None:
    gpu = compose_config("gpu")["services"]
    for name in ("ganserve", "ganserve-replica"):
        devices = gpu_devices(gpu[name])
        assert devices == [{"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}]
        assert gpu[name]["build"]["args"]["CUDA_LIBS"] == "1"
    cpu = compose_config("cpu")["services"]
    for name in ("ganserve", "ganserve-replica"):
        assert gpu_devices(cpu[name]) == []
        assert cpu[name]["environment"]["GANSERVE_PROVIDER"] == "cpu"
        assert cpu[name]["build"]["args"]["CUDA_LIBS"] == "0"
    assert cpu["ganserve"]["image"] != gpu["ganserve"]["image"]


def test_compose_service_contract() -> None:
    services = compose_config("gpu")["services"]
    svc = services["ganserve"]
    env = svc["environment"]
    port = env["GANSERVE_PORT"]
    assert port == runtime_env()["GANSERVE_PORT"]
    assert any(p["target"] == int(port) for p in svc["ports"])
    grpc_port = env["GANSERVE_GRPC_PORT"]
    assert grpc_port == runtime_env()["GANSERVE_GRPC_PORT"]
    assert any(p["target"] == int(grpc_port) for p in svc["ports"])
    assert env["GANSERVE_MODELS_DIR"] == "/app/models"
    assert volumes(svc)["/app/models"] == (str(ROOT / "models"), True)
    check = " ".join(svc["healthcheck"]["test"])
    assert f"127.0.0.1:{port}/readyz" in check and "curl" not in check
    # uvicorn's graceful drain needs the grace period to be longer than its own timeout
    assert svc["stop_signal"] == "SIGTERM"
    assert svc["stop_grace_period"] in ("30s",)
    # every variable names a real setting (a misspelt one would be ignored)
    assert not unknown_settings(env)
    # health-gated start order
    assert services["prometheus"]["depends_on"]["ganserve"]["condition"] == "service_healthy"
    assert services["grafana"]["depends_on"]["prometheus"]["condition"] == "service_healthy"
