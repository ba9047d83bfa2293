"""Two worker processes on one port (`workers=2`) under a real server: one metrics view,
reloads and readiness across workers, per-worker state, and SIGTERM draining them all."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import signal
import socket
import time
from collections.abc import Iterator
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


def owner(sock: socket.socket, pids: set[int], timeout: float = 10) -> int:
    """The worker that accepted this connection: the one holding the server's end of it
    (found by its inode in /proc/net/tcp, once a worker has accepted it)."""
    server_port = sock.getpeername()[1]
    client_port = sock.getsockname()[1]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
            fields = line.split()
            local, remote, inode = fields[1], fields[2], fields[9]
            ports = (int(local.split(":")[1], 16), int(remote.split(":")[1], 16))
            if ports == (server_port, client_port) and inode != "0":
                for pid in pids:
                    for fd in Path(f"/proc/{pid}/fd").iterdir():
                        with contextlib.suppress(OSError):
                            if os.readlink(fd) == f"socket:[{inode}]":
                                return pid
        time.sleep(0.02)
    raise AssertionError("no worker accepted the connection")


def connection_to(server: LiveServer, pid: int, pids: set[int]) -> http.client.HTTPConnection:
    """A kept-alive connection that worker `pid` serves (new ones until one lands there)."""
    for _ in range(200):
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        conn.connect()
        if owner(conn.sock, pids) == pid:
            return conn
        conn.close()
    raise AssertionError(f"worker {pid} accepted none of 200 connections")


def one_on_each(server: LiveServer) -> tuple[http.client.HTTPConnection, ...]:
    """A kept-alive connection to each of the two workers."""
    pids = worker_pids(server)
    return tuple(connection_to(server, pid, pids) for pid in sorted(pids))


def ask(conn: http.client.HTTPConnection, method: str, path: str, body: object = None) -> tuple:
    """Status and text of one request on `conn`, which stays open."""
    data = None if body is None else json.dumps(body).encode()
    conn.request(method, path, body=data, headers={"content-type": "application/json"})
    answer = conn.getresponse()
    return answer.status, answer.read().decode()


def generate_count(metrics: str) -> float:
    pattern = r'ganserve_requests_total\{[^}]*route="/generate"[^}]*status="200"[^}]*\} (\S+)'
    return sum(float(v) for v in re.findall(pattern, metrics))


def scraped_count(conn: http.client.HTTPConnection, expected: float) -> float:
    """The /generate count a scrape on `conn` shows, once it is `expected` (or after 2 s)."""
    deadline = time.monotonic() + 2
    while (count := generate_count(ask(conn, "GET", "/metrics")[1])) != expected:
        if time.monotonic() > deadline:
            break
        time.sleep(0.05)
    return count


def test_models_reports_each_worker_and_a_scrape_counts_the_other_workers_requests(
    two_workers: LiveServer,
) -> None:
    workers = fresh_get(two_workers, "/models").json()["workers"]
    assert len(workers) == 2 and len({w["pid"] for w in workers}) == 2
    assert all(w["ready"] and w["models"]["uncond"] == "ready" for w in workers)
    to_one, to_other = one_on_each(two_workers)
    before = generate_count(ask(to_other, "GET", "/metrics")[1])
    answers = [ask(to_one, "POST", "/generate", {"n": 1})[0] for _ in range(20)]
    assert answers == [200] * 20
    # The other worker served none of them, yet its scrape counts all 20 (the last one is
    # counted just after its answer is sent).
    assert scraped_count(to_other, before + 20) == before + 20
    assert scraped_count(to_one, before + 20) == before + 20


def test_a_reload_on_one_worker_reaches_the_other(two_workers: LiveServer) -> None:
    to_one, to_other = one_on_each(two_workers)
    assert ask(to_other, "POST", "/generate", {"model": "fresh"})[0] == 404
    make_unconditional(two_workers.log.parent / "models" / "fresh", seed=5)
    status, text = ask(to_one, "POST", "/admin/reload")
    report = json.loads(text)
    assert status == 200 and report["results"]["fresh"] == "loaded"
    assert len(report["workers"]) == 2
    assert all(w["models"].get("fresh") == "ready" for w in report["workers"])
    assert ask(to_other, "POST", "/generate", {"model": "fresh"})[0] == 200  # not reloaded there


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


def test_kept_alive_connections_are_spread_evenly_over_the_workers(
    two_workers: LiveServer,
) -> None:
    """On one shared socket the first worker to wake takes every connection of a burst, and
    kept-alive connections stay where they landed; here each worker takes its share."""
    pids = worker_pids(two_workers)
    address = ("127.0.0.1", two_workers.port)
    one_by_one = []
    for _ in range(10):
        one_by_one.append(socket.create_connection(address, timeout=30))
        owner(one_by_one[-1], pids)  # accepted before the next one comes
    burst = [socket.create_connection(address, timeout=30) for _ in range(20)]
    try:
        for socks in (one_by_one, burst):
            held = [owner(s, pids) for s in socks]
            counts = sorted(held.count(pid) for pid in pids)
            assert counts[-1] - counts[0] <= 2, f"connections per worker: {counts}"
    finally:
        for s in one_by_one + burst:
            s.close()


def test_the_start_up_says_each_thing_once_and_ready_when_it_is(tmp_path: Path) -> None:
    """A spawned worker logs in the service's format (its config comes from uvicorn, not
    `python -m service`); each model's line comes once, from the first worker; `ganserve
    ready on` once, after every worker's startup; never uvicorn's `running` before it. The
    translation's largest photo is timed in the background and kept for the next start,
    whose line says so; `access_log` gives a line per request."""
    models = make_models_dir(tmp_path / "models")
    cache = tmp_path / "cache"
    log = tmp_path / "first.log"
    with live_server(
        models, log, workers="2", cache_dir=str(cache), max_side_probe="true"
    ) as server:
        deadline = time.monotonic() + 30
        while len(list(cache.glob("cost-*.json"))) < 2:  # a2b and b2a
            assert time.monotonic() < deadline, server.output()
            time.sleep(0.1)
        output = server.output()
    model_line = (
        r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO ganserve.repository: model (\S+) ready: "
    )
    assert sorted(re.findall(model_line, output, re.MULTILINE)) == ["cond", "trans", "uncond"]
    assert output.count("ganserve ready on http://127.0.0.1:") == 1, output
    assert output.index("ganserve ready on") > output.rindex("Application startup complete.")
    assert "(3 of 3 models ready, 2 workers)" in output and "running" not in output.lower()
    assert "until one is timed in the background" in output
    with live_server(
        models, tmp_path / "again.log", workers="2", cache_dir=str(cache), access_log="true"
    ) as server:
        httpx.get(f"{server.url}/healthz")
        time.sleep(0.2)
        output = server.output()
    assert re.search(r"model trans ready: .* \(measured on this machine before, kept in ", output)
    assert output.count('"GET /healthz HTTP/1.1" 200') == 1, output


def test_sigterm_drains_every_worker(tmp_path: Path) -> None:
    """Requests half sent when SIGTERM arrives are all answered, on whichever worker, and
    new connections are refused meanwhile."""
    with serve_two(tmp_path) as server:
        drains(server)


def drains(two_workers: LiveServer) -> None:
    body = json.dumps({"n": 2}).encode()
    head = (
        f"POST /generate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    pids = worker_pids(two_workers)
    socks, owners = [], set()
    while len(socks) < 8 or owners != pids:  # half-sent requests on every worker
        s = socket.create_connection(("127.0.0.1", two_workers.port), timeout=30)
        s.sendall(head + body[:3])
        socks.append(s)
        owners.add(owner(s, pids))
        assert len(socks) < 100, f"only workers {owners} accepted connections"
    two_workers.proc.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    # Draining, nobody listens: a new connection is refused, not left in the backlog.
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", two_workers.port), timeout=5)
    answers = []
    for s in socks:
        s.sendall(body[3:])
        answers.append(s.recv(65536).split(b"\r\n", 1)[0])
        s.close()
    assert answers == [b"HTTP/1.1 200 OK"] * len(socks)
    assert two_workers.proc.wait(30) == 0
    assert not any(Path(f"/proc/{p}").exists() for p in pids)
