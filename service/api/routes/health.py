"""`GET /healthz` and `GET /readyz`: the probes of an orchestrator or load balancer."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from service.api.errors import error_response
from service.api.schemas import Health
from service.api.services import services

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
