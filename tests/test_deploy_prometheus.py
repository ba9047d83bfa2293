"""Prometheus's configuration: promtool, and the jobs that scrape the compose services."""

from __future__ import annotations

import subprocess

import yaml
from deploy_files import ROOT, compose_config, tool, volumes


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
