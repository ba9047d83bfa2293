"""Evaluate an exported translation model (CycleGAN) on its held-out validation photos.

    python -m training evaluate models/cyclegan-horse2zebra --data ../shared/data/horse2zebra

Every photo goes through the path the service's `/translate` takes (`service.imaging`: decode
with EXIF orientation applied and alpha dropped, cap the longest side at the default
`max_side`, reflect-pad to a multiple of the manifest's `multiple_of`, one ONNX Runtime pass
at full size, crop back, 8-bit quantisation), so the figures score what users get. With the
two-domain judge (`python -m training judge-photos`):
- the share of held-out A photos the judge calls B after a2b, and of B photos called A after b2a;
- cycle-consistency L1, mean |b2a(a2b(x)) - x| on [0, 1] pixel values, per domain;
- FD-judge of the translated photos to the real held-out photos of the target domain, beside
  its real-versus-real floor (as many real training photos of the target domain in their place);
and a gallery (`gallery.png`): 8 held-out A photos above their translations, then 8 B photos.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from service.engine.runtime import check_signature, cpu_session, output_name
from service.imaging import MAX_PIXELS, MAX_SIDE, read_photo, to_network, to_photo
from service.manifest import Manifest
from training.data import open_rgb, split_files
from training.evaluation import metrics as M
from training.evaluation.judge import Judge, softmax
from training.evaluation.photo_judge import to_judge_input
from training.evaluation.table import metric_table
from training.model_folder import provenance, verify_files

DEFAULT_JUDGE = "judges/horse2zebra"
GALLERY_FILE = "gallery.png"
GALLERY_SIDE = 128


def translate(session, rgb: np.ndarray, multiple_of: int) -> np.ndarray:
    """uint8 [H, W, 3] -> uint8 [H, W, 3], as the service translates an upload (its first
    output, whatever its name: the ONNX signature docs/architecture.md states)."""
    h, w = rgb.shape[:2]
    out = session.run([output_name(session)], {"image": to_network(rgb, multiple_of)})[0]
    return to_photo(out, h, w)


def _photo(path: Path) -> np.ndarray:
    """A photo file as `/translate` reads an upload of it, under the service's default caps."""
    return read_photo(path.read_bytes(), MAX_PIXELS, MAX_SIDE)


def _judge_all(judge: Judge, photos: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(probability of class 1, features) for uint8 photos."""
    logits, feats = judge.run(np.stack([to_judge_input(p) for p in photos]))
    return softmax(logits)[:, 1], feats


def gallery(rows: list[list[np.ndarray]], side: int = GALLERY_SIDE, pad: int = 2) -> np.ndarray:
    """Rows of uint8 photos -> one uint8 image, each photo resized to side x side."""
    cols = max(len(r) for r in rows)
    out = np.zeros((len(rows) * (side + pad) + pad, cols * (side + pad) + pad, 3), np.uint8)
    for r, row in enumerate(rows):
        for c, photo in enumerate(row):
            small = Image.fromarray(photo).resize((side, side), Image.Resampling.BICUBIC)
            y, x = pad + r * (side + pad), pad + c * (side + pad)
            out[y : y + side, x : x + side] = np.asarray(small)
    return out


def _r(x: float, digits: int = 4) -> float:
    return float(round(x, digits))


def evaluate(
    model_dir: str | Path,
    data: str | Path,
    judge_dir: str | Path,
    holdout: tuple[int, int] | None = None,
    command: str | None = None,
    threads: int = 2,
) -> dict[str, Any]:
    """All metrics for one translation folder, as the dict that goes into model.json.
    `threads`: ONNX Runtime threads per generator (the figures do not depend on it)."""
    folder = Path(model_dir)
    manifest = Manifest.load(folder)
    if manifest.kind != "translation":
        raise ValueError(f"{folder}: kind {manifest.kind!r} is not a translation model")
    verify_files(folder, manifest)
    if holdout is None:
        holdout = tuple((manifest.training or {}).get("config", {}).get("holdout", (0, 0)))
    if not holdout or min(holdout) < 1:
        raise ValueError(f"{folder}: no held-out photos recorded; pass --holdout NA,NB")
    judge = Judge.load(judge_dir)
    start = time.perf_counter()
    a_name, b_name = manifest.domains["a"], manifest.domains["b"]
    splits = [
        split_files(Path(data) / sub, n)
        for sub, n in zip(("trainA", "trainB"), holdout, strict=True)
    ]
    (train_a, val_a), (train_b, val_b) = splits
    real_a = [_photo(f) for f in val_a]
    real_b = [_photo(f) for f in val_b]
    a2b, b2a = (cpu_session(folder / f"{r}.onnx", threads) for r in ("a2b", "b2a"))
    for role, session in (("a2b", a2b), ("b2a", b2a)):
        try:  # the service's check, in its words: what it would refuse to load is not scored
            check_signature(session, manifest, role)
        except ValueError as exc:
            raise ValueError(f"{folder}: {role}: wrong signature for translation: {exc}") from None
    m = manifest.image.multiple_of
    fake_b = [translate(a2b, x, m) for x in real_a]
    fake_a = [translate(b2a, x, m) for x in real_b]
    cycle_a = np.mean(
        [
            np.abs(translate(b2a, y, m) / 255.0 - x / 255.0).mean()
            for x, y in zip(real_a, fake_b, strict=True)
        ]
    )
    cycle_b = np.mean(
        [
            np.abs(translate(a2b, y, m) / 255.0 - x / 255.0).mean()
            for x, y in zip(real_b, fake_a, strict=True)
        ]
    )

    p_fake_b, f_fake_b = _judge_all(judge, fake_b)
    p_fake_a, f_fake_a = _judge_all(judge, fake_a)
    p_real_a, f_real_a = _judge_all(judge, real_a)
    p_real_b, f_real_b = _judge_all(judge, real_b)
    # the floor: as many real training photos of the target domain as there are translations
    step_b = max(1, len(train_b) // len(fake_b))
    step_a = max(1, len(train_a) // len(fake_a))
    floor_b = [np.asarray(open_rgb(f)) for f in train_b[::step_b][: len(fake_b)]]
    floor_a = [np.asarray(open_rgb(f)) for f in train_a[::step_a][: len(fake_a)]]
    _, f_floor_b = _judge_all(judge, floor_b)
    _, f_floor_a = _judge_all(judge, floor_a)

    judge_text = judge.describe()
    val_text = (
        f"held-out photos of {Path(data).name}: the last {holdout[0]} of trainA ({a_name}) and "
        f"the last {holdout[1]} of trainB ({b_name}) in sorted order, never trained on"
    )
    Image.fromarray(gallery([real_a[:8], fake_b[:8], real_b[:8], fake_a[:8]])).save(
        folder / GALLERY_FILE
    )

    def fd(fake: np.ndarray, real: np.ndarray, floor: np.ndarray, what: str) -> dict[str, Any]:
        value, fl = M.frechet_distance(fake, real), M.frechet_distance(floor, real)
        return {
            "value": _r(value),
            "floor": _r(fl),
            "ratio_to_floor": _r(value / fl, 3) if fl > 0 else None,
            "data": what,
            "judge": judge_text,
        }

    return {
        "evaluation": {
            **provenance("training.evaluation.translation", command, judge, judge_dir),
            "data": val_text,
            "path": "full-size photos through the service's padding, one ONNX Runtime pass, "
            "crop and 8-bit quantisation; the judge sees them resized to 128x128",
            "wall_seconds": _r(time.perf_counter() - start, 1),
        },
        "translation": {
            "a2b_judged_b": _r(float((p_fake_b > 0.5).mean())),
            "b2a_judged_a": _r(float((p_fake_a < 0.5).mean())),
            "real_reference": {
                "a_judged_a": _r(float((p_real_a < 0.5).mean())),
                "b_judged_b": _r(float((p_real_b > 0.5).mean())),
            },
            "photos": {"a": len(real_a), "b": len(real_b)},
            "judge": judge_text,
            "data": val_text,
        },
        "cycle_l1": {
            "a": _r(float(cycle_a)),
            "b": _r(float(cycle_b)),
            "mean": _r(float((cycle_a + cycle_b) / 2)),
            "scale": "mean absolute difference on [0, 1] pixel values",
            "data": val_text,
        },
        "fd_judge": {
            "a2b": fd(
                f_fake_b,
                f_real_b,
                f_floor_b,
                f"{len(fake_b)} translated {a_name} vs {len(real_b)} held-out {b_name}; floor: "
                f"{len(floor_b)} training {b_name} (every {step_b}th) in their place",
            ),
            "b2a": fd(
                f_fake_a,
                f_real_a,
                f_floor_a,
                f"{len(fake_a)} translated {b_name} vs {len(real_a)} held-out {a_name}; floor: "
                f"{len(floor_a)} training {a_name} (every {step_a}th) in their place",
            ),
        },
    }


def format_table(name: str, manifest: Manifest, m: dict[str, Any]) -> str:
    a, b = manifest.domains["a"], manifest.domains["b"]
    t, c, fd = m["translation"], m["cycle_l1"], m["fd_judge"]
    ref = t["real_reference"]
    rows = [
        (
            f"{a} judged {b} after a2b",
            f"{t['a2b_judged_b']:.1%}",
            f"real {a}: {ref['a_judged_a']:.1%} judged {a}",
        ),
        (
            f"{b} judged {a} after b2a",
            f"{t['b2a_judged_a']:.1%}",
            f"real {b}: {ref['b_judged_b']:.1%} judged {b}",
        ),
        (f"cycle L1, {a} (a2b then b2a)", f"{c['a']:.4f}", "[0, 1] pixel values"),
        (f"cycle L1, {b} (b2a then a2b)", f"{c['b']:.4f}", ""),
        (
            f"FD-judge a2b (to real {b})",
            f"{fd['a2b']['value']:.3f}",
            f"floor {fd['a2b']['floor']:.3f} (x{fd['a2b']['ratio_to_floor']})",
        ),
        (
            f"FD-judge b2a (to real {a})",
            f"{fd['b2a']['value']:.3f}",
            f"floor {fd['b2a']['floor']:.3f} (x{fd['b2a']['ratio_to_floor']})",
        ),
    ]
    heading = [f"{name} (translation): {m['evaluation']['data']}", f"judge: {t['judge']}"]
    return metric_table(heading, ("metric", "model", "reference"), rows)
