"""What every route needs: the app's shared objects, model choice, and inference with limits."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
from fastapi import Request

from service.batcher import QueueFull
from service.errors import ApiError
from service.metrics import Metrics
from service.repository import Model, Repository, Runner
from service.settings import Settings

T = TypeVar("T")


@dataclass
class Services:
    """Built once in the lifespan, reached from routes as `request.app.state.services`."""

    settings: Settings
    metrics: Metrics
    repository: Repository
    inference_pool: Executor  # session.run, one batch per session at a time
    cpu_pool: Executor  # decoding, PNG encoding

    async def in_pool(self, fn: Callable[..., T], *args: object) -> T:
        """Run CPU work off the event loop."""
        return await asyncio.get_running_loop().run_in_executor(self.cpu_pool, fn, *args)


def services(request: Request) -> Services:
    return request.app.state.services


def pick_model(svc: Services, name: str | None, kinds: tuple[str, ...]) -> Model:
    """The named model, or the default of the first kind in `kinds` that has a ready one."""
    if name is not None:
        model = svc.repository.models.get(name)
        if model is None:
            raise ApiError(404, "unknown_model", f"no model named {name!r}")
        if not model.ready:
            raise ApiError(
                503,
                "model_not_ready",
                f"model {name!r} failed: {model.reason}",
                {"Retry-After": "30"},
            )
        if model.kind not in kinds:
            raise ApiError(
                400,
                "wrong_kind",
                f"model {name!r} is {model.kind}; this needs {' or '.join(kinds)}",
            )
        return model
    for kind in kinds:
        model = svc.repository.default(kind)
        if model is not None:
            return model
    raise ApiError(
        503, "no_model", f"no {' or '.join(kinds)} model is ready", {"Retry-After": "30"}
    )


async def infer(
    svc: Services, request: Request, runner: Runner, inputs: dict[str, np.ndarray]
) -> np.ndarray:
    """Through the session's batcher, with the overload and timeout answers."""
    request.state.model = runner.key
    assert runner.batcher is not None
    try:
        async with asyncio.timeout(svc.settings.request_timeout_s):
            return await runner.batcher.submit(inputs)
    except QueueFull as exc:
        raise ApiError(
            503, "overloaded", f"{runner.key} is busy: {exc}", {"Retry-After": "1"}
        ) from exc
    except TimeoutError as exc:
        raise ApiError(
            503,
            "timeout",
            f"{runner.key} did not answer within {svc.settings.request_timeout_s} s",
            {"Retry-After": "1"},
        ) from exc
