"""`POST /translate`: an uploaded photo through one direction of a CycleGAN."""

from __future__ import annotations

import contextlib
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import Response

from service import imaging
from service.api import upscale
from service.api.content_types import multipart_form
from service.api.errors import ApiError
from service.api.inference import admitted, infer
from service.api.services import pick_model, services
from service.api.upload_cap import over_cap
from service.manifest import NAME_PATTERN
from service.repository.model import Model
from service.resources.memory import give_back_after_burst

router = APIRouter(tags=["translate"])


# The error contract's answer to each reason a photo cannot be read.
IMAGE_ERRORS: dict[type[imaging.ImageError], tuple[int, str]] = {
    imaging.EmptyImage: (400, "empty_file"),
    imaging.NotAnImage: (400, "not_an_image"),
    imaging.CorruptImage: (400, "corrupt_image"),
    imaging.UnsupportedFormat: (415, "unsupported_format"),
    imaging.TooManyPixels: (413, "image_too_large"),
}


def image_api_error(exc: imaging.ImageError) -> ApiError:
    status, code = IMAGE_ERRORS[type(exc)]
    return ApiError(status, code, str(exc))


def _direction(model: Model, asked: str) -> str:
    """The asked direction, refused with the ones it has when this model lacks it."""
    have = list(model.runners)
    if asked not in have:
        domains = model.manifest.domains or {}
        names = {"a2b": ("a", "b"), "b2a": ("b", "a")}
        offer = ", ".join(f"{r} ({domains[names[r][0]]} -> {domains[names[r][1]]})" for r in have)
        raise ApiError(
            400,
            "direction_unavailable",
            f"model {model.name!r} has no {asked} direction; it has {offer}",
        )
    return asked


@router.post(
    "/translate",
    dependencies=[Depends(multipart_form)],
    response_class=Response,
    responses={200: {"content": {"image/png": {}}, "description": "the translated image"}},
)
async def translate(
    request: Request,
    file: Annotated[UploadFile, File(description="JPEG, PNG or WebP")],
    model: Annotated[str | None, Form(pattern=NAME_PATTERN, max_length=64)] = None,
    direction: Annotated[Literal["a2b", "b2a"], Form()] = "a2b",
) -> Response:
    """The upload translated, as a PNG of the same size. A photo larger than `max_side` is
    translated at that size and scaled back to its own (`X-Resized` says so). A direction the
    model does not ship is refused. With a super-resolution model, the upload `scale` times
    larger."""
    svc = services(request)
    chosen = pick_model(svc, model, ("translation", "super-resolution"))
    if chosen.kind == "super-resolution":
        return await _upscale(request, chosen, file, direction)
    direction = _direction(chosen, direction)
    data = await file.read()
    if len(data) > svc.settings.max_upload_bytes:
        raise ApiError(413, "upload_too_large", over_cap("the file", svc.settings.max_upload_bytes))
    settings = svc.settings
    multiple_of = chosen.manifest.image.multiple_of
    batcher = chosen.batchers[direction]
    # Refused by its size in the header, before the work and memory of decoding it.
    pixels = imaging.planned_pixels(data, settings.max_side, multiple_of)
    weighed = (
        admitted(batcher, 1, pixels, settings.request_timeout_s)
        if pixels is not None
        else contextlib.nullcontext()
    )
    with weighed:
        try:
            upload = await svc.in_pool(
                imaging.prepare_upload, data, settings.max_pixels, settings.max_side, multiple_of
            )
        except imaging.ImageError as exc:
            raise image_api_error(exc) from exc
    out = await infer(request, batcher, {"image": upload.x}, settings.request_timeout_s)
    png = await svc.in_pool(imaging.from_network, out, upload.height, upload.width, upload.size)
    headers = _size_headers(upload)
    del upload, out  # the photo's arrays freed, and with no more work its memory goes back
    give_back_after_burst(lambda: batcher.idle, svc.in_pool)
    svc.metrics.images.labels(batcher.name, "/translate").inc()
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
            **headers,
        },
    )


def _size_headers(upload: imaging.Upload) -> dict[str, str]:
    """`X-Image-Size`, the answer's size (the upload's own), and for a photo over `max_side`
    `X-Resized`: its size, the size it was translated at, and the size it came back at."""
    own = "{}x{}".format(*upload.size)
    headers = {"X-Image-Size": own}
    if upload.resized:
        headers["X-Resized"] = f"{own}->{upload.width}x{upload.height}->{own}"
    return headers


async def _upscale(request: Request, chosen: Model, file: UploadFile, direction: str) -> Response:
    """A super-resolution model's answer (service/api/upscale.py): it has no directions."""
    if direction != "a2b":
        raise ApiError(
            400,
            "direction_unavailable",
            f"model {chosen.name!r} is super-resolution: it has no {direction} direction",
        )
    svc = services(request)
    data = await file.read()
    if len(data) > svc.settings.max_upload_bytes:
        raise ApiError(413, "upload_too_large", over_cap("the file", svc.settings.max_upload_bytes))
    try:
        return await upscale.answer(request, svc, chosen, data)
    except imaging.ImageError as exc:
        raise image_api_error(exc) from exc
