"""A photo through a super-resolution model: `/translate` with such a model, and `/v2`.

The photo is mapped to the network's range (RGB / 255 for the ESRGAN family), padded by
reflection to the network's multiple, cut into windows of one shape (service/engine/tiling.py)
that go through the model's batcher as rows (merged there with other requests' windows of
that shape), and each window's output is blended into one float canvas as soon as its run is
done, so the process holds the canvas and a few windows, never every window's output at once.
The canvas is cropped to `scale` times the photo, clamped, times 255 and rounded (Real-ESRGAN's
rule) only for the PNG; `/v2` hands out the float canvas itself.

An answer larger than `max_output_pixels` is refused with `413 output_too_large`, naming the
cap, before anything is decoded: the photo is never shrunk to fit. Admission weighs a photo
by its windows' pixels (what the network runs: the output pixels over `scale` squared, plus
the overlaps), read from its header before it is decoded.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import numpy as np
from fastapi import Request
from fastapi.responses import Response

from service import imaging
from service.api.errors import ApiError
from service.api.inference import admitted, hangup_of, run
from service.api.services import Services
from service.engine import tiling
from service.engine.batcher import Batcher
from service.manifest import Manifest
from service.repository.model import Model
from service.resources.memory import give_back_after_burst
from service.settings import Settings


def output_size(manifest: Manifest, height: int, width: int) -> tuple[int, int]:
    scale = manifest.scale or 1
    return height * scale, width * scale


def check_output(manifest: Manifest, height: int, width: int, settings: Settings) -> None:
    """`413 output_too_large` naming the cap when the answer would be over it."""
    out_h, out_w = output_size(manifest, height, width)
    cap = settings.max_output_pixels
    if out_h * out_w <= cap:
        return
    scale = manifest.scale or 1
    fits = math.isqrt(cap * height // width) // scale  # the tallest photo of this aspect
    raise ApiError(
        413,
        "output_too_large",
        f"the x{scale} answer to this {width}x{height} photo would be {out_w}x{out_h} = "
        f"{out_h * out_w} pixels, over the max_output_pixels cap of {cap}; send a photo of at "
        f"most {cap // scale**2} pixels (about {fits * width // height}x{fits} at this aspect)",
    )


def plan(manifest: Manifest, height: int, width: int, settings: Settings) -> tiling.Tiling:
    """The windows of a photo of this size, padded to the network's multiple."""
    m = manifest.image.multiple_of
    return tiling.plan(
        -(-height // m) * m,
        -(-width // m) * m,
        settings.tile_side,
        settings.tile_overlap,
        m,
        manifest.scale or 1,
    )


@dataclass
class _Canvas:
    """The answer being blended: windows are pasted one after the other, in the CPU pool."""

    svc: Services
    tiles: tiling.Tiling
    canvas: np.ndarray
    last: asyncio.Future[None] | None = None

    def add(self, first: int, outputs: np.ndarray) -> None:
        """Batcher.submit's `each`: paste these windows after the ones before them."""
        self.last = asyncio.ensure_future(self._paste(self.last, first, outputs))

    async def _paste(
        self, before: asyncio.Future[None] | None, first: int, outputs: np.ndarray
    ) -> None:
        if before is not None:
            await before
        await self.svc.in_pool(self._paste_rows, first, outputs)

    def _paste_rows(self, first: int, outputs: np.ndarray) -> None:
        for i, output in enumerate(outputs):
            self.tiles.paste(self.canvas, first + i, output)

    async def done(self) -> np.ndarray:
        if self.last is not None:
            await self.last
        return self.canvas


async def run_tiled(
    svc: Services,
    batcher: Batcher,
    manifest: Manifest,
    x: np.ndarray,
    timeout_s: float,
    hangup: Callable[[], Awaitable[None]] | None = None,
) -> np.ndarray:
    """float [1, 3, H, W] (padded to the multiple) -> the float canvas [3, H * s, W * s].
    `hangup`: as `inference.run` takes it (HTTP's client gone; gRPC cancels the caller)."""
    tiles = plan(manifest, x.shape[2], x.shape[3], svc.settings)
    canvas = _Canvas(svc, tiles, tiles.canvas())
    windows = await svc.in_pool(tiles.cut, x)
    try:
        await run(batcher, {"image": windows}, timeout_s, hangup, canvas.add)
    finally:
        del windows
    return await canvas.done()


async def run_each(
    svc: Services,
    batcher: Batcher,
    manifest: Manifest,
    images: np.ndarray,
    timeout_s: float,
    hangup: Callable[[], Awaitable[None]] | None = None,
) -> np.ndarray:
    """The Open Inference Protocol's images (REST or gRPC) through the upscaler's windows,
    one image after the other."""
    canvases = [
        await run_tiled(svc, batcher, manifest, images[i : i + 1], timeout_s, hangup)
        for i in range(len(images))
    ]
    return np.stack(canvases)


def _read(data: bytes, settings: Settings, manifest: Manifest) -> tuple[np.ndarray, int, int]:
    """Upload bytes -> the network's input (padded), and the photo's height and width; never
    scaled down. Raises imaging.ImageError (the route answers it) or the output cap."""
    rgb = imaging.decode_upload(data, settings.max_pixels)
    height, width = rgb.shape[:2]
    check_output(manifest, height, width, settings)  # the header may not have told
    return imaging.to_range(rgb, manifest.image.range, manifest.image.multiple_of), height, width


def _png(canvas: np.ndarray, height: int, width: int, value_range: tuple[float, float]) -> bytes:
    return imaging.encode_png(imaging.from_range(canvas[:, :height, :width], value_range))


async def answer(request: Request, svc: Services, model: Model, data: bytes) -> Response:
    """The PNG of the upload `scale` times larger. Raises imaging.ImageError for an upload
    that cannot be read, which the route answers as it answers translations."""
    assert model.manifest is not None
    manifest, settings = model.manifest, svc.settings
    batcher = model.batchers[manifest.roles()[0]]
    size = imaging.header_size(data)
    if size is None:  # decoding says why
        await svc.in_pool(imaging.decode_upload, data, settings.max_pixels)
        raise imaging.CorruptImage("the image cannot be decoded")
    width, height = size
    check_output(manifest, height, width, settings)
    tiles = plan(manifest, height, width, settings)
    with admitted(batcher, tiles.count, tiles.window_pixels, settings.request_timeout_s):
        x, height, width = await svc.in_pool(_read, data, settings, manifest)
    timeout_s = settings.request_timeout_s
    canvas = await run_tiled(svc, batcher, manifest, x, timeout_s, hangup_of(request, batcher))
    del x
    out_h, out_w = output_size(manifest, height, width)
    png = await svc.in_pool(_png, canvas, out_h, out_w, manifest.image.range)
    del canvas  # the canvas freed, and with no more work its memory goes back
    give_back_after_burst(lambda: batcher.idle, svc.in_pool)
    svc.metrics.images.labels(batcher.name, "/translate").inc()
    return Response(
        png,
        media_type="image/png",
        headers={"X-Model": model.name, "X-Image-Size": f"{out_w}x{out_h}"},
    )
