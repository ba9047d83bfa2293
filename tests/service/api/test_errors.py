"""Every kind of bad input: a 4xx with the JSON error shape, one log line, and the process
keeps serving."""

from __future__ import annotations

import asyncio
import io
import logging
import threading
from pathlib import Path

import pytest
from PIL import Image

pytestmark = pytest.mark.anyio


def image_bytes(fmt: str, size: tuple[int, int] = (16, 16)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (40, 90, 200)).save(buf, fmt)
    return buf.getvalue()


BOUNDARY = "ganserveboundary"


def multipart_head(filename: str = "x.png") -> bytes:
    return (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; '
        f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'
    ).encode()


JSON_CASES = [
    # (route, body, status, code)
    ("/generate", {"model": "nope"}, 404, "unknown_model"),
    ("/generate", {"model": "uncond", "label": 1}, 400, "wrong_kind"),
    ("/generate", {"model": "trans"}, 400, "wrong_kind"),
    ("/generate", {"n": 0}, 422, "n_out_of_range"),
    ("/generate", {"n": 33}, 422, "n_out_of_range"),
    ("/generate", {"label": 3}, 422, "label_out_of_range"),
    ("/generate", {"label": -1}, 422, "label_out_of_range"),
    ("/generate", {"label": "unicorn"}, 422, "unknown_class"),
    ("/generate", {"n": 2, "labels": [0]}, 422, "invalid_request"),
    ("/generate", {"n": "three"}, 422, "invalid_request"),
    ("/generate", {"seed": -5}, 422, "invalid_request"),
    ("/generate", {"truncation": 1.5}, 422, "invalid_request"),
    ("/generate", {"truncation": 0}, 422, "invalid_request"),
    ("/generate", {"colour": "red"}, 422, "invalid_request"),
    ("/generate", [1, 2], 422, "invalid_request"),
    ("/interpolate", {"seed_a": 1}, 422, "invalid_request"),
    ("/interpolate", {"seed_a": 1, "seed_b": 2, "steps": 1}, 422, "steps_out_of_range"),
    ("/interpolate", {"seed_a": 1, "seed_b": 2, "method": "cubic"}, 422, "invalid_request"),
    ("/interpolate", {"seed_a": 1, "seed_b": 2, "model": "uncond", "label": 0}, 400, "wrong_kind"),
]


@pytest.mark.parametrize(("route", "body", "status", "code"), JSON_CASES)
async def test_bad_json_requests(client, caplog, route, body, status, code) -> None:
    with caplog.at_level(logging.WARNING, logger="ganserve"):
        r = await client.post(route, json=body)
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code
    assert r.json()["error"]["message"]
    assert len([rec for rec in caplog.records if rec.name.startswith("ganserve")]) == 1
    assert (await client.post("/generate", json={"n": 1})).status_code == 200


async def test_malformed_json(client) -> None:
    r = await client.post(
        "/generate", content=b'{"n": 2,', headers={"content-type": "application/json"}
    )
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "malformed_json"


async def test_unknown_route_and_method(client) -> None:
    assert (await client.get("/nope")).json()["error"]["code"] == "not_found"
    assert (await client.get("/generate")).json()["error"]["code"] == "method_not_allowed"
    assert (await client.get("/models/nope")).json()["error"]["code"] == "unknown_model"


UPLOAD_CASES = [
    # (file bytes, status, code)
    (b"", 400, "empty_file"),
    (b"hello, I am text", 400, "not_an_image"),
    (image_bytes("PNG")[:60], 400, "corrupt_image"),
    (image_bytes("JPEG")[:200], 400, "corrupt_image"),
    (image_bytes("GIF"), 415, "unsupported_format"),
    (image_bytes("BMP"), 415, "unsupported_format"),
    (image_bytes("TIFF"), 415, "unsupported_format"),
]


@pytest.mark.parametrize(
    ("data", "status", "code"),
    UPLOAD_CASES,
    ids=["empty", "text", "truncated-png", "truncated-jpeg", "gif", "bmp", "tiff"],
)
async def test_bad_uploads(client, caplog, data: bytes, status: int, code: str) -> None:
    with caplog.at_level(logging.WARNING, logger="ganserve"):
        r = await client.post("/translate", files={"file": ("upload", data)})
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code
    assert len([rec for rec in caplog.records if rec.name.startswith("ganserve")]) == 1
    ok = await client.post("/translate", files={"file": ("x.png", image_bytes("PNG"))})
    assert ok.status_code == 200


async def test_translate_without_file_field(client) -> None:
    r = await client.post("/translate", files={"photo": ("x.png", image_bytes("PNG"))})
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "missing_file"


async def test_translate_bad_direction_and_wrong_kind(client) -> None:
    files = {"file": ("x.png", image_bytes("PNG"))}
    r = await client.post("/translate", files=files, data={"direction": "sideways"})
    assert r.json()["error"]["code"] == "invalid_request"
    r = await client.post("/translate", files=files, data={"model": "cond"})
    assert (r.status_code, r.json()["error"]["code"]) == (400, "wrong_kind")


async def test_decompression_bomb(client) -> None:
    # 2000 x 2000 = 4 Mpx of one colour: a tiny PNG over the 2 Mpx cap of the test settings.
    r = await client.post("/translate", files={"file": ("x.png", image_bytes("PNG", (2000, 2000)))})
    assert (r.status_code, r.json()["error"]["code"]) == (413, "image_too_large")
    # 3000 x 3000 is over twice the cap: Pillow's own error path.
    r = await client.post("/translate", files={"file": ("x.png", image_bytes("PNG", (3000, 3000)))})
    assert (r.status_code, r.json()["error"]["code"]) == (413, "image_too_large")


async def test_upload_over_the_byte_cap_by_content_length(client) -> None:
    big = b"\0" * (400 * 1024)  # cap in the test settings: 256 KiB
    r = await client.post("/translate", files={"file": ("x.png", big)})
    assert (r.status_code, r.json()["error"]["code"]) == (413, "upload_too_large")


async def test_upload_over_the_byte_cap_is_refused_while_streaming(client) -> None:
    """No Content-Length (chunked): refused after the cap, long before the body ends."""
    sent = 0

    async def body():
        nonlocal sent
        yield multipart_head()
        for _ in range(1024):  # would be 64 MiB
            sent += 1
            yield b"\0" * 65536

    r = await client.post(
        "/translate",
        content=body(),
        headers={"content-type": f"multipart/form-data; boundary={BOUNDARY}"},
    )
    assert (r.status_code, r.json()["error"]["code"]) == (413, "upload_too_large")
    assert sent < 16


OTHER_BAD_INPUTS = {
    # error code -> the request that causes it
    "malformed_json": lambda c: c.post(
        "/generate", content=b'{"n": 2,', headers={"content-type": "application/json"}
    ),
    "missing_file": lambda c: c.post("/translate", files={"photo": ("x.png", b"\x89PNG")}),
    "wrong_content_type": lambda c: c.post("/translate", data={"direction": "a2b"}),
    "image_too_large": lambda c: c.post(
        "/translate", files={"file": ("x.png", image_bytes("PNG", (2000, 2000)))}
    ),
    "upload_too_large": lambda c: c.post("/translate", files={"file": ("x.png", b"\0" * 400_000)}),
}


@pytest.mark.parametrize("code", sorted(OTHER_BAD_INPUTS))
async def test_other_bad_inputs_log_one_line_and_the_service_goes_on(client, caplog, code) -> None:
    with caplog.at_level(logging.WARNING, logger="ganserve"):
        r = await OTHER_BAD_INPUTS[code](client)
    assert 400 <= r.status_code < 500, r.text
    assert r.json()["error"]["code"] == code
    assert r.json()["error"]["message"]
    assert len([rec for rec in caplog.records if rec.name.startswith("ganserve")]) == 1
    assert (await client.post("/generate", json={"n": 1})).status_code == 200


async def test_full_queue_answers_503_with_retry_after(app_client) -> None:
    async with app_client(queue_size=4, max_n=4, max_batch=4) as client:
        gate = threading.Event()
        # Block the unconditional session so rows pile up.
        model = client._transport.app.state.services.repository.models["uncond"]
        app_batcher = model.batchers["generator"]
        real = app_batcher._run
        app_batcher._run = lambda inputs: (gate.wait(5), real(inputs))[1]
        first = asyncio.ensure_future(client.post("/generate", json={"n": 4}))
        await asyncio.sleep(0.1)
        second = asyncio.ensure_future(client.post("/generate", json={"n": 4}))
        await asyncio.sleep(0.1)
        r = await client.post("/generate", json={"n": 1})
        assert r.status_code == 503
        assert r.json()["error"]["code"] == "overloaded"
        assert r.headers["retry-after"]
        gate.set()
        assert (await first).status_code == 200 and (await second).status_code == 200


async def test_a_request_timeout_answers_503(app_client) -> None:
    async with app_client(request_timeout_s=0.2) as client:
        model = client._transport.app.state.services.repository.models["uncond"]
        gate = threading.Event()
        real = model.batchers["generator"]._run
        model.batchers["generator"]._run = lambda inputs: (gate.wait(2), real(inputs))[1]
        held = asyncio.ensure_future(client.post("/generate", json={"n": 1}))
        await asyncio.sleep(0.05)
        r = await client.post("/generate", json={"n": 1})  # queued behind it past its deadline
        gate.set()
        assert (r.status_code, r.json()["error"]["code"]) == (503, "timeout")
        assert r.headers["retry-after"]
        assert (await held).status_code == 200  # its work ran: answered, though late


async def test_a_failed_model_answers_503_by_name(app_client, models_dir: Path) -> None:
    (models_dir / "uncond" / "generator.onnx").write_bytes(b"broken")
    async with app_client() as client:
        r = await client.post("/generate", json={"model": "uncond"})
        assert (r.status_code, r.json()["error"]["code"]) == (503, "model_not_ready")
        r = await client.post("/generate", json={})
        assert r.json()["model"] == "cond"  # the next kind in line serves


def test_settings_refuse_a_queue_smaller_than_a_request() -> None:
    from pydantic import ValidationError

    from service.settings import Settings

    with pytest.raises(ValidationError):
        Settings(queue_size=8, max_n=64)
