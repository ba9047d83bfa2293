"""Uploads as the OpenAPI document's `encoding` says they are (JPEG, PNG or WebP), for both
Schemathesis runs: tests/service/api/test_fuzz.py in process and benchmarks/fuzz_cli.py
through the CLI's hooks (benchmarks/schemathesis_hooks.py). Schemathesis alone would send
arbitrary bytes, and every upload would stop at decoding."""

from __future__ import annotations

import io

import schemathesis
from hypothesis import strategies as st
from PIL import Image


@st.composite
def photos(draw: st.DrawFn) -> bytes:
    """A small real photo file of a drawn size, colour and format."""
    size = draw(st.tuples(st.integers(1, 40), st.integers(1, 40)))
    color = draw(st.tuples(*[st.integers(0, 255)] * 3))
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, draw(st.sampled_from(["JPEG", "PNG", "WEBP"])))
    return buf.getvalue()


def register_photo_uploads() -> None:
    """Every upload Schemathesis makes from here on is one of `photos`."""
    for media_type in ("image/jpeg", "image/png", "image/webp"):
        schemathesis.openapi.media_type(media_type, photos())
