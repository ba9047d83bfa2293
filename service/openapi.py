"""The OpenAPI document as the service really answers: its error shape, the error statuses of
each route, and the bearer token when an API key is set.

FastAPI alone documents 200 and its own 422 body (`{"detail": [...]}`), which this service
never sends. Schemathesis (tests/test_service_fuzz.py) holds every answer to this document.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from service.middleware import PUBLIC_PATHS
from service.schemas import ErrorResponse
from service.settings import Settings

_SERVING_ERRORS = {
    404: "unknown_model",
    413: "upload_too_large",
    500: "inference_failed: ONNX Runtime failed on the batch this request was in",
    503: "overloaded, timeout, model_not_ready, no_model",
}

# (method, path) -> {status: the error codes it carries}. Every operation is listed (a test
# checks it), so a new route cannot ship with its errors undocumented.
ROUTE_ERRORS: dict[tuple[str, str], dict[int, str]] = {
    ("post", "/generate"): {
        **_SERVING_ERRORS,
        400: "malformed_json, wrong_kind",
        422: "invalid_request, n_out_of_range, label_out_of_range, unknown_class",
    },
    ("post", "/interpolate"): {
        **_SERVING_ERRORS,
        400: "malformed_json, wrong_kind",
        422: "invalid_request, steps_out_of_range, label_out_of_range, unknown_class",
    },
    ("post", "/translate"): {
        **_SERVING_ERRORS,
        400: "wrong_kind, empty_file, not_an_image, corrupt_image",
        413: "upload_too_large, image_too_large",
        415: "unsupported_format",
        422: "invalid_request, missing_file",
    },
    ("get", "/models"): {},
    ("get", "/models/{name}"): {404: "unknown_model", 422: "invalid_request (a malformed name)"},
    ("post", "/admin/reload"): {},
    ("get", "/healthz"): {},
    ("get", "/readyz"): {503: "not_ready"},
    ("get", "/metrics"): {},
}

_REF = "#/components/schemas/ErrorResponse"
_RETRY_AFTER = {
    "Retry-After": {
        "description": "seconds to wait before trying again",
        "required": True,
        "schema": {"type": "integer"},
    }
}


def install(app: FastAPI, settings: Settings) -> None:
    """Replace `app.openapi` with the corrected document (built once, on first request)."""
    default = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document(default(), secured=bool(settings.api_key), max_n=settings.max_n)
        return app.openapi_schema

    app.openapi = openapi


def document(schema: dict[str, Any], *, secured: bool, max_n: int) -> None:
    """Patch FastAPI's generated document in place."""
    components = schema.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    # The counts' ranges are settings, so the request models cannot carry them.
    schemas["GenerateRequest"]["properties"]["n"] |= {"minimum": 1, "maximum": max_n}
    schemas["InterpolateRequest"]["properties"]["steps"] |= {"minimum": 2, "maximum": max_n}
    error_schema = ErrorResponse.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(error_schema.pop("$defs", {}))
    schemas["ErrorResponse"] = error_schema
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    if secured:
        components["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            errors = dict(ROUTE_ERRORS.get((method, path), {}))
            if secured and path not in PUBLIC_PATHS:
                operation["security"] = [{"bearer": []}]
                errors[401] = "unauthorized: the bearer token is missing or wrong"
            responses = operation.setdefault("responses", {})
            for status, codes in sorted(errors.items()):
                response: dict[str, Any] = {
                    "description": f"error codes: {codes}",
                    "content": {"application/json": {"schema": {"$ref": _REF}}},
                }
                if status == 503:
                    response["headers"] = _RETRY_AFTER
                responses[str(status)] = response
