"""The gRPC twin of benchmarks/loadgen.py: closed-loop clients calling ModelInfer.

    python benchmarks/grpc_loadgen.py SPEC.json      # prints one JSON result line

`SPEC.json` is loadgen's Spec: `port` is the gRPC port and `request` one serialized
ModelInferRequest (bytes as latin-1 text), sent again and again. Each client owns one channel
on its own connection (a local subchannel pool: gRPC would otherwise let every channel of the
process share one connection, as loadgen's clients each own a keep-alive connection) and
sends the next call as soon as the previous answer is in. Requests go as bytes and answers
are not parsed, as loadgen does not parse HTTP bodies, so the client stays cheap on a
machine it shares with the server; it reports its own CPU time and the server's.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

import grpc

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.loadgen import Spec, Window, cpu_snapshot, summary  # noqa: E402

METHOD = "/inference.GRPCInferenceService/ModelInfer"
OWN_CONNECTION = [("grpc.use_local_subchannel_pool", 1), ("grpc.max_receive_message_length", -1)]
OK = 200  # a call answered OK counts as loadgen's 200


async def client(spec: Spec, window: Window, stop: asyncio.Event) -> None:
    target = f"{spec.host}:{spec.port}"
    async with grpc.aio.insecure_channel(target, options=OWN_CONNECTION) as channel:
        call = channel.unary_unary(METHOD)  # bytes in, bytes out: nothing (de)serialized
        while not stop.is_set():
            sent = time.perf_counter()
            try:
                await call(spec.request)
                status = OK
            except grpc.aio.AioRpcError as exc:
                status = exc.code().value[0]  # the gRPC code's number
            done = time.perf_counter()
            if window.start <= done <= window.end:
                window.latencies.append(done - sent)
                window.statuses[status] = window.statuses.get(status, 0) + 1


async def run(spec: Spec) -> dict:
    window = Window()
    window.start = time.perf_counter() + spec.warmup_s
    window.end = window.start + spec.duration_s
    stop = asyncio.Event()
    tasks = [asyncio.create_task(client(spec, window, stop)) for _ in range(spec.clients)]
    await asyncio.sleep(max(0.0, window.start - time.perf_counter()))
    first = cpu_snapshot(spec)
    await asyncio.sleep(max(0.0, window.end - time.perf_counter()))
    last = cpu_snapshot(spec)
    stop.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    errors = [repr(r) for r in results if isinstance(r, Exception)]
    return summary(spec, spec.clients, window, first, last, errors)


def main(argv: list[str]) -> None:
    with open(argv[0]) as f:
        spec = Spec.load(f.read())
    import uvloop

    print(json.dumps(uvloop.run(run(spec))))


if __name__ == "__main__":
    main(sys.argv[1:])
