"""`schemathesis run --checks all` (the CLI, every phase) against `python -m service`, with the
hooks of `benchmarks/schemathesis_hooks.py` giving it real photos and tensors the models take.

The suite's fuzz test (tests/service/api/test_fuzz.py) drives schemathesis from Python with
its own bounded settings; this is the tool as a user runs it on the served `/openapi.json`,
its summary kept under benchmarks/results/ and quoted in docs/reliability.md.

    .venv/bin/python benchmarks/fuzz_cli.py --models models --max-examples 50
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.harness import free_port, server  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=Path, default=ROOT / "models")
    parser.add_argument("--max-examples", type=int, default=50)
    parser.add_argument("--api-key", default="", help="serve behind this key, and send it")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/fuzz_cli.txt")
    args = parser.parse_args()
    port = free_port()
    env = {
        "GANSERVE_PROVIDER": "cpu",
        "GANSERVE_WORKERS": "1",
        "GANSERVE_LOG_LEVEL": "warning",
        # Small caps, so generated counts and uploads reach them.
        "GANSERVE_MAX_N": "16",
        "GANSERVE_MAX_UPLOAD_BYTES": "65536",
    }
    if args.api_key:
        env["GANSERVE_API_KEY"] = args.api_key
    cmd = [sys.executable, "-m", "service", "--host", "127.0.0.1", "--port", str(port)]
    run = [
        str(Path(sys.executable).with_name("schemathesis")),
        "run",
        f"http://127.0.0.1:{port}/openapi.json",
        "--checks",
        "all",
        "--max-examples",
        str(args.max_examples),
        "--no-color",
    ]
    if args.api_key:
        run += ["--header", f"Authorization: Bearer {args.api_key}"]
    hooks = {"SCHEMATHESIS_HOOKS": "benchmarks.schemathesis_hooks", "PYTHONPATH": str(ROOT)}
    with server([*cmd, "--models", str(args.models)], env, port, "/readyz"):
        start = time.monotonic()
        result = subprocess.run(
            run, cwd=ROOT, env=os.environ | hooks, capture_output=True, text=True, check=False
        )
        took = time.monotonic() - start
    report = f"$ {' '.join(run[1:])}  (models: {args.models}, {took:.0f} s)\n{result.stdout}"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report + result.stderr)
    print(report[-3000:], result.stderr[-2000:])
    sys.exit(result.returncode)


if __name__ == "__main__":
    main()
