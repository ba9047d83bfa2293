"""The connection balance between workers (service/server/balance.py), in one process: another
worker is a slot in the shared tally that a live process holds."""

from __future__ import annotations

import asyncio
import socket
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from service.server import balance, workers


class Echo(asyncio.Protocol):
    """Counted in `connections`, as uvicorn's protocols count themselves."""

    connections: ClassVar[set[Echo]] = set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.connections.discard(self)

    def data_received(self, data: bytes) -> None:
        self.transport.write(data)


@pytest.fixture
def other_worker() -> Iterator[int]:
    """A live process to stand for another worker."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield proc.pid
    proc.kill()
    proc.wait()


def held_by(root: Path, pid: int, count: int) -> None:
    """Slot 0 of the tally is `pid`'s, with `count` open connections."""
    slots = struct.pack("qq", pid, count) + bytes((balance.SLOTS - 1) * 16)
    (root / "connections").write_bytes(slots)


async def echoes(port: int, clients: int) -> list[bytes]:
    """Each client connects, sends its number and reads it back, holding its connection."""
    streams = []
    for i in range(clients):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"%d" % i)
        streams.append((reader, writer))
        await asyncio.sleep(0.005)  # accepted before the next one comes
    answers = [await asyncio.wait_for(reader.read(16), 5) for reader, _ in streams]
    for _, writer in streams:
        writer.close()
    return answers


def serve_and_ask(root: Path, clients: int, monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    monkeypatch.setenv(workers.ENV, str(root))
    loop = balance.BalancedLoop()
    sock = socket.create_server(("127.0.0.1", 0))
    try:
        server = loop.run_until_complete(loop.create_server(Echo, sock=sock, backlog=16))
        assert isinstance(server, balance.BalancedServer)
        answers = loop.run_until_complete(echoes(sock.getsockname()[1], clients))
        server.close()
        return answers
    finally:
        loop.close()


def test_a_connection_no_less_loaded_worker_takes_is_accepted_anyway(
    tmp_path: Path, other_worker: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The other worker holds fewer connections but never accepts (starting, stuck): each
    connection after the first waits at most MAX_DEFER_S, then this worker takes it."""
    held_by(tmp_path, other_worker, 0)
    assert serve_and_ask(tmp_path, 3, monkeypatch) == [b"0", b"1", b"2"]


def test_a_dead_workers_slot_is_reused_and_not_stood_back_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    held_by(tmp_path, dead.pid, 0)
    tally = balance.Tally(tmp_path)
    assert tally.slot == 0
    assert tally.least_of_others() is None  # alone: nobody to stand back for
    tally.release()
    assert serve_and_ask(tmp_path, 2, monkeypatch) == [b"0", b"1"]


def test_without_the_workers_folder_the_loop_serves_as_uvloop_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(workers.ENV, raising=False)
    loop = balance.BalancedLoop()
    sock = socket.create_server(("127.0.0.1", 0))
    try:
        server = loop.run_until_complete(loop.create_server(Echo, sock=sock))
        assert not isinstance(server, balance.BalancedServer)
        server.close()
    finally:
        loop.close()


@pytest.mark.parametrize("shared", [False, True], ids=["lone process", "worker"])
def test_the_loop_says_when_it_serves(
    shared: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`serving()` turns true once uvicorn has made its server: a lone process binds the port
    then (host and port), a worker starts accepting on its supervisor's socket (sock)."""
    if shared:
        monkeypatch.setenv(workers.ENV, str(tmp_path))
    else:
        monkeypatch.delenv(workers.ENV, raising=False)
    loop = balance.BalancedLoop()
    sock = socket.create_server(("127.0.0.1", 0)) if shared else None

    async def serve() -> list[bool]:
        seen = [balance.serving()]
        if sock is None:
            server = await loop.create_server(Echo, host="127.0.0.1", port=0)
        else:
            server = await loop.create_server(Echo, sock=sock, backlog=16)
        seen.append(balance.serving())
        server.close()
        return seen

    try:
        assert loop.run_until_complete(serve()) == [False, True]
    finally:
        loop.close()
        if sock is not None:
            sock.close()


def test_a_loop_that_is_not_ours_cannot_tell_and_says_serving() -> None:
    """An in-process test client's loop: it has no port to wait for."""

    async def ask() -> bool:
        return balance.serving()

    assert asyncio.run(ask()) is True
