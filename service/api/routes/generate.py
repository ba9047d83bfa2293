"""`POST /generate` and `POST /interpolate`: latents from seeds, images from a generator (a
StyleGAN's two halves: service/api/stylegan.py)."""

from __future__ import annotations

import base64
import os
from collections.abc import Callable
from typing import TypeVar

import numpy as np
from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel

from service import imaging
from service.api import json_body, stylegan
from service.api.direct_route import DirectRoute
from service.api.errors import ApiError
from service.api.inference import hangup_of, infer
from service.api.schemas import GeneratedImage, GenerateRequest, ImagesResponse, InterpolateRequest
from service.api.services import Services, pick_model, services
from service.latents import default_label, latent, latents, lerp, slerp
from service.manifest import SYNTHESIS
from service.repository.model import Model

# Each endpoint reads its own body (json_body) and answers a Response: nothing to solve.
router = APIRouter(tags=["generate"], route_class=DirectRoute)

T = TypeVar("T")

PNG_RESPONSE = {200: {"content": {"image/png": {}}, "description": "JSON, or one PNG grid"}}
# Encoding up to this many pixel values costs less than a hand-off to the CPU pool and back
# (generator-sized PNGs are stored, not compressed): done on the event loop.
INLINE_ENCODE_VALUES = 64 * 1024


def _check_count(svc: Services, n: int, what: str) -> None:
    low = 2 if what == "steps" else 1
    if not low <= n <= svc.settings.max_n:
        raise ApiError(
            422, f"{what}_out_of_range", f"{what} must be in {low}..{svc.settings.max_n}, got {n}"
        )


GENERATORS = ("unconditional", "conditional", "stylegan")


def _generator(
    svc: Services, name: str | None, body: GenerateRequest | InterpolateRequest
) -> Model:
    """The named generator, checked against what the request asks of it, or the default of
    the first kind that can answer it (a label: conditional first; a psi, translate or
    rotate: StyleGAN)."""
    wants_label = body.label is not None or getattr(body, "labels", None) is not None
    stylegan_only = _stylegan_fields(body)
    if stylegan_only:
        kinds: tuple[str, ...] = ("stylegan",)
        if name is None and not any(m.kind == "stylegan" for m in svc.repository.models.values()):
            # not a model still to come (503): this service has none to ask for
            raise ApiError(
                400,
                "wrong_kind",
                f"{stylegan_only} is for StyleGAN models, and none is served here",
            )
    elif wants_label:
        kinds = ("conditional", "stylegan")
    else:
        kinds = GENERATORS
    model = pick_model(svc, name, GENERATORS if name is not None else kinds)
    if wants_label and not model.manifest.classes:
        what = "a StyleGAN without classes" if model.kind == "stylegan" else model.kind
        raise ApiError(400, "wrong_kind", f"model {model.name!r} is {what}: it takes no label")
    if stylegan_only and model.kind != "stylegan":
        raise ApiError(
            400,
            "wrong_kind",
            f"model {model.name!r} is {model.kind}: {stylegan_only} is for StyleGAN models "
            "(this one takes truncation)",
        )
    if body.truncation is not None and model.kind == "stylegan":
        raise ApiError(
            400,
            "wrong_kind",
            f"model {model.name!r} is a StyleGAN: it truncates in W; give truncation_psi",
        )
    return model


def _stylegan_fields(body: GenerateRequest | InterpolateRequest) -> str:
    """The StyleGAN-only fields the request gives, named for a refusal ('' for none)."""
    given = ("truncation_psi", "translate", "rotate")
    return " and ".join(f for f in given if getattr(body, f) is not None)


def _label_index(model: Model, label: int | str) -> int:
    classes = model.manifest.classes or []
    if isinstance(label, str):
        if label in classes:
            return classes.index(label)
        raise ApiError(
            422, "unknown_class", f"{label!r} is not a class of {model.name}; classes: {classes}"
        )
    if not 0 <= label < len(classes):
        raise ApiError(
            422,
            "label_out_of_range",
            f"label {label} is not in 0..{len(classes) - 1} for {model.name}",
        )
    return label


def _labels(
    model: Model, seeds: list[int], label: int | str | None, labels: list[int | str] | None
) -> list[int] | None:
    if not model.manifest.classes:
        return None
    if label is not None and labels is not None:
        raise ApiError(422, "invalid_request", "give either label or labels, not both")
    if labels is not None:
        if len(labels) != len(seeds):
            raise ApiError(
                422, "invalid_request", f"labels has {len(labels)} entries for {len(seeds)} images"
            )
        return [_label_index(model, lab) for lab in labels]
    if label is not None:
        return [_label_index(model, label)] * len(seeds)
    return [default_label(s, len(model.manifest.classes or [])) for s in seeds]


async def _respond(
    svc: Services,
    request: Request,
    model: Model,
    route: str,
    batch: np.ndarray,
    seeds: list[int],
    labels: list[int] | None,
    extra: dict[str, float] | None = None,
) -> Response:
    svc.metrics.images.labels(model.name, route).inc(len(batch))
    if "image/png" in request.headers.get("accept", ""):
        png = await svc.in_pool(imaging.encode_grid, batch)
        headers = {"X-Model": model.name, "X-Seeds": ",".join(map(str, seeds))}
        if labels is not None:
            headers["X-Labels"] = ",".join(map(str, labels))
        return Response(png, media_type="image/png", headers=headers)
    if batch.size <= INLINE_ENCODE_VALUES:
        pngs = imaging.encode_pngs(batch)
    else:
        pngs = await svc.in_pool(imaging.encode_pngs, batch)
    classes = model.manifest.classes
    body = ImagesResponse(
        model=model.name,
        images=[
            GeneratedImage(
                seed=seed,
                label=labels[i] if labels else None,
                class_name=classes[labels[i]] if labels and classes else None,
                png=base64.b64encode(png).decode("ascii"),
            )
            for i, (seed, png) in enumerate(zip(seeds, pngs, strict=True))
        ],
    )
    # Serialized here, by pydantic-core: FastAPI would validate the model it was just built
    # from once more (about 40 us for 16 images).
    return Response(body.model_dump_json(), media_type="application/json")


def _images_route(path: str, body: type[BaseModel]) -> Callable[[T], T]:
    """Declared as FastAPI would declare `body: <model>`; the endpoint reads it (json_body)."""
    return router.post(
        path,
        response_model=ImagesResponse,
        responses=PNG_RESPONSE,
        openapi_extra=json_body.openapi_body(body),
    )


def _inputs(z: np.ndarray, labels: list[int] | None) -> dict[str, np.ndarray]:
    inputs = {"z": z}
    if labels is not None:
        inputs["label"] = np.asarray(labels, dtype=np.int64)
    return inputs


@_images_route("/generate", GenerateRequest)
async def generate(request: Request) -> Response:
    """n images, image i from seed+i (random seeds when none is given)."""
    body = await json_body.read(request, GenerateRequest)
    svc = services(request)
    _check_count(svc, body.n, "n")
    model = _generator(svc, body.model, body)
    if body.seed is None:
        seeds = np.frombuffer(os.urandom(4 * body.n), np.uint32).tolist()  # one syscall
    else:
        seeds = list(range(body.seed, body.seed + body.n))
    labels = _labels(model, seeds, body.label, body.labels)
    if model.kind == "stylegan":
        z = latents(seeds, model.manifest.latent.dim)
        psi, translate, rotate = body.truncation_psi, body.translate, body.rotate
        inputs = stylegan.request_feeds(model, z, labels, psi, translate, rotate)
        hangup = hangup_of(request, model.batchers[SYNTHESIS])
        timeout_s = svc.settings.request_timeout_s
        batch = await stylegan.images(svc, model, inputs, timeout_s, hangup)
    else:
        z = latents(seeds, model.manifest.latent.dim, body.truncation)
        batch = await infer(
            request, model.batchers["generator"], _inputs(z, labels), svc.settings.request_timeout_s
        )
    return await _respond(svc, request, model, "/generate", batch, seeds, labels)


@_images_route("/interpolate", InterpolateRequest)
async def interpolate(request: Request) -> Response:
    """`steps` images along the path from seed_a's latent to seed_b's (slerp or lerp); a
    StyleGAN's path runs between the two ends' ws."""
    body = await json_body.read(request, InterpolateRequest)
    svc = services(request)
    _check_count(svc, body.steps, "steps")
    model = _generator(svc, body.model, body)
    ts = np.linspace(0.0, 1.0, body.steps)
    seeds = [body.seed_a if t < 0.5 else body.seed_b for t in ts]
    labels = _labels(model, [body.seed_a] * body.steps, body.label, None)
    if model.kind == "stylegan":
        ends = latents([body.seed_a, body.seed_b], model.manifest.latent.dim)
        inputs = stylegan.mapping_inputs(model, ends, labels and labels[:2], body.truncation_psi)
        transform = stylegan.transforms(model, 1, body.translate, body.rotate)
        hangup = hangup_of(request, model.batchers[SYNTHESIS])
        timeout_s = svc.settings.request_timeout_s
        batch = await stylegan.walk(
            svc, model, inputs, body.steps, body.method, timeout_s, hangup, transform
        )
        return await _respond(svc, request, model, "/interpolate", batch, seeds, labels)
    dim = model.manifest.latent.dim
    za, zb = latent(body.seed_a, dim, body.truncation), latent(body.seed_b, dim, body.truncation)
    mix = slerp if body.method == "slerp" else lerp
    z = np.stack([mix(za, zb, float(t)) for t in ts]).astype(np.float32, copy=False)
    batch = await infer(
        request, model.batchers["generator"], _inputs(z, labels), svc.settings.request_timeout_s
    )
    return await _respond(svc, request, model, "/interpolate", batch, seeds, labels)
