"""The web page at `GET /`, driven in Debian's Chromium (headless) against a real uvicorn.

The service runs as `python -m service` on a free port, serving one tiny model of every kind
(tests/onnx_models.py). Screenshots land in test-artifacts/ for a person to look at.
Never run `playwright install`: the tests use the system's /usr/bin/chromium.
"""

from __future__ import annotations

import base64
import io
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from onnx_models import DIM, generator, make_models_dir, write_model
from PIL import Image

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
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
API_KEY = "s3cret-test-key"
PHONE = {"width": 390, "height": 844}


# ---------------------------------------------------------------- the real service


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`python -m service` in a child process; `url` ends with a slash."""

    def __init__(self, models: Path, log: Path, **env: str) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.log_path = log
        # Only the settings named here: a GANSERVE_* variable of the caller's stays out.
        environ = {k: v for k, v in os.environ.items() if not k.startswith("GANSERVE_")}
        environ |= {
            "GANSERVE_PROVIDER": "cpu",
            "GANSERVE_INTRA_OP_THREADS": "1",
            "GANSERVE_MAX_BATCH": "16",
            "GANSERVE_MAX_N": "32",
            "GANSERVE_QUEUE_SIZE": "256",
            "GANSERVE_MAX_UPLOAD_BYTES": str(256 * 1024),
            "GANSERVE_LOG_LEVEL": "warning",
            **env,
        }
        self._log = log.open("wb")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "service",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--models",
                str(models),
            ],
            cwd=ROOT,
            env=environ,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self._wait_ready()

    def _wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                with urllib.request.urlopen(self.url + "readyz", timeout=2) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"the service did not get ready:\n{self.log_path.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()


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


@pytest.fixture(scope="module")
def server(models: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = Server(models, tmp_path_factory.mktemp("logs") / "service.log")
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def keyed_server(models: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = Server(models, tmp_path_factory.mktemp("logs") / "keyed.log", GANSERVE_API_KEY=API_KEY)
    yield srv
    srv.stop()


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

    def __init__(self, browser: object, server: Server, **context: object) -> None:
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
        if not url.startswith((self.server.url, "data:", "blob:")):
            self.foreign.append(url)

    def open(self, model: str | None = None) -> object:
        self.page.goto(self.server.url + (f"#{model}" if model else ""))
        expect(self.page.locator("#model")).to_be_enabled()
        if model:
            expect(self.page.locator("#model")).to_have_value(model)
        return self.page

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def open_page(browser: object, server: Server) -> Iterator[Callable[..., Page]]:
    pages: list[Page] = []

    def make(srv: Server | None = None, **context: object) -> Page:
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


def shot(page: object, name: str, full_page: bool = True) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"browser-{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


def photo(fmt: str, size: tuple[int, int] = (40, 28)) -> bytes:
    """A colourful gradient with a disc, so the translation is visible in a screenshot."""
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    rgb = np.stack([xx / max(1, w - 1), yy / max(1, h - 1), 1 - xx / max(1, w - 1)], axis=-1)
    disc = (xx - w * 0.6) ** 2 + (yy - h * 0.45) ** 2 < (min(w, h) * 0.25) ** 2
    rgb[disc] = [1.0, 0.9, 0.2]
    buf = io.BytesIO()
    Image.fromarray((rgb * 255).astype(np.uint8), "RGB").save(buf, fmt)
    return buf.getvalue()


def message(page: object) -> object:
    return page.locator("#messages")


# ---------------------------------------------------------------- tests


def test_models_are_listed_with_their_details(open_page) -> None:
    p = open_page()
    page = p.open()
    options = page.locator("#model option")
    values = options.evaluate_all("os => os.map(o => o.value)")
    assert sorted(values) == ["broken", "cond", "placeholder", "trans", "uncond"]
    page.select_option("#model", "cond")
    info = page.locator("#model-info")
    expect(info).to_contain_text("conditional")
    expect(info).to_contain_text("CPUExecutionProvider")
    for name in ("cat", "dog", "bird"):
        expect(info).to_contain_text(name)
    expect(page.locator("#readiness")).to_contain_text("ready · 4 models")
    page.select_option("#model", "trans")
    expect(info).to_contain_text("a = horse, b = zebra")
    expect(page.locator("#generate-section")).to_be_hidden()
    expect(page.locator("#translate-section")).to_be_visible()
    expect(page.locator("label[for=tr-a2b]")).to_have_text("a2b: horse → zebra")
    expect(page.locator("label[for=tr-b2a]")).to_have_text("b2a: zebra → horse")
    # Every control a person can reach has a label.
    unlabelled = page.evaluate(
        """() => [...document.querySelectorAll('input, select, textarea')]
             .filter(el => el.type !== 'hidden' && el.labels.length === 0)
             .map(el => el.id || el.name)"""
    )
    assert unlabelled == []


def test_untrained_and_failed_models_are_flagged(open_page) -> None:
    page = open_page().open()
    expect(page.locator("#model option[value=placeholder]")).to_have_text("placeholder (untrained)")
    expect(page.locator("#model option[value=broken]")).to_have_text("broken (failed)")
    page.select_option("#model", "placeholder")
    expect(page.locator("#model-info")).to_contain_text("no: untrained placeholder")
    expect(page.locator("#generate-section")).to_be_visible()
    page.select_option("#model", "broken")
    expect(page.locator("#model-info")).to_contain_text("failed:")
    expect(page.locator("#generate-section")).to_be_hidden()
    expect(page.locator("#translate-section")).to_be_hidden()
    expect(page.locator("#empty-section")).to_contain_text("broken is not ready")
    expect(page).to_have_url(re.compile(r"#broken$"))


def test_generate_a_grid_with_label_and_seed(open_page) -> None:
    p = open_page(viewport={"width": 1280, "height": 900})
    page = p.open("cond")
    page.fill("#gen-n", "6")
    page.select_option("#gen-label", "dog")
    page.fill("#gen-seed", "40")
    page.click("#generate-form button[type=submit]")
    tiles = page.locator("#grid .tile")
    expect(tiles).to_have_count(6)
    expect(message(page)).to_contain_text("6 images from cond, seeds 40 to 45")
    titles = tiles.evaluate_all("ts => ts.map(t => t.title)")
    assert titles == [f"seed {s}, label 1 (dog)" for s in range(40, 46)]
    expect(tiles.nth(0).locator(".caption")).to_have_text("40 · dog")
    # Images really decoded (8x8 PNGs from the model).
    assert page.locator("#grid img").evaluate_all("is => is.every(i => i.naturalWidth === 8)")
    # Details by keyboard: focus a tile, press Enter.
    tiles.nth(2).focus()
    page.keyboard.press("Enter")
    details = page.locator("#selected")
    expect(details).to_be_visible()
    expect(details).to_contain_text("42")
    expect(details).to_contain_text("1 (dog)")
    expect(tiles.nth(2)).to_have_attribute("aria-pressed", "true")
    assert page.locator("#selected-download").get_attribute("download") == "cond-seed42-dog.png"
    page.click("#use-b")
    expect(page.locator("#int-b")).to_have_value("42")
    shot(page, "generate")


def test_generate_without_seed_shows_random_seeds(open_page) -> None:
    page = open_page().open("uncond")
    expect(page.locator("#gen-label")).to_be_hidden()
    page.fill("#gen-n", "3")
    page.press("#gen-n", "Enter")  # submitting with the keyboard
    expect(page.locator("#grid .tile")).to_have_count(3)
    titles = page.locator("#grid .tile").evaluate_all("ts => ts.map(t => t.title)")
    assert all(t.startswith("seed ") and t[5:].isdigit() for t in titles), titles


def test_focus_is_visible(open_page) -> None:
    page = open_page().open("uncond")
    page.focus("#gen-n")
    page.keyboard.press("Tab")
    focused = page.evaluate(
        """() => { const el = document.activeElement; const s = getComputedStyle(el);
                   return [el.id, s.outlineStyle, s.outlineWidth]; }"""
    )
    assert focused[0] == "gen-seed"
    assert focused[1] != "none" and focused[2] != "0px", focused


def test_interpolate_strip_has_steps_images(open_page) -> None:
    page = open_page(viewport={"width": 1280, "height": 900}).open("uncond")
    page.fill("#int-a", "3")
    page.fill("#int-b", "9")
    page.fill("#int-steps", "7")
    page.check("#int-lerp")
    page.click("#interpolate-form button[type=submit]")
    tiles = page.locator("#strip .tile")
    expect(tiles).to_have_count(7)
    expect(message(page)).to_contain_text("7 images from seed 3 to seed 9 (lerp)")
    expect(tiles.nth(0).locator(".caption")).to_have_text("lerp t=0.00")
    expect(tiles.nth(6).locator(".caption")).to_have_text("lerp t=1.00")
    assert tiles.nth(0).get_attribute("title") == "lerp t=0.00, seed 3"
    assert tiles.nth(6).get_attribute("title") == "lerp t=1.00, seed 9"
    tiles.nth(3).click()
    expect(page.locator("#selected")).to_contain_text("lerp t=0.50")
    shot(page, "interpolate")


def test_interpolate_slerp_with_a_label(open_page) -> None:
    page = open_page().open("cond")
    page.select_option("#int-label", "bird")
    page.fill("#int-steps", "4")
    page.click("#interpolate-form button[type=submit]")
    tiles = page.locator("#strip .tile")
    expect(tiles).to_have_count(4)
    assert all("label 2 (bird)" in t for t in tiles.evaluate_all("ts => ts.map(t => t.title)"))


def test_translate_an_uploaded_photo_both_ways(open_page, tmp_path: Path) -> None:
    page = open_page(viewport={"width": 1280, "height": 900}).open("trans")
    path = tmp_path / "horse.png"
    path.write_bytes(photo("PNG", (40, 28)))
    page.set_input_files("#tr-file", str(path))  # choosing the file translates it
    output = page.locator("#tr-output")
    expect(page.locator("#translate-result")).to_be_visible()
    expect(message(page)).to_contain_text("Translated horse.png from horse to zebra")
    page.wait_for_function("document.getElementById('tr-output').naturalWidth > 0")
    # Same size as the upload, shown beside the original.
    assert output.evaluate("i => [i.naturalWidth, i.naturalHeight]") == [40, 28]
    assert page.locator("#tr-original").evaluate("i => i.naturalWidth") == 40
    expect(page.locator("#tr-output-caption")).to_have_text("zebra, 40x28")
    link = page.locator("#tr-download")
    assert link.get_attribute("href").startswith("blob:")
    assert link.get_attribute("download") == "horse-a2b-trans.png"
    with page.expect_download() as info:
        link.click()
    download = info.value
    saved = tmp_path / "out.png"
    download.save_as(saved)
    assert Image.open(saved).size == (40, 28)
    shot(page, "translate")
    # The direction switch translates again the other way.
    page.check("#tr-b2a")
    expect(message(page)).to_contain_text("from zebra to horse")
    expect(page.locator("#tr-output-caption")).to_have_text("horse, 40x28")
    assert link.get_attribute("download") == "horse-b2a-trans.png"


def test_translate_by_drag_and_drop(open_page) -> None:
    page = open_page().open("trans")
    data = base64.b64encode(photo("JPEG", (36, 24))).decode()
    page.evaluate(
        """(b64) => {
            const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
            const dt = new DataTransfer();
            dt.items.add(new File([bytes], 'dropped.jpg', {type: 'image/jpeg'}));
            const box = document.getElementById('drop');
            for (const type of ['dragenter', 'dragover', 'drop']) {
                box.dispatchEvent(new DragEvent(type, {bubbles: true, cancelable: true,
                                                       dataTransfer: dt}));
            }
        }""",
        data,
    )
    expect(message(page)).to_contain_text("Translated dropped.jpg from horse to zebra")
    page.wait_for_function("document.getElementById('tr-output').naturalWidth > 0")
    assert page.locator("#tr-output").evaluate("i => [i.naturalWidth, i.naturalHeight]") == [36, 24]
    expect(page.locator("#drop-help")).to_contain_text("dropped.jpg")
    expect(page.locator("#drop")).not_to_have_class("drop over")


def test_a_non_image_upload_is_explained(open_page) -> None:
    page = open_page().open("trans")
    page.set_input_files(
        "#tr-file",
        {"name": "notes.txt", "mimeType": "text/plain", "buffer": b"these are not pixels\n" * 20},
    )
    box = message(page)
    expect(box).to_contain_text("that file is not an image")
    expect(box).to_contain_text("400 not_an_image")
    assert box.get_attribute("aria-live") == "polite"
    assert box.get_attribute("role") == "status"
    expect(page.locator("#translate-result")).to_be_hidden()
    expect(page.locator("#translate-form button[type=submit]")).to_be_enabled()
    shot(page, "bad-upload", full_page=False)


def test_an_unknown_label_is_explained(open_page) -> None:
    page = open_page().open("cond")
    # The select only offers the model's classes; a stale page could still send another.
    page.evaluate("document.getElementById('gen-label').add(new Option('unicorn', 'unicorn'))")
    page.select_option("#gen-label", "unicorn")
    page.click("#generate-form button[type=submit]")
    box = message(page)
    expect(box).to_contain_text("unknown label")
    expect(box).to_contain_text("unicorn")
    expect(box).to_contain_text("422 unknown_class")


def test_overload_shows_retry_after_and_holds_the_button(open_page) -> None:
    p = open_page()
    page = p.open("uncond")
    body = '{"error": {"code": "overloaded", "message": "uncond is busy: queue full"}}'
    # A queue that is really full is hard to hold still; the 503 is replayed exactly.
    page.route(
        "**/generate",
        lambda route: route.fulfill(
            status=503,
            headers={"Retry-After": "2", "Content-Type": "application/json"},
            body=body,
        ),
    )
    button = page.locator("#generate-form button[type=submit]")
    button.click()
    box = message(page)
    expect(box).to_contain_text("the service is overloaded")
    expect(box).to_contain_text("Try again in 2 s")
    expect(button).to_be_disabled()
    expect(button).to_contain_text("(")
    page.unroute("**/generate")
    expect(button).to_be_enabled(timeout=5_000)
    expect(button).to_have_text("Generate")
    button.click()
    expect(page.locator("#grid .tile")).to_have_count(16)


def test_invalid_input_is_caught_before_sending(open_page) -> None:
    page = open_page().open("uncond")
    page.fill("#gen-n", "0")
    page.click("#generate-form button[type=submit]")
    expect(message(page)).to_contain_text("Images (n) must be a whole number")
    expect(page.locator("#gen-n")).to_have_attribute("aria-invalid", "true")
    page.fill("#gen-n", "33")  # over the service's max_n (32): the API says so
    page.click("#generate-form button[type=submit]")
    expect(message(page)).to_contain_text("n_out_of_range")


def test_readable_on_a_phone(open_page, tmp_path: Path) -> None:
    p = open_page(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True)
    page = p.open("cond")
    page.fill("#gen-n", "8")
    page.fill("#gen-seed", "7")
    page.click("#generate-form button[type=submit]")
    expect(page.locator("#grid .tile")).to_have_count(8)
    page.locator("#grid .tile").nth(1).click()
    expect(page.locator("#selected")).to_be_visible()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page scrolls sideways on a phone: {width}px"
    box = page.locator("#generate-form button[type=submit]").bounding_box()
    assert box["height"] >= 36 and box["width"] > 200  # a full-width, thumb-sized button
    shot(page, "phone-generate")
    page.select_option("#model", "trans")
    path = tmp_path / "horse.jpg"
    path.write_bytes(photo("JPEG", (64, 48)))
    page.set_input_files("#tr-file", str(path))
    page.wait_for_function("document.getElementById('tr-output').naturalWidth > 0")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shot(page, "phone-translate")


def test_api_key_is_asked_for_and_sent(open_page, keyed_server: Server) -> None:
    p = open_page(keyed_server)
    page = p.page
    page.goto(keyed_server.url)
    expect(message(page)).to_contain_text("needs an API key")
    expect(page.locator("#auth")).to_have_attribute("open", "")
    expect(page.locator("#api-key")).to_be_focused()
    page.fill("#api-key", API_KEY)
    page.press("#api-key", "Enter")
    expect(page.locator("#model")).to_be_enabled()
    assert page.evaluate("sessionStorage.getItem('ganserve.apiKey')") == API_KEY
    page.select_option("#model", "uncond")
    with page.expect_request("**/generate") as sent:
        page.click("#generate-form button[type=submit]")
    assert sent.value.headers["authorization"] == f"Bearer {API_KEY}"
    expect(page.locator("#grid .tile")).to_have_count(16)
    # The key lives in the tab: a reload keeps it.
    page.reload()
    expect(page.locator("#model")).to_be_enabled()


def test_page_works_behind_a_path_prefix(open_page, server: Server) -> None:
    """Everything is a relative URL: a proxy that mounts the service under /gan/ just works."""
    p = open_page()
    page = p.page
    prefix = server.url + "gan/"

    def strip_prefix(route: object) -> None:
        url = route.request.url.replace("/gan/", "/", 1)
        response = route.fetch(url=url)
        route.fulfill(response=response)

    page.route(prefix + "**", strip_prefix)
    page.goto(prefix + "#uncond")
    expect(page.locator("#model")).to_have_value("uncond")
    page.click("#generate-form button[type=submit]")
    expect(page.locator("#grid .tile")).to_have_count(16)
    asked = [u for u in p.requests if u.startswith("http")]
    assert asked and all(u.startswith(prefix) for u in asked), asked
