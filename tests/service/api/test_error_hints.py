"""The first mistakes a new user makes answer with what to send instead: a JSON route's body
without `content-type: application/json` (curl's `-d` alone sends a form), a photo sent as the
raw body or under another field name than `file`, and an upload over the cap, stated in MiB
and by the setting's name."""

from __future__ import annotations

import io
import json

import pytest
from PIL import Image

pytestmark = pytest.mark.anyio

SEND_JSON = "send the body as JSON with content-type: application/json"
SEND_PHOTO = "send a multipart form (content-type: multipart/form-data) with the photo in the field `file` (curl -F file=@photo.jpg)"  # noqa: E501
JPEG = io.BytesIO()
Image.new("RGB", (16, 12), (90, 140, 60)).save(JPEG, "JPEG")
PHOTO = JPEG.getvalue()
GENERATE = json.dumps({"n": 2}).encode()
INTERPOLATE = json.dumps({"seed_a": 1, "seed_b": 2, "steps": 2}).encode()
INFER = json.dumps(
    {"inputs": [{"name": "seed", "shape": [1], "datatype": "INT64", "data": [3]}]}
).encode()

# (what the client sent as its content type, and the body): none of them JSON
NOT_JSON = {
    "none": None,
    "curl -d": "application/x-www-form-urlencoded",
    "text": "text/plain",
    "multipart": "multipart/form-data; boundary=x",
}


def _headers(content_type: str | None) -> dict[str, str]:
    return {"content-type": content_type} if content_type else {}


JSON_ROUTES = [("/generate", GENERATE), ("/interpolate", INTERPOLATE)]


@pytest.mark.parametrize("content_type", NOT_JSON.values(), ids=NOT_JSON.keys())
@pytest.mark.parametrize(("route", "body"), JSON_ROUTES)
async def test_a_json_route_names_the_content_type_to_send(
    client, route: str, body: bytes, content_type: str | None
) -> None:
    r = await client.post(route, content=body, headers=_headers(content_type))
    assert r.status_code == 415, r.text
    error = r.json()["error"]
    assert error["code"] == "wrong_content_type"
    assert error["message"].startswith(SEND_JSON)
    sent = content_type.split(";")[0] if content_type else "no content-type was sent"
    assert sent in error["message"]
    ok = await client.post(route, content=body, headers={"content-type": "application/json"})
    assert ok.status_code == 200, ok.text


@pytest.mark.parametrize(
    "content_type", [c for c in NOT_JSON.values() if c], ids=[k for k, c in NOT_JSON.items() if c]
)
async def test_v2_infer_names_the_content_type_to_send(client, content_type: str) -> None:
    r = await client.post("/v2/models/uncond/infer", content=INFER, headers=_headers(content_type))
    assert r.status_code == 400, r.text
    assert r.json()["error"].startswith(SEND_JSON)
    assert f"got {content_type.split(';')[0]}" in r.json()["error"]


async def test_v2_infer_takes_json_with_no_content_type_as_tritonclient_sends_it(client) -> None:
    for headers in ({}, {"content-type": "application/json"}):
        r = await client.post("/v2/models/uncond/infer", content=INFER, headers=headers)
        assert r.status_code == 200, r.text


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("image/jpeg", PHOTO),  # curl --data-binary @photo.jpg
        ("application/json", b'{"file": "photo.jpg"}'),
        ("application/x-www-form-urlencoded", b"file=photo.jpg"),  # curl -d file=@photo.jpg
        (None, PHOTO),
    ],
    ids=["raw-jpeg", "json", "curl -d", "none"],
)
async def test_translate_asks_for_a_multipart_form(
    client, content_type: str | None, body: bytes
) -> None:
    r = await client.post("/translate", content=body, headers=_headers(content_type))
    assert r.status_code == 415, r.text
    assert r.json()["error"]["code"] == "wrong_content_type"
    assert r.json()["error"]["message"].startswith(SEND_PHOTO)


async def test_translate_names_the_field_the_photo_goes_in(client) -> None:
    r = await client.post(
        "/translate", files={"image": ("photo.jpg", PHOTO)}, data={"direction": "a2b"}
    )
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "missing_file"
    assert error["message"] == f"the form has `direction`, `image`, no `file`: {SEND_PHOTO}"
    # curl -F file=photo.jpg (without the @) sends the name as text
    r = await client.post("/translate", files={"file": (None, "photo.jpg")})
    assert r.status_code == 422, r.text
    assert "holds text, not a file" in r.json()["error"]["message"]
    ok = await client.post("/translate", files={"file": ("photo.jpg", PHOTO)})
    assert ok.status_code == 200, ok.text


async def test_the_upload_cap_is_stated_in_mib(app_client) -> None:
    cap = 10 * 1024 * 1024
    stated = f"over the 10 MiB cap (max_upload_bytes = {cap} bytes)"
    async with app_client(max_upload_bytes=cap) as client:
        # By Content-Length, before the body is read (the middleware)
        r = await client.post("/translate", files={"file": ("big.jpg", b"\0" * (cap + 2**17))})
        assert r.status_code == 413, r.text
        assert r.json()["error"] == {"code": "upload_too_large", "message": f"the body is {stated}"}
        # Inside the form's allowance: the file itself (the route)
        r = await client.post("/translate", files={"file": ("big.jpg", b"\0" * (cap + 1))})
        assert r.status_code == 413, r.text
        assert r.json()["error"] == {"code": "upload_too_large", "message": f"the file is {stated}"}
        # The Open Inference Protocol: its 400, the same words
        body = INFER + b" " * (cap + 1 - len(INFER))
        r = await client.post("/v2/models/uncond/infer", content=body)
        assert r.status_code == 400, r.text
        assert r.json() == {"error": f"the body is {stated}"}
