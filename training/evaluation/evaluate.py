"""Evaluate an exported generator folder with the project's judge (`python -m training evaluate`).

It runs the folder's ONNX generator with onnxruntime on latents made by `service.latents` from
seeds 0..n-1 (a conditional model gets label `seed % K`, the service's default), so it scores
exactly what the service serves. The ONNX files' sha256s are checked first; only model.json's
`metrics` changes (model.json itself is not hashed).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from service.latents import default_label, latents
from service.manifest import Manifest
from training.evaluation import metrics as M
from training.evaluation.data import TRAIN_COUNT, describe, load_split, resize_batch
from training.evaluation.judge import Judge
from training.evaluation.table import metric_table
from training.model_folder import provenance, verify_files

DEFAULT_JUDGE = "judges/mnist"


def generate(
    folder: Path, manifest: Manifest, seeds: list[int], labels: np.ndarray | None, batch: int = 500
) -> np.ndarray:
    """Images float32 [N, C, H, W] from the folder's ONNX generator, as the service makes them."""
    from service.engine.runtime import cpu_session

    session = cpu_session(folder / manifest.files["generator"].path, threads=2)
    assert manifest.latent is not None
    out = []
    for i in range(0, len(seeds), batch):
        feed: dict[str, np.ndarray] = {"z": latents(seeds[i : i + batch], manifest.latent.dim)}
        if labels is not None:
            feed["label"] = labels[i : i + batch].astype(np.int64)
        out.append(session.run(["image"], feed)[0])
    return np.concatenate(out).astype(np.float32)


def _r(x: float, digits: int = 4) -> float:
    return float(round(x, digits))


def evaluate(
    model_dir: str | Path,
    data: str | Path,
    judge_dir: str | Path = DEFAULT_JUDGE,
    n: int = 5000,
    first_seed: int = 0,
    k: int = 3,
    train_count: int = TRAIN_COUNT,
    command: str | None = None,
) -> dict[str, Any]:
    """All metrics for one model folder, as the dict that goes into model.json `metrics`."""
    folder = Path(model_dir)
    manifest = Manifest.load(folder)
    if manifest.kind not in ("unconditional", "conditional"):
        raise ValueError(f"{folder}: kind {manifest.kind!r} has no judge here (generators only)")
    verify_files(folder, manifest)
    judge = Judge.load(judge_dir)
    want = tuple(judge.info["input"]["shape"][1:])
    have = (manifest.image.channels, manifest.image.height, manifest.image.width)
    if have[0] != want[0]:
        raise ValueError(f"judge {judge.name} takes images {want}, the model makes {have}")
    resized = have != want
    jh, jw = int(want[1]), int(want[2])
    num_classes = judge.num_classes
    if manifest.kind == "conditional":
        assert manifest.classes is not None
        if len(manifest.classes) != num_classes:
            raise ValueError(
                f"model has {len(manifest.classes)} classes, judge {judge.name} {num_classes}"
            )

    start = time.perf_counter()
    seeds = list(range(first_seed, first_seed + n))
    labels = (
        np.array([default_label(s, num_classes) for s in seeds])
        if manifest.kind == "conditional"
        else None
    )
    images = resize_batch(generate(folder, manifest, seeds, labels), jh, jw)
    gen_logits, gen_feats = judge.run(images)

    train_x, _ = load_split(data, "train", train_count)
    held_x, held_y = load_split(data, "heldout", train_count)
    m = min(n, len(train_x))
    # the floor's real digits take the generated images' path: up to the model's size (as the
    # training data did) and back down to the judge's
    floor_x = resize_batch(resize_batch(train_x[:m], have[1], have[2]), jh, jw)
    _, train_feats = judge.run(floor_x)
    held_logits, held_feats = judge.run(held_x)

    judge_text = judge.describe()
    held_text = describe(data, "heldout", train_count)
    data_name = Path(data).name
    gen_text = f"{n} samples of {manifest.name}, seeds {first_seed}..{first_seed + n - 1}"
    if labels is not None:
        gen_text += ", label = seed % " + str(num_classes)
    train_text = f"{data_name}[0:{m}] ({m} digits of the training split)"

    fd = M.frechet_distance(gen_feats, held_feats)
    floor = M.frechet_distance(train_feats, held_feats)
    out: dict[str, Any] = {
        "evaluation": {
            **provenance("training.evaluation", command, judge, judge_dir),
            "data": held_text,
            "generated": gen_text,
            "truncation": None,
            "resize": (
                f"generated {have[1]}x{have[2]} images and the floor's training digits "
                f"({jh} -> {have[1]}x{have[2]} -> {jh}) resized to the judge's {jh}x{jw} "
                "with training.data.resize (bilinear, antialiased)"
                if resized
                else None
            ),
        },
        "fd_judge": {
            "value": _r(fd),
            "floor": _r(floor),
            "ratio_to_floor": _r(fd / floor, 3) if floor > 0 else None,
            "judge": judge_text,
            "data": f"{gen_text} vs {held_text}",
            "floor_data": f"{train_text} vs {held_text}",
            "features": f"{gen_feats.shape[1]}-d penultimate layer",
        },
    }

    gen_pred = gen_logits.argmax(1)
    held_pred = held_logits.argmax(1)
    if manifest.kind == "unconditional":
        hist = M.class_histogram(gen_pred, num_classes)
        held_hist = M.class_histogram(held_pred, num_classes)
        out["classes"] = {
            "present": M.classes_present(hist),
            "of": num_classes,
            "rule": f"a class is present when at least {M.APPEARS_MIN_SHARE:.0%} of the "
            "samples are classified as it (judge argmax)",
            "kl_from_uniform": _r(M.kl_from_uniform(hist)),
            "histogram": [_r(h) for h in hist],
            "real_reference": {
                "present": M.classes_present(held_hist),
                "kl_from_uniform": _r(M.kl_from_uniform(held_hist)),
                "data": held_text + ", judge predictions",
            },
            "judge": judge_text,
            "data": gen_text,
        }
    else:
        assert labels is not None
        acc = M.per_label_accuracy(gen_pred, labels, num_classes)
        assert manifest.classes is not None
        out["label_accuracy"] = {
            "per_label": {
                name: (None if a is None else _r(a))
                for name, a in zip(manifest.classes, acc, strict=True)
            },
            "min": _r(min(a for a in acc if a is not None)),
            "mean": _r(float(np.mean([a for a in acc if a is not None]))),
            "samples_per_label": int(np.bincount(labels, minlength=num_classes).min()),
            "real_reference": {
                "accuracy": _r(float((held_pred == held_y).mean())),
                "data": held_text + ", true labels",
            },
            "judge": judge_text,
            "data": gen_text,
        }

    n_pr = min(n, len(held_feats), m)
    precision, recall = M.precision_recall(held_feats[:n_pr], gen_feats[:n_pr], k)
    fp, fr = M.precision_recall(held_feats[:n_pr], train_feats[:n_pr], k)
    out["precision_recall"] = {
        "precision": _r(precision),
        "recall": _r(recall),
        "k": k,
        "floor": {"precision": _r(fp), "recall": _r(fr)},
        "judge": judge_text,
        "data": f"first {n_pr} of the {n} samples vs {n_pr} digits of {held_text}",
    }
    out["precision_recall"]["floor"]["data"] = (
        f"{data_name}[0:{n_pr}] (training split) vs {n_pr} digits of {held_text}"
    )
    out["evaluation"]["wall_seconds"] = _r(time.perf_counter() - start, 1)
    return out


def format_table(name: str, kind: str, m: dict[str, Any]) -> str:
    ev = m["evaluation"]
    rows: list[tuple[str, str, str]] = []
    fd = m["fd_judge"]
    rows.append(
        (
            "FD-judge (lower is better)",
            f"{fd['value']:.3f}",
            f"{fd['floor']:.3f}  (x{fd['ratio_to_floor']} the floor)",
        )
    )
    if "classes" in m:
        c = m["classes"]
        ref = c["real_reference"]
        rows.append(
            ("classes present (>= 1 %)", f"{c['present']}/{c['of']}", f"{ref['present']}/{c['of']}")
        )
        rows.append(
            (
                "class KL from uniform",
                f"{c['kl_from_uniform']:.4f}",
                f"{ref['kl_from_uniform']:.4f}",
            )
        )
    if "label_accuracy" in m:
        la = m["label_accuracy"]
        ref = la["real_reference"]["accuracy"]
        rows.append(("label accuracy, min over labels", f"{la['min']:.4f}", f"{ref:.4f} (real)"))
        rows.append(("label accuracy, mean", f"{la['mean']:.4f}", ""))
        for label, a in la["per_label"].items():
            rows.append((f"  label {label}", f"{a:.4f}", ""))
    pr = m["precision_recall"]
    rows.append(
        (f"precision (k={pr['k']})", f"{pr['precision']:.4f}", f"{pr['floor']['precision']:.4f}")
    )
    rows.append((f"recall (k={pr['k']})", f"{pr['recall']:.4f}", f"{pr['floor']['recall']:.4f}"))
    heading = [
        f"{name} ({kind}): {ev['generated']}",
        f"judge: {fd['judge']}",
        f"real data: {ev['data']}; floor: {fd['floor_data']}",
    ]
    return metric_table(heading, ("metric", "model", "real-vs-real floor / reference"), rows)


# (row, the figure, how it prints, True when a higher figure is worse)
_FIGURES: list[tuple[str, Any, str, bool]] = [
    ("FD-judge / its floor", lambda m: m["fd_judge"]["ratio_to_floor"], "x{:.2f}", True),
    ("classes present (>= 1 %)", lambda m: m["classes"]["present"], "{}/10", False),
    ("class KL from uniform", lambda m: m["classes"]["kl_from_uniform"], "{:.4f}", True),
    ("label accuracy, min", lambda m: m["label_accuracy"]["min"], "{:.1%}", False),
    ("label accuracy, mean", lambda m: m["label_accuracy"]["mean"], "{:.2%}", False),
    ("precision", lambda m: m["precision_recall"]["precision"], "{:.3f}", False),
    ("recall", lambda m: m["precision_recall"]["recall"], "{:.3f}", False),
]


def format_two(name: str, kind: str, first: dict[str, Any], second: dict[str, Any]) -> str:
    """Every figure by both judges, the worse first (a judge can be pleased by what it shares
    with the model's training; the other one is the check)."""
    judges = (first["fd_judge"]["judge"].split(" ")[0], second["fd_judge"]["judge"].split(" ")[0])
    rows = []
    for label, get, fmt, higher_worse in _FIGURES:
        try:
            values = (get(first), get(second))
        except KeyError:
            continue
        order = sorted(range(2), key=lambda i: -values[i] if higher_worse else values[i])
        rows.append((label, *(f"{fmt.format(values[i])} ({judges[i]})" for i in order)))
    heading = [
        f"{name} ({kind}): {first['evaluation']['generated']}",
        f"judges: {first['fd_judge']['judge']}; {second['fd_judge']['judge']}",
    ]
    return metric_table(heading, ("metric", "worse", "other"), rows, align="<")
