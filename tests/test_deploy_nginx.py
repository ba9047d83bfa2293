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


def test_grpc_goes_through_nginx_on_an_http2_port() -> None:
    """grpc_pass to every replica's gRPC port, from a cleartext HTTP/2 port nginx publishes."""
    services = compose_config("gpu", "--profile", "scale")["services"]
    conf = (ROOT / "deploy/nginx/nginx.conf").read_text()
    grpc_port = runtime_env()["GANSERVE_GRPC_PORT"]
    server = re.search(r"server \{\s*listen (\d+);\s*http2 on;[^}]*grpc_pass grpc://(\w+);", conf)
    assert server, "no server block with http2 on and grpc_pass"
    assert server.group(2) == "ganserve_grpc"
    assert re.search(rf"upstream {server.group(2)} \{{[^}}]*ganserve-replica:{grpc_port} ", conf)
    assert any(p["target"] == int(server.group(1)) for p in services["lb"]["ports"])
