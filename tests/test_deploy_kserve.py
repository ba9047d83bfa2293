"""The KServe InferenceService: a custom predictor running the ganserve image, declared as
speaking the Open Inference Protocol (v2), with settings the service accepts, its port where
KServe routes, and probes on the protocol's health routes that need no API key."""

from __future__ import annotations

import yaml
from deploy_files import ROOT

from service.api.middleware import PUBLIC_PATHS
from service.app import create_app
from service.settings import Settings

PREFIX = "GANSERVE_"


def isvc(name: str = "inferenceservice.yaml") -> dict:
    (doc,) = yaml.safe_load_all((ROOT / "deploy/kserve" / name).read_text())
    return doc


def container(name: str = "inferenceservice.yaml") -> dict:
    predictor = isvc(name)["spec"]["predictor"]
    (one,) = predictor["containers"]
    return one


def env(name: str = "inferenceservice.yaml") -> dict[str, str]:
    return {e["name"]: e["value"] for e in container(name)["env"] if "value" in e}


def test_a_custom_predictor_speaking_v2() -> None:
    doc = isvc()
    assert doc["apiVersion"] == "serving.kserve.io/v1beta1"
    assert doc["kind"] == "InferenceService"
    assert "model" not in doc["spec"]["predictor"]  # containers, not a serving runtime
    assert container()["name"] == "kserve-container"
    assert env()["PROTOCOL"] == "v2"


def test_the_same_image_as_the_deployment() -> None:
    deployment = yaml.safe_load((ROOT / "deploy/k8s/deployment.yaml").read_text())
    (ganserve,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container()["image"] == ganserve["image"]
    assert container()["resources"]["limits"]["nvidia.com/gpu"] == 1


def test_settings_are_real_and_the_port_is_the_containers() -> None:
    settings = {k.removeprefix(PREFIX).lower(): v for k, v in env().items() if k.startswith(PREFIX)}
    assert set(settings) <= set(Settings.model_fields), set(settings) - set(Settings.model_fields)
    parsed = Settings(**settings)
    (port,) = container()["ports"]
    assert parsed.port == port["containerPort"] == 8080  # where KServe routes by default
    secret = next(e for e in container()["env"] if e["name"] == f"{PREFIX}API_KEY")
    assert secret["valueFrom"]["secretKeyRef"]["optional"] is True


def test_probes_are_the_protocols_open_health_routes() -> None:
    routes = create_app(Settings()).openapi()["paths"]
    probes = {
        "readinessProbe": "/v2/health/ready",
        "livenessProbe": "/v2/health/live",
    }
    for probe, path in probes.items():
        http = container()[probe]["httpGet"]
        assert http["path"] == path and path in routes and path in PUBLIC_PATHS
        assert http["port"] == container()["ports"][0]["containerPort"]


def test_metrics_annotations_point_at_the_service() -> None:
    annotations = isvc()["spec"]["predictor"]["annotations"]
    assert annotations["prometheus.kserve.io/path"] == "/metrics"
    assert int(annotations["prometheus.kserve.io/port"]) == container()["ports"][0]["containerPort"]


def test_the_grpc_predictor_routes_its_grpc_port_and_probes_grpc_health() -> None:
    """KServe's gRPC predictor: one port, named h2c, the one ganserve serves gRPC on; the probes
    grpc.health.v1 there (no key); settings real; the same image."""
    name = "inferenceservice-grpc.yaml"
    doc, one = isvc(name), container(name)
    assert doc["kind"] == "InferenceService" and one["name"] == "kserve-container"
    assert env(name)["PROTOCOL"] == "grpc-v2"
    settings = {
        k.removeprefix(PREFIX).lower(): v for k, v in env(name).items() if k.startswith(PREFIX)
    }
    assert set(settings) <= set(Settings.model_fields)
    parsed = Settings(**settings)
    (port,) = one["ports"]
    assert port["name"] == "h2c" and port["containerPort"] == parsed.grpc_port == 8081
    assert parsed.port != parsed.grpc_port
    for probe in ("readinessProbe", "livenessProbe"):
        assert one[probe]["grpc"] == {"port": parsed.grpc_port}
    assert one["image"] == container()["image"]
