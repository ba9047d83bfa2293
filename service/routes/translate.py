"""`POST /translate`: an uploaded photo through one direction of a CycleGAN."""

from __future__ import annotations

from typing import Annotated, Literal

import numpy as np
from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import Response

from service import imaging
from service.errors import ApiError
from service.inference import infer
from service.manifest import NAME_PATTERN
from service.routes.common import pick_model, services

router = APIRouter(tags=["translate"])


def _prepare(
    data: bytes, max_pixels: int, max_side: int, multiple_of: int
) -> tuple[np.ndarray, int, int]:
    """Decode, cap the longest side, pad: the network input and the size to crop back to."""
    rgb = imaging.cap_side(imaging.decode_upload(data, max_pixels), max_side)
    return imaging.to_network(rgb, multiple_of), rgb.shape[0], rgb.shape[1]


@router.post(
    "/translate",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}, "description": "the translated image"}},
)
async def translate(
    request: Request,
    file: Annotated[UploadFile, File(description="JPEG, PNG or WebP")],
    model: Annotated[str | None, Form(pattern=NAME_PATTERN, max_length=64)] = None,
    direction: Annotated[Literal["a2b", "b2a"], Form()] = "a2b",
) -> Response:
    """The upload translated, as a PNG of the same size (of the capped size when it is
    larger than `max_side`)."""
    svc = services(request)
    chosen = pick_model(svc, model, ("translation",))
    data = await file.read()
    if len(data) > svc.settings.max_upload_bytes:
        raise ApiError(
            413,
            "upload_too_large",
            f"the file is over the {svc.settings.max_upload_bytes} byte cap",
        )
    settings = svc.settings
    x, height, width = await svc.in_pool(
        _prepare, data, settings.max_pixels, settings.max_side, chosen.manifest.image.multiple_of
    )
    runner = chosen.runners[direction]
    out = await infer(request, runner, {"image": x}, settings.request_timeout_s)
    png = await svc.in_pool(imaging.from_network, out, height, width)
    svc.metrics.images.labels(runner.key, "/translate").inc()
    domains = chosen.manifest.domains or {}
    src, dst = (domains.get("a"), domains.get("b"))
    if direction == "b2a":
        src, dst = dst, src
    return Response(
        png,
        media_type="image/png",
        headers={
            "X-Model": chosen.name,
            "X-Direction": direction,
            "X-Domains": f"{src}->{dst}",
            "X-Image-Size": f"{width}x{height}",
        },
    )
