"""Checkpoint -> served model folder: ONNX file(s), model.json, samples.png, README.md.

The ONNX signatures follow docs/architecture.md: `z` [N,D] float32 (+ `label` [N] int64) ->
`image`; translation `image` [N,3,H,W] -> `translated`, with N (and H, W) dynamic. Every
export is checked against PyTorch in ONNX Runtime at a batch size and (for translation) an
image size other than the traced ones, so the dynamic axes are proven to work.
"""

from __future__ import annotations

import datetime as dt
import platform
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
from torch import nn
from torch.nn import functional as F

from service import imaging
from service.latents import default_label, latents
from service.manifest import UPSCALE, FileRef, ImageSpec, LatentSpec, Manifest, sha256_of
from training import checkpoint, factory
from training.config import Config, build
from training.imaging import grid, save_png
from training.model_folder import card, write_card
from training.nets.cyclegan import MULTIPLE_OF, Downscaled

OPSET = 17
IR_VERSION = 10  # ONNX Runtime 1.31 reads IR <= 13; onnx >= 1.23 writes 14 by default


# the photos each translation direction samples, and those a super-resolution model enlarges
PHOTOS = {"a2b": "val_a", "b2a": "val_b", UPSCALE: "low_res"}


class ExportError(RuntimeError):
    pass


class _Conditional(nn.Module):
    def __init__(self, g: nn.Module) -> None:
        super().__init__()
        self.g = g

    def forward(self, z: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        return self.g(z, label)


class _Unconditional(_Conditional):
    def forward(self, z: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return self.g(z)


def to_onnx(
    module: nn.Module,
    args: tuple,
    names: list[str],
    output: str,
    dynamic: dict[str, dict[int, str]],
    path: Path,
    opset: int,
) -> None:
    # The TorchScript exporter gives a compact graph with named dynamic axes that ORT runs
    # at any batch (and image) size; the dynamo exporter's graph needed more fixing up.
    module.eval()
    with warnings.catch_warnings():  # tracer and deprecation notes, not problems
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            args,
            str(path),
            input_names=names,
            output_names=[output],
            dynamic_axes=dynamic,
            opset_version=opset,
            dynamo=False,
        )
    model = onnx.load(str(path))
    model.ir_version = min(model.ir_version, IR_VERSION)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def _session(path: Path):
    from service.engine.runtime import cpu_session

    return cpu_session(path)


def check_parity(
    module: nn.Module, path: Path, feeds: dict[str, np.ndarray], tolerance: float, role: str
) -> float:
    out = _session(path).run(None, feeds)[0]
    with torch.no_grad():
        ref = module(*(torch.from_numpy(v) for v in feeds.values())).numpy()
    if out.shape != ref.shape or out.dtype != np.float32:
        raise ExportError(f"{role}: ONNX gives {out.dtype}{out.shape}, torch {ref.shape}")
    diff = float(np.abs(out - ref).max())
    shapes = ", ".join(f"{k}{list(v.shape)}" for k, v in feeds.items())
    print(f"{role}: max |onnxruntime - torch| = {diff:.3g} on {shapes} (tolerance {tolerance})")
    if diff > tolerance:
        raise ExportError(f"{role}: ONNX Runtime differs from PyTorch by {diff} > {tolerance}")
    return diff


def _kind(cfg: Config) -> str:
    return {"dcgan": "unconditional", "cgan": "conditional", "cyclegan": "translation"}[cfg.family]


def export(
    ckpt: str | Path,
    out: Path,
    name: str | None = None,
    tolerance: float = 1e-4,
    opset: int = OPSET,
    version: str = "0.1.0",
    description: str = "",
) -> Manifest:
    ckpt_path = checkpoint.find(ckpt)
    state = checkpoint.load(ckpt_path)
    cfg = build(state["config"])
    if cfg.family == "toy2d":
        raise ExportError("toy2d models output 2D points, which the service does not serve")
    if opset < 17:
        raise ExportError(f"opset {opset}: the service needs 17 or newer")
    name = name or out.name
    kind = _kind(cfg)
    extra = state["extra"]
    classes = extra.get("classes")
    gens = factory.generators(cfg, len(classes) if classes else 0)
    for key, g in gens.items():
        g.load_state_dict(state["ema"].get(key) or state["models"][key])
        g.eval()
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    files: dict[str, FileRef] = {}
    parity: dict[str, float] = {}
    if kind == "translation":
        # sizes are those of the photos served: downscale x the training crop
        size, multiple = cfg.crop_size * cfg.downscale, MULTIPLE_OF * cfg.downscale
        if cfg.downscale > 1:
            gens = {key: Downscaled(g, cfg.downscale) for key, g in gens.items()}
        for role, key in (("a2b", "g_ab"), ("b2a", "g_ba")):
            path = out / f"{role}.onnx"
            example = torch.zeros(1, 3, size, size)
            axes = {"image": {0: "N", 2: "H", 3: "W"}, "translated": {0: "N", 2: "H", 3: "W"}}
            to_onnx(gens[key], (example,), ["image"], "translated", axes, path, opset)
            h, w = size + 2 * multiple, size + multiple  # not the traced size
            feeds = {"image": rng.uniform(-1, 1, (2, 3, h, w)).astype(np.float32)}
            parity[role] = check_parity(gens[key], path, feeds, tolerance, role)
        image = ImageSpec(channels=3, height=size, width=size, multiple_of=multiple)
        files = {
            r: FileRef(path=f"{r}.onnx", sha256=sha256_of(out / f"{r}.onnx"))
            for r in ("a2b", "b2a")
        }
    else:
        path = out / "generator.onnx"
        g = gens["g"]
        z = torch.zeros(2, cfg.z_dim)
        if kind == "conditional":
            module: nn.Module = _Conditional(g)
            args: tuple = (z, torch.zeros(2, dtype=torch.int64))
            names = ["z", "label"]
        else:
            module, args, names = _Unconditional(g), (z,), ["z"]
        axes = {n: {0: "N"} for n in [*names, "image"]}
        to_onnx(module, args, names, "image", axes, path, opset)
        feeds = {"z": rng.standard_normal((5, cfg.z_dim)).astype(np.float32)}
        if kind == "conditional":
            feeds["label"] = rng.integers(0, len(classes), 5).astype(np.int64)
        parity["generator"] = check_parity(module, path, feeds, tolerance, "generator")
        image = ImageSpec(channels=cfg.channels, height=cfg.image_size, width=cfg.image_size)
        files = {"generator": FileRef(path="generator.onnx", sha256=sha256_of(path))}
    manifest = Manifest(
        name=name,
        version=version,
        kind=kind,
        description=description or _describe(cfg, kind, extra),
        image=image,
        latent=LatentSpec(dim=cfg.z_dim) if kind != "translation" else None,
        classes=list(classes) if kind == "conditional" else None,
        domains=dict(zip("ab", extra["domains"], strict=True)) if kind == "translation" else None,
        files=files,
        training=_provenance(cfg, state, ckpt_path, parity),
    )
    samples(out, manifest, extra)
    manifest.dump(out)
    write_card(out, card(manifest))
    print(f"exported {kind} model {name!r} to {out}")
    return manifest


def _describe(cfg: Config, kind: str, extra: dict[str, Any]) -> str:
    if kind == "translation":
        a, b = extra["domains"]
        scale = f" of photos at 1/{cfg.downscale} size" if cfg.downscale > 1 else ""
        return f"CycleGAN {a} <-> {b}, {cfg.crop_size}px crops{scale}, ResNet-{cfg.n_blocks} G"
    what = "conditional GAN" if kind == "conditional" else "DCGAN"
    return f"{what} on {Path(cfg.data).name}, {cfg.image_size}px, {cfg.loss} loss"


def _provenance(cfg: Config, state: dict[str, Any], ckpt: Path, parity: dict) -> dict:
    data = state["extra"].get("data", cfg.data)
    record: dict[str, Any] = {
        "family": cfg.family,
        "data": str(Path(data).resolve()) if cfg.family != "toy2d" else data,
        "config": state["config"],
        "steps": state["step"],
        "batch_size": cfg.batch_size,
        "world_size": state["world_size"],
        "images_seen": state["step"]
        * cfg.batch_size
        * state["world_size"]
        * (cfg.d_steps if cfg.family != "cyclegan" else 1),
        "wall_time_s": round(state["elapsed"], 1),
        "device": state["device"],
        "code_revision": state["git"],
        "command": state["extra"].get("command", ""),
        "resumes": state["extra"].get("resumes", []),
        "checkpoint": str(ckpt.resolve()),
        "weights": "ema" if state["ema"] else "live",
        "exported_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "onnx_parity_max_abs_diff": parity,
    }
    if any(state["extra"].get("holdout", {}).values()):
        record["holdout"] = state["extra"]["holdout"]  # validation photos, never trained on
    for key in ("precision", "budget"):  # how amp/channels_last were chosen; a timed run
        if key in state["extra"]:
            record[key] = state["extra"][key]
    if "init_from" in state["extra"]:
        record["init_from"] = state["extra"]["init_from"]  # the model it was fine-tuned from
    if "train_count" in state["extra"]:
        record["train_count"] = state["extra"]["train_count"]
        record["epochs"] = round(record["images_seen"] / state["extra"]["train_count"], 2)
    return record


def _served_scale(crops: torch.Tensor, manifest: Manifest) -> torch.Tensor:
    """Validation crops are at the training scale; a `downscale` model expects N times it."""
    factor = manifest.image.height // crops.shape[-1]
    if factor == 1:
        return crops
    return F.interpolate(crops, scale_factor=factor, mode="bicubic").clamp(-1, 1)


def samples(out: Path, manifest: Manifest, extra: dict[str, Any]) -> None:
    """The preview grid, made through ONNX Runtime from the exported file itself; a
    translation direction's photos are `extra["val_a"]` (a2b) or `extra["val_b"]` (b2a),
    equally many, [N, 3, H, W] in [-1, 1]; a super-resolution model's are `extra["low_res"]`,
    [N, 3, H, W] in its `image.range`."""
    if manifest.kind == "super-resolution":
        _before_after(out, manifest, extra[PHOTOS[UPSCALE]].numpy())
        return
    if manifest.kind == "translation":  # per direction: its photos, then their translations
        rows = []
        for role in manifest.roles():
            photos = _served_scale(extra[PHOTOS[role]], manifest).numpy()
            session = _session(out / manifest.files[role].path)
            rows += [photos, session.run(None, {"image": photos})[0]]
        save_png(grid(np.concatenate(rows), len(rows[0])), out / "samples.png")
        return
    session = _session(out / "generator.onnx")
    if manifest.kind == "conditional":
        n = len(manifest.classes)
        seeds = list(range(8 * n))
        labels = np.array([default_label(s, n) for s in seeds], np.int64)
        order = np.argsort(labels, kind="stable")  # one row per class
        feeds = {
            "z": latents([seeds[i] for i in order], manifest.latent.dim),
            "label": labels[order],
        }
    else:
        feeds = {"z": latents(list(range(64)), manifest.latent.dim)}
    save_png(grid(session.run(None, feeds)[0], 8), out / "samples.png")


def _before_after(out: Path, manifest: Manifest, photos: np.ndarray) -> None:
    """One row per photo: the photo enlarged by nearest neighbour, then the network's output,
    each mapped from the model's range to 0-255 and rounded as Real-ESRGAN rounds it."""
    upscaled = _session(out / manifest.files[UPSCALE].path).run(None, {"image": photos})[0]
    scale = manifest.scale or 1
    before = photos.repeat(scale, axis=2).repeat(scale, axis=3)
    pairs = np.stack([before, upscaled], 1).reshape(-1, *upscaled.shape[1:])
    low, high = manifest.image.range
    unit = np.clip((pairs - low) / (high - low), 0, 1)
    pixels = (unit * 255).round().astype(np.uint8).transpose(0, 2, 3, 1)
    save_png(imaging.grid(np.ascontiguousarray(pixels), cols=2), out / "samples.png")
