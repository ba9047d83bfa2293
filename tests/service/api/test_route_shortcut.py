"""The image routes' shortcut past Starlette's router answers exactly as the full path does."""

from __future__ import annotations

import pytest

from service.api.route_shortcut import RouteShortcut
from service.app import create_app

pytestmark = pytest.mark.anyio

REQUESTS = [
    ("POST", "/generate", {"json": {"model": "cond", "n": 2, "seed": 7, "label": 1}}),
    ("POST", "/generate", {"json": {"n": 0}}),  # 422 n_out_of_range (ApiError)
    ("POST", "/generate", {"json": {"n": "x"}}),  # 422 from validation
    (
        "POST",
        "/generate",
        {"content": b"{not json", "headers": {"content-type": "application/json"}},
    ),
    ("POST", "/generate", {"json": {"model": "nope"}}),  # 404 unknown_model
    ("POST", "/generate", {"content": b"x" * 400_000}),  # 413 from the body cap, while read
    ("POST", "/interpolate", {"json": {"seed_a": 1, "seed_b": 2, "steps": 3}}),
    ("GET", "/generate", {}),  # 405 from the router: not a shortcut's method
    ("POST", "/generate/", {"json": {"n": 1}}),  # the router redirects (307) to /generate
]


async def answers(app, app_serving) -> list[tuple[int, list[tuple[str, str]], bytes]]:
    out = []
    async with app_serving(app) as client:
        for method, path, kw in REQUESTS:
            r = await client.request(method, path, **kw)
            out.append((r.status_code, sorted(r.headers.items()), r.content))
    return out


async def test_the_shortcut_answers_byte_for_byte_as_the_router(settings, app_serving) -> None:
    fast = create_app(settings)
    assert any(m.cls is RouteShortcut for m in fast.user_middleware)
    full = create_app(settings)
    full.user_middleware = [m for m in full.user_middleware if m.cls is not RouteShortcut]
    got, want = await answers(fast, app_serving), await answers(full, app_serving)
    assert [a[0] for a in got] == [200, 422, 422, 400, 404, 413, 200, 405, 307]
    assert got == want
