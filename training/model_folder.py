"""What training checks and writes in an exported model folder besides the ONNX files: the
files against their manifest, the provenance of a measurement, metrics merged into model.json,
and the model card (README.md), whose one writer is `write_card`.

A leaf module: export and every evaluation import it, it imports neither.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from service.manifest import MANIFEST_FILE, Manifest, sha256_of
from training.portable_paths import portable, portable_command
from training.revision import git_revision

CARD_FILE = "README.md"
CARD_START = "<!-- evaluation:start (written by python -m training evaluate) -->"
CARD_END = "<!-- evaluation:end -->"


def verify_files(folder: Path, manifest: Manifest) -> None:
    """Refuse a folder whose ONNX files are not the ones its manifest names."""
    for role, ref in manifest.files.items():
        digest = sha256_of(folder / ref.path)
        if digest != ref.sha256:
            raise ValueError(f"{folder / ref.path} ({role}): sha256 {digest} != manifest")


def provenance(tool: str, command: str | None, judge: Any, judge_dir: str | Path) -> dict:
    """Who measured, when, from which code, with which judge: the head of `evaluation`."""
    return {
        "tool": tool,
        "command": command and portable_command(command),
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "code_revision": git_revision(),
        "judge": {
            "name": judge.name,
            "path": portable(Path(judge_dir).as_posix()),
            "sha256": judge.info["sha256"],
            "heldout_accuracy": judge.info.get("heldout_accuracy"),
        },
    }


def write_metrics(model_dir: str | Path, new: dict[str, Any]) -> None:
    """Merge `new` into model.json `metrics`, keeping every other byte of meaning."""
    path = Path(model_dir) / MANIFEST_FILE
    raw = json.loads(path.read_text())
    raw.setdefault("metrics", {}).update(new)
    Manifest.model_validate(raw)  # still a valid manifest
    path.write_text(json.dumps(raw, indent=2) + "\n")


def card(m: Manifest) -> str:
    """A new model card, made from model.json alone (its `training` record)."""
    t = m.training or {}
    cfg = t["config"]
    command = t.get("command") or f"python -m training train {cfg['family']} ..."
    facts = [f"- domains: a = {m.domains['a']}, b = {m.domains['b']}"] if m.domains else []
    facts += [f"- classes: {', '.join(m.classes)}"] if m.classes else []
    if "holdout" in t:
        na, nb = len(t["holdout"]["a"]), len(t["holdout"]["b"])
        facts.append(
            f"- validation: the last {na} photos of trainA and {nb} of trainB in sorted order, "
            "held out and never trained on (listed in model.json, `training.holdout`)"
        )
    facts += [
        f"- kind: {m.kind}; image {m.image.channels}x{m.image.height}x{m.image.width} "
        f"in [-1, 1]" + (f"; latent dim {m.latent.dim}" if m.latent else ""),
        f"- data: `{t['data']}`",
        f"- trained: {t['steps']} steps, batch {t['batch_size']} x {t['world_size']} "
        f"process(es), {t['wall_time_s']} s on {t['device']}, code {t['code_revision'][:12]}",
        f"- objective: {cfg['loss']}; EMA decay {cfg['ema_decay']}; "
        f"spectral norm {cfg['spectral_norm']}",
        f"- exported from `{t['checkpoint']}` with {t['weights']} weights; ONNX Runtime vs "
        f"PyTorch max abs diff {t['onnx_parity_max_abs_diff']}",
    ]
    lines = [
        f"# {m.name}",
        "",
        m.description,
        "",
        *facts,
        "",
        "## How it was made",
        "",
        "```",
        command,
        *(f"{r['command']}   # from step {r['from_step']}" for r in t.get("resumes", [])),
        f"python -m training export {t['checkpoint']} --out models/{m.name}",
        "```",
        "",
        "![samples](samples.png)",
        "",
        "## Limits",
        "",
        "A small model trained briefly on CPU for a demonstration: expect blurry, sometimes "
        "malformed samples. Not evaluated for any use beyond trying the service.",
    ]
    return "\n".join(lines) + "\n"


def evaluation_section(ev: dict[str, Any], table: str, gallery: str | None = None) -> str:
    """The card's evaluation section: the table, what it was computed on, how."""
    return "\n".join(
        [
            CARD_START,
            "## Evaluation",
            "",
            f"Measured {ev['date']} with `{ev['command']}` (see docs/evaluation.md for the "
            "definitions).",
            "",
            "```",
            table,
            "```",
            *(["", f"![held-out photos and their translations]({gallery})"] if gallery else []),
            CARD_END,
        ]
    )


def write_card(
    model_dir: str | Path, text: str | None = None, evaluation: str | None = None
) -> None:
    """Write the folder's README.md: `text` as a new card (else the card there, hand edits
    kept), with `evaluation` in place of an earlier evaluation section (else appended)."""
    path = Path(model_dir) / CARD_FILE
    if text is None:
        text = path.read_text() if path.exists() else ""
    if evaluation is not None:
        if CARD_START in text and CARD_END in text:
            head, rest = text.split(CARD_START, 1)
            text = head + evaluation + rest.split(CARD_END, 1)[1]
        else:
            text = text.rstrip("\n") + ("\n\n" if text else "") + evaluation + "\n"
    path.write_text(text)
