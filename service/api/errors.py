"""One error shape for every failure a client can cause: `{"error": {"code", "message"}}`, and
under `/v2` the Open Inference Protocol's own, `{"error": "message"}`."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("ganserve.errors")


class ApiError(Exception):
    """A failure with a stable machine-readable code, raised anywhere below a route."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers


V2_PREFIX = "/v2"


def is_v2(path: str) -> bool:
    return path == V2_PREFIX or path.startswith(V2_PREFIX + "/")


def error_content(path: str, status: int, code: str, message: str) -> tuple[int, dict]:
    """The status and body of an error answer on `path`.

    The protocol's error object is one string, and it answers every request it refuses for
    its content with 400, so under /v2 a body over the cap (413) or a malformed parameter
    (422) is a 400 too.
    """
    if is_v2(path):
        return (400 if status in (413, 422) else status), {"error": message}
    return status, {"error": {"code": code, "message": message}}


def error_response(
    status: int,
    code: str,
    message: str,
    headers: dict[str, str] | None = None,
    path: str = "",
) -> JSONResponse:
    status, content = error_content(path, status, code, message)
    return JSONResponse(content, status_code=status, headers=headers)


def _describe(errors: list[dict]) -> str:
    parts = []
    for err in errors[:5]:
        if err.get("type") == "json_invalid":
            detail = (err.get("ctx") or {}).get("error", "invalid JSON")
            parts.append(f"malformed JSON at position {err['loc'][-1]}: {detail}")
            continue
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return "; ".join(parts)


def install(app: FastAPI) -> None:
    """Route FastAPI's own errors (422, 404, 405) through the same shape, one log line each."""

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        log.warning(
            "%s %s -> %d %s: %s",
            request.method,
            request.url.path,
            exc.status,
            exc.code,
            exc.message,
        )
        return error_response(exc.status, exc.code, exc.message, exc.headers, request.url.path)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = list(exc.errors())
        malformed = any(err.get("type") == "json_invalid" for err in errors)
        code = "malformed_json" if malformed else "invalid_request"
        status = 400 if malformed else 422
        message = _describe(errors)
        log.warning("%s %s -> %d %s: %s", request.method, request.url.path, status, code, message)
        return error_response(status, code, message, path=request.url.path)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {
            404: "not_found",
            405: "method_not_allowed",
            408: "request_timeout",
            413: "upload_too_large",
        }.get(exc.status_code, "http_error")
        log.warning("%s %s -> %d %s", request.method, request.url.path, exc.status_code, code)
        return error_response(exc.status_code, code, str(exc.detail), exc.headers, request.url.path)

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> JSONResponse:
        log.exception("%s %s -> 500", request.method, request.url.path)
        return error_response(
            500, "internal_error", "the server failed; see its log", path=request.url.path
        )
