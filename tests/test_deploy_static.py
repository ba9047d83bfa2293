"""Deployment files: Dockerfile, compose variants, Prometheus, Grafana, nginx and Kubernetes.

Real tools where they run here (hadolint, docker-compose 1.29 `config`, promtool); parsed
contracts between the files everywhere else. No Docker engine is needed.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

# The metrics the service exports (docs/architecture.md, "Metrics"), name -> type.
METRICS = {
    "ganserve_requests_total": "counter",
    "ganserve_request_seconds": "histogram",
    "ganserve_queue_wait_seconds": "histogram",
    "ganserve_inference_seconds": "histogram",
    "ganserve_batch_size": "histogram",
    "ganserve_queue_depth": "gauge",
    "ganserve_images_total": "counter",
    "ganserve_model_info": "gauge",
    "ganserve_model_ready": "gauge",
}

COMPOSE_VARIANTS = {
    # what `docker compose up` reads: docker-compose.yml + docker-compose.override.yml
    "gpu": [],
    "cpu": ["-f", "docker-compose.yml", "-f", "docker-compose.cpu.yml"],
}


def tool(name: str) -> str:
    path = shutil.which(name) or (str(BIN / name) if (BIN / name).exists() else None)
    if path is None:
        pytest.skip(f"{name} not installed (scripts/install-system-test-deps.sh installs it)")
    return path


# --- Dockerfile -------------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    out: list[tuple[str, str]] = []
    text = (ROOT / "Dockerfile").read_text()
    logical = ""
    for line in text.splitlines():
        if line.lstrip().startswith("#") and not logical:
            continue
        if line.rstrip().endswith("\\"):
            logical += line.rstrip()[:-1] + " "
            continue
        logical += line
        if logical.strip():
            word, _, rest = logical.strip().partition(" ")
            out.append((word.upper(), rest.strip()))
        logical = ""
    return out


def stages() -> list[list[tuple[str, str]]]:
    result: list[list[tuple[str, str]]] = []
    for ins in dockerfile_instructions():
        if ins[0] == "FROM":
            result.append([])
        if result:
            result[-1].append(ins)
    return result


def runtime_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for word, rest in stages()[-1]:
        if word == "ENV":
            for item in shlex.split(rest):
                key, _, value = item.partition("=")
                env[key] = value
    return env


def dockerfile_cmd() -> list[str]:
    cmds = [json.loads(rest) for word, rest in stages()[-1] if word == "CMD"]
    assert len(cmds) == 1
    return cmds[0]


def test_hadolint_passes() -> None:
    result = subprocess.run(
        [tool("hadolint"), "--no-color", "Dockerfile"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_is_multi_stage_on_slim_python_without_torch_or_training() -> None:
    all_stages = stages()
    assert len(all_stages) >= 2
    text = (ROOT / "Dockerfile").read_text()
    assert "ARG PYTHON_IMAGE=python:3.11-slim" in text
    runtime = all_stages[-1]
    copies = [rest for word, rest in runtime if word == "COPY"]
    assert any("--from=build /opt/venv" in c for c in copies)
    sources = " ".join(copies)
    assert "training" not in sources and "tests" not in sources
    assert "torch" not in text.replace("no torch", "").replace("No torch", "")
    # Only [project].dependencies are installed (torch lives in the `train` extra).
    assert "['project']['dependencies']" in text


@pytest.mark.parametrize(
    ("cuda_libs", "ort"), [("1", "onnxruntime-gpu[cuda,cudnn]"), ("0", "onnxruntime-gpu")]
)
def test_the_build_stage_requirements(cuda_libs: str, ort: str, tmp_path: Path) -> None:
    """Run the build stage's requirements one-liner on our pyproject.toml."""
    (run,) = [r for w, r in stages()[0] if w == "RUN" and "requirements.txt" in r]
    code = re.search(r'python -c "(.*?)" "\$CUDA_LIBS"', run).group(1)
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    out = subprocess.run(
        [sys.executable, "-c", code, cuda_libs], cwd=tmp_path, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.split()
    import tomllib

    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert len(lines) == len(deps)
    assert f"{ort}>=1.31,<1.32" in lines  # 1.31: CUDA 13 + cuDNN 9
    assert not any("torch" in line for line in lines)
    assert {d for d in deps if not d.startswith("onnxruntime")} <= set(lines)


def test_runtime_runs_as_non_root_exec_form_with_healthcheck() -> None:
    runtime = stages()[-1]
    users = [rest for word, rest in runtime if word == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    cmd = dockerfile_cmd()
    assert cmd[:3] == ["python", "-m", "service"]  # exec form: python is PID 1 and gets SIGTERM
    assert not any(word == "ENTRYPOINT" for word, _ in runtime)
    health = [rest for word, rest in runtime if word == "HEALTHCHECK"]
    assert len(health) == 1 and "/healthz" in health[0] and "curl" not in health[0]
    env = runtime_env()
    exposed = [rest for word, rest in runtime if word == "EXPOSE"]
    assert exposed == [env["GANSERVE_PORT"]]
    assert env["GANSERVE_HOST"] == "0.0.0.0"
    assert env["GANSERVE_MODELS_DIR"] == "/app/models"
    assert any(word == "COPY" and "models/ /app/models/" in rest for word, rest in runtime)


def test_dockerignore_keeps_data_checkpoints_and_envs_out() -> None:
    lines = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "**"  # deny everything, then allow what the image copies
    allowed = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    assert allowed == {"pyproject.toml", "service", "models"}
    for pattern in ("**/*.pt", "**/*.ckpt", "**/__pycache__"):
        assert pattern in lines
    # What the Dockerfile copies from the context is exactly what is let in.
    copied = set()
    for word, rest in dockerfile_instructions():
        if word == "COPY" and "--from=" not in rest:
            parts = [p for p in rest.split() if not p.startswith("--")]
            copied.update(p.rstrip("/") for p in parts[:-1])
    assert copied == allowed


# --- compose --------------------------------------------------------------------------


def compose_config(variant: str, *extra: str) -> dict:
    result = subprocess.run(
        [tool("docker-compose"), *COMPOSE_VARIANTS[variant], *extra, "config"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def volumes(service: dict) -> dict[str, tuple[str, bool]]:
    """target -> (source, read_only), from the long or the short (1.29) syntax."""
    out = {}
    for v in service.get("volumes", []):
        if isinstance(v, str):
            source, target, *mode = v.split(":")
            out[target] = (source, "ro" in mode)
        else:
            out[v["target"]] = (v.get("source", ""), bool(v.get("read_only")))
    return out


def gpu_devices(service: dict) -> list:
    return service.get("deploy", {}).get("resources", {}).get("reservations", {}).get("devices", [])


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
    assert env["GANSERVE_MODELS_DIR"] == "/app/models"
    assert volumes(svc)["/app/models"] == (str(ROOT / "models"), True)
    check = " ".join(svc["healthcheck"]["test"])
    assert f"127.0.0.1:{port}/readyz" in check and "curl" not in check
    # uvicorn's graceful drain needs the grace period to be longer than its own timeout
    assert svc["stop_signal"] == "SIGTERM"
    assert svc["stop_grace_period"] in ("30s",)
    # every ganserve setting is settable from the environment
    assert all(key.startswith("GANSERVE_") for key in env)
    # health-gated start order
    assert services["prometheus"]["depends_on"]["ganserve"]["condition"] == "service_healthy"
    assert services["grafana"]["depends_on"]["prometheus"]["condition"] == "service_healthy"


def test_scale_profile_puts_replicas_behind_nginx() -> None:
    services = compose_config("gpu", "--profile", "scale")["services"]
    assert "ports" not in services["ganserve-replica"]  # reached through the balancer only
    lb = services["lb"]
    assert lb["depends_on"]["ganserve-replica"]["condition"] == "service_healthy"
    conf = (ROOT / "deploy/nginx/nginx.conf").read_text()
    port = runtime_env()["GANSERVE_PORT"]
    assert re.search(rf"server ganserve-replica:{port} resolve", conf)
    listen = re.search(r"listen (\d+);", conf).group(1)
    assert any(p["target"] == int(listen) for p in lb["ports"])
    assert volumes(lb)["/etc/nginx/nginx.conf"] == (str(ROOT / "deploy/nginx/nginx.conf"), True)


# --- Prometheus -----------------------------------------------------------------------


def test_promtool_check_config() -> None:
    result = subprocess.run(
        [tool("promtool"), "check", "config", "deploy/prometheus/prometheus.yml"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_prometheus_scrapes_the_compose_service() -> None:
    conf = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    services = compose_config("gpu", "--profile", "scale")["services"]
    port = services["ganserve"]["environment"]["GANSERVE_PORT"]
    jobs = {job["job_name"]: job for job in conf["scrape_configs"]}
    assert jobs["ganserve"]["metrics_path"] == "/metrics"
    assert jobs["ganserve"]["static_configs"][0]["targets"] == [f"ganserve:{port}"]
    dns = jobs["ganserve-replicas"]["dns_sd_configs"][0]
    assert dns["names"] == ["ganserve-replica"] and dns["port"] == int(port)
    mounts = volumes(services["prometheus"])
    assert mounts["/etc/prometheus/prometheus.yml"][0] == str(
        ROOT / "deploy/prometheus/prometheus.yml"
    )


# --- Grafana --------------------------------------------------------------------------


def dashboard() -> dict:
    return json.loads((ROOT / "deploy/grafana/dashboards/ganserve.json").read_text())


def dashboard_exprs() -> list[str]:
    exprs = [t["expr"] for p in dashboard()["panels"] for t in p.get("targets", [])]
    exprs += [v["definition"] for v in dashboard()["templating"]["list"]]
    return exprs


def test_dashboard_uses_only_exported_metrics() -> None:
    used = set()
    for expr in dashboard_exprs():
        for name in re.findall(r"\bganserve_[a-z_]+", expr):
            base = re.sub(r"_(bucket|sum|count)$", "", name)
            if base != name:
                assert METRICS.get(base) == "histogram", f"{name} in {expr!r}"
            else:
                assert name in METRICS, f"{name} in {expr!r}"
                assert METRICS[name] != "histogram", f"{name} needs _bucket/_sum/_count"
            if "histogram_quantile" in expr and name.endswith("_bucket"):
                assert "le" in expr
            used.add(base)
    assert used == set(METRICS)  # and every metric has a panel


def test_dashboard_has_the_panels_the_issue_asks_for() -> None:
    text = " ".join(dashboard_exprs())
    assert "rate(ganserve_requests_total" in text
    assert (
        "histogram_quantile(0.95, sum by (le, route) (rate(ganserve_request_seconds_bucket" in text
    )
    assert "ganserve_batch_size" in text and "ganserve_queue_depth" in text
    assert "rate(ganserve_images_total" in text
    assert "provider" in text and "ganserve_model_info" in text
    ids = [p["id"] for p in dashboard()["panels"]]
    assert len(ids) == len(set(ids))


def test_grafana_provisioning_points_at_prometheus_and_the_dashboard() -> None:
    prov = ROOT / "deploy/grafana/provisioning"
    ds = yaml.safe_load((prov / "datasources/prometheus.yml").read_text())["datasources"][0]
    assert ds["type"] == "prometheus" and ds["url"] == "http://prometheus:9090"
    uids = {t["datasource"]["uid"] for p in dashboard()["panels"] for t in p["targets"]}
    assert uids == {ds["uid"]}
    provider = yaml.safe_load((prov / "dashboards/ganserve.yml").read_text())["providers"][0]
    grafana = compose_config("gpu")["services"]["grafana"]
    mounts = volumes(grafana)
    path = provider["options"]["path"]
    assert Path(mounts[path][0]) == ROOT / "deploy/grafana/dashboards"
    assert Path(mounts["/etc/grafana/provisioning"][0]) == prov


# --- Kubernetes -----------------------------------------------------------------------


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
    assert all(key.startswith("GANSERVE_") for key in docs["ConfigMap"]["data"])
    assert all(isinstance(v, str) for v in docs["ConfigMap"]["data"].values())
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["terminationGracePeriodSeconds"] > 30  # longer than the drain + preStop
    labels = dep["spec"]["selector"]["matchLabels"]
    assert dep["spec"]["template"]["metadata"]["labels"] == labels
    assert docs["Service"]["spec"]["selector"] == labels
    assert docs["Service"]["spec"]["ports"][0]["targetPort"] == named
    hpa = docs["HorizontalPodAutoscaler"]["spec"]
    assert hpa["scaleTargetRef"]["name"] == dep["metadata"]["name"]
    assert hpa["scaleTargetRef"]["kind"] == "Deployment"
    assert 1 <= hpa["minReplicas"] <= hpa["maxReplicas"]
