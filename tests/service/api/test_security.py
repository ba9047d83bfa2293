"""Security: the API key on every route but the public ones, compared in constant time; CORS
closed unless configured; model names that cannot reach the file system; response headers;
and logs that hold neither the key nor what clients uploaded."""

from __future__ import annotations

import io
from collections.abc import Iterator

import httpx
import pytest
from live_server import LiveServer, live_server
from onnx_models import make_models_dir
from PIL import Image, PngImagePlugin

from service.api import middleware
from service.api.openapi import ROUTE_ERRORS

pytestmark = pytest.mark.anyio

KEY = "k3y-that-must-never-be-logged"
MARKER = "UPLOADED-CONTENT-MARKER-7f3a"  # in uploaded bytes and file names
LABEL = "LABEL-MARKER-91c2"  # in a JSON field: it may be echoed once, never at length


def png(text: str = "") -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text("comment", text)
    buf = io.BytesIO()
    Image.new("RGB", (12, 10), (10, 200, 30)).save(buf, "PNG", pnginfo=info)
    return buf.getvalue()


PROTECTED = sorted(op for op in ROUTE_ERRORS if op[1] not in middleware.PUBLIC_PATHS)


async def test_every_route_but_the_public_ones_needs_the_key(app_client) -> None:
    assert {path for _, path in PROTECTED} == {
        "/generate",
        "/interpolate",
        "/translate",
        "/models",
        "/models/{name}",
        "/admin/reload",
        "/v2",
        "/v2/models/{name}",
        "/v2/models/{name}/ready",
        "/v2/models/{name}/infer",
        "/v2/models/{name}/versions/{version}",
        "/v2/models/{name}/versions/{version}/ready",
        "/v2/models/{name}/versions/{version}/infer",
        "/v2/models/{name}/config",
        "/v2/models/{name}/versions/{version}/config",
        "/v2/models/stats",
        "/v2/models/{name}/stats",
        "/v2/models/{name}/versions/{version}/stats",
        "/v2/repository/index",
    }
    async with app_client(api_key=KEY) as client:
        for method, path in PROTECTED:
            url = path.replace("{name}", "uncond").replace("{version}", "0.1.0")
            for auth in (None, "Bearer wrong", f"Basic {KEY}", KEY, f"Bearer {KEY}x"):
                headers = {"authorization": auth} if auth else {}
                r = await client.request(method, url, headers=headers)
                assert r.status_code == 401, (method, url, auth)
                error = r.json()["error"]
                if path.startswith("/v2"):  # the Open Inference Protocol's error: one string
                    assert error == "a valid bearer token is required"
                else:
                    assert error["code"] == "unauthorized"
                assert r.headers["www-authenticate"] == "Bearer"
            r = await client.get("/models", params={"api_key": KEY})  # not in the query
            assert r.status_code == 401
        for auth in (f"Bearer {KEY}", f"bearer {KEY}"):
            assert (await client.get("/models", headers={"authorization": auth})).status_code == 200
        public = ("/healthz", "/readyz", "/v2/health/live", "/v2/health/ready", "/metrics")
        for path in (*public, "/", "/openapi.json", "/docs"):
            assert (await client.get(path)).status_code == 200, path


async def test_the_key_is_compared_in_constant_time(app_client, monkeypatch) -> None:
    calls = []
    real = middleware.hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(middleware.hmac, "compare_digest", spy)
    async with app_client(api_key=KEY) as client:
        await client.get("/models", headers={"authorization": "Bearer k"})
    assert calls == [(b"k", KEY.encode())]


async def test_cors_answers_only_configured_origins(app_client) -> None:
    preflight = {"access-control-request-method": "POST"}
    async with app_client(cors_origins=["https://ui.example"]) as client:
        good = await client.options(
            "/generate", headers=preflight | {"origin": "https://ui.example"}
        )
        assert good.headers["access-control-allow-origin"] == "https://ui.example"
        bad = await client.options(
            "/generate", headers=preflight | {"origin": "https://evil.example"}
        )
        assert "access-control-allow-origin" not in bad.headers
        r = await client.post("/generate", json={}, headers={"origin": "https://evil.example"})
        assert "access-control-allow-origin" not in r.headers
        r = await client.post("/generate", json={}, headers={"origin": "https://ui.example"})
        exposed = {h.strip() for h in r.headers["access-control-expose-headers"].split(",")}
        # a page on that origin reads every header /generate and /translate answer with
        sent = {"X-Model", "X-Seeds", "X-Labels", "X-Direction", "X-Domains", "X-Image-Size"}
        sent.add("X-Resized")
        assert sent <= exposed


@pytest.mark.parametrize(
    ("method", "url", "kwargs", "status"),
    [
        ("POST", "/generate", {"json": {"model": "../uncond"}}, 422),
        ("POST", "/generate", {"json": {"model": "/etc/passwd"}}, 422),
        ("POST", "/interpolate", {"json": {"model": "..", "seed_a": 1, "seed_b": 2}}, 422),
        ("POST", "/translate", {"data": {"model": "../trans"}, "files": {"file": png()}}, 422),
        ("GET", "/models/..%2F..%2Fetc%2Fpasswd", {}, 404),
        ("GET", "/models/%2E%2E", {}, 422),
        ("GET", "/models/UNCOND", {}, 422),
        ("GET", "/models/" + "a" * 65, {}, 422),
    ],
)
async def test_model_names_cannot_name_paths(client, method, url, kwargs, status) -> None:
    r = await client.request(method, url, **kwargs)
    assert r.status_code == status
    assert r.json()["error"]["code"] in ("invalid_request", "not_found")


async def test_security_headers_on_every_kind_of_answer(app_client) -> None:
    async with app_client(api_key=KEY, max_upload_bytes=1000) as client:
        auth = {"authorization": f"Bearer {KEY}"}
        answers = [
            await client.get("/healthz"),  # 200 JSON
            await client.get("/"),  # the page
            await client.post("/generate", json={}),  # 401 from the key middleware
            await client.post("/translate", content=b"x" * 200_000, headers=auth),  # 413
            await client.get("/nowhere", headers=auth),  # 404
            await client.post("/generate", json={"n": "x"}, headers=auth),  # 422
            await client.post("/generate", json={}, headers=auth | {"accept": "image/png"}),
        ]
    assert [a.status_code for a in answers] == [200, 200, 401, 413, 404, 422, 200]
    for a in answers:
        assert a.headers["x-content-type-options"] == "nosniff"
        assert a.headers["x-frame-options"] == "DENY"


@pytest.fixture(scope="module")
def debug_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    models = make_models_dir(tmp_path_factory.mktemp("models"))
    log = tmp_path_factory.mktemp("log") / "server.log"
    with live_server(models, log, api_key=KEY, log_level="debug") as server:
        yield server


def test_no_server_banner(debug_server: LiveServer) -> None:
    r = httpx.get(f"{debug_server.url}/healthz")
    assert "server" not in r.headers
    assert r.headers["x-content-type-options"] == "nosniff"


def test_logs_hold_no_key_and_no_upload(debug_server: LiveServer) -> None:
    """At log level debug, after right and wrong keys, uploads that fail and succeed with a
    marker in their bytes, file name and fields, and an overlong label."""
    url, auth = debug_server.url, {"authorization": f"Bearer {KEY}"}
    wrong = {"authorization": f"Bearer {KEY[::-1]}"}
    assert httpx.get(f"{url}/models", headers=wrong).status_code == 401
    uploads = [
        (png(MARKER), 200),  # marker in a PNG text chunk
        (MARKER.encode() * 50, 400),  # not an image
        (png()[:40] + MARKER.encode(), 400),  # a PNG cut short
    ]
    for data, status in uploads:
        r = httpx.post(
            f"{url}/translate",
            headers=auth,
            files={"file": (f"{MARKER}.png", data)},
            data={"direction": "a2b"},
        )
        assert r.status_code == status, r.text
    r = httpx.post(f"{url}/generate", headers=auth, json={"label": LABEL * 100})
    assert r.status_code == 422
    r = httpx.post(f"{url}/generate", headers=auth, json={"label": LABEL})
    assert r.status_code == 422  # unknown_class: the answer names it, the log may too

    output = debug_server.output()
    assert "POST /translate" in output  # the log was written at all
    assert KEY not in output and KEY[::-1] not in output
    assert MARKER not in output  # neither the upload's bytes nor its file name
    assert LABEL in output and LABEL * 2 not in output  # the short label echoed, the long not
    assert max(len(line) for line in output.splitlines()) < 2000
