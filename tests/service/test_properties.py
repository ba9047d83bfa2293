"""Property-based tests (hypothesis): image decoding never fails in an unplanned way, pixel
conversions round-trip, latents are deterministic, and the request models accept exactly
what their schema promises."""

from __future__ import annotations

import io
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from pydantic import BaseModel, ValidationError

from service import imaging
from service.api.routes.translate import image_api_error
from service.api.schemas import MAX_SEED, GenerateRequest, InterpolateRequest
from service.latents import TRUNCATION_BOUND, latent, latents
from service.manifest import NAME_PATTERN

MAX_PIXELS = 1_000_000
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(autouse=True, scope="module")
def pixel_cap():
    imaging.limit_pixels(MAX_PIXELS)  # as the app's lifespan sets it


def _encode(img: Image.Image, fmt: str) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt)
    return buf.getvalue()


def _seed_files() -> list[bytes]:
    rng = np.random.default_rng(0)
    rgb = Image.fromarray(rng.integers(0, 256, (9, 13, 3), dtype=np.uint8))
    return [
        _encode(rgb, "PNG"),
        _encode(rgb, "JPEG"),
        _encode(rgb, "WEBP"),
        _encode(rgb.convert("RGBA"), "PNG"),
        _encode(rgb.convert("P"), "PNG"),
        _encode(rgb, "GIF"),
        _encode(rgb, "BMP"),
    ]


SEEDS = _seed_files()


def _decodes_or_refuses(data: bytes) -> None:
    """The one contract of decode_upload: RGB pixels, or an ImageError the route answers 4xx."""
    try:
        rgb = imaging.decode_upload(data, MAX_PIXELS)
    except imaging.ImageError as exc:
        answer = image_api_error(exc)
        assert (answer.status, answer.code) in {
            (400, "empty_file"),
            (400, "not_an_image"),
            (400, "corrupt_image"),
            (413, "image_too_large"),
            (415, "unsupported_format"),
        }
        return
    assert rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3
    assert rgb.shape[0] * rgb.shape[1] <= MAX_PIXELS


@FAST
@given(st.binary(max_size=2048))
def test_any_bytes_decode_or_get_a_clear_4xx(data: bytes) -> None:
    _decodes_or_refuses(data)


@settings(max_examples=400, deadline=None)
@given(
    st.sampled_from(SEEDS),
    st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=8),
    st.one_of(st.none(), st.integers(0, 10_000)),
)
def test_damaged_images_decode_or_get_a_clear_4xx(
    data: bytes, flips: list[tuple[int, int]], cut: int | None
) -> None:
    """Real files with bytes overwritten and cut short: past the magic number, into the
    decoders."""
    damaged = bytearray(data)
    for at, value in flips:
        damaged[at % len(damaged)] = value
    _decodes_or_refuses(bytes(damaged[:cut]))


@FAST
@given(
    st.integers(1, 40),
    st.integers(1, 40),
    st.sampled_from(["1", "L", "LA", "P", "RGB", "RGBA", "I;16"]),
    st.sampled_from(["PNG", "WEBP", "JPEG"]),
    st.integers(0, 2**32 - 1),
)
def test_every_accepted_image_becomes_rgb_of_its_size(
    width: int, height: int, mode: str, fmt: str, seed: int
) -> None:
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    img = Image.fromarray(pixels).convert(mode)
    try:
        data = _encode(img, fmt)
    except OSError:  # Pillow cannot write this mode in this format; nothing to decode
        return
    rgb = imaging.decode_upload(data, MAX_PIXELS)
    assert rgb.shape == (height, width, 3) and rgb.dtype == np.uint8
    if fmt == "PNG" and mode == "RGB":
        np.testing.assert_array_equal(rgb, pixels)


@FAST
@given(st.integers(1, 300), st.integers(1, 300), st.integers(1, 200))
def test_cap_side_bounds_the_longest_side_and_keeps_the_aspect(
    height: int, width: int, max_side: int
) -> None:
    out = imaging.cap_side(np.zeros((height, width, 3), np.uint8), max_side)
    assert max(out.shape[:2]) == min(max(height, width), max_side)
    if max(height, width) > max_side:
        scale = max_side / max(height, width)
        assert abs(out.shape[0] - height * scale) <= 1 and abs(out.shape[1] - width * scale) <= 1


@FAST
@given(st.integers(1, 40), st.integers(1, 40), st.integers(1, 16), st.integers(0, 2**32 - 1))
def test_network_input_pads_and_the_output_crops_back_exactly(
    height: int, width: int, multiple_of: int, seed: int
) -> None:
    rgb = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    x = imaging.to_network(rgb, multiple_of)
    assert x.dtype == np.float32 and x.shape[:2] == (1, 3)
    assert x.shape[2] % multiple_of == 0 and x.shape[3] % multiple_of == 0
    assert x.shape[2] - height < multiple_of and x.shape[3] - width < multiple_of
    assert x.min() >= -1.0 and x.max() <= 1.0
    png = imaging.from_network(x, height, width)  # an identity "model"
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(png))), rgb)


@FAST
@given(
    st.integers(1, 4),
    st.sampled_from([1, 3]),
    st.integers(1, 12),
    st.integers(1, 12),
    st.data(),
)
def test_any_model_output_encodes_to_valid_pngs(n, channels, height, width, data) -> None:
    """Out of range, infinite or NaN floats (a diverged model) still give PNGs."""
    values = st.floats(allow_nan=True, allow_infinity=True, width=32)
    flat = data.draw(
        st.lists(
            values, min_size=n * channels * height * width, max_size=n * channels * height * width
        )
    )
    batch = np.array(flat, np.float32).reshape(n, channels, height, width)
    with np.errstate(all="ignore"):  # NaN and overflow warnings only
        expected = imaging.to_uint8(batch)
        pngs = imaging.encode_pngs(batch)
    assert len(pngs) == n
    for png, want in zip(pngs, expected, strict=True):
        np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(png))), want)


@FAST
@given(
    st.lists(st.integers(0, 2**63 + 64), min_size=1, max_size=6),
    st.integers(1, 64),
    st.one_of(st.none(), st.floats(0.01, 1.0)),
)
def test_latents_are_per_seed_and_bounded(seeds: list[int], dim: int, truncation) -> None:
    z = latents(seeds, dim, truncation)
    assert z.shape == (len(seeds), dim) and z.dtype == np.float32 and np.isfinite(z).all()
    for row, seed in zip(z, seeds, strict=True):
        np.testing.assert_array_equal(row, latent(seed, dim, truncation))  # batch-invariant
    if truncation is not None:
        assert np.abs(z).max() <= TRUNCATION_BOUND * truncation + 1e-6


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
GENERATE_FIELDS = ["model", "n", "label", "labels", "seed", "truncation"]
INTERPOLATE_FIELDS = ["model", "seed_a", "seed_b", "steps", "method", "label", "truncation"]


def _payload(fields: list[str]) -> st.SearchStrategy[dict]:
    """Known field names (and a stranger now and then) with values of any JSON type."""
    keys = st.sampled_from([*fields, "colour"])
    return st.dictionaries(keys, JSON, max_size=5)


def _label_ok(label: object) -> bool:
    return (type(label) is int) or (isinstance(label, str) and len(label) <= 128)


def _accepted(schema: type[BaseModel], payload: dict, fields: list[str]) -> BaseModel | None:
    """The body `schema` makes of `payload`, None when it refuses it. What any request schema
    accepts has only its fields, a valid model name, truncation and label, and survives a
    round trip."""
    try:
        body = schema.model_validate(payload)
    except ValidationError:
        return None
    assert set(payload) <= set(fields)
    assert body.model is None or re.fullmatch(NAME_PATTERN, body.model)
    assert body.truncation is None or 0 < body.truncation <= 1
    assert body.label is None or _label_ok(body.label)
    assert schema.model_validate(body.model_dump()) == body
    return body


@FAST
@given(_payload(GENERATE_FIELDS))
def test_generate_request_accepts_only_what_its_schema_says(payload: dict) -> None:
    body = _accepted(GenerateRequest, payload, GENERATE_FIELDS)
    if body is None:
        return
    assert type(body.n) is int  # never a bool, float or numeric string
    assert body.seed is None or (type(body.seed) is int and 0 <= body.seed <= MAX_SEED)
    assert body.labels is None or all(_label_ok(x) for x in body.labels)


@FAST
@given(_payload(INTERPOLATE_FIELDS))
def test_interpolate_request_accepts_only_what_its_schema_says(payload: dict) -> None:
    body = _accepted(InterpolateRequest, payload, INTERPOLATE_FIELDS)
    if body is None:
        return
    for seed in (body.seed_a, body.seed_b):
        assert type(seed) is int and 0 <= seed <= MAX_SEED
    assert type(body.steps) is int and body.method in ("slerp", "lerp")


@FAST
@given(
    st.one_of(
        st.none(), st.from_regex(NAME_PATTERN, fullmatch=True).filter(lambda s: len(s) <= 64)
    ),
    st.integers(0, MAX_SEED),
    st.one_of(st.none(), st.integers(0, 10), st.text(max_size=128)),
    st.one_of(st.none(), st.floats(min_value=0, max_value=1, exclude_min=True)),
)
def test_every_request_the_schema_allows_is_accepted(model, seed, label, truncation) -> None:
    payload = {"model": model, "seed": seed, "label": label, "truncation": truncation, "n": 3}
    assert GenerateRequest.model_validate(payload).seed == seed
