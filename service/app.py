"""The FastAPI application: built from settings, models loaded in the lifespan."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi_offline import FastAPIOffline
from prometheus_client import multiprocess

from service import imaging
from service.api import errors, openapi
from service.api.middleware import (
    DOCS_ASSETS,
    ApiKeyMiddleware,
    BodyLimitMiddleware,
    BodyTimeoutMiddleware,
    MetricsMiddleware,
    SecurityHeadersMiddleware,
)
from service.api.route_shortcut import RouteShortcut
from service.api.routes import generate, health, models, page, translate
from service.api.routes import metrics as metrics_route
from service.api.services import Services
from service.api.v2 import config as v2_config
from service.api.v2 import repository as v2_repository
from service.api.v2 import routes as v2
from service.api.v2 import statistics as v2_statistics
from service.metrics import Metrics
from service.repository.repository import Repository
from service.resources import memory, priority
from service.server import balance, logs, signals, workers
from service.server.readiness import announce_when_ready, summary
from service.settings import Settings

if TYPE_CHECKING:
    from service.api.grpc import server as grpc_server

# Room for the multipart envelope around an upload of exactly max_upload_bytes.
MULTIPART_SLACK = 64 * 1024


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        imaging.limit_pixels(settings.max_pixels)
        if settings.reuse_freed_memory:  # before sessions load and pools start threads (opt-in)
            memory.reuse_freed_memory(settings.memory_budget_mb << 20)
        inference_pool = ThreadPoolExecutor(16, thread_name_prefix="ganserve-infer")
        # Photos: decoding, encoding and translation runs, below the loop and the generators.
        cpu_pool = priority.bulk_pool(max(2, settings.intra_op_threads), "ganserve-cpu")
        translation_pool = priority.bulk_pool(4, "ganserve-translate")
        board = workers.Board.from_env(settings.workers)
        if board:
            logs.set_worker(board.claim_number())  # before anything logs
            board.forget_dead()
        repository = Repository(settings, metrics, inference_pool, translation_pool)
        svc = Services(settings, metrics, repository, inference_pool, cpu_pool, board)
        app.state.services = svc
        svc.publish()  # "still loading": the other workers wait for this one
        loading = asyncio.create_task(svc.reload(spread=False))
        with signals.cancelled_by_exit_signals(loading):
            await asyncio.wait([loading])
        tasks = []
        grpc = None
        if not loading.cancelled():  # else uvicorn, which saw the signal too, shuts down now
            if board:
                tasks.append(asyncio.create_task(board.watch(lambda: svc.reload(spread=False))))
            tasks.append(asyncio.create_task(metrics.refresh_every(1.0)))  # memory, work gauges
            ready = announce_when_ready(
                svc.not_ready_reason,
                balance.serving,
                settings.host,
                settings.port,
                board.first_to_announce if board else lambda: True,
                lambda: summary(
                    {m.name: m.ready for m in repository.models.values()}, workers=settings.workers
                ),
            )
            tasks.append(asyncio.create_task(ready))
            if settings.max_side_probe:  # each translation's largest photo, timed once ready
                probes = repository.probes.run(lambda: svc.not_ready_reason() is None)
                tasks.append(asyncio.create_task(probes))
        try:
            if settings.grpc_port and not loading.cancelled():
                grpc = await _start_grpc(svc, app.version)
            # SIGTERM starts gRPC's drain at once, beside uvicorn's of HTTP.
            with signals.on_exit_signals(lambda name: grpc and grpc.drain(name)):
                yield
        finally:
            if grpc:
                await grpc.drain()
            for task in tasks:
                task.cancel()
            if board:
                board.withdraw()
                multiprocess.mark_process_dead(os.getpid())
            await repository.close()
            inference_pool.shutdown(wait=False, cancel_futures=True)
            translation_pool.shutdown(wait=False, cancel_futures=True)
            cpu_pool.shutdown(wait=False, cancel_futures=True)

    # /docs and /redoc load Swagger UI and ReDoc from DOCS_ASSETS, files of the fastapi-offline
    # package served by the service itself: the docs work where no CDN can be reached.
    app = FastAPIOffline(
        static_url=DOCS_ASSETS,
        title="ganserve",
        version="0.1.0",
        summary="GAN generators and translators, served with ONNX Runtime",
        lifespan=lifespan,
        # Off, FastAPI skips its per-request check for configured OpenTelemetry providers.
        telemetry={"tracing": settings.otel, "metrics": settings.otel, "logs": settings.otel},
    )
    errors.install(app)
    openapi.install(app, settings)
    # The V2 statistics first: `/v2/models/stats` is not the metadata of a model named `stats`.
    v2_routes = (v2_statistics, v2_config, v2_repository, v2)
    for module in (generate, translate, models, health, metrics_route, page, *v2_routes):
        app.include_router(module.router)
    page.mount_static(app)

    # Added innermost first: CORS answers preflights before the key is checked.
    if not settings.otel:  # FastAPI's telemetry names a request's route in the router
        app.add_middleware(
            RouteShortcut, routes=generate.router.routes, handlers=app.exception_handlers
        )
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=settings.max_upload_bytes + MULTIPART_SLACK,
        cap_bytes=settings.max_upload_bytes,
    )
    app.add_middleware(BodyTimeoutMiddleware, timeout_s=settings.body_timeout_s)
    if settings.api_key:
        app.add_middleware(ApiKeyMiddleware, api_key=settings.api_key)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type"],
            expose_headers=[
                "X-Model",
                "X-Seeds",
                "X-Labels",
                "X-Direction",
                "X-Domains",
                "X-Image-Size",
                "X-Resized",
            ],
        )
    app.add_middleware(SecurityHeadersMiddleware)
    app.state.settings = settings
    app.state.metrics = metrics
    return app


async def _start_grpc(svc: Services, version: str) -> grpc_server.Endpoint:
    """The gRPC endpoint, imported here: see service/api/grpc/__init__.py for why."""
    from service.api.grpc import server

    return await server.start(svc, version)
