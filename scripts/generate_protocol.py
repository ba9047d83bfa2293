"""Regenerate the Python code of the gRPC protocol from its .proto files (`make protocol`).

The generated modules are committed beside the .proto files in service/api/grpc/protocol/,
so the serving image needs no protoc; tests/service/api/grpc/test_grpc_protocol.py runs this
into a temporary folder and fails when the committed code differs. The output depends on the
grpcio-tools release (pinned to one minor in the dev dependencies) and on nothing else.

    python scripts/generate_protocol.py [--out DIR]    # DIR: the repository root by default
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTOCOL = Path("service/api/grpc/protocol")
PROTOS = ("model_config.proto", "grpc_service.proto")
SERVICES = ("grpc_service.proto",)  # the ones with a service: their _pb2_grpc.py too


def generate(out: Path) -> list[Path]:
    """Write the modules under `out` (at service/api/grpc/protocol/ in it); their paths."""
    (out / PROTOCOL).mkdir(parents=True, exist_ok=True)
    for proto in PROTOS:
        args = ["protoc", f"-I{ROOT}", f"--python_out={out}", f"--pyi_out={out}"]
        if proto in SERVICES:
            args.append(f"--grpc_python_out={out}")
        if protoc.main([*args, str(PROTOCOL / proto)]) != 0:
            raise SystemExit(f"protoc failed on {PROTOCOL / proto}")
    return sorted(p for p in (out / PROTOCOL).iterdir() if p.suffix in (".py", ".pyi"))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT, help="the root to write under")
    args = parser.parse_args(argv)
    for path in generate(args.out):
        print(path, file=sys.stderr)


if __name__ == "__main__":
    main()
