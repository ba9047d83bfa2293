"""gRPC in every worker process: with workers=2 the kernel spreads gRPC connections over both
(SO_REUSEPORT), each worker serving the calls of its own; SIGTERM drains the calls in flight,
each answered, before the processes exit; and a port another process holds is refused."""

from __future__ import annotations

import queue
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tritonclient.grpc as triton
from grpc_server import infer, tensor
from live_server import clean_env, free_port, live_server
from onnx_models import make_models_dir, make_slow_unconditional

CLIENTS = 16
INT32_MAX = 2**31 - 1
# A connection per client: gRPC otherwise lets channels with the same target and options share
# one connection (its global subchannel pool), and one connection is one worker's.
OWN_CONNECTION = [
    ("grpc.use_local_subchannel_pool", 1),
    ("grpc.max_send_message_length", INT32_MAX),
    ("grpc.max_receive_message_length", INT32_MAX),
]


def workers_of(pid: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def established(pid: int, port: int) -> int:
    """How many TCP connections to `port` the process `pid` holds."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = fd.readlink().name
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if int(local.rsplit(":", 1)[1], 16) == port and state == "01" and inode in inodes:
                count += 1
    return count


def test_two_workers_share_the_connections_and_sigterm_drains_calls(tmp_path: Path) -> None:
    models = make_models_dir(tmp_path / "models")
    make_slow_unconditional(models / "slow")
    port = free_port()
    with live_server(models, tmp_path / "server.log", workers="2", grpc_port=str(port)) as server:
        url = f"127.0.0.1:{port}"
        clients = [
            triton.InferenceServerClient(url, channel_args=OWN_CONNECTION) for _ in range(CLIENTS)
        ]
        for i, client in enumerate(clients):
            assert infer(client, "uncond", {"seed": np.array([i])}).as_numpy("pixels").shape[0] == 1
        # The supervisor's children: the two workers (and multiprocessing's resource tracker).
        counts = [established(pid, port) for pid in workers_of(server.proc.pid)]
        assert sum(counts) == CLIENTS, counts
        assert len([c for c in counts if c]) == 2, counts  # both (all on one: p = 2 / 2**16)

        # Calls in flight on both workers when SIGTERM comes: each is answered, and a call
        # made once the drain began is refused.
        answers: queue.Queue = queue.Queue()
        flight = clients[:6]
        for client in flight:
            client.async_infer(
                "slow",
                [tensor("seed", np.arange(64))],
                lambda result, error: answers.put((result, error)),
            )
        time.sleep(0.1)
        server.proc.send_signal(signal.SIGTERM)
        time.sleep(0.2)
        with pytest.raises(triton.InferenceServerException) as late:
            infer(clients[-1], "uncond", {"seed": np.array([1])})
        assert late.value.status() == "StatusCode.UNAVAILABLE"
        for _ in flight:
            result, error = answers.get(timeout=30)
            assert error is None, error
            assert result.as_numpy("image").shape[0] == 64
        assert server.proc.wait(30) == 0
        assert server.output().count("SIGTERM, draining the calls in flight") == 2


def test_workers_refuse_a_grpc_port_another_process_listens_on(tmp_path: Path) -> None:
    """SO_REUSEPORT would let the workers join that process's port: refused at start."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        command = [sys.executable, "-m", "service", "--host", "127.0.0.1", "--workers", "2"]
        done = subprocess.run(
            [*command, "--grpc-port", str(port), "--models", str(tmp_path)],
            env=clean_env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 1
    assert f"gRPC port {port} is in use" in done.stderr
