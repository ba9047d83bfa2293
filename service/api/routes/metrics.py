"""`GET /metrics`: the Prometheus scrape."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from service.api.services import services

router = APIRouter(tags=["operations"])


@router.get("/metrics", response_class=Response)
async def metrics(request: Request) -> Response:
    """Prometheus text format."""
    data, media_type = services(request).metrics.exposition()
    return Response(data, media_type=media_type)
