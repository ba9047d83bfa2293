"""Pixels in and out: conversions, grids, decoding guards, padding."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from service import imaging
from service.api.routes.translate import IMAGE_ERRORS


def test_to_uint8_maps_the_range_and_layout() -> None:
    batch = np.array([-1.0, -0.5, 0.0, 1.0, 2.0, -3.0], np.float32).reshape(1, 1, 2, 3)
    out = imaging.to_uint8(batch)
    assert out.shape == (1, 2, 3)
    assert out.tolist() == [[[0, 64, 128], [255, 255, 0]]]
    rgb = imaging.to_uint8(np.zeros((2, 3, 4, 5), np.float32))
    assert rgb.shape == (2, 4, 5, 3) and rgb.flags.c_contiguous


@pytest.mark.parametrize("channels", [1, 3])
def test_png_round_trip(channels: int) -> None:
    batch = np.random.default_rng(0).uniform(-1, 1, (3, channels, 6, 7)).astype(np.float32)
    pngs = imaging.encode_pngs(batch)
    decoded = np.asarray(Image.open(io.BytesIO(pngs[1])))
    np.testing.assert_array_equal(decoded, imaging.to_uint8(batch)[1])
    assert imaging.encode_pngs(batch) == pngs  # deterministic bytes


def test_grid_is_roughly_square_with_padding() -> None:
    pixels = np.full((5, 4, 6), 200, np.uint8)
    out = imaging.grid(pixels, pad=2)
    assert out.shape == (2 + 2 * 6, 2 + 3 * 8)
    assert out[0].max() == 0 and out[2, 2] == 200


def encode(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def test_decode_drops_alpha_and_converts_grey() -> None:
    rgba = Image.new("RGBA", (5, 3), (10, 20, 30, 0))
    out = imaging.decode_upload(encode(rgba, "PNG"), 10_000)
    assert out.shape == (3, 5, 3) and out[0, 0].tolist() == [10, 20, 30]
    grey = imaging.decode_upload(encode(Image.new("L", (4, 4), 7), "PNG"), 10_000)
    assert grey.shape == (4, 4, 3)


def test_decode_applies_exif_orientation() -> None:
    exif = Image.Exif()
    exif[0x0112] = 8
    data = encode(Image.new("RGB", (12, 4)), "JPEG", exif=exif)
    assert imaging.decode_upload(data, 10_000).shape == (12, 4, 3)


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"", imaging.EmptyImage),
        (b"GIF89a nonsense", imaging.NotAnImage),
        (encode(Image.new("RGB", (4, 4)), "GIF"), imaging.UnsupportedFormat),
        (encode(Image.new("RGB", (50, 50)), "PNG"), imaging.TooManyPixels),
        (encode(Image.new("RGB", (8, 8)), "JPEG")[:100], imaging.CorruptImage),
    ],
)
def test_decode_refuses(data: bytes, error: type[imaging.ImageError]) -> None:
    with pytest.raises(error):
        imaging.decode_upload(data, 1000)


def test_pillow_bomb_guard_is_an_error() -> None:
    old = Image.MAX_IMAGE_PIXELS
    try:
        imaging.limit_pixels(100)
        with pytest.raises(imaging.TooManyPixels):
            imaging.decode_upload(encode(Image.new("RGB", (12, 12)), "PNG"), 10_000)
    finally:
        Image.MAX_IMAGE_PIXELS = old


def test_cap_side_keeps_the_aspect() -> None:
    img = np.zeros((300, 1200, 3), np.uint8)
    assert imaging.cap_side(img, 600).shape == (150, 600, 3)
    assert imaging.cap_side(img, 2000) is img


def test_pad_then_crop_restores_the_size() -> None:
    rgb = np.random.default_rng(1).integers(0, 256, (13, 10, 3), np.uint8)
    x = imaging.to_network(rgb, 4)
    assert x.shape == (1, 3, 16, 12) and x.dtype == np.float32
    assert np.all(x[0, :, 13, :10] == x[0, :, 11, :10])  # reflection, not zeros
    back = Image.open(io.BytesIO(imaging.from_network(x, 13, 10)))
    assert back.size == (10, 13)
    np.testing.assert_array_equal(np.asarray(back), rgb)


def test_every_image_error_has_an_answer_in_the_error_contract() -> None:
    assert set(IMAGE_ERRORS) == set(imaging.ImageError.__subclasses__())
