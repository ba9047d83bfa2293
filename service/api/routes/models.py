"""`GET /models`, `GET /models/{name}`, `POST /admin/reload`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request

from service.api.errors import ApiError
from service.api.schemas import ModelInfo, ModelsResponse, ReloadResponse
from service.api.services import Services, services
from service.manifest import NAME_PATTERN, ROLES

router = APIRouter(tags=["models"])


def _all(svc: Services) -> list[ModelInfo]:
    return [ModelInfo(**m.describe()) for m in svc.repository.models.values()]


@router.get("/models", response_model=ModelsResponse)
async def list_models(request: Request) -> ModelsResponse:
    """Every model found, ready or failed (with the reason), and the default per kind."""
    svc = services(request)
    defaults = {}
    for kind in ROLES:
        model = svc.repository.default(kind)
        defaults[kind] = model.name if model else None
    return ModelsResponse(models=_all(svc), defaults=defaults, workers=svc.worker_states())


@router.get("/models/{name}", response_model=ModelInfo)
async def get_model(
    name: Annotated[str, Path(pattern=NAME_PATTERN, max_length=64)], request: Request
) -> ModelInfo:
    model = services(request).repository.models.get(name)
    if model is None:
        raise ApiError(404, "unknown_model", f"no model named {name!r}")
    return ModelInfo(**model.describe())


@router.post("/admin/reload", response_model=ReloadResponse, tags=["admin"])
async def reload(request: Request) -> ReloadResponse:
    """Rescan the models folder, in every worker. Working models keep serving until their
    successor is warm; a broken successor is refused (see `reload_error`). Answers once
    every worker has reloaded (or request_timeout_s passed: `workers` then shows which not)."""
    svc = services(request)
    results = await svc.reload()
    if svc.board is None:
        states = svc.worker_states()
    else:
        states = await svc.board.wait_for(svc.board.generation, svc.settings.request_timeout_s)
    return ReloadResponse(results=results, models=_all(svc), workers=states)
