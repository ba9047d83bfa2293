"""Connections a real `python -m service` does not hold forever: stalled headers, a stalled
body, an idle keep-alive connection, and more connections than `max_connections`."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from unittest import mock

import pytest
from live_server import LiveServer, live_server
from onnx_models import make_models_dir
from uvicorn.config import Config
from uvicorn.server import ServerState

from service.server.http_protocol import HeaderTimeoutProtocol

BODY_TIMEOUT_S = 2.0
HEADER_TIMEOUT_S = 1.5
KEEP_ALIVE_S = 1
MAX_CONNECTIONS = 6
STALLED = 300  # connections at once in the stalled-headers test (2,000 in the benchmark)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    tmp = tmp_path_factory.mktemp("connections")
    with live_server(
        make_models_dir(tmp / "models"),
        tmp / "server.log",
        body_timeout_s=str(BODY_TIMEOUT_S),
        header_timeout_s=str(HEADER_TIMEOUT_S),
        keep_alive_s=str(KEEP_ALIVE_S),
        max_connections=str(MAX_CONNECTIONS),
        workers="1",  # max_connections is per process: one, so that the tests reach it
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


def _closed_after(sock: socket.socket) -> float:
    """Seconds until the server closes `sock`, which it must do without answering."""
    start = time.monotonic()
    assert _read_all(sock) == b""
    sock.close()
    return time.monotonic() - start


def _healthz(server: LiveServer) -> bytes:
    with _connect(server) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        return _read_all(sock)


@pytest.mark.parametrize(
    "sent",
    [b"", b"GET /heal", b"POST /translate HTTP/1.1\r\nHost: t\r\nContent-Le"],
    ids=["nothing", "half a request line", "half the headers"],
)
def test_a_connection_whose_headers_stall_is_closed(server: LiveServer, sent: bytes) -> None:
    sock = _connect(server)
    sock.sendall(sent)
    time.sleep(0.3)
    assert _healthz(server).startswith(b"HTTP/1.1 200")  # others are served meanwhile
    waited = 0.3 + _closed_after(sock)
    assert HEADER_TIMEOUT_S * 0.9 <= waited < HEADER_TIMEOUT_S + 3


def test_the_next_request_on_a_kept_alive_connection_has_the_header_timeout(
    server: LiveServer,
) -> None:
    """Its first bytes stop the keep-alive timer; the header timer takes over."""
    sock = _connect(server)
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
    answer = b""
    while not answer.endswith(b'{"status":"ok"}'):
        answer += sock.recv(65536)
    sock.sendall(b"GET /hea")
    assert _closed_after(sock) < HEADER_TIMEOUT_S + 3


def test_many_connections_stalled_in_their_headers_are_all_closed(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """Hundreds of half-sent requests, on the default `max_connections`: a normal client is
    served while they are held, and every one of them is closed after the timeout."""
    tmp = tmp_path_factory.mktemp("stalled-headers")
    with live_server(
        make_models_dir(tmp / "models"), tmp / "server.log", header_timeout_s=str(HEADER_TIMEOUT_S)
    ) as server:
        stalled = [_connect(server) for _ in range(STALLED)]
        start = time.monotonic()
        for sock in stalled:
            sock.sendall(b"POST /translate HTTP/1.1\r\nHost: t\r\n")
        assert _healthz(server).startswith(b"HTTP/1.1 200")
        for sock in stalled:
            assert _read_all(sock) == b""
            sock.close()
        assert time.monotonic() - start < HEADER_TIMEOUT_S + 5
        assert _healthz(server).startswith(b"HTTP/1.1 200")
        assert "Traceback" not in server.output()


def test_connections_stalled_in_their_headers_make_room_at_the_limit(server: LiveServer) -> None:
    """Over `max_connections`, the oldest connections without whole headers are closed at once
    for the new ones: a complete request is served, not refused 503."""
    stalled = [_connect(server) for _ in range(MAX_CONNECTIONS + 4)]
    for sock in stalled:
        sock.sendall(b"GET /heal")
    time.sleep(0.3)
    assert _healthz(server).startswith(b"HTTP/1.1 200")
    time.sleep(0.2)
    closed = []
    for sock in stalled:
        sock.settimeout(0.05)
        try:
            closed.append(sock.recv(1) == b"")
        except ConnectionResetError:  # closed before it read what this socket sent
            closed.append(True)
        except TimeoutError:
            closed.append(False)
        sock.close()
    # Each new connection left at most MAX_CONNECTIONS - 1 others open, the /healthz one too;
    # the rest wait for their own timeout.
    assert closed.count(False) == MAX_CONNECTIONS - 2, closed
    assert closed[:2] == [True, True] and not closed[-1]


class _StoppedClock(asyncio.SelectorEventLoop):
    """A loop on which every connection is accepted at the same instant, as uvloop's clock
    (whole milliseconds) makes it for connections accepted together."""

    def time(self) -> float:
        return 100.0


def test_connections_accepted_at_the_same_instant_make_room_oldest_first() -> None:
    loop = _StoppedClock()
    config = Config(app=mock.Mock(), limit_concurrency=MAX_CONNECTIONS)
    config.load()
    state = ServerState()
    opened = []
    try:
        for _ in range(MAX_CONNECTIONS + 4):
            connection = HeaderTimeoutProtocol(
                config, state, {}, _loop=loop, header_timeout_s=5.0, body_timeout_s=10.0
            )
            transport = mock.Mock()
            transport.is_closing.return_value = False
            transport.get_extra_info.return_value = None
            connection.connection_made(transport)
            opened.append(connection)
    finally:
        loop.close()
    closed = [c.transport.close.called for c in opened]
    assert closed == [True] * 5 + [False] * (MAX_CONNECTIONS - 1), closed


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
    MAX_CONNECTIONS are kept waiting, the others are answered 503 at once and closed, or closed
    unanswered when a newer connection needed their place before their headers were read (how
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
        except ConnectionResetError:  # closed unanswered before its bytes were read: TCP resets
            answers.append(b"")
        sock.close()
    assert answers.count(b"waiting") <= MAX_CONNECTIONS
    assert answers.count(b"HTTP/1.1 503") + answers.count(b"") >= 3
    assert set(answers) <= {b"waiting", b"HTTP/1.1 503", b""}


def test_the_server_logged_no_traceback(server: LiveServer) -> None:
    assert "Traceback" not in server.output(), server.output()[-3000:]


def test_stalled_uploads_make_room_at_the_limit_and_a_slow_one_is_kept(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """At `max_connections`, an upload whose body has been silent longest makes room for a
    new connection, which is served; one that keeps sending, however slowly, is kept and
    answered; the other stalled uploads wait for their own timeout."""
    tmp = tmp_path_factory.mktemp("stalled-bodies")
    with live_server(
        make_models_dir(tmp / "models"),
        tmp / "server.log",
        body_timeout_s=str(BODY_TIMEOUT_S),  # silent for a fifth of it (0.4 s): room for others
        max_connections=str(MAX_CONNECTIONS),
        workers="1",
    ) as server:
        part = b"--xyz\r\n" + b"x" * 100
        slow = _connect(server)
        slow.sendall(_upload_head(40) + b"--xyz")
        stalled = [_connect(server) for _ in range(MAX_CONNECTIONS - 2)]
        for sock in stalled:
            sock.sendall(_upload_head(50_000) + part)
            time.sleep(0.05)  # the first is the longest silent
        for _ in range(8):  # a byte every 0.1 s: slow, never silent for 0.4 s
            time.sleep(0.1)
            slow.sendall(b"-")
        assert _healthz(server).startswith(b"HTTP/1.1 200")  # the sixth connection
        closed = []
        for sock in stalled:
            sock.settimeout(0.2)
            try:
                closed.append(sock.recv(1) == b"")
            except TimeoutError:
                closed.append(False)
        assert closed == [True] + [False] * (MAX_CONNECTIONS - 3), closed
        slow.sendall(b"-" * (40 - 13))  # the rest of its body: it is answered, not dropped
        answer = _read_all(slow)
        assert answer.startswith(b"HTTP/1.1 4") and not answer.startswith(b"HTTP/1.1 408")
        for sock in (slow, *stalled):
            sock.close()
        assert "request body silent for" in server.output()
        assert "Traceback" not in server.output()
