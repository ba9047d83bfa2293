"""The compose stack up for real with docker-compose: the service, Prometheus, and the `scale`
profile's 3 replicas behind nginx, HTTP and gRPC (Grafana cannot run here: its dashboard's
queries run against the live Prometheus instead).

The shipped compose files run as users run them (`docker-compose.yml` + the CPU file); a
test-only override, written here, only swaps in the Debian stand-ins where Docker Hub cannot
be pulled and gives the build the host network and this machine's extra CA certificates.
Published ports bind 127.0.0.1; `down -v` removes the containers, network and volumes.
"""

from __future__ import annotations

import math
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import numpy as np
import pytest
import tritonclient.grpc as triton
import yaml
from deploy_files import ROOT, dashboard_exprs, tool
from docker_support import (
    BUILD_ENV,
    Image,
    Load,
    docker,
    free_port,
    image_for,
    make_mountable,
    report,
    wait_for,
)
from onnx_models import make_models_dir
from prometheus_client.parser import text_string_to_metric_families

pytestmark = [pytest.mark.docker, pytest.mark.slow]

REPLICAS = 3
SERVICES = ("ganserve", "prometheus", "lb")  # and, through lb's depends_on, the replicas
GOOD = {"n": 4, "label": 2}
BAD = {"n": 4, "label": 99}  # 422: feeds the dashboard's error-rate panel


@dataclass(frozen=True)
class Stack:
    command: list[str]
    env: dict[str, str]
    ganserve: str
    prometheus: str
    lb: str
    ganserve_grpc: str  # host:port
    lb_grpc: str

    def compose(self, *args: str, timeout: float = 300) -> str:
        result = subprocess.run(
            [*self.command, *args], env=self.env, capture_output=True, text=True, timeout=timeout
        )
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        return result.stdout

    def replicas(self) -> list[str]:
        return self.compose("ps", "-q", "ganserve-replica").split()

    def query(self, expr: str) -> list[dict]:
        r = httpx.get(f"{self.prometheus}/api/v1/query", params={"query": expr}, timeout=10)
        assert r.status_code == 200, r.text
        return r.json()["data"]["result"]


def override(image: Image, prometheus: str, nginx: str) -> dict:
    build = {
        "network": "host",
        "args": {"PYTHON_IMAGE": image.base, "EXTRA_CA_CERTS": image.extra_ca},
    }
    return {
        "version": "3.8",
        "services": {
            "ganserve": {"build": build},
            "ganserve-replica": {"build": build},
            "prometheus": {"image": prometheus},
            "lb": {"image": nginx},
        },
    }


@pytest.fixture(scope="module")
def stack(
    ganserve_image: Image, tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config
) -> Iterator[Stack]:
    compose = tool("docker-compose")
    prometheus, nginx = image_for("prom/prometheus:v3.5.0"), image_for("nginx:1.27-alpine")
    test_file = tmp_path_factory.mktemp("compose") / "test-override.yml"
    test_file.write_text(yaml.safe_dump(override(ganserve_image, prometheus, nginx)))
    ports = {name: free_port() for name in ("ganserve", "prometheus", "lb", "grpc", "lb_grpc")}
    # Tiny models through the compose file's own GANSERVE_MODELS_PATH: 4 containers warming
    # the shipped models at once outlast the health checks on a busy 2-core machine.
    models = make_mountable(make_models_dir(tmp_path_factory.mktemp("models") / "models"))
    env = {
        **BUILD_ENV,
        "GANSERVE_MODELS_PATH": str(models),
        "GANSERVE_IMAGE_CPU": "ganserve-test:compose",
        "GANSERVE_PUBLISH_PORT": f"127.0.0.1:{ports['ganserve']}",
        "PROMETHEUS_PORT": f"127.0.0.1:{ports['prometheus']}",
        "GANSERVE_LB_PORT": f"127.0.0.1:{ports['lb']}",
        "GANSERVE_PUBLISH_GRPC_PORT": f"127.0.0.1:{ports['grpc']}",
        "GANSERVE_LB_GRPC_PORT": f"127.0.0.1:{ports['lb_grpc']}",
    }
    files = ["-f", "docker-compose.yml", "-f", "docker-compose.cpu.yml", "-f", str(test_file)]
    command = [compose, "--project-directory", str(ROOT), "-p", f"ganserve-test-{ports['lb']}"]
    stack = Stack(
        [*command, *files, "--profile", "scale"],
        env,
        *(f"http://127.0.0.1:{ports[name]}" for name in ("ganserve", "prometheus", "lb")),
        *(f"127.0.0.1:{ports[name]}" for name in ("grpc", "lb_grpc")),
    )
    try:
        start = time.monotonic()
        stack.compose("build", "ganserve", timeout=1200)
        built = time.monotonic() - start
        stack.compose("up", "-d", "--scale", f"ganserve-replica={REPLICAS}", *SERVICES)
        wait_for(
            "Prometheus ready",
            lambda: httpx.get(f"{stack.prometheus}/-/ready", timeout=5).status_code == 200,
            timeout=60,
        )
        report(
            pytestconfig,
            f"compose build {built:.0f} s; up (service, Prometheus, {REPLICAS} replicas, "
            f"nginx; health-gated) {time.monotonic() - start - built:.0f} s",
        )
        yield stack
    finally:
        stack.compose("down", "-v", "--remove-orphans", "-t", "30", timeout=600)


def targets_up(stack: Stack, job: str) -> int:
    r = httpx.get(f"{stack.prometheus}/api/v1/targets", params={"state": "active"}, timeout=10)
    active = r.json()["data"]["activeTargets"]
    return sum(t["labels"]["job"] == job and t["health"] == "up" for t in active)


def requests_seen(stack: Stack) -> float:
    result = stack.query('sum(ganserve_requests_total{job="ganserve"})')
    return float(result[0]["value"][1]) if result else 0.0


@pytest.fixture(scope="module")
def loaded(stack: Stack) -> Stack:
    """Good and bad requests on the service, for longer than two scrape intervals."""
    wait_for("the ganserve target up", lambda: targets_up(stack, "ganserve") == 1, timeout=60)
    before = requests_seen(stack)
    with (
        Load(f"{stack.ganserve}/generate", GOOD, clients=2) as good,
        Load(f"{stack.ganserve}/generate", BAD, clients=1) as bad,
    ):
        time.sleep(12)
    assert set(good.tally.statuses) == {200} and set(bad.tally.statuses) == {422}
    sent = good.tally.answered + bad.tally.answered
    wait_for(
        "ganserve_requests_total to rise by what was sent",
        lambda: requests_seen(stack) >= before + sent,
        timeout=30,
        every=1,
    )
    return stack


def test_prometheus_scrapes_the_service_and_every_replica(loaded: Stack) -> None:
    assert targets_up(loaded, "ganserve") == 1
    wait_for(
        f"{REPLICAS} replica targets up",
        lambda: targets_up(loaded, "ganserve-replicas") == REPLICAS,
        timeout=30,
    )


def series_with_values(stack: Stack, expr: str) -> list[dict]:
    result = stack.query(expr.replace("$instance", ".*"))  # the variable's "All" value
    return [s for s in result if math.isfinite(float(s["value"][1]))]


@pytest.mark.parametrize("expr", dashboard_exprs())
def test_every_dashboard_query_returns_a_series(loaded: Stack, expr: str) -> None:
    if expr.startswith("label_values("):  # a Grafana variable: label values of a series
        metric, label = expr.removeprefix("label_values(").rstrip(")").split(", ")
        r = httpx.get(
            f"{loaded.prometheus}/api/v1/label/{label}/values",
            params={"match[]": metric},
            timeout=10,
        )
        assert r.json()["data"], expr
        return
    wait_for(expr, lambda: bool(series_with_values(loaded, expr)), timeout=20, every=1)


def replica_requests(stack: Stack, route: str = "/generate") -> dict[str, float]:
    """Each replica's own count of `route`'s requests, read from its /metrics."""
    read = "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:8000/metrics').read().decode())"
    counts = {}
    for cid in stack.replicas():
        text = docker("exec", cid, "python", "-c", read)
        counts[cid] = sum(
            sample.value
            for family in text_string_to_metric_families(text)
            if family.name == "ganserve_requests"
            for sample in family.samples
            if sample.name == "ganserve_requests_total" and sample.labels["route"] == route
        )
    return counts


def test_nginx_spreads_requests_over_every_replica(
    stack: Stack, pytestconfig: pytest.Config
) -> None:
    before = replica_requests(stack)
    assert len(before) == REPLICAS
    with Load(f"{stack.lb}/generate", GOOD, clients=4) as load:
        wait_for("90 answers", lambda: load.tally.answered >= 90, timeout=60)
    assert set(load.tally.statuses) == {200} and not load.tally.dropped
    after = replica_requests(stack)
    shares = {cid[:12]: after[cid] - before[cid] for cid in after}
    report(pytestconfig, f"nginx: {load.tally.answered} requests over replicas {shares}")
    assert sum(shares.values()) == load.tally.answered
    assert min(shares.values()) >= load.tally.answered / (REPLICAS * 3)  # none starved


def test_grpc_infers_directly_and_through_nginx_over_every_replica(
    stack: Stack, pytestconfig: pytest.Config
) -> None:
    """tritonclient.grpc on the service's published gRPC port and on nginx's HTTP/2 port,
    where the calls of one connection spread over the replicas (grpc_pass per call)."""
    seed = triton.InferInput("seed", [4], "INT64")
    seed.set_data_from_numpy(np.arange(4, dtype=np.int64))
    for url in (stack.ganserve_grpc, stack.lb_grpc):
        client = triton.InferenceServerClient(url)
        assert client.is_server_ready()
        assert client.infer("uncond", [seed]).as_numpy("pixels").shape == (4, 8, 8, 1)
    before = replica_requests(stack, "grpc:ModelInfer")
    calls = 60
    for _ in range(calls):
        client.infer("uncond", [seed])
    after = replica_requests(stack, "grpc:ModelInfer")
    shares = {cid[:12]: after[cid] - before.get(cid, 0) for cid in after}
    report(pytestconfig, f"nginx gRPC: {calls} calls on one connection over replicas {shares}")
    assert sum(shares.values()) == calls and len(shares) == REPLICAS
    assert min(shares.values()) > 0


def test_one_replica_stopped_under_load(stack: Stack, pytestconfig: pytest.Config) -> None:
    """Last: it leaves the stack one replica short."""
    victim = stack.replicas()[0]
    with Load(f"{stack.lb}/generate", GOOD, clients=4) as load:
        time.sleep(3)
        start = time.monotonic()
        docker("stop", "-t", "30", victim, timeout=60)
        stop_s = time.monotonic() - start
        at_stop = load.tally.answered
        time.sleep(12)  # past nginx's 10 s re-resolve
    tally = load.tally
    report(
        pytestconfig,
        f"one of {REPLICAS} replicas stopped under load (docker stop {stop_s:.1f} s): "
        f"{tally.answered} answered ({tally.answered - at_stop} after), statuses "
        f"{dict(tally.statuses)}, {len(tally.dropped)} dropped, {tally.refused} refused, "
        f"slowest {tally.slowest_s:.2f} s",
    )
    # What clients see, measured in three runs: nginx answers every request; at most one 502
    # (a request caught on the stopping replica), and no wait past the 2 s connect timeout.
    assert tally.refused == 0 and tally.dropped == []
    assert set(tally.statuses) <= {200, 502} and tally.statuses[502] <= 2
    assert tally.slowest_s < 5
    assert tally.answered - at_stop > 0
