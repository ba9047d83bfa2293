"""What the browser tests' bodies call: playwright's `expect`, the API key and phone they set,
screenshots (in test-artifacts/, for a person to look at), a test photo and the message area.

Their fixtures (the service, Chromium, pages) are in tests/browser/conftest.py.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

expect = pytest.importorskip("playwright.sync_api").expect

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
API_KEY = "s3cret-test-key"
PHONE = {"width": 390, "height": 844}


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
