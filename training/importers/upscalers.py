"""An imported super-resolution network -> `upscale.onnx`, through the exporter's own ONNX
writer and parity check against PyTorch, at two odd-sided sizes other than the traced one and
a batch of two, so the dynamic batch, height and width axes are proven to work."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from service.manifest import UPSCALE
from training.export import ExportError, check_parity, to_onnx
from training.importers.job import Job

OUTPUT = "upscaled"  # not `image`: ONNX value names are unique and the input has it
AXES = {"image": {0: "N", 2: "H", 3: "W"}, OUTPUT: {0: "N", 2: "scaled_H", 3: "scaled_W"}}


def parity_sizes(multiple: int) -> list[tuple[int, int]]:
    """Two non-square sizes whose sides are odd multiples of `multiple`."""
    return [(11 * multiple, 17 * multiple), (19 * multiple, 9 * multiple)]


def export(net: nn.Module, job: Job, multiple: int) -> dict[str, float]:
    """Write `upscale.onnx`; return its max |onnxruntime - torch| per checked size."""
    if job.opset < 17:
        raise ExportError(f"opset {job.opset}: the service needs 17 or newer")
    job.out.mkdir(parents=True, exist_ok=True)
    path = job.out / f"{UPSCALE}.onnx"
    side = 16 * multiple
    to_onnx(net.eval(), (torch.zeros(1, 3, side, side),), ["image"], OUTPUT, AXES, path, job.opset)
    rng = np.random.default_rng(0)
    parity = {}
    for h, w in parity_sizes(multiple):
        feeds = {"image": rng.uniform(0, 1, (2, 3, h, w)).astype(np.float32)}
        parity[f"{h}x{w}"] = check_parity(net, path, feeds, job.tolerance, UPSCALE)
    return parity
