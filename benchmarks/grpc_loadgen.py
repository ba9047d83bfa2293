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

from benchmarks.loadgen import Spec, Window, percentile, server_cpu_s  # noqa: E402

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


def snapshot(spec: Spec) -> dict[str, float]:
    return {
        "t": time.perf_counter(),
        "client_cpu": time.process_time(),
        "server_cpu": server_cpu_s(spec.server_pid),
    }


async def run(spec: Spec) -> dict:
    window = Window()
    window.start = time.perf_counter() + spec.warmup_s
    window.end = window.start + spec.duration_s
    stop = asyncio.Event()
    tasks = [asyncio.create_task(client(spec, window, stop)) for _ in range(spec.clients)]
    await asyncio.sleep(max(0.0, window.start - time.perf_counter()))
    first = snapshot(spec)
    await asyncio.sleep(max(0.0, window.end - time.perf_counter()))
    last = snapshot(spec)
    stop.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    errors = [repr(r) for r in results if isinstance(r, Exception)]
    lat = sorted(window.latencies)
    ok = window.statuses.get(OK, 0)
    seconds = last["t"] - first["t"]
    return {
        "clients": spec.clients,
        "duration_s": round(seconds, 3),
        "requests": len(lat),
        "statuses": {str(k): v for k, v in sorted(window.statuses.items())},
        "requests_per_s": ok / seconds,
        "images_per_s": ok * spec.images_per_request / seconds,
        "p50_ms": percentile(lat, 50) * 1e3,
        "p95_ms": percentile(lat, 95) * 1e3,
        "p99_ms": percentile(lat, 99) * 1e3,
        "mean_ms": sum(lat) / len(lat) * 1e3 if lat else float("nan"),
        "client_cpu_cores": (last["client_cpu"] - first["client_cpu"]) / seconds,
        "server_cpu_cores": (last["server_cpu"] - first["server_cpu"]) / seconds,
        "errors": errors[:3],
    }


def main(argv: list[str]) -> None:
    with open(argv[0]) as f:
        spec = Spec.load(f.read())
    import uvloop

    print(json.dumps(uvloop.run(run(spec))))


if __name__ == "__main__":
    main(sys.argv[1:])
