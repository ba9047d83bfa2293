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

ROLES = {"g_ab": "a2b", "g_ba": "b2a"}


def copy_onnx_weights(module: nn.Module, path: Path) -> list[str]:
    """Load `module`'s tensors from the ONNX initializers named after them (a wrapper's
    prefix, such as `Downscaled`'s `g.`, is allowed). Returns the tensors that match no
    initializer, several, or one of another shape; the module is changed only when none do.
    """
    inits = {i.name: i for i in onnx.load(str(path)).graph.initializer}
    loaded, problems = {}, []
    for key, tensor in module.state_dict().items():
        if key.endswith("num_batches_tracked"):  # a BN counter, not exported
            loaded[key] = tensor
            continue
        names = [n for n in inits if n == key or n.endswith("." + key)]
        array = numpy_helper.to_array(inits[names[0]]) if len(names) == 1 else None
        if array is None or tuple(array.shape) != tuple(tensor.shape):
            problems.append(key)
            continue
        loaded[key] = torch.from_numpy(array.copy())
    if not problems:
        module.load_state_dict(loaded)
    return problems


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
        problems = copy_onnx_weights(models[key], path)
        if problems:
            raise ConfigError(
                f"init_from={folder!r}: {role}.onnx does not fit this config's generator "
                f"(ngf, n_blocks, upsample must match the exported model's): "
                f"{', '.join(problems[:3])}{' ...' if len(problems) > 3 else ''}"
            )
        files[role] = sha256_of(path)
    return {"folder": str(root.resolve()), "model": manifest.name, "sha256": files}
