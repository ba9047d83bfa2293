"""A StyleGAN's two sessions as one generator: the mapping's ws, then the synthesis' images.

Mapping then synthesis is NVIDIA's `G(z, c, truncation_psi=psi, noise_mode='const')`. Each
half runs through its own batcher: mappings of many requests batch together (with their own
psi per row), and synthesis rows per run are bounded by the memory budget. `/interpolate`
walks W between the two halves, as NVIDIA's own video tool does.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import numpy as np

from service.api.inference import run
from service.api.services import Services
from service.latents import lerp, slerp
from service.manifest import MAPPING, SYNTHESIS
from service.repository.model import Model
from service.resources.memory import give_back_after_burst

Hangup = Callable[[], Awaitable[None]] | None


def mapping_inputs(
    model: Model,
    z: np.ndarray,
    labels: list[int] | np.ndarray | None,
    psi: float | np.ndarray | None,
) -> dict[str, np.ndarray]:
    """The mapping's feeds: z [N, z_dim], the one-hot label `c` (when the model has classes),
    and each row's psi (one for all, one per row, or the model's own when none is given)."""
    style = model.manifest.stylegan
    inputs = {"z": z}
    if style.c_dim:
        inputs["c"] = np.eye(style.c_dim, dtype=np.float32)[np.asarray(labels, np.int64)]
    if psi is None or np.ndim(psi) == 0:
        inputs["psi"] = np.full(len(z), style.psi if psi is None else psi, np.float32)
    else:
        inputs["psi"] = np.asarray(psi, np.float32)
    return inputs


async def images(
    svc: Services,
    model: Model,
    inputs: dict[str, np.ndarray],
    timeout_s: float,
    hangup: Hangup = None,
) -> np.ndarray:
    """The mapping's feeds to images [N, 3, R, R], both halves within `timeout_s`."""
    deadline = time.perf_counter() + timeout_s
    ws = await run(model.batchers[MAPPING], inputs, timeout_s, hangup)
    return await synthesise(svc, model, ws, deadline, hangup)


async def walk(
    svc: Services,
    model: Model,
    ends: dict[str, np.ndarray],
    steps: int,
    method: str,
    timeout_s: float,
    hangup: Hangup = None,
) -> np.ndarray:
    """`steps` images along the path between the two ends' ws (`ends`: the mapping's feeds
    for two rows). slerp treats each end's [num_ws, w_dim] as one vector."""
    deadline = time.perf_counter() + timeout_s
    ws = await run(model.batchers[MAPPING], ends, timeout_s, hangup)
    a, b = ws[0].ravel(), ws[1].ravel()
    mix = slerp if method == "slerp" else lerp
    path = np.stack([mix(a, b, float(t)) for t in np.linspace(0.0, 1.0, steps)])
    path = path.reshape(steps, *ws.shape[1:]).astype(np.float32, copy=False)
    return await synthesise(svc, model, path, deadline, hangup)


async def synthesise(
    svc: Services, model: Model, ws: np.ndarray, deadline: float, hangup: Hangup = None
) -> np.ndarray:
    """Images from ws, by the `deadline` (perf_counter's clock) the mapping began under. The
    runs' freed activations go back to the OS once the session holds no more work (they are
    allocated per run: service/engine/runtime.py, holds_large_runs)."""
    batcher = model.batchers[SYNTHESIS]
    left = deadline - time.perf_counter()
    out = await run(batcher, {"ws": ws}, max(left, 0.001), hangup)
    await give_back_after_burst(lambda: batcher.idle, svc.in_pool)
    return out
