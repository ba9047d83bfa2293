"""The Grafana dashboard and its provisioning: every panel reads exported metrics, and the
provisioning files point at the compose Prometheus and the dashboard folder."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from deploy_files import ROOT, compose_config, dashboard, dashboard_exprs, volumes

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


def test_dashboard_has_the_operational_panels() -> None:
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
