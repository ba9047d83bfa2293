"""Probes, the Prometheus scrape, and the web page."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, JSONResponse, Response

from service.errors import error_response
from service.routes.common import services
from service.schemas import Health

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"

router = APIRouter(tags=["operations"])


@router.get("/healthz", response_model=Health, response_model_exclude_none=True)
async def healthz() -> Health:
    """Liveness: the process answers."""
    return Health(status="ok")


@router.get("/readyz", response_model=Health, responses={503: {"description": "not ready"}})
async def readyz(request: Request) -> Health | JSONResponse:
    """Readiness: a model is loaded and warm, and CUDA is in use when it was demanded, in
    every worker."""
    svc = services(request)
    reason = svc.not_ready_reason()
    if reason:
        # Not logged as an error: probes ask every few seconds while the models load.
        return error_response(503, "not_ready", reason, {"Retry-After": "5"})
    return Health(status="ready", models_ready=len(svc.repository.ready_models()))


@router.get("/metrics", response_class=Response)
async def metrics(request: Request) -> Response:
    """Prometheus text format."""
    data, media_type = services(request).metrics.exposition()
    return Response(data, media_type=media_type)


@router.get("/", include_in_schema=False)
async def index() -> FileResponse:
    return FileResponse(STATIC_DIR / "index.html")
