"""The fixtures every browser test here gets: the real service (also one behind an API key),
Chromium, and fresh pages that fail the test on a script error or a request leaving the service.

The service runs as `python -m service` on a free port (tests/live_server.py), serving one
tiny model of every kind (tests/onnx_models.py); a test module overrides `models` to serve
others. Never run `playwright install`: the tests use the system's /usr/bin/chromium.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import pytest

sync_api = pytest.importorskip("playwright.sync_api")

from browser_support import API_KEY, expect  # noqa: E402
from live_server import LiveServer, live_server  # noqa: E402
from onnx_models import DIM, generator, make_models_dir, write_model  # noqa: E402

CHROMIUM = Path(os.environ.get("GANSERVE_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# The service's settings for the page: small batches, a low max_n the page is tested against.
SETTINGS = {
    "max_batch": "16",
    "max_n": "32",
    "queue_size": "256",
    "max_upload_bytes": str(256 * 1024),
    "log_level": "warning",
}


# ---------------------------------------------------------------- the real service


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One ready model per kind, plus an untrained placeholder and a broken folder."""
    root = make_models_dir(tmp_path_factory.mktemp("browser") / "models")
    write_model(
        root / "placeholder",
        {"generator": generator(DIM, 1, 8, seed=5)},
        kind="unconditional",
        channels=1,
        size=8,
        dim=DIM,
        untrained=True,
    )
    (root / "broken").mkdir()
    (root / "broken" / "model.json").write_text("{not json")
    return root


def _serve(models: Path, log: Path, **settings: str) -> AbstractContextManager[LiveServer]:
    return live_server(models, log, **(SETTINGS | settings))


@pytest.fixture(scope="module")
def server(models: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with _serve(models, tmp_path_factory.mktemp("logs") / "service.log") as srv:
        yield srv


@pytest.fixture(scope="module")
def keyed_server(models: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with _serve(models, tmp_path_factory.mktemp("logs") / "keyed.log", api_key=API_KEY) as srv:
        yield srv


# ---------------------------------------------------------------- the browser


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: scripts/install-system-test-deps.sh installs it")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


class Page:
    """A fresh context and page, with what would make a test fail noted as it happens."""

    def __init__(self, browser: object, server: LiveServer, **context: object) -> None:
        self.server = server
        self.context = browser.new_context(**context)
        self.context.set_default_timeout(15_000)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.foreign: list[str] = []
        self.requests: list[str] = []
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.page.on(
            "console",
            lambda msg: (
                self.errors.append(msg.text)
                if msg.type == "error"
                and "status of 4" not in msg.text
                and "status of 503" not in msg.text
                else None
            ),
        )
        self.page.on("request", self._request)

    def _request(self, request: object) -> None:
        url = request.url
        self.requests.append(url)
        if not url.startswith((self.server.url + "/", "data:", "blob:")):
            self.foreign.append(url)

    def open(self, model: str | None = None) -> object:
        self.page.goto(self.server.url + "/" + (f"#{model}" if model else ""))
        expect(self.page.locator("#model")).to_be_enabled()
        if model:
            expect(self.page.locator("#model")).to_have_value(model)
        return self.page

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def open_page(browser: object, server: LiveServer) -> Iterator[Callable[..., Page]]:
    pages: list[Page] = []

    def make(srv: LiveServer | None = None, **context: object) -> Page:
        p = Page(browser, srv or server, **context)
        pages.append(p)
        return p

    yield make
    for p in pages:
        p.close()
    for p in pages:
        assert not p.errors, f"errors in the page: {p.errors}"
        assert not p.foreign, (
            f"requests that leave the service (the page must work offline): {p.foreign}"
        )
