"""The service started exactly as the image starts it, outside Docker.

The Dockerfile's CMD and runtime ENV (only host, port and models folder swapped for loopback,
a free port and the repository's `models/`, which the image bakes in), its HEALTHCHECK command,
one request, `promtool check metrics` on the real /metrics, a real Prometheus server scraping
it (success read back from Prometheus's own API), and a graceful drain of an in-flight request
on SIGTERM.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from deploy_files import dockerfile_cmd, runtime_env, stages
from live_server import clean_env, free_port, run_server, stop

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow


def image_env(port: int) -> dict[str, str]:
    env = clean_env() | runtime_env()
    env.pop("PATH", None)  # the image's PATH names /opt/venv; keep ours
    env["PATH"] = os.environ.get("PATH", "")
    env |= {
        "GANSERVE_HOST": "127.0.0.1",
        "GANSERVE_PORT": str(port),
        # The image's gRPC port (8001) is one per machine; the module's servers overlap.
        "GANSERVE_GRPC_PORT": str(free_port()),
        "GANSERVE_MODELS_DIR": str(ROOT / "models"),
        "GANSERVE_LOG_LEVEL": "warning",
    }
    return env


# The shipped models load and time their threads before /readyz: some 35 s on 2 busy cores.
READY_S = 180


def image_command() -> list[str]:
    """The Dockerfile's CMD, run by this interpreter."""
    cmd = dockerfile_cmd()
    assert cmd[0] == "python"
    return [sys.executable, *cmd[1:]]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    """The image's command serving; if it dies or never gets ready, the tests fail."""
    port = free_port()
    log = tmp_path_factory.mktemp("image") / "service.log"
    with run_server(image_command(), image_env(port), port, log, READY_S) as srv:
        yield srv.url, port


def test_dockerfile_healthcheck_command_passes(server: tuple[str, int]) -> None:
    _, port = server
    (health,) = [rest for word, rest in stages()[-1] if word == "HEALTHCHECK"]
    cmd = json.loads(health[health.index("CMD") + 3 :].strip())
    assert cmd[0] == "python"
    result = subprocess.run(
        [sys.executable, *cmd[1:]], env=image_env(port), capture_output=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    # and it fails when nothing listens there
    result = subprocess.run(
        [sys.executable, *cmd[1:]], env=image_env(free_port()), capture_output=True, timeout=30
    )
    assert result.returncode != 0


def test_serves_a_request(server: tuple[str, int]) -> None:
    url, _ = server
    r = httpx.post(f"{url}/generate", json={"n": 2, "seed": 7}, timeout=30)
    assert r.status_code == 200, r.text
    assert [img["seed"] for img in r.json()["images"]] == [7, 8]


def test_promtool_check_metrics_on_real_output(server: tuple[str, int]) -> None:
    promtool = shutil.which("promtool") or pytest.skip("promtool not installed")
    url, _ = server
    httpx.post(f"{url}/generate", json={"n": 1}, timeout=30).raise_for_status()
    text = httpx.get(f"{url}/metrics", timeout=10).text
    result = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_real_prometheus_scrapes_the_service(server: tuple[str, int], tmp_path: Path) -> None:
    prometheus = shutil.which("prometheus") or pytest.skip("prometheus not installed")
    url, port = server
    httpx.post(f"{url}/generate", json={"n": 3}, timeout=30).raise_for_status()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s}\n"
        "scrape_configs:\n"
        "  - job_name: ganserve\n"
        "    metrics_path: /metrics\n"
        f"    static_configs: [{{targets: ['127.0.0.1:{port}']}}]\n"
    )
    web = free_port()
    log = tmp_path / "prometheus.log"
    with log.open("wb") as out:  # a file, not a pipe: prometheus logs a lot to stderr
        proc = subprocess.Popen(
            [
                prometheus,
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp_path / 'data'}",
                f"--web.listen-address=127.0.0.1:{web}",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    api = f"http://127.0.0.1:{web}/api/v1"
    try:
        deadline = time.monotonic() + 60
        target, images = None, []
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                targets = httpx.get(f"{api}/targets", timeout=2).json()["data"]["activeTargets"]
                target = targets[0] if targets else None
                query = {"query": 'ganserve_images_total{job="ganserve"}'}
                images = httpx.get(f"{api}/query", params=query, timeout=2).json()["data"]
                images = images["result"]
            except (httpx.TransportError, KeyError, ValueError):
                pass
            if target and target["health"] == "up" and images:
                break
            time.sleep(0.5)
        if proc.poll() is not None:
            pytest.fail(f"prometheus exited: {log.read_text(errors='replace')[-2000:]}")
        assert target is not None and target["health"] == "up", target
        assert target["scrapeUrl"] == f"http://127.0.0.1:{port}/metrics"
        assert sum(float(s["value"][1]) for s in images) >= 3
        up = httpx.get(f"{api}/query", params={"query": "up"}, timeout=2).json()
        assert up["data"]["result"][0]["value"][1] == "1"
        ready = httpx.get(
            f"{api}/query", params={"query": "sum(ganserve_model_ready)"}, timeout=2
        ).json()
        assert float(ready["data"]["result"][0]["value"][1]) >= 1
    finally:
        stop(proc)


def test_sigterm_drains_an_in_flight_request(tmp_path: Path) -> None:
    """SIGTERM (what `docker stop` and Kubernetes send to PID 1) stops accepting new
    connections but lets a request already being received finish."""
    port = free_port()
    log = tmp_path / "service.log"
    with run_server(image_command(), image_env(port), port, log, READY_S) as srv:
        proc = srv.proc
        body = json.dumps({"n": 2, "seed": 1}).encode()
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            head = (
                f"POST /generate HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n"
            ).encode()
            sock.sendall(head + body[:5])
            time.sleep(0.5)
            proc.send_signal(signal.SIGTERM)
            time.sleep(1.5)
            assert proc.poll() is None, "exited with a request in flight"
            with pytest.raises(OSError):
                socket.create_connection(("127.0.0.1", port), timeout=2).close()
            sock.sendall(body[5:])
            response = b""
            while b"\r\n\r\n" not in response or len(response) < 200:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                response += chunk
        assert response.startswith(b"HTTP/1.1 200"), response[:300]
        # uvicorn re-raises the signal it caught once it has shut down cleanly
        assert proc.wait(20) in (0, -signal.SIGTERM)
