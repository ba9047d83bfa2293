"""Two worker processes on one port (`workers=2`) under a real server: one metrics view,
reloads and readiness across workers, per-worker state, and SIGTERM draining them all."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from live_server import LiveServer, live_server
from onnx_models import make_models_dir, make_unconditional

pytestmark = pytest.mark.slow


@contextmanager
def serve_two(root: Path) -> Iterator[LiveServer]:
    models = make_models_dir(root / "models")
    with live_server(models, root / "server.log", workers="2", log_level="warning") as s:
        yield s


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """Shared by the tests that leave both workers serving."""
    with serve_two(tmp_path_factory.mktemp("workers")) as server:
        yield server


def fresh_get(server: LiveServer, path: str) -> httpx.Response:
    """On a new connection each time, so that any worker may answer."""
    return httpx.get(server.url + path, timeout=30, headers={"connection": "close"})


def worker_pids(server: LiveServer) -> set[int]:
    return {w["pid"] for w in fresh_get(server, "/models").json()["workers"]}


def generate_count(metrics: str) -> float:
    pattern = r'ganserve_requests_total\{[^}]*route="/generate"[^}]*status="200"[^}]*\} (\S+)'
    return sum(float(v) for v in re.findall(pattern, metrics))


def test_models_reports_each_worker_and_every_scrape_counts_all_requests(
    two_workers: LiveServer,
) -> None:
    workers = fresh_get(two_workers, "/models").json()["workers"]
    assert len(workers) == 2 and len({w["pid"] for w in workers}) == 2
    assert all(w["ready"] and w["models"]["uncond"] == "ready" for w in workers)
    before = generate_count(fresh_get(two_workers, "/metrics").text)

    def generate(_: int) -> int:
        with httpx.Client(base_url=two_workers.url, timeout=30) as c:
            return [c.post("/generate", json={"n": 1}).status_code for _ in range(5)].count(200)

    with ThreadPoolExecutor(8) as pool:
        answered = sum(pool.map(generate, range(8)))
    assert answered == 40
    # Each scrape may land on either worker; every one sees both workers' requests.
    counts = {generate_count(fresh_get(two_workers, "/metrics").text) for _ in range(8)}
    assert counts == {before + 40}


def test_a_reload_on_one_worker_reaches_the_other(two_workers: LiveServer) -> None:
    make_unconditional(two_workers.log.parent / "models" / "fresh", seed=5)
    report = httpx.post(two_workers.url + "/admin/reload", timeout=60).json()
    assert report["results"]["fresh"] == "loaded"
    assert len(report["workers"]) == 2
    assert all(w["models"].get("fresh") == "ready" for w in report["workers"])
    for _ in range(8):  # any worker serves it now
        answer = httpx.post(
            two_workers.url + "/generate",
            json={"model": "fresh"},
            headers={"connection": "close"},
            timeout=30,
        )
        assert answer.status_code == 200


def test_readyz_fails_while_a_worker_is_down_and_recovers(two_workers: LiveServer) -> None:
    before = worker_pids(two_workers)
    os.kill(min(before), signal.SIGKILL)  # the supervisor starts a new worker
    seen_503 = False
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        answer = fresh_get(two_workers, "/readyz")
        if answer.status_code == 503:
            seen_503 = True
            assert "worker" in answer.json()["error"]["message"]
        elif seen_503:
            break
        time.sleep(0.05)
    assert seen_503, "/readyz never failed while a worker was down"
    assert fresh_get(two_workers, "/readyz").status_code == 200
    after = worker_pids(two_workers)
    assert len(after) == 2 and min(before) not in after


def test_readyz_fails_when_another_worker_says_it_is_not_ready(
    two_workers: LiveServer,
) -> None:
    pid = next(iter(worker_pids(two_workers)))
    environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    folder = next(e.split(b"=", 1)[1] for e in environ if e.startswith(b"GANSERVE_WORKERS_DIR="))
    stuck = Path(folder.decode()) / f"{os.getpid()}.json"  # a live pid: this test's own
    stuck.write_text(
        json.dumps(
            {"pid": os.getpid(), "ready": False, "reason": "models are still loading"}
            | {"reload": 0, "models": {}}
        )
    )
    try:
        answers = [fresh_get(two_workers, "/readyz") for _ in range(4)]
        assert {a.status_code for a in answers} == {503}
        assert f"worker {os.getpid()}" in answers[0].json()["error"]["message"]
    finally:
        stuck.unlink()
    assert fresh_get(two_workers, "/readyz").status_code == 200


def test_sigterm_drains_every_worker(tmp_path: Path) -> None:
    """Requests half sent when SIGTERM arrives are all answered, on whichever worker."""
    with serve_two(tmp_path) as server:
        drains(server)


def drains(two_workers: LiveServer) -> None:
    body = json.dumps({"n": 2}).encode()
    head = (
        f"POST /generate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    socks = []
    for _ in range(8):
        s = socket.create_connection(("127.0.0.1", two_workers.port), timeout=30)
        s.sendall(head + body[:3])
        socks.append(s)
    time.sleep(0.5)  # every worker has accepted its connections
    pids = worker_pids(two_workers)
    two_workers.proc.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    answers = []
    for s in socks:
        s.sendall(body[3:])
        answers.append(s.recv(65536).split(b"\r\n", 1)[0])
        s.close()
    assert answers == [b"HTTP/1.1 200 OK"] * 8
    assert two_workers.proc.wait(30) == 0
    assert not any(Path(f"/proc/{p}").exists() for p in pids)
