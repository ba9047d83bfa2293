"""Probes, the Prometheus scrape, and the web page."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

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
    """Readiness: a model is loaded and warm, and CUDA is in use when it was demanded."""
    repo = services(request).repository
    ready = repo.ready_models()
    reason = None
    if not repo.loaded:
        reason = "models are still loading"
    elif not ready:
        reason = "no model is ready; see /models"
    else:
        reason = repo.cuda_problem()
    if reason:
        # Not logged as an error: probes ask every few seconds while the models load.
        return error_response(503, "not_ready", reason, {"Retry-After": "5"})
    return Health(status="ready", models_ready=len(ready))


@router.get("/metrics", response_class=Response)
async def metrics(request: Request) -> Response:
    """Prometheus text format."""
    data = generate_latest(services(request).metrics.registry)
    return Response(data, media_type=CONTENT_TYPE_LATEST)


@router.get("/", include_in_schema=False)
async def index() -> FileResponse:
    return FileResponse(STATIC_DIR / "index.html")
