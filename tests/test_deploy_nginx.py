"""nginx in front of the `scale` profile's replicas."""

from __future__ import annotations

import re

from deploy_files import ROOT, compose_config, runtime_env, volumes


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
