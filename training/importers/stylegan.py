"""`python -m training import stylegan`: an NVIDIA StyleGAN snapshot (`network-snapshot-*.pkl`
of stylegan2-ada-pytorch or stylegan3, or one of their released `.pkl` files) as a model
folder of kind `stylegan`: `mapping.onnx` and `synthesis.onnx` (see
`service.manifest.StyleGANSpec`), model.json, samples.png, README.md.

The pickle is read without running its embedded code (`stylegan_pickle`); `G_ema` is rebuilt
with ganserve's own networks from the keyword arguments its record holds, loaded strictly,
and exported with a parity check at two batch sizes. D, the augmentation pipeline and G
(the non-averaged generator) are read as inert records and left out.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from service.manifest import ImageSpec, Manifest, StyleGANSpec
from training.importers import folder, provenance, state_dict, stylegan_export
from training.importers.job import Job
from training.importers.stylegan_pickle import Persistent, SnapshotError, read
from training.nets import stylegan2, stylegan3

NVIDIA = (
    "Karras et al., NVIDIA: github.com/NVlabs/stylegan2-ada-pytorch, github.com/NVlabs/stylegan3"
)
NVIDIA_LICENCE = (
    "NVIDIA's released StyleGAN weights, and snapshots trained with NVIDIA's code, come under "
    "NVIDIA's Source Code License-NC (nvlabs.github.io/stylegan3/license.html): "
    "non-commercial use (research or evaluation) only. ganserve's code that rebuilt and "
    "exported the network is its own (MIT) and holds none of NVIDIA's; the weights keep "
    "NVIDIA's licence, and a snapshot someone else trained keeps whatever its owner gives."
)

# G_ema keyword arguments that change only training or the speed of a GPU (float16 blocks,
# channels-last, fused modulation, the EMA rates of w_avg and magnitude_ema), never what
# G_ema computes in float32: recorded, not needed to rebuild it.
SPEED_OR_TRAINING = {
    "num_fp16_res",
    "fp16_channels_last",
    "fused_modconv_default",
    "channels_last",
    "use_fp16",
    "magnitude_ema_beta",
    "w_avg_beta",
}
TOP = {"z_dim", "c_dim", "w_dim", "img_resolution", "img_channels", "mapping_kwargs"}
MAPPING = {"num_layers", "embed_features", "layer_features", "activation", "lr_multiplier"}
STYLEGAN2 = {"channel_base", "channel_max", "conv_clamp", "resample_filter", "use_noise"}


def _kwargs(g: Persistent) -> dict[str, Any]:
    """G_ema's init kwargs in stylegan3's layout (stylegan2-ada-pytorch nests the synthesis
    network's under `synthesis_kwargs`), without those `SPEED_OR_TRAINING` names."""
    if g.init_args:
        raise SnapshotError(f"G_ema ({g.class_name}) was built with positional arguments")
    kwargs = g.init_kwargs
    kwargs.update(dict(kwargs.pop("synthesis_kwargs", None) or {}))
    kwargs["mapping_kwargs"] = {
        k: v
        for k, v in dict(kwargs.get("mapping_kwargs") or {}).items()
        if k not in SPEED_OR_TRAINING
    }
    return {k: v for k, v in kwargs.items() if k not in SPEED_OR_TRAINING}


def _refuse_unknown(kwargs: dict[str, Any], known: set[str], what: str) -> None:
    unknown = sorted(set(kwargs) - known)
    if unknown:
        raise SnapshotError(
            f"G_ema's {what} has options ganserve does not rebuild: {', '.join(unknown)} "
            "(a modified networks file?)"
        )


def architecture(g: Persistent) -> str:
    """stylegan2, stylegan3-t or stylegan3-r, from the synthesis network's layout and kwargs."""
    parts = g.children()
    synthesis = parts.get("synthesis")
    if synthesis is None or "mapping" not in parts:
        raise SnapshotError(
            f"G_ema is a {g.class_name} without mapping and synthesis networks: not a "
            "StyleGAN2 or StyleGAN3 generator"
        )
    layers = synthesis.children()
    if "b4" in layers:
        style = _kwargs(g).get("architecture", "skip")
        if style != "skip":
            raise SnapshotError(
                f"G_ema is a StyleGAN2 of architecture {style!r}; ganserve rebuilds 'skip', "
                "the generator architecture of every released configuration"
            )
        return "stylegan2"
    if "input" in layers:
        kwargs = _kwargs(g)
        return "stylegan3-r" if kwargs.get("conv_kernel", 3) == 1 else "stylegan3-t"
    raise SnapshotError(
        f"G_ema's synthesis network ({synthesis.class_name}) has neither a b4 block "
        "(StyleGAN2) nor an input layer (StyleGAN3)"
    )


def _plain(value: Any) -> Any:
    """A JSON-able copy of init kwargs (EasyDicts, numpy scalars, tuples)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def build(g: Persistent, arch: str) -> nn.Module:
    """ganserve's generator for `arch` with G_ema's recorded options."""
    kwargs = _kwargs(g)
    _refuse_unknown(kwargs["mapping_kwargs"], MAPPING, "mapping network")
    if kwargs["mapping_kwargs"].get("activation", "lrelu") != "lrelu":
        raise SnapshotError("G_ema's mapping network uses another activation than lrelu")
    kwargs.pop("architecture", None)  # checked by architecture()
    if kwargs.pop("activation", "lrelu") != "lrelu":  # recorded by legacy.py's TF conversion
        raise SnapshotError("G_ema's synthesis network uses another activation than lrelu")
    if arch == "stylegan2":
        _refuse_unknown(kwargs, TOP | STYLEGAN2, "synthesis network")
        net_class: type[nn.Module] = stylegan2.Generator
    else:
        _refuse_unknown(kwargs, TOP | stylegan3.OPTIONS, "synthesis network")
        net_class = stylegan3.Generator
    missing = sorted(k for k in TOP - {"mapping_kwargs"} if k not in kwargs)
    if missing:
        raise SnapshotError(f"G_ema's record lacks {', '.join(missing)}")
    try:
        return net_class(**_plain(kwargs)).eval()
    except (TypeError, ValueError) as exc:
        raise SnapshotError(f"G_ema's options do not make a network: {exc}") from None


def _advice(arch: str):
    def advice(_state) -> str:
        return f"Its tensors are not those of a {arch} G_ema with its recorded options."

    return advice


def _say(stage: str, text: str, started: float) -> None:
    print(f"{stage}: {text} ({time.monotonic() - started:.1f} s)", flush=True)


def load(path: Path) -> tuple[nn.Module, str, dict[str, Any]]:
    """The snapshot's G_ema rebuilt and loaded; its architecture; what provenance keeps."""
    started = time.monotonic()
    snap = read(path)
    g = snap.g_ema
    tensors = g.tensors()
    _say(
        "read",
        f"{path.name}, {path.stat().st_size / 2**20:.1f} MiB: G_ema is a {g.class_name} of "
        f"{len(tensors)} tensors; {len(snap.module_sources)} embedded source file(s), never run",
        started,
    )
    arch = architecture(g)
    net = build(g, arch)
    chosen = f"ganserve's {arch} generator built from G_ema's recorded options"
    state_dict.fit(net, dict(tensors), path.name, chosen, _advice(arch))
    params = sum(p.numel() for p in net.parameters())
    _say(
        "rebuild",
        f"{arch} {net.img_resolution}x{net.img_resolution}, num_ws {net.num_ws}, c_dim "
        f"{net.c_dim}, {params:,} parameters, loaded strictly",
        started,
    )
    record = {
        "snapshot_keys": snap.keys,
        "class": g.class_name,
        "init_kwargs": _plain(g.init_kwargs),
        "module_src_sha256": snap.module_sources,
        "training_set_kwargs": _plain(snap.training_set),
        "parameters": params,
    }
    return net, arch, record


def run(path: Path, psi: float, classes: list[str] | None, job: Job) -> Manifest:
    started = time.monotonic()
    if not math.isfinite(psi):
        raise SnapshotError(f"--psi {psi} is not a number")
    net, arch, record = load(path)
    if classes is not None and len(classes) != net.c_dim:
        raise SnapshotError(
            f"--classes names {len(classes)} classes; G_ema takes c_dim {net.c_dim}"
            + (" (it is unconditional: leave --classes out)" if net.c_dim == 0 else "")
        )
    if net.c_dim and classes is None:
        classes = [str(i) for i in range(net.c_dim)]
    parity = stylegan_export.export(net, job.out, psi, job.tolerance, job.opset)
    _say("parity", "ONNX Runtime matches PyTorch at batches 1 and 2", started)
    stored = stylegan_export.stored_transform(net)
    spec = StyleGANSpec(
        architecture=arch,
        resolution=net.img_resolution,
        z_dim=net.z_dim,
        c_dim=net.c_dim,
        w_dim=net.w_dim,
        num_ws=net.num_ws,
        psi=psi,
        transform=None if stored is None else stored.tolist(),
    )
    source = provenance.record(
        "an NVIDIA StyleGAN snapshot (pickle), read without running its embedded code",
        {"snapshot": provenance.file_record(path)},
        NVIDIA_LICENCE,
        job.command,
        authors=NVIDIA,
        architecture=arch,
        options={"resolution": net.img_resolution, "num_ws": net.num_ws, "psi": psi},
        g_ema=record,
        onnx_parity_max_abs_diff=parity,
        torch=torch.__version__,
    )
    kind = "conditional, " if net.c_dim else ""
    manifest = folder.write(
        job,
        "stylegan",
        ImageSpec(channels=net.img_channels, height=net.img_resolution, width=net.img_resolution),
        ["mapping", "synthesis"],
        f"{arch} {net.img_resolution}x{net.img_resolution} ({kind}G_ema of {path.name})",
        source,
        latent=net.z_dim,
        classes=classes,
        stylegan=spec,
        notes=[
            f"truncation psi {psi} unless a request names its own; "
            + (
                "noise is the snapshot's stored constant noise (NVIDIA's noise_mode='const')"
                if arch == "stylegan2"
                else "StyleGAN3 has no noise inputs"
            )
            + ", so a seed always gives the same image",
            "mapping.onnx then synthesis.onnx computes NVIDIA's G_ema(z, c, "
            "truncation_psi=psi, noise_mode='const')"
            + ("; c is the one-hot label" if net.c_dim else "")
            + (
                "; synthesis' `transform` is each row's input transform buffer: "
                "stylegan.transform (the snapshot's) reproduces G_ema, and "
                "inv(make_transform(translate, rotate)) gen_images.py's --translate, --rotate"
                if stored is not None
                else ""
            ),
        ],
    )
    _say("samples", "samples.png, model.json, README.md written", started)
    return manifest
