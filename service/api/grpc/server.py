"""The gRPC endpoint: a grpc.aio server on the event loop uvicorn runs, started in the app's
lifespan once the models are loaded, in every worker process.

With several workers each binds `grpc_port` with SO_REUSEPORT, and the kernel spreads new
connections over them by their addresses (a gRPC channel is one connection, so one client's
calls stay on one worker; many clients spread). One worker binds without it, so a port held
by another process fails the start instead of being shared. A message over
`max_upload_bytes` is refused by gRPC itself (RESOURCE_EXHAUSTED) before it is read whole;
beyond `max_connections` calls at once gRPC refuses more (RESOURCE_EXHAUSTED).

On SIGTERM (service/server/signals.py) the server stops taking calls at once and drains the
ones in flight for up to `GRACE_S`, beside uvicorn draining HTTP; the lifespan's shutdown
waits for it.
"""

from __future__ import annotations

import asyncio
import logging

import grpc
from grpc_health.v1 import health_pb2_grpc

from service.api.grpc.health import ReadinessHealth
from service.api.grpc.servicer import InferenceServicer
from service.api.services import Services

log = logging.getLogger("ganserve.grpc")

GRACE_S = 10.0  # as uvicorn's timeout_graceful_shutdown (service/__main__.py)


class Endpoint:
    """A started server, its health service, and its drain."""

    def __init__(self, server: grpc.aio.Server, health: ReadinessHealth, port: int) -> None:
        self.server = server
        self.health = health
        self.port = port
        self._follow = asyncio.ensure_future(health.follow())
        self._drain: asyncio.Future[None] | None = None

    def drain(self, reason: str = "shutdown") -> asyncio.Future[None]:
        """Stop taking calls and finish those in flight (once, however often asked)."""
        if self._drain is None:
            log.info("gRPC on port %d: %s, draining the calls in flight", self.port, reason)
            self._drain = asyncio.ensure_future(self._stop())
        return self._drain

    async def _stop(self) -> None:
        self._follow.cancel()
        await self.health.enter_graceful_shutdown()
        await self.server.stop(GRACE_S)


def address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


async def start(svc: Services, version: str) -> Endpoint:
    settings = svc.settings
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", settings.max_upload_bytes),
            ("grpc.max_send_message_length", -1),
            ("grpc.so_reuseport", 1 if settings.workers > 1 else 0),
        ],
        maximum_concurrent_rpcs=settings.max_connections,
    )
    server.add_generic_rpc_handlers((InferenceServicer(svc, version).handler(),))
    health = ReadinessHealth(lambda: svc.not_ready_reason() is None)
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    port = server.add_insecure_port(address(settings.host, settings.grpc_port))
    await server.start()
    log.info("gRPC (the Open Inference Protocol) on port %d", port)
    return Endpoint(server, health, port)
