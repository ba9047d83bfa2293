"""The Open Inference Protocol over gRPC against its binary REST path, side by side in one run.

    python benchmarks/grpc_vs_rest.py                  # 3 rounds, about 2 minutes
    python benchmarks/grpc_vs_rest.py --workers 1 --rounds 5 --out benchmarks/results

One `python -m service` serves both ports (the shipped models, `dcgan-mnist`). Each workload
(`--workloads` NxCLIENTS: n=16 images at 32 clients, and n=1 with one client for its p50) runs
over both protocols in alternating order (REST gRPC, gRPC REST, ...), so the two share the
machine's drift. The same request both ways: `seed` INT64 [n] as raw bytes in, `pixels` (uint8
[n, 32, 32, 1]) as raw bytes out: REST with the binary tensor extension
(benchmarks/loadgen.py), gRPC with raw_input_contents / raw_output_contents
(benchmarks/grpc_loadgen.py); each client on its own connection, neither side parsing the
answer. Prints a line per run and the medians; with `--out`, writes grpc_vs_rest.json there.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.harness import free_port, load, server  # noqa: E402
from benchmarks.loadgen import Spec  # noqa: E402
from benchmarks.sysinfo import git_revision, machine  # noqa: E402
from service.api.grpc.protocol import grpc_service_pb2 as pb  # noqa: E402

DEFAULT_WORKLOADS = ["16x32", "1x1"]  # images per request x clients


def rest_request(model: str, n: int) -> bytes:
    """POST /v2/models/{model}/infer: seeds as a binary tensor, pixels asked as one."""
    header = json.dumps(
        {
            "inputs": [
                {
                    "name": "seed",
                    "shape": [n],
                    "datatype": "INT64",
                    "parameters": {"binary_data_size": 8 * n},
                }
            ],
            "outputs": [{"name": "pixels", "parameters": {"binary_data": True}}],
        }
    ).encode()
    body = header + np.arange(n, dtype="<i8").tobytes()
    head = (
        f"POST /v2/models/{model}/infer HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Type: application/octet-stream\r\n"
        f"Inference-Header-Content-Length: {len(header)}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def grpc_request(model: str, n: int) -> bytes:
    """ModelInfer: the same seeds in raw_input_contents, pixels asked for."""
    request = pb.ModelInferRequest(
        model_name=model,
        inputs=[pb.ModelInferRequest.InferInputTensor(name="seed", datatype="INT64", shape=[n])],
        outputs=[pb.ModelInferRequest.InferRequestedOutputTensor(name="pixels")],
        raw_input_contents=[np.arange(n, dtype="<i8").tobytes()],
    )
    return request.SerializeToString()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="runs of each protocol")
    parser.add_argument("--workers", default="auto")
    parser.add_argument("--models", type=Path, default=ROOT / "models")
    parser.add_argument("--model", default="dcgan-mnist")
    parser.add_argument("--warmup-s", type=float, default=2.0)
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--workloads", nargs="+", default=DEFAULT_WORKLOADS, help="NxCLIENTS")
    parser.add_argument("--out", type=Path, help="folder for grpc_vs_rest.json")
    parser.add_argument("--quick", action="store_true", help="one short round (the tests)")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.warmup_s, args.seconds = 1, 0.5, 1.0
    info = machine()
    print(f"{info['cpu']}, {info['cores']} cores, load average {os.getloadavg()}", flush=True)
    http, grpc = free_port(), free_port()
    command = [sys.executable, "-m", "service", "--host", "127.0.0.1", "--port", str(http)]
    command += ["--grpc-port", str(grpc), "--models", str(args.models)]
    command += ["--workers", str(args.workers)]
    ways = {  # protocol: its request, port and load generator
        "REST binary": (rest_request, http, "loadgen.py"),
        "gRPC": (grpc_request, grpc, "grpc_loadgen.py"),
    }
    runs: dict[str, dict[str, list[dict]]] = {}
    with (
        tempfile.TemporaryDirectory(prefix="ganserve-grpc-") as tmp,
        server(command, {}, http, "/readyz") as pid,
    ):
        for round_ in range(args.rounds):
            for spec_text in args.workloads:
                n, clients = map(int, spec_text.split("x"))
                name = f"n={n}, {clients} client{'s' if clients > 1 else ''}"
                order = list(ways) if round_ % 2 == 0 else list(ways)[::-1]
                for protocol in order:
                    make, port, generator = ways[protocol]
                    request = make(args.model, n)
                    spec = Spec(port, request, clients, args.warmup_s, args.seconds, n, pid)
                    r = load(spec, Path(tmp), generator)
                    if set(r["statuses"]) != {"200"} or r["errors"]:
                        raise SystemExit(f"{protocol} {name}: {r['statuses']} {r['errors']}")
                    r["server_us_per_request"] = 1e6 * r["server_cpu_cores"] / r["requests_per_s"]
                    runs.setdefault(name, {}).setdefault(protocol, []).append(r)
                    print(
                        f"  {protocol:<11} {name:<17} {r['images_per_s']:7.0f} img/s  "
                        f"p50 {r['p50_ms']:6.2f} ms  p99 {r['p99_ms']:6.2f} ms  server "
                        f"{r['server_us_per_request']:5.0f} us/req ({r['server_cpu_cores']:.2f} "
                        f"cores)  client {r['client_cpu_cores']:.2f} cores  "
                        f"load {os.getloadavg()[0]:.2f}",
                        flush=True,
                    )
    medians = {
        name: {
            protocol: {
                key: statistics.median(r[key] for r in results)
                for key in ("images_per_s", "p50_ms", "p99_ms", "server_us_per_request")
            }
            for protocol, results in by_protocol.items()
        }
        for name, by_protocol in runs.items()
    }
    print("medians:")
    for name, by_protocol in medians.items():
        for protocol, m in by_protocol.items():
            print(
                f"  {protocol:<11} {name:<17} {m['images_per_s']:7.0f} img/s  "
                f"p50 {m['p50_ms']:6.2f} ms  p99 {m['p99_ms']:6.2f} ms  "
                f"{m['server_us_per_request']:5.0f} us/req"
            )
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        report = {
            "command": " ".join(sys.argv),
            "machine": info,
            "revision": git_revision(),
            "workers": args.workers,
            "model": args.model,
            "medians": medians,
            "runs": runs,
        }
        (args.out / "grpc_vs_rest.json").write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
