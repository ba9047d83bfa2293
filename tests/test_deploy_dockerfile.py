"""The Dockerfile and .dockerignore: hadolint, and the contracts the image keeps (read from the
file; tests/test_docker.py builds and runs it for real)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from deploy_files import ROOT, dockerfile_cmd, dockerfile_instructions, runtime_env, stages, tool


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
    assert exposed == [f"{env['GANSERVE_PORT']} {env['GANSERVE_GRPC_PORT']}"]  # HTTP and gRPC
    assert env["GANSERVE_GRPC_PORT"] == "8001"  # Triton's
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


def test_the_extra_ca_reaches_the_build_stage_only() -> None:
    """pip behind a TLS-inspecting proxy: the CA is a build-stage argument, never in runtime."""
    build, runtime = stages()[0], stages()[-1]
    assert ("ARG", 'EXTRA_CA_CERTS=""') in build
    (pip,) = [rest for word, rest in build if word == "RUN" and "pip install" in rest]
    assert "PIP_CERT=" in pip
    assert not any("EXTRA_CA_CERTS" in rest or "PIP_CERT" in rest for _, rest in runtime)
