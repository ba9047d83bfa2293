"""Pixels in and out: network output to PNG, uploads to network input, grids.

Conversions are deterministic (same floats, same bytes), which is what makes batching
invisible in the PNGs. Nothing here knows HTTP: a photo that cannot be read raises an
`ImageError`, which the routes turn into the error contract's status and code.
"""

from __future__ import annotations

import io
import math
import struct
import warnings
import zlib
from typing import NamedTuple

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

UPLOAD_FORMATS = {"JPEG", "PNG", "WEBP"}
# Fast zlib level: tiny images compress about as well, and encoding is on the hot path.
PNG_COMPRESS_LEVEL = 1
# Below this many bytes of pixels an image is stored, not compressed: zlib's fixed cost per
# stream (Huffman trees for the block) is about 40 us even for a 32x32 digit, 12x the cost of
# storing it, for some 600 bytes saved (docs/benchmarks.md).
STORE_BELOW_BYTES = 16 * 1024
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# The service's default caps on an upload (settings `max_pixels`, `max_side`); evaluation
# scores photos under the same caps.
MAX_PIXELS = 40_000_000
MAX_SIDE = 1024


class ImageError(ValueError):
    """An upload that cannot become pixels; the subclass says why."""


class EmptyImage(ImageError):
    """No bytes at all."""


class NotAnImage(ImageError):
    """Bytes Pillow recognises as no image format."""


class CorruptImage(ImageError):
    """A known format whose data cannot be decoded (a header or body cut short)."""


class UnsupportedFormat(ImageError):
    """An image, but not JPEG, PNG or WebP."""


class TooManyPixels(ImageError):
    """More decoded pixels than the cap (or Pillow's decompression-bomb guard) allows."""


def limit_pixels(max_pixels: int) -> None:
    """Pillow's decompression-bomb guard at our cap, its warning made an error (process-wide)."""
    Image.MAX_IMAGE_PIXELS = max_pixels
    warnings.simplefilter("error", Image.DecompressionBombWarning)


def to_uint8(batch: np.ndarray) -> np.ndarray:
    """float [N, C, H, W] in [-1, 1] -> uint8 [N, H, W, C] ([N, H, W] for one channel)."""
    scaled = np.clip(batch * np.float32(127.5) + np.float32(128.0), 0, 255).astype(np.uint8)
    pixels = scaled.transpose(0, 2, 3, 1)
    if pixels.shape[-1] == 1:
        pixels = pixels[..., 0]
    return np.ascontiguousarray(pixels)


def encode_png(pixels: np.ndarray) -> bytes:
    """uint8 [H, W] or [H, W, 3] -> PNG bytes, with Pillow's adaptive row filters: smaller
    files for photos and grids, where its fixed cost (about 0.1 ms) does not matter."""
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
    return buf.getvalue()


def _chunk(tag: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(data, zlib.crc32(tag))
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", crc)


def encode_pngs(batch: np.ndarray) -> list[bytes]:
    """Network output [N, C, H, W] -> one PNG per image.

    Written directly (filter type 0 rows, one zlib stream each): for generator-sized images
    this is 10-20x cheaper than Pillow's per-image overhead, and it is the hot path. Small
    images are stored uncompressed (STORE_BELOW_BYTES).
    """
    pixels = to_uint8(batch)
    n, h, w = pixels.shape[:3]
    channels = 1 if pixels.ndim == 3 else pixels.shape[3]
    rows = np.zeros((n, h, 1 + w * channels), np.uint8)  # column 0: filter byte 0 (None)
    rows[:, :, 1:] = pixels.reshape(n, h, w * channels)
    color_type = 0 if channels == 1 else 2  # greyscale or RGB, 8 bits
    head = PNG_SIGNATURE + _chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, color_type, 0, 0, 0))
    tail = _chunk(b"IEND", b"")
    level = 0 if rows[0].nbytes < STORE_BELOW_BYTES else PNG_COMPRESS_LEVEL
    return [head + _chunk(b"IDAT", zlib.compress(r, level)) + tail for r in rows]


def grid(pixels: np.ndarray, pad: int = 2, cols: int | None = None) -> np.ndarray:
    """uint8 [N, H, W(, C)] -> one uint8 image, `cols` columns (default: roughly square), with
    `pad` black pixels between the images and around them."""
    n, h, w = pixels.shape[:3]
    cols = cols or math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    out = np.zeros((rows * (h + pad) + pad, cols * (w + pad) + pad, *pixels.shape[3:]), np.uint8)
    for i, img in enumerate(pixels):
        r, c = divmod(i, cols)
        y, x = pad + r * (h + pad), pad + c * (w + pad)
        out[y : y + h, x : x + w] = img
    return out


def encode_grid(batch: np.ndarray) -> bytes:
    return encode_png(grid(to_uint8(batch)))


def decode_upload(data: bytes, max_pixels: int) -> np.ndarray:
    """JPEG/PNG/WebP bytes -> uint8 RGB [H, W, 3], EXIF orientation applied, alpha dropped."""
    if not data:
        raise EmptyImage("the uploaded file is empty")
    try:
        img = Image.open(io.BytesIO(data))
    except UnidentifiedImageError as exc:
        raise NotAnImage("the upload is not an image Pillow can read") from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise _too_many_pixels(max_pixels) from exc
    except (OSError, SyntaxError, ValueError) as exc:  # a header cut short
        raise CorruptImage(f"the image cannot be decoded: {exc}") from exc
    if img.format not in UPLOAD_FORMATS:
        raise UnsupportedFormat(f"{img.format} is not accepted; send JPEG, PNG or WebP")
    if img.width * img.height > max_pixels:
        raise _too_many_pixels(max_pixels, img.width, img.height)
    try:
        img.load()
        img = ImageOps.exif_transpose(img)
        rgb = img.convert("RGB")
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise _too_many_pixels(max_pixels) from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise CorruptImage(f"the image cannot be decoded: {exc}") from exc
    return np.asarray(rgb)


def _too_many_pixels(max_pixels: int, width: int = 0, height: int = 0) -> TooManyPixels:
    size = f"{width}x{height} " if width else ""
    return TooManyPixels(f"image {size}is over the {max_pixels} pixel cap")


def _capped(width: int, height: int, max_side: int) -> tuple[int, int]:
    """Width and height scaled down (aspect kept) so the longest side is at most `max_side`."""
    if max(width, height) <= max_side:
        return width, height
    scale = max_side / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def cap_side(rgb: np.ndarray, max_side: int) -> np.ndarray:
    """Scale down (aspect kept) so the longest side is at most `max_side`."""
    h, w = rgb.shape[:2]
    size = _capped(w, h, max_side)
    if size == (w, h):
        return rgb
    return np.asarray(Image.fromarray(rgb).resize(size, Image.Resampling.LANCZOS))


def planned_pixels(data: bytes, max_side: int, multiple_of: int) -> int | None:
    """The pixels of the network input an upload will become, from its header alone (Pillow
    reads the size without decoding): what admission weighs before a photo is decoded. None
    when the header cannot be read; decoding then says why."""
    size = header_size(data)
    if size is None:
        return None
    width, height = _capped(*size, max_side)
    return -(-height // multiple_of) * multiple_of * (-(-width // multiple_of) * multiple_of)


def to_network(rgb: np.ndarray, multiple_of: int) -> np.ndarray:
    """uint8 [H, W, 3] -> float [1, 3, H', W'] in [-1, 1], reflect-padded to a multiple."""
    x = rgb.transpose(2, 0, 1)[None].astype(np.float32) * np.float32(1 / 127.5) - np.float32(1)
    return pad_to_multiple(x, multiple_of)


def pad_to_multiple(x: np.ndarray, multiple_of: int) -> np.ndarray:
    """float [N, C, H, W] reflect-padded at the bottom and right to multiples of `multiple_of`."""
    h, w = x.shape[2:]
    pad_h, pad_w = -h % multiple_of, -w % multiple_of
    if pad_h or pad_w:
        x = np.pad(x, ((0, 0), (0, 0), (0, pad_h), (0, pad_w)), mode="reflect")
    return x


def read_photo(data: bytes, max_pixels: int, max_side: int) -> np.ndarray:
    """Upload bytes -> the uint8 RGB photo `/translate` translates: decoded (EXIF orientation
    applied, alpha dropped), then its longest side capped at `max_side`."""
    return cap_side(decode_upload(data, max_pixels), max_side)


class Upload(NamedTuple):
    """A photo made network input: `x`, the `height` and `width` it was translated at (its
    longest side capped at `max_side`), and its own `size` (width, height), to answer at."""

    x: np.ndarray
    height: int
    width: int
    size: tuple[int, int]

    @property
    def resized(self) -> bool:
        return self.size != (self.width, self.height)


def prepare_upload(data: bytes, max_pixels: int, max_side: int, multiple_of: int) -> Upload:
    """Upload bytes -> the network input, the size it is translated at, and its own."""
    rgb = decode_upload(data, max_pixels)
    size = (rgb.shape[1], rgb.shape[0])
    rgb = cap_side(rgb, max_side)
    return Upload(to_network(rgb, multiple_of), rgb.shape[0], rgb.shape[1], size)


def to_photo(out: np.ndarray, height: int, width: int) -> np.ndarray:
    """float [1, 3, H', W'] -> uint8 [height, width, 3]: the padding cropped off."""
    return to_uint8(out[:, :, :height, :width])[0]


def from_network(
    out: np.ndarray, height: int, width: int, size: tuple[int, int] | None = None
) -> bytes:
    """float [1, 3, H', W'] -> PNG of the top-left height x width (the padding cropped off),
    scaled back up to `size` (width, height) when the photo was translated smaller."""
    photo = to_photo(out, height, width)
    if size is not None and size != (width, height):
        photo = np.asarray(Image.fromarray(photo).resize(size, Image.Resampling.LANCZOS))
    return encode_png(photo)


# -- super-resolution: pixels / 255 in, clamped and rounded out (Real-ESRGAN's rule) ---------


def header_size(data: bytes) -> tuple[int, int] | None:
    """An upload's width and height from its header alone (Pillow reads it without
    decoding); None when the header cannot be read (decoding then says why)."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            return img.size
    except (
        UnidentifiedImageError,
        Image.DecompressionBombError,
        Image.DecompressionBombWarning,
        OSError,
        SyntaxError,
        ValueError,
    ):
        return None


def to_range(rgb: np.ndarray, value_range: tuple[float, float], multiple_of: int) -> np.ndarray:
    """uint8 [H, W, 3] -> float [1, 3, H', W']: RGB / 255 mapped onto `value_range` ([0, 1]:
    as Real-ESRGAN feeds its networks), reflect-padded at the bottom and right to a multiple."""
    low, high = value_range
    x = rgb.transpose(2, 0, 1)[None].astype(np.float32) * np.float32((high - low) / 255)
    if low:
        x += np.float32(low)
    return pad_to_multiple(x, multiple_of)


def from_range(out: np.ndarray, value_range: tuple[float, float]) -> np.ndarray:
    """float [..., C, H, W] in `value_range` -> uint8 [..., H, W, C]: mapped to [0, 1],
    clamped, times 255 and rounded (Real-ESRGAN's `clamp_(0, 1) * 255.0` then `round()`).
    Works in place: `out` (a 4096x3072 answer's canvas is 150 MB) is overwritten."""
    low, high = value_range
    if (low, high) != (0.0, 1.0):
        out -= np.float32(low)
        out *= np.float32(1 / (high - low))
    np.clip(out, 0, 1, out=out)
    out *= np.float32(255)
    np.rint(out, out=out)
    return np.ascontiguousarray(np.moveaxis(out.astype(np.uint8), -3, -1))
