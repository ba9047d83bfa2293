"""PyTorch twins of served ONNX models, for the naive baseline server (needs the train extra).

A model folder's `model.json` records the training config; `training.factory` builds the
same networks from it, and the weights are copied from the ONNX initializers, which the
exporter names after the PyTorch parameters. The copy is trusted only when PyTorch and ONNX
Runtime agree on one input; otherwise the networks keep their initial weights, which is
fine for timing (the cost of a forward pass does not depend on the weights) and is said so.

`export_initial` writes a served model folder from a config with initial weights: the
benchmark's stand-in when `models/` has no trained model of a kind.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from service.manifest import FileRef, ImageSpec, LatentSpec, Manifest, sha256_of  # noqa: E402
from training import factory  # noqa: E402
from training.config import Config, build  # noqa: E402
from training.export import to_onnx  # noqa: E402
from training.init_from import copy_onnx_weights  # noqa: E402

# Served role -> key of training.factory.generators.
ROLE_KEYS = {"generator": "g", "a2b": "g_ab", "b2a": "g_ba"}
PARITY_TOLERANCE = 1e-3


def training_config(manifest: Manifest) -> Config | None:
    """The recorded training config (options this code no longer knows are dropped)."""
    values = manifest.training.get("config")
    if not values:
        return None
    known = {f.name for f in dataclasses.fields(Config)}
    return build({k: v for k, v in values.items() if k in known})


def _feeds(manifest: Manifest, rows: int = 2) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    if manifest.kind == "translation":
        side = 4 * manifest.image.multiple_of * 4
        return {"image": rng.uniform(-1, 1, (rows, 3, side, side)).astype(np.float32)}
    feeds = {"z": rng.standard_normal((rows, manifest.latent.dim)).astype(np.float32)}
    if manifest.kind == "conditional":
        feeds["label"] = rng.integers(0, len(manifest.classes), rows).astype(np.int64)
    return feeds


def _max_diff(module: nn.Module, path: Path, feeds: dict[str, np.ndarray]) -> float:
    from service.engine.runtime import cpu_session

    session = cpu_session(path)
    expected = session.run(None, feeds)[0]
    with torch.no_grad():
        got = module(*(torch.from_numpy(v) for v in feeds.values())).numpy()
    return float(np.abs(got - expected).max())


def load(folder: Path) -> tuple[Manifest, dict[str, nn.Module], str]:
    """(manifest, role -> generator in eval mode, a note on where the weights came from)."""
    manifest = Manifest.load(folder)
    cfg = training_config(manifest)
    if cfg is None:
        raise ValueError(f"{folder}: model.json records no training config to build from")
    torch.manual_seed(cfg.seed)  # as export_initial: unmapped weights are still the same
    gens = factory.generators(cfg, len(manifest.classes or []))
    modules: dict[str, nn.Module] = {}
    notes = []
    for role, ref in manifest.files.items():
        module = gens[ROLE_KEYS[role]].eval()
        path = folder / ref.path
        mapped = not copy_onnx_weights(module, path)
        diff = _max_diff(module, path, _feeds(manifest))
        source = "ONNX initializers" if mapped else "initial weights"
        if diff <= PARITY_TOLERANCE:
            notes.append(f"{role}: {source}, max |torch - onnxruntime| = {diff:.1e}")
        else:
            notes.append(
                f"{role}: {source}, NOT the served weights (max diff {diff:.2g}); "
                "the timing does not depend on them"
            )
        modules[role] = module
    return manifest, modules, "; ".join(notes)


def export_initial(values: dict[str, Any], folder: Path, domains: tuple[str, str]) -> Manifest:
    """A translation or unconditional model folder from a config, with initial weights."""
    cfg = build(values)
    torch.manual_seed(cfg.seed)
    gens = factory.generators(cfg)
    folder.mkdir(parents=True, exist_ok=True)
    if cfg.family == "cyclegan":
        example = (torch.zeros(1, 3, cfg.crop_size, cfg.crop_size),)
        axes = {"image": {0: "N", 2: "H", 3: "W"}, "translated": {0: "N", 2: "H", 3: "W"}}
        for role in ("a2b", "b2a"):
            to_onnx(
                gens[ROLE_KEYS[role]],
                example,
                ["image"],
                "translated",
                axes,
                folder / f"{role}.onnx",
                17,
            )
        image = ImageSpec(channels=3, height=cfg.crop_size, width=cfg.crop_size, multiple_of=4)
        kind, latent, named = "translation", None, {"a": domains[0], "b": domains[1]}
    else:
        example = (torch.zeros(2, cfg.z_dim),)
        axes = {"z": {0: "N"}, "image": {0: "N"}}
        to_onnx(gens["g"], example, ["z"], "image", axes, folder / "generator.onnx", 17)
        size = cfg.image_size
        image = ImageSpec(channels=cfg.channels, height=size, width=size)
        kind, latent, named = "unconditional", LatentSpec(dim=cfg.z_dim), None
    files = {
        p.stem: FileRef(path=p.name, sha256=sha256_of(p)) for p in sorted(folder.glob("*.onnx"))
    }
    manifest = Manifest(
        name=folder.name,
        kind=kind,
        description=f"{cfg.family} of {cfg.name} with initial weights (benchmark stand-in)",
        image=image,
        latent=latent,
        domains=named,
        files=files,
        untrained=True,
        training={"config": cfg.to_dict()},
    )
    manifest.dump(folder)
    return manifest
