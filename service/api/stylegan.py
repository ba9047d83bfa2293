"""A StyleGAN's two sessions as one generator: the mapping's ws, then the synthesis' images.

Mapping then synthesis is NVIDIA's `G(z, c, truncation_psi=psi, noise_mode='const')`. Each
half runs through its own batcher: mappings of many requests batch together (with their own
psi per row), and synthesis rows per run are bounded by the memory budget. `/interpolate`
walks W between the two halves, as NVIDIA's own video tool does.

A StyleGAN3 exported with synthesis' `transform` input is fed each row's input transform:
the manifest's stored one (`stylegan.transform`, the snapshot's buffer), or, for a request
that translates or rotates, the matrix NVIDIA's gen_images.py puts in that buffer instead.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np

from service.api.errors import ApiError
from service.api.inference import run
from service.api.services import Services
from service.latents import lerp, slerp
from service.manifest import MAPPING, SYNTHESIS
from service.repository.model import Model
from service.resources.memory import give_back_after_burst
from service.stylegan_transform import input_transforms, synthesis_feeds

Hangup = Callable[[], Awaitable[None]] | None
TRANSFORM = "transform"  # synthesis' input, carried beside the mapping's feeds until then


def transforms(model: Model, rows: int, translate: Any, rotate: Any) -> np.ndarray | None:
    """Each row's input transform [rows, 3, 3] for a translation (tx, ty) and a rotation in
    degrees, each one for all rows or one per row (either may be None: none of it); None
    when the request gives neither. A StyleGAN2 is 400 wrong_kind; a StyleGAN3 whose
    synthesis takes no `transform` (exported before it did) 400 transform_unavailable."""
    if translate is None and rotate is None:
        return None
    style = model.manifest.stylegan
    if style.architecture == "stylegan2":
        raise ApiError(
            400,
            "wrong_kind",
            f"model {model.name!r} is a StyleGAN2: translate and rotate are for StyleGAN3",
        )
    if style.transform is None:
        raise ApiError(
            400,
            "transform_unavailable",
            f"model {model.name!r}'s synthesis.onnx takes no input transform (exported before "
            "it did): import its snapshot again to translate or rotate",
        )
    translate = np.broadcast_to(np.asarray((0, 0) if translate is None else translate), (rows, 2))
    rotate = np.broadcast_to(np.asarray(0 if rotate is None else rotate), (rows,))
    return input_transforms(translate, rotate)


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


def request_feeds(
    model: Model,
    z: np.ndarray,
    labels: list[int] | np.ndarray | None,
    psi: float | np.ndarray | None,
    translate: Any,
    rotate: Any,
) -> dict[str, np.ndarray]:
    """A request's feeds for `images`: the mapping's, and each row's `transform` when it
    translates or rotates (`transforms`' refusals)."""
    inputs = mapping_inputs(model, z, labels, psi)
    transform = transforms(model, len(z), translate, rotate)
    if transform is not None:
        inputs[TRANSFORM] = transform
    return inputs


async def images(
    svc: Services,
    model: Model,
    inputs: dict[str, np.ndarray],
    timeout_s: float,
    hangup: Hangup = None,
) -> np.ndarray:
    """The mapping's feeds (and each row's `transform`, when given) to images [N, 3, R, R],
    both halves within `timeout_s`."""
    deadline = time.perf_counter() + timeout_s
    mapping = {k: v for k, v in inputs.items() if k != TRANSFORM}
    ws = await run(model.batchers[MAPPING], mapping, timeout_s, hangup)
    return await synthesise(svc, model, ws, deadline, hangup, inputs.get(TRANSFORM))


async def walk(
    svc: Services,
    model: Model,
    ends: dict[str, np.ndarray],
    steps: int,
    method: str,
    timeout_s: float,
    hangup: Hangup = None,
    transform: np.ndarray | None = None,
) -> np.ndarray:
    """`steps` images along the path between the two ends' ws (`ends`: the mapping's feeds
    for two rows), each with `transform` [3, 3] when given. slerp treats each end's
    [num_ws, w_dim] as one vector."""
    deadline = time.perf_counter() + timeout_s
    ws = await run(model.batchers[MAPPING], ends, timeout_s, hangup)
    a, b = ws[0].ravel(), ws[1].ravel()
    mix = slerp if method == "slerp" else lerp
    path = np.stack([mix(a, b, float(t)) for t in np.linspace(0.0, 1.0, steps)])
    path = path.reshape(steps, *ws.shape[1:]).astype(np.float32, copy=False)
    return await synthesise(svc, model, path, deadline, hangup, transform)


async def synthesise(
    svc: Services,
    model: Model,
    ws: np.ndarray,
    deadline: float,
    hangup: Hangup = None,
    transform: np.ndarray | None = None,
) -> np.ndarray:
    """Images from ws (with each row's `transform`, else the stored one), by the `deadline`
    (perf_counter's clock) the mapping began under. The runs' freed activations go back to
    the OS once the session's burst is done (they are allocated per run:
    service/engine/runtime.py, holds_large_runs)."""
    batcher = model.batchers[SYNTHESIS]
    left = deadline - time.perf_counter()
    stored = model.manifest.stylegan.transform  # a transform is refused where none is stored
    inputs = synthesis_feeds(ws, stored if transform is None else transform)
    out = await run(batcher, inputs, max(left, 0.001), hangup)
    give_back_after_burst(lambda: batcher.idle, svc.in_pool)
    return out
