"""No silent shrink: a photo over `max_side` is translated at that size and comes back at its
own, and `X-Resized` says so; one within it comes back as it was, without the header."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.anyio

MAX_SIDE = 512  # the fixture settings (tests/conftest.py)


def photo(width: int, height: int) -> bytes:
    rng = np.random.default_rng(width * height)
    pixels = rng.integers(0, 256, (height, width, 3), np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "JPEG")
    return buf.getvalue()


async def test_a_photo_over_max_side_comes_back_at_its_own_size(client) -> None:
    r = await client.post("/translate", files={"file": ("big.jpg", photo(640, 480))})
    assert r.status_code == 200, r.text
    assert Image.open(io.BytesIO(r.content)).size == (640, 480)
    assert r.headers["X-Image-Size"] == "640x480"
    assert r.headers["X-Resized"] == "640x480->512x384->640x480"


async def test_a_tall_photo_keeps_its_aspect_on_the_way(client) -> None:
    r = await client.post("/translate", files={"file": ("tall.jpg", photo(300, 1000))})
    assert r.status_code == 200, r.text
    assert Image.open(io.BytesIO(r.content)).size == (300, 1000)
    assert r.headers["X-Resized"] == "300x1000->154x512->300x1000"


async def test_a_photo_within_max_side_is_not_resized(client) -> None:
    r = await client.post("/translate", files={"file": ("ok.jpg", photo(MAX_SIDE, 200))})
    assert r.status_code == 200, r.text
    assert Image.open(io.BytesIO(r.content)).size == (MAX_SIDE, 200)
    assert r.headers["X-Image-Size"] == f"{MAX_SIDE}x200"
    assert "X-Resized" not in r.headers


async def test_cors_lets_the_page_read_x_resized(app_client) -> None:
    origin = "https://page.example"
    async with app_client(cors_origins=[origin]) as client:
        r = await client.post(
            "/translate",
            files={"file": ("big.jpg", photo(640, 480))},
            headers={"origin": origin},
        )
    assert "x-resized" in r.headers["access-control-expose-headers"].lower()
