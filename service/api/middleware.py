"""Pure ASGI middleware: request metrics, the API key, the upload byte cap, the stalled-body
timeout, and the security headers.

Pure ASGI (not BaseHTTPMiddleware) keeps the hot path cheap and lets the byte cap act on
the body stream itself, before anything is spooled.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import time

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.api.errors import error_content
from service.api.upload_cap import over_cap
from service.metrics import Metrics

log = logging.getLogger("ganserve.http")

# Open without the API key: probes, the scrape, and the static shell of the web page
# and the API docs (they hold no data and run no model; every API call they make needs the key).
PUBLIC_PATHS = {
    "/healthz",
    "/readyz",
    "/v2/health/live",
    "/v2/health/ready",
    "/metrics",
    "/",
    "/docs",
    "/redoc",
    "/openapi.json",
    "/docs/oauth2-redirect",
    "/favicon.ico",
}
# Swagger UI's and ReDoc's scripts and style sheet, served by the service (service/app.py).
DOCS_ASSETS = "/docs/assets"
PUBLIC_PREFIXES = ("/static/", f"{DOCS_ASSETS}/")


async def _send_error(
    scope: Scope,
    send: Send,
    status: int,
    code: str,
    message: str,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    status, content = error_content(scope.get("path", ""), status, code, message)
    body = json.dumps(content).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class MetricsMiddleware:
    """`ganserve_requests_total{route,model,status}` and `ganserve_request_seconds{route}`.

    `route` is the route template (unmatched paths count as `other`, so scanners cannot
    blow up the label set); `model` is the session key a route stored in `scope["state"]`.
    """

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = getattr(scope.get("route"), "path", None) or "other"
            model = scope.get("state", {}).get("model", "")
            self.metrics.requests.labels(route, model, str(status)).inc()
            self.metrics.request_seconds.labels(route).observe(time.perf_counter() - start)


class ApiKeyMiddleware:
    """`Authorization: Bearer <api_key>` on everything but the public paths."""

    def __init__(self, app: ASGIApp, api_key: str) -> None:
        self.app = app
        self.key = api_key.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if (
            scope["type"] != "http"
            or scope.get("method") == "OPTIONS"
            or path in PUBLIC_PATHS
            or path.startswith(PUBLIC_PREFIXES)
        ):
            await self.app(scope, receive, send)
            return
        auth = dict(scope["headers"]).get(b"authorization", b"")
        scheme, _, token = auth.partition(b" ")
        if scheme.lower() != b"bearer" or not hmac.compare_digest(token.strip(), self.key):
            log.warning("%s %s -> 401 unauthorized", scope.get("method"), path)
            await _send_error(
                scope,
                send,
                401,
                "unauthorized",
                "a valid bearer token is required",
                [(b"www-authenticate", b"Bearer")],
            )
            return
        await self.app(scope, receive, send)


class BodyLimitMiddleware:
    """Refuse bodies over `max_bytes`: by Content-Length before reading, else while streaming.
    The refusal names `cap_bytes`, the setting (`max_bytes` adds room for a form's envelope)."""

    def __init__(self, app: ASGIApp, max_bytes: int, cap_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.message = over_cap("the body", cap_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            log.warning(
                "%s %s -> 413 upload_too_large (content-length %s)",
                scope.get("method"),
                scope.get("path"),
                length.decode(errors="replace"),
            )
            await _send_error(
                scope,
                send,
                413,
                "upload_too_large",
                self.message,
                [(b"connection", b"close")],
            )
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    # FastAPI re-raises HTTPException from body parsing; errors.py shapes it.
                    # `Connection: close` makes the server stop reading the rest.
                    raise HTTPException(
                        413,
                        self.message,
                        headers={"Connection": "close"},
                    )
            return message

        await self.app(scope, counted, send)


class BodyTimeoutMiddleware:
    """Drop a client that stops sending its body: after `timeout_s` without a new chunk the
    request is answered `408 request_timeout` with `Connection: close`, so uvicorn closes the
    connection (it has no such timeout of its own, and would hold it open for good)."""

    def __init__(self, app: ASGIApp, timeout_s: float) -> None:
        self.app = app
        self.timeout_s = timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body_done = False

        async def timed() -> Message:
            nonlocal body_done
            if body_done:  # after the body only `http.disconnect` comes, whenever it does
                return await receive()
            try:
                async with asyncio.timeout(self.timeout_s):
                    message = await receive()
            except TimeoutError:
                log.warning(
                    "%s %s -> 408 request_timeout: no body bytes for %g s",
                    scope.get("method"),
                    scope.get("path"),
                    self.timeout_s,
                )
                # FastAPI re-raises HTTPException from body parsing; errors.py shapes it.
                raise HTTPException(
                    408,
                    f"the body stalled: no bytes for {self.timeout_s:g} s",
                    headers={"Connection": "close"},
                ) from None
            body_done = message["type"] != "http.request" or not message.get("more_body")
            return message

        await self.app(scope, timed, send)


# Added to every response, error answers of the other middleware included.
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),  # a PNG or JSON is never sniffed as HTML
    (b"x-frame-options", b"DENY"),  # the page's reload button cannot be clickjacked
]


class SecurityHeadersMiddleware:
    """`X-Content-Type-Options: nosniff` and `X-Frame-Options: DENY` on every answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers)
