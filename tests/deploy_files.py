"""The deployment files, read the way their tools read them: shared by the deploy tests.

The Dockerfile's instructions per stage, the compose variants as docker-compose resolves them,
and the Grafana dashboard's PromQL.
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from service.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

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


def unknown_settings(keys: object) -> set[str]:
    """The GANSERVE_* names among `keys` that name no setting: pydantic-settings ignores them,
    so a misspelt one would silently leave its default in force."""
    known = {f"GANSERVE_{name.upper()}" for name in Settings.model_fields}
    return set(keys) - known


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


def dashboard() -> dict:
    return json.loads((ROOT / "deploy/grafana/dashboards/ganserve.json").read_text())


def dashboard_exprs() -> list[str]:
    exprs = [t["expr"] for p in dashboard()["panels"] for t in p.get("targets", [])]
    exprs += [v["definition"] for v in dashboard()["templating"]["list"]]
    return exprs
