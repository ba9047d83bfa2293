"""The Kubernetes manifests: they parse, the kustomization lists them all, and the Deployment's
probes, GPU request, settings and labels agree with the Service, ConfigMap and HPA."""

from __future__ import annotations

import yaml
from deploy_files import ROOT, unknown_settings


def k8s() -> dict[str, dict]:
    docs = {}
    for path in sorted((ROOT / "deploy/k8s").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            docs[doc["kind"]] = doc
    return docs


def test_k8s_manifests_parse_and_are_listed_in_the_kustomization() -> None:
    docs = k8s()
    for kind in ("Deployment", "Service", "HorizontalPodAutoscaler", "ConfigMap"):
        assert kind in docs
    listed = set(docs["Kustomization"]["resources"])
    files = {p.name for p in (ROOT / "deploy/k8s").glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == files


def test_k8s_deployment_probes_gpu_and_settings() -> None:
    docs = k8s()
    dep = docs["Deployment"]
    pod = dep["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    port = int(docs["ConfigMap"]["data"]["GANSERVE_PORT"])
    assert container["ports"][0]["containerPort"] == port
    named = container["ports"][0]["name"]
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": named}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": named}
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert container["resources"]["requests"]["nvidia.com/gpu"] == 1
    assert container["envFrom"][0]["configMapRef"]["name"] == docs["ConfigMap"]["metadata"]["name"]
    assert not unknown_settings(docs["ConfigMap"]["data"])  # a misspelt key would be ignored
    assert all(isinstance(v, str) for v in docs["ConfigMap"]["data"].values())
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["terminationGracePeriodSeconds"] > 30  # longer than the drain + preStop
    labels = dep["spec"]["selector"]["matchLabels"]
    assert dep["spec"]["template"]["metadata"]["labels"] == labels
    assert docs["Service"]["spec"]["selector"] == labels
    assert docs["Service"]["spec"]["ports"][0]["targetPort"] == named
    grpc = next(p for p in container["ports"] if p["name"] == "grpc")
    assert grpc["containerPort"] == int(docs["ConfigMap"]["data"]["GANSERVE_GRPC_PORT"])
    service_grpc = next(p for p in docs["Service"]["spec"]["ports"] if p["name"] == "grpc")
    assert service_grpc["targetPort"] == "grpc"
    assert service_grpc["appProtocol"] == "kubernetes.io/h2c"
    hpa = docs["HorizontalPodAutoscaler"]["spec"]
    assert hpa["scaleTargetRef"]["name"] == dep["metadata"]["name"]
    assert hpa["scaleTargetRef"]["kind"] == "Deployment"
    assert 1 <= hpa["minReplicas"] <= hpa["maxReplicas"]
