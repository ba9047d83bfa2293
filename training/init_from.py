"""Start a CycleGAN's generators from an exported model folder: fine-tuning a served model.

The exporter keeps parameter names as ONNX initializer names, so `a2b.onnx` and `b2a.onnx`
hold the state_dicts of g_ab and g_ba (the weights that were served, EMA when there was one).
The discriminators and optimisers start fresh: they are not exported.
"""

from __future__ import annotations

from pathlib import Path

import onnx
import torch
from onnx import numpy_helper
from pydantic import ValidationError
from torch import nn

from service.manifest import Manifest, sha256_of
from training.config import ConfigError

WRAPPER_PREFIX = "g."  # a `downscale` export wraps the generator as `g`
ROLES = {"g_ab": "a2b", "g_ba": "b2a"}


def onnx_weights(path: Path) -> dict[str, torch.Tensor]:
    """Initializer name -> tensor, with the `downscale` wrapper's prefix taken off."""
    out = {}
    for init in onnx.load(str(path)).graph.initializer:
        name = init.name.removeprefix(WRAPPER_PREFIX)
        out[name] = torch.from_numpy(numpy_helper.to_array(init).copy())
    return out


def load_generators(models: dict[str, nn.Module], folder: str) -> dict[str, object]:
    """Copy a translation folder's weights into g_ab and g_ba; returns their provenance."""
    root = Path(folder)
    try:
        manifest = Manifest.load(root)
    except (OSError, ValidationError) as exc:
        raise ConfigError(f"init_from={folder!r}: not a model folder ({exc})") from None
    if manifest.kind != "translation":
        raise ConfigError(f"init_from={folder!r}: kind {manifest.kind!r}, not translation")
    files = {}
    for key, role in ROLES.items():
        path = root / manifest.files[role].path
        wanted = models[key].state_dict()
        weights = onnx_weights(path)
        try:
            models[key].load_state_dict({k: weights[k] for k in wanted}, strict=True)
        except (KeyError, RuntimeError) as exc:
            raise ConfigError(
                f"init_from={folder!r}: {role}.onnx does not fit this config's generator "
                f"(ngf, n_blocks, upsample must match the exported model's): {exc}"
            ) from None
        files[role] = sha256_of(path)
    return {"folder": str(root.resolve()), "model": manifest.name, "sha256": files}
