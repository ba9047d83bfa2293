"""Shared fixtures: a models folder with one tiny model per kind, settings, and clients."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import docker_support
import httpx
import pytest
from fastapi import FastAPI
from onnx_models import make_models_dir

from service.app import create_app
from service.settings import Settings


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def own_cache_folder(tmp_path_factory: pytest.TempPathFactory, monkeypatch) -> None:
    """Measured photo costs (service/repository/cost_cache.py) go to a folder of the test's,
    for in-process apps and the servers tests start alike, never the user's cache."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture
def models_dir(tmp_path: Path) -> Path:
    return make_models_dir(tmp_path / "models")


@pytest.fixture
def settings(models_dir: Path) -> Settings:
    """Small and single-threaded: the test machine is shared."""
    return Settings(
        models_dir=models_dir,
        provider="cpu",
        grpc_port=0,  # in-process apps serve HTTP only; tests that want gRPC name a port
        intra_op_threads=1,
        max_batch=16,
        max_delay_ms=2,
        queue_size=256,
        max_n=32,
        max_upload_bytes=256 * 1024,
        max_pixels=2_000_000,
        max_side=512,
        request_timeout_s=10,
        max_side_probe=False,  # tests set estimates themselves; its own tests turn it on
    )


@asynccontextmanager
async def serve(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its lifespan run, behind an in-process ASGI client."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


AppClient = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def app_serving() -> Callable[[FastAPI], AbstractAsyncContextManager[httpx.AsyncClient]]:
    """`async with app_serving(app) as client`: an app built in the test, served in-process.
    (A fixture, not an import: `from conftest import` finds whichever conftest came first.)"""
    return serve


@pytest.fixture
def app_client(settings: Settings) -> AppClient:
    """`async with app_client(**overrides) as client`: an app from the fixture settings."""

    def make(**overrides: object) -> AbstractAsyncContextManager[httpx.AsyncClient]:
        app = create_app(settings.model_copy(update=overrides))
        return serve(app)

    return make


@pytest.fixture
async def client(app_client: AppClient) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client() as c:
        yield c


@pytest.fixture(scope="session")
def ganserve_image(pytestconfig: pytest.Config) -> docker_support.Image:
    """The repository's Dockerfile built once per session (CPU variant); skips without Docker."""
    docker_support.require_engine()
    image = docker_support.build_ganserve()
    docker_support.report(
        pytestconfig,
        f"image {image.tag} on {image.base}: built in {image.build_s:.0f} s, "
        f"{image.size_mb:.0f} MB",
    )
    return image
