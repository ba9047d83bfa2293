"""/docs, /redoc and the web page load nothing from another host: every script, style sheet,
icon and module they name is served by the service itself (Swagger UI and ReDoc from the
fastapi-offline package), with the content type a browser needs to use it."""

from __future__ import annotations

import re
from urllib.parse import urljoin, urlsplit

import pytest

pytestmark = pytest.mark.anyio

# What an HTML page makes the browser fetch: scripts, style sheets, icons, images.
HTML_LOADS = re.compile(r'<(?:script|img)\b[^>]*\bsrc="([^"]+)"|<link\b[^>]*\bhref="([^"]+)"')
# What a module or style sheet makes it fetch next.
JS_IMPORTS = re.compile(r'(?:\bfrom|\bimport)\s*\(?\s*"([^"]+)"')
CSS_LOADS = re.compile(r'url\(\s*[\'"]?([^\'")]+)|@import\s+[\'"]([^\'"]+)')
EXPECTED_TYPE = {
    ".js": "javascript",
    ".css": "text/css",
    ".png": "image/png",
    ".html": "text/html",
}


def _named(text: str, pattern: re.Pattern[str]) -> list[str]:
    return [next(g for g in m.groups() if g) for m in pattern.finditer(text)]


async def _every_load(client, page: str) -> dict[str, str]:
    """Every URL the page at `page` loads, followed through modules and style sheets, with
    the content type it was served as. Fails on a URL of another host."""
    base = "http://test"
    html = await client.get(page)
    assert html.status_code == 200 and "text/html" in html.headers["content-type"], page
    todo = [urljoin(f"{base}{page}", url) for url in _named(html.text, HTML_LOADS)]
    served: dict[str, str] = {}
    while todo:
        url = todo.pop()
        if url.startswith("data:") or url in served:
            continue
        parts = urlsplit(url)
        assert f"{parts.scheme}://{parts.netloc}" == base, f"{page} loads {url} from elsewhere"
        r = await client.get(parts.path)
        assert r.status_code == 200, url
        served[parts.path] = r.headers["content-type"]
        if parts.path.endswith(".js"):
            todo += [urljoin(url, u) for u in _named(r.text, JS_IMPORTS) if u.startswith(".")]
        elif parts.path.endswith(".css"):
            todo += [urljoin(url, u) for u in _named(r.text, CSS_LOADS)]
    for path, content_type in served.items():
        suffix = path[path.rfind(".") :]
        assert EXPECTED_TYPE[suffix] in content_type, (path, content_type)
    return served


async def test_swagger_ui_loads_only_what_the_service_serves(client) -> None:
    served = await _every_load(client, "/docs")
    assert {"/docs/assets/swagger-ui-bundle.js", "/docs/assets/swagger-ui.css"} <= set(served)
    page = (await client.get("/docs")).text
    assert "url: '/openapi.json'" in page
    assert "https://" not in page and "http://" not in page


async def test_redoc_loads_only_what_the_service_serves(client) -> None:
    served = await _every_load(client, "/redoc")
    assert "/docs/assets/redoc.standalone.js" in served
    page = (await client.get("/redoc")).text
    assert 'spec-url="/openapi.json"' in page
    # No Google Fonts link, nor any other address: ReDoc falls back to the system fonts.
    assert "https://" not in page and "http://" not in page


async def test_the_web_page_loads_only_what_the_service_serves(client) -> None:
    served = await _every_load(client, "/")
    assert {"/static/style.css", "/static/app.js", "/static/translate.js"} <= set(served)


async def test_the_docs_assets_need_no_api_key(app_client) -> None:
    async with app_client(api_key="k" * 16) as client:
        await _every_load(client, "/docs")
        await _every_load(client, "/redoc")
        assert (await client.get("/docs/assets/swagger-ui.css")).status_code == 200
