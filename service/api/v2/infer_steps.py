"""The steps of an infer call, one for both transports of the protocol (REST in routes.py, gRPC
in service/api/grpc/servicer.py) so that they answer alike: the request read into the
session's feeds, the run, and its output into the response; reading and writing on the event
loop when their bytes are few and in the CPU pool when they are many."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

import numpy as np

from service.api import stylegan, upscale
from service.api.inference import run
from service.api.services import Services
from service.api.v2.models import Feeds, Target, output_names, outputs, prepare
from service.settings import Settings

Message = TypeVar("Message")  # the transport's request, as its `ask` reads the outputs asked
Wanted = TypeVar("Wanted")  # the outputs asked, in the order asked, as the transport keeps them
Answer = TypeVar("Answer")
T = TypeVar("T")

# Decoding or encoding this many bytes costs less than the hand-off to the CPU pool and back.
INLINE_BYTES = 64 * 1024


def decode(
    target: Target,
    settings: Settings,
    read: Callable[[], tuple[Message, Feeds]],
    ask: Callable[[Message, list[str]], Wanted],
) -> tuple[Message, Feeds, tuple[int, int] | None, Wanted]:
    """The request and its inputs (`read`), the outputs it asks for among the target's
    (`ask`), the session's feeds, and the crop of translations."""
    message, arrays = read()
    wanted = ask(message, output_names(target))
    feeds, crop = prepare(target, arrays, settings)
    return message, feeds, crop, wanted


async def run_target(
    svc: Services,
    target: Target,
    feeds: Feeds,
    timeout_s: float,
    hangup: Callable[[], Awaitable[None]] | None = None,
) -> np.ndarray:
    """The run itself, as the image routes run each kind: an upscaler's images in windows
    (service/api/upscale.py), a StyleGAN's mapping then synthesis (service/api/stylegan.py),
    any other session's rows through its batcher."""
    if target.upscaler:
        images = feeds["image"]
        return await upscale.run_each(
            svc, target.batcher, target.manifest, images, timeout_s, hangup
        )
    if target.stylegan:
        return await stylegan.images(svc, target.model, feeds, timeout_s, hangup)
    return await run(target.batcher, feeds, timeout_s, hangup)


def encode(
    target: Target,
    out: np.ndarray,
    crop: tuple[int, int] | None,
    wanted: Iterable[str],
    write: Callable[[dict[str, np.ndarray]], Answer],
) -> Answer:
    """The outputs `wanted` of one run's output, in the transport's response (`write`)."""
    return write(outputs(target, out, crop, list(wanted)))


async def off_loop(svc: Services, size: int, fn: Callable[..., T], *args: Any) -> T:
    """`fn(*args)` on the event loop when `size` bytes are cheap to handle, else in the pool."""
    if size <= INLINE_BYTES:
        return fn(*args)
    return await svc.in_pool(fn, *args)
