"""An imported PyTorch translator -> `<role>.onnx`, through the exporter's own ONNX writer and
its parity check against PyTorch, at two image sizes other than the traced one (so the
dynamic H and W are proven to work) and a batch of two (so is the batch axis)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from training.export import ExportError, check_parity, to_onnx
from training.importers.job import Job

AXES = {"image": {0: "N", 2: "H", 3: "W"}, "translated": {0: "N", 2: "H", 3: "W"}}


def parity_sizes(multiple: int) -> list[tuple[int, int]]:
    """Two non-square sizes (so neither is the traced `size` x `size`) that divide by
    `multiple`, with sides of at least 32 px."""
    step = multiple * -(-32 // multiple)
    return [(2 * step, 3 * step), (3 * step, step)]


def export(
    nets: dict[str, nn.Module], job: Job, size: int, multiple: int
) -> dict[str, dict[str, float]]:
    """Write each role's ONNX file; return its max |onnxruntime - torch| per checked size."""
    if job.opset < 17:
        raise ExportError(f"opset {job.opset}: the service needs 17 or newer")
    job.out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    parity: dict[str, dict[str, float]] = {}
    for role, net in nets.items():
        net.eval()
        path = job.out / f"{role}.onnx"
        example = (torch.zeros(1, 3, size, size),)
        to_onnx(net, example, ["image"], "translated", AXES, path, job.opset)
        parity[role] = {}
        for h, w in parity_sizes(multiple):
            feeds = {"image": rng.uniform(-1, 1, (2, 3, h, w)).astype(np.float32)}
            parity[role][f"{h}x{w}"] = check_parity(net, path, feeds, job.tolerance, role)
    return parity
