"""What every route needs: the app's shared objects and the choice of model."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any, TypeVar

from fastapi import Request

from service.api.errors import ApiError
from service.metrics import Metrics
from service.repository.model import Model
from service.repository.repository import Repository
from service.server.workers import Board
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
    board: Board | None = None  # the other workers, when there are several

    async def in_pool(self, fn: Callable[..., T], *args: object) -> T:
        """Run CPU work off the event loop."""
        return await asyncio.get_running_loop().run_in_executor(self.cpu_pool, fn, *args)

    def worker_state(self) -> dict[str, Any]:
        """What this worker tells the others (and /models) about itself."""
        reason = self.repository.not_ready_reason()
        return {
            "pid": os.getpid(),
            "ready": reason is None,
            "reason": reason,
            "reload": self.board.generation if self.board else 0,
            "models": {name: m.state for name, m in self.repository.models.items()},
        }

    def worker_states(self) -> list[dict[str, Any]]:
        return self.board.states() if self.board else [self.worker_state()]

    def not_ready_reason(self) -> str | None:
        """Why /readyz fails: this worker's reason, or another worker's, or one not started."""
        reason = self.repository.not_ready_reason()
        if reason or self.board is None:
            return reason
        states = self.board.states()
        for state in states:
            if not state["ready"]:
                return f"worker {state['pid']}: {state['reason']}"
        if len(states) < self.board.workers:
            return f"{len(states)} of {self.board.workers} workers are up"
        return None

    async def reload(self, *, spread: bool = True) -> dict[str, str]:
        """Rescan the models folder here, and (`spread`) have every other worker do the same."""
        if spread and self.board is not None:
            self.board.bump()
        results = await self.repository.reload()
        self.publish()
        return results

    def publish(self) -> None:
        if self.board is not None:
            self.board.publish(self.worker_state())


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
