"""A compact copy of a trainA/trainB photo root, to carry to a machine with little room.

    python -m training.compact_photos --data ../shared/data/horse2zebra --holdout 66,134 \
        --out gpu-carry/horse2zebra --quality 60

The training photos are re-encoded as JPEG at `--quality` (and shrunk to `--size` when
larger); the validation photos (the last N of each folder in sorted order) are copied byte
for byte. File names keep their sorted order, so `holdout` splits the copy exactly as it
splits the original, the CycleGAN never trains on the validation photos, and evaluation
scores the very files it scores here.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from PIL import Image

from training.data import open_rgb, split_files


def compact(root: Path, out: Path, holdout: tuple[int, int], quality: int, size: int) -> dict:
    """Write the copy; return {folder: {"train": bytes, "val": bytes, "photos": n}}."""
    report = {}
    for sub, n in zip(("trainA", "trainB"), holdout, strict=True):
        train, val = split_files(root / sub, n)
        target = out / sub
        target.mkdir(parents=True, exist_ok=True)
        sizes = {"train": 0, "val": 0, "photos": len(train) + len(val)}
        for file in train:
            image = open_rgb(file)
            if max(image.size) > size:
                image.thumbnail((size, size), Image.Resampling.BICUBIC)
            dest = target / f"{file.stem}.jpg"
            image.save(dest, "JPEG", quality=quality, optimize=True, progressive=True)
            sizes["train"] += dest.stat().st_size
        for file in val:
            shutil.copyfile(file, target / file.name)
            sizes["val"] += file.stat().st_size
        report[sub] = sizes
    return report


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--data", type=Path, required=True, help="root with trainA/ and trainB/")
    p.add_argument("--out", type=Path, required=True, help="the compact root to write")
    p.add_argument("--holdout", default="66,134", help="validation photos: last N of A,B")
    p.add_argument("--quality", type=int, default=60, help="JPEG quality of training photos")
    p.add_argument("--size", type=int, default=256, help="largest side of training photos")
    args = p.parse_args(argv)
    holdout = tuple(int(n) for n in args.holdout.split(","))
    if args.out.resolve() == args.data.resolve():
        p.error("--out must differ from --data")
    report = compact(args.data, args.out, holdout, args.quality, args.size)
    for sub, s in report.items():
        print(
            f"{sub}: {s['photos']} photos, training {s['train'] / 2**20:.1f} MiB "
            f"(JPEG q{args.quality}), validation {s['val'] / 2**20:.1f} MiB (copied)"
        )
    total = sum(s["train"] + s["val"] for s in report.values())
    print(f"wrote {args.out}: {total / 2**20:.1f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
