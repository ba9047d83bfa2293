"""`grpc.health.v1.Health` for probes (Kubernetes' grpc probe, grpc_health_probe): SERVING
when /readyz would answer 200, for the whole server ("") and for the protocol's service.

Readiness is read when a probe asks (Check) and once a second for the streams that watch it
(Watch); from SIGTERM on every service is NOT_SERVING while the calls in flight drain.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from grpc_health.v1 import health, health_pb2

SERVICES = ("", "inference.GRPCInferenceService")
WATCH_S = 1.0


class ReadinessHealth(health.aio.HealthServicer):
    def __init__(self, ready: Callable[[], bool]) -> None:
        super().__init__()
        self._ready = ready

    async def refresh(self) -> None:
        """Every service's status from readiness now (no-op once shutting down)."""
        answer = health_pb2.HealthCheckResponse
        status = answer.SERVING if self._ready() else answer.NOT_SERVING
        for service in SERVICES:
            await self.set(service, status)

    async def Check(self, request: Any, context: Any) -> Any:
        await self.refresh()
        return await super().Check(request, context)

    async def follow(self) -> None:
        """Forever: the status watchers see, refreshed every WATCH_S."""
        while True:
            await self.refresh()
            await asyncio.sleep(WATCH_S)
