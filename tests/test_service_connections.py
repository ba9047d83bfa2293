"""Connections a real `python -m service` does not hold forever: a stalled body, an idle
keep-alive connection, and more connections than `max_connections`."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest
from live_server import LiveServer, live_server
from onnx_models import make_models_dir

BODY_TIMEOUT_S = 2.0
KEEP_ALIVE_S = 1
MAX_CONNECTIONS = 6


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    tmp = tmp_path_factory.mktemp("connections")
    with live_server(
        make_models_dir(tmp / "models"),
        tmp / "server.log",
        body_timeout_s=str(BODY_TIMEOUT_S),
        keep_alive_s=str(KEEP_ALIVE_S),
        max_connections=str(MAX_CONNECTIONS),
    ) as s:
        yield s


def _connect(server: LiveServer) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=10)


def _read_all(sock: socket.socket) -> bytes:
    """Everything until the server closes the connection (or 10 s pass)."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def _upload_head(length: int) -> bytes:
    return (
        b"POST /translate HTTP/1.1\r\nHost: t\r\n"
        b"Content-Type: multipart/form-data; boundary=xyz\r\n"
        + f"Content-Length: {length}\r\n\r\n".encode()
    )


def test_a_stalled_upload_is_answered_408_and_dropped(server: LiveServer) -> None:
    sock = _connect(server)
    part = b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="x.jpg"\r\n\r\n'
    sock.sendall(_upload_head(100_000) + part + b"\xff\xd8" * 100)  # then nothing more
    start = time.monotonic()
    answer = _read_all(sock)  # returns when the server closes the connection
    waited = time.monotonic() - start
    sock.close()
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b'"request_timeout"' in answer
    assert BODY_TIMEOUT_S * 0.9 <= waited < BODY_TIMEOUT_S + 3


def test_many_stalled_uploads_are_all_dropped_and_others_served(server: LiveServer) -> None:
    stalled = [_connect(server) for _ in range(MAX_CONNECTIONS - 2)]
    for sock in stalled:
        sock.sendall(_upload_head(50_000) + b"--xyz\r\n")
    time.sleep(BODY_TIMEOUT_S + 1)
    for sock in stalled:
        assert _read_all(sock).startswith(b"HTTP/1.1 408")
        sock.close()
    healthy = _connect(server)
    healthy.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
    assert healthy.recv(65536).startswith(b"HTTP/1.1 200")
    healthy.close()


def test_an_idle_keep_alive_connection_is_closed(server: LiveServer) -> None:
    sock = _connect(server)
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
    answer = b""
    while not answer.endswith(b'{"status":"ok"}'):
        answer += sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 200")
    start = time.monotonic()
    assert sock.recv(65536) == b""  # closed by the server, not by this test's 10 s timeout
    assert time.monotonic() - start < KEEP_ALIVE_S + 3
    sock.close()


def test_connections_beyond_the_limit_are_refused_with_503(server: LiveServer) -> None:
    """Each of MAX_CONNECTIONS + 3 connections starts a request and holds its body: at most
    MAX_CONNECTIONS are kept waiting, the others are answered 503 at once and closed (how
    many of those uvicorn counts as open depends on what the other tests left closing)."""
    held = [_connect(server) for _ in range(MAX_CONNECTIONS + 3)]
    for sock in held:
        sock.sendall(_upload_head(50_000))
    time.sleep(0.3)
    answers = []
    for sock in held:
        sock.settimeout(0.05)  # all of them well inside BODY_TIMEOUT_S
        try:
            answers.append(sock.recv(65536)[:12])
        except TimeoutError:
            answers.append(b"waiting")
        sock.close()
    assert answers.count(b"waiting") <= MAX_CONNECTIONS
    assert answers.count(b"HTTP/1.1 503") >= 3
    assert set(answers) <= {b"waiting", b"HTTP/1.1 503"}


def test_the_server_logged_no_traceback(server: LiveServer) -> None:
    assert "Traceback" not in server.output(), server.output()[-3000:]
