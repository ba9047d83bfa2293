"""How well a small photo's time per pixel predicts the largest one's (`max_side`), for a
translation model's sessions as the service runs them (no arena, no spinning threads):
the question behind the first estimate a session serves with (service/repository/warmup.py).

    python benchmarks/photo_cost.py --model models/cyclegan-horse2zebra --threads 1 2

For each thread count, three conditions: each direction alone; both directions at once (two
workers loading); both at once beside a CPU burner. Each session runs its warm-up 256x256
photo, then one photo per side; printed: microseconds per pixel per side, and per predictor
the predicted over the measured `max_side` cost (above 1: errs on the safe, slow side).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from service.engine.runtime import ProviderChoice, make_session  # noqa: E402
from service.manifest import Manifest  # noqa: E402
from service.repository.warmup import SCALE_TO_MAX_SIDE  # noqa: E402

SIDES = (128, 256, 512, 1024)
BURNER = "while True: pass"


def one(model: Path, role: str, threads: int) -> dict[int, float]:
    """Microseconds per pixel per side for one session (run in its own process)."""
    manifest = Manifest.load(model)
    path = model / manifest.files[role].path
    session = make_session(path, ProviderChoice("cpu"), threads, 1, arena=False)
    session.run(None, {"image": np.zeros((1, 3, 256, 256), np.float32)})  # the warm-up
    out = {}
    for side in SIDES:
        photo = {"image": np.zeros((1, 3, side, side), np.float32)}
        start = time.perf_counter()
        session.run(None, photo)
        out[side] = (time.perf_counter() - start) / side**2 * 1e6
    return out


def together(model: Path, roles: list[str], threads: int) -> list[dict[int, float]]:
    procs = [
        subprocess.Popen(
            [sys.executable, __file__, "--one", str(model), role, str(threads)],
            stdout=subprocess.PIPE,
        )
        for role in roles
    ]
    return [{int(k): v for k, v in json.loads(p.communicate()[0]).items()} for p in procs]


def predictors(us: dict[int, float]) -> dict[str, float]:
    """Each predictor's max_side cost over the measured one."""
    top = SIDES[-1]
    slope = np.log(us[256] / us[128]) / np.log(256 / 128)  # per-pixel cost ~ side^slope
    return {
        "256 as is": us[256] / us[top],
        f"256 x{SCALE_TO_MAX_SIDE:g}": us[256] * SCALE_TO_MAX_SIDE / us[top],
        "512 as is": us[512] / us[top],
        "128->256 extrapolated": us[256] * (top / 256) ** slope / us[top],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "cyclegan-horse2zebra")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--one", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(Path(args.one[0]), args.one[1], int(args.one[2]))))
        return
    roles = list(Manifest.load(args.model).roles())
    for threads in args.threads:
        runs = [(f"{role} alone", together(args.model, [role], threads)[0]) for role in roles]
        runs += [
            (f"{r} with the other", u)
            for r, u in zip(roles, together(args.model, roles, threads), strict=True)
        ]
        burner = subprocess.Popen([sys.executable, "-c", BURNER])
        try:
            both = together(args.model, roles, threads)
        finally:
            burner.kill()
            burner.wait()
        runs += [(f"{r} with the other, burner", u) for r, u in zip(roles, both, strict=True)]
        for what, us in runs:
            sides = " ".join(f"{s}:{us[s]:.2f}" for s in SIDES)
            ratios = " ".join(f"{k} {v:.2f}" for k, v in predictors(us).items())
            print(f"threads={threads} {what}: us/pixel {sides} | predicted/measured {ratios}")


if __name__ == "__main__":
    main()
