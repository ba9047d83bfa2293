"""Super-resolution through `/translate` against raw ONNX Runtime running the same windows.

Random-initialised networks at the released configurations (issue 29): Real-ESRGAN's
RRDBNet x4 (64 features, 23 blocks, growth 32: RealESRGAN_x4plus) and SRVGGNetCompact x4
(64 features, 32 convolutions, PReLU: realesr-general-x4v3), saved as BasicSR saves them and
imported by `python -m training import esrgan`. The photo is real: a 4x3 mosaic of the first
twelve horse photos of horse2zebra's trainA (256x256 each, so 1024x768), cropped to a smaller
size for the RRDB when asked (`--rrdb-size`; it runs at some 0.075 output megapixels a second
on 2 cores).

For each model, `python -m service` (one worker, the default settings: 256-pixel windows with
16 pixels of overlap, memory_budget_mb 2048) serves it alone, and the photo is sent to
`/translate` (`--repeats` times); reported: output megapixels a second of the whole request
(upload, decode, windows, blend, PNG), the worker's peak resident memory (VmHWM, start-up
probes included), and raw ONNX Runtime on the same windows (the same session options and
thread count the service chose, the runs alone, summed): the ratio is the target (>= 0.9).
Then the seams: the blended windows against one run of the whole photo (SRVGG: the 1024x768
photo; RRDB: one 256x256 horse in 96-pixel windows, since a whole 1024x768 run would need
some 9 GiB), as uint8 (Real-ESRGAN's rounding): largest and mean difference, and PSNR.

    flock /tmp/ganserve-heavy.lock .venv/bin/python benchmarks/upscale.py \\
        --photos ../shared/data/horse2zebra/trainA --out benchmarks/results/upscale.json

`--quick` (tests/test_benchmarks.py): tiny networks, a synthetic 256x192 photo, 64-pixel
windows; every part runs, the figures mean nothing.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import onnxruntime as ort
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.harness import free_port, server  # noqa: E402
from benchmarks.sysinfo import git_revision, machine  # noqa: E402
from service import imaging  # noqa: E402
from service.api.upscale import plan  # noqa: E402
from service.engine.runtime import ProviderChoice, make_session  # noqa: E402
from service.manifest import Manifest  # noqa: E402
from service.settings import Settings  # noqa: E402


def make_models(work: Path, quick: bool) -> dict[str, Path]:
    """The two released configurations (`quick`: tiny ones), random weights, imported as the
    README says."""
    import torch

    from training import cli
    from training.nets.esrgan import RRDBNet, SRVGGNetCompact

    feat, blocks, convs = (8, 1, 2) if quick else (64, 23, 32)
    nets = {
        "rrdb-x4": lambda: RRDBNet(4, feat, blocks, feat // 2),
        "srvgg-x4": lambda: SRVGGNetCompact(4, feat, convs, "prelu"),
    }
    folders = {}
    for name, make in nets.items():
        torch.manual_seed(0)
        checkpoint = work / f"{name}.pth"
        torch.save({"params_ema": make().state_dict()}, checkpoint)
        folders[name] = work / name / "models" / name
        assert cli.main(["import", "esrgan", str(checkpoint), "--out", str(folders[name])]) == 0
    return folders


def mosaic(photos: Path | None, side: int = 256) -> np.ndarray:
    """uint8 [3 * side, 4 * side, 3]: the first twelve photos of the folder, 4 across, 3
    down (no folder: a synthetic pattern)."""
    if photos is None:
        y, x = np.mgrid[0 : 3 * side, 0 : 4 * side]
        return np.stack([x % 256, y % 256, (x * y) % 256], -1).astype(np.uint8)
    files = sorted(photos.glob("*.jpg"))[:12]
    tiles = [np.asarray(Image.open(f).convert("RGB").resize((side, side))) for f in files]
    rows = [np.concatenate(tiles[r * 4 : r * 4 + 4], axis=1) for r in range(3)]
    return np.concatenate(rows, axis=0)


def png(rgb: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "PNG")
    return buf.getvalue()


def peak_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return math.nan


def session(folder: Path, threads: int) -> ort.InferenceSession:
    """As the service makes a photo session: no arena, no spinning, its thread count."""
    return make_session(folder / "upscale.onnx", ProviderChoice("cpu"), threads, 1, arena=False)


def windows(
    sess: ort.InferenceSession, manifest: Manifest, rgb: np.ndarray, tile: int, overlap: int
) -> tuple[np.ndarray, float]:
    """The blended canvas of the photo's windows, and the seconds of the runs alone."""
    settings = Settings(tile_side=tile, tile_overlap=overlap, workers=1)
    x = imaging.to_range(rgb, manifest.image.range, manifest.image.multiple_of)
    tiles = plan(manifest, x.shape[2], x.shape[3], settings)
    canvas = tiles.canvas()
    cut = tiles.cut(x)
    seconds = 0.0
    for i in range(tiles.count):
        start = time.perf_counter()
        out = sess.run(None, {"image": cut[i : i + 1]})[0]
        seconds += time.perf_counter() - start
        tiles.paste(canvas, i, out[0])
    return canvas, seconds


def seams(
    sess: ort.InferenceSession, manifest: Manifest, rgb: np.ndarray, tile: int, overlap: int
) -> dict:
    """Blended windows against one run of the whole photo, both as the service's uint8."""
    h, w = rgb.shape[:2]
    s = manifest.scale or 1
    tiled, _ = windows(sess, manifest, rgb, tile, overlap)
    x = imaging.to_range(rgb, manifest.image.range, manifest.image.multiple_of)
    whole = sess.run(None, {"image": x})[0][0]
    float_diff = float(np.abs(tiled[:, : h * s, : w * s] - whole[:, : h * s, : w * s]).max())
    a = imaging.from_range(tiled[:, : h * s, : w * s], manifest.image.range).astype(np.int16)
    b = imaging.from_range(whole[:, : h * s, : w * s], manifest.image.range).astype(np.int16)
    diff = np.abs(a - b)
    mse = float((diff.astype(np.float64) ** 2).mean())
    return {
        "photo": f"{w}x{h}",
        "tile_side": tile,
        "tile_overlap": overlap,
        "max_abs_float": float_diff,
        "max_abs_uint8": int(diff.max()),
        "mean_abs_uint8": float(diff.mean()),
        "pixels_differing": float((diff > 0).mean()),
        "psnr_db": math.inf if mse == 0 else 10 * math.log10(255**2 / mse),
    }


def through_service(folder: Path, photo: bytes, repeats: int, tile: int) -> dict:
    port = free_port()
    cmd = [sys.executable, "-m", "service", "--port", str(port), "--host", "127.0.0.1"]
    cmd += ["--models", str(folder.parent), "--workers", "1"]
    env = {"GANSERVE_PROVIDER": "cpu", "GANSERVE_REQUEST_TIMEOUT_S": "3600"}
    env["GANSERVE_TILE_SIDE"] = str(tile)
    started = time.perf_counter()
    with server(cmd, env, port, "/readyz") as pid:
        ready_s = time.perf_counter() - started
        url = f"http://127.0.0.1:{port}"
        info = httpx.get(f"{url}/models/{folder.name}").json()
        threads = info["sessions"]["upscale"]["intra_op_threads"]
        times, size = [], ""
        for _ in range(repeats):
            start = time.perf_counter()
            r = httpx.post(
                f"{url}/translate",
                files={"file": ("photo.png", photo, "image/png")},
                data={"model": folder.name},
                timeout=3600,
            )
            times.append(time.perf_counter() - start)
            assert r.status_code == 200, r.text
            size = r.headers["X-Image-Size"]
        return {
            "ready_s": ready_s,
            "threads": threads,
            "seconds": times,
            "answer": size,
            "peak_mib": peak_mib(pid),
        }


def bench(name: str, folder: Path, rgb: np.ndarray, repeats: int, tile: int) -> dict:
    manifest = Manifest.load(folder)
    s = manifest.scale or 1
    out_mp = rgb.shape[0] * s * rgb.shape[1] * s / 1e6
    served = through_service(folder, png(rgb), repeats, tile)
    overlap = Settings(workers=1).tile_overlap
    sess = session(folder, served["threads"])
    raw = [windows(sess, manifest, rgb, tile, overlap)[1] for _ in range(repeats)]
    service_mps = out_mp / min(served["seconds"])
    raw_mps = out_mp / min(raw)
    result = {
        "model": name,
        "photo": f"{rgb.shape[1]}x{rgb.shape[0]}",
        "output_megapixels": out_mp,
        "service": served,
        "raw_ort_seconds": raw,
        "service_mp_per_s": service_mps,
        "raw_ort_mp_per_s": raw_mps,
        "ratio": service_mps / raw_mps,
    }
    print(json.dumps(result), flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=Path, help="horse2zebra/trainA (else --quick)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/upscale.json")
    parser.add_argument("--rrdb-size", default="512x384", help="WxH crop for the RRDB")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="tiny networks: a smoke run")
    args = parser.parse_args()
    if args.photos is None and not args.quick:
        parser.error("--photos is needed (or --quick)")
    rgb = mosaic(None if args.quick else args.photos, 64 if args.quick else 256)
    tile, seam_tile, seam_side = (64, 64, 128) if args.quick else (256, 96, 256)
    width, height = (int(v) for v in args.rrdb_size.split("x"))
    report: dict = {"machine": machine(), "revision": git_revision(), "runs": [], "seams": []}
    with tempfile.TemporaryDirectory() as tmp:
        folders = make_models(Path(tmp), args.quick)
        srvgg, rrdb = folders["srvgg-x4"], folders["rrdb-x4"]
        report["runs"].append(bench("srvgg-x4", srvgg, rgb, args.repeats, tile))
        report["runs"].append(bench("rrdb-x4", rrdb, rgb[:height, :width], 1, tile))
        crop = rgb[:seam_side, :seam_side]
        for name, photo, side in (("srvgg-x4", rgb, tile), ("rrdb-x4", crop, seam_tile)):
            manifest = Manifest.load(folders[name])
            threads = next(r["service"]["threads"] for r in report["runs"] if r["model"] == name)
            found = seams(session(folders[name], threads), manifest, photo, side, 16)
            report["seams"].append({"model": name, **found})
            print(json.dumps(report["seams"][-1]), flush=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
