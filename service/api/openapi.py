"""The OpenAPI document as the service really answers: its error shapes (the protocol's
under /v2), the error statuses of each route, and the bearer token when an API key is set.

FastAPI alone documents 200 and its own 422 body (`{"detail": [...]}`), which this service
never sends. Schemathesis (tests/service/api/test_fuzz.py) holds every answer to this document.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi.encoders import jsonable_encoder
from fastapi.openapi.models import Schema

from service.api.errors import is_v2
from service.api.middleware import PUBLIC_PATHS
from service.api.schemas import ErrorResponse, GenerateRequest, InterpolateRequest
from service.api.v2.schemas import InferRequest, V2Error
from service.manifest import ROLES
from service.settings import Settings

_SERVING_ERRORS = {
    404: "unknown_model",
    413: "upload_too_large",
    500: "inference_failed: ONNX Runtime failed on the batch this request was in",
    503: "overloaded, timeout, model_not_ready, no_model",
}

_V2_MODEL = {
    400: "a malformed model name or version",
    404: "no such model (translation: `<model>.a2b` or `<model>.b2a`), or not that version",
    503: "the model failed to load",
}
_V2_READS = {
    "": {},
    "/health/live": {},
    "/health/ready": {503: "not ready"},
    "/models/stats": {},
    **{
        f"/models/{{name}}{version}{what}": _V2_MODEL
        for version in ("", "/versions/{version}")
        for what in ("", "/ready", "/config", "/stats")
    },
}
_V2_INFERS = ("/models/{name}/infer", "/models/{name}/versions/{version}/infer")
_V2_INFER = {
    **_V2_MODEL,
    400: "any input the model cannot take: shapes, datatypes, data length, NaN or infinite "
    "values, more than max_n rows, an image over max_side or max_pixels (super-resolution: "
    "an answer over max_output_pixels), a body over max_upload_bytes, a body sent as a form or "
    "text instead of JSON",
    500: "ONNX Runtime failed on the batch this request was in",
    503: "overloaded, timeout, the model failed to load",
}

# (method, path) -> {status: the error codes it carries}. Every operation is listed (a test
# checks it), so a new route cannot ship with its errors undocumented.
ROUTE_ERRORS: dict[tuple[str, str], dict[int, str]] = {
    ("post", "/generate"): {
        **_SERVING_ERRORS,
        400: "malformed_json, wrong_kind, transform_unavailable",
        415: "wrong_content_type: send the body as JSON with content-type: application/json",
        422: "invalid_request, n_out_of_range, label_out_of_range, unknown_class",
    },
    ("post", "/interpolate"): {
        **_SERVING_ERRORS,
        400: "malformed_json, wrong_kind, transform_unavailable",
        415: "wrong_content_type: send the body as JSON with content-type: application/json",
        422: "invalid_request, steps_out_of_range, label_out_of_range, unknown_class",
    },
    ("post", "/translate"): {
        **_SERVING_ERRORS,
        400: "wrong_kind, direction_unavailable, empty_file, not_an_image, corrupt_image",
        413: "upload_too_large, image_too_large, output_too_large",
        415: "unsupported_format; wrong_content_type: send a multipart form, the photo in `file`",
        422: "invalid_request, missing_file (no file in the form's field `file`)",
    },
    ("get", "/models"): {},
    ("get", "/models/{name}"): {404: "unknown_model", 422: "invalid_request (a malformed name)"},
    ("post", "/admin/reload"): {},
    ("get", "/healthz"): {},
    ("get", "/readyz"): {503: "not_ready"},
    ("get", "/metrics"): {},
    **{("get", f"/v2{path}"): errors for path, errors in _V2_READS.items()},
    **{("post", f"/v2{path}"): _V2_INFER for path in _V2_INFERS},
    ("post", "/v2/repository/index"): {400: 'a body that is not `{"ready": true|false}`'},
}

_REF = "#/components/schemas/ErrorResponse"
_V2_REF = "#/components/schemas/V2Error"
UPLOAD_MEDIA_TYPES = "image/jpeg, image/png, image/webp"
_RETRY_AFTER = {
    "Retry-After": {
        "description": "seconds to wait before trying again",
        "required": True,
        "schema": {"type": "integer"},
    }
}


def install(app: FastAPI, settings: Settings) -> None:
    """Replace `app.openapi` with the corrected document, rebuilt when the ready models change
    (what a request may name depends on them)."""
    default = app.openapi
    built_for: list[Catalog | None] = [None]

    def openapi() -> dict[str, Any]:
        catalog = Catalog.of(app)
        if app.openapi_schema is None or built_for[0] != catalog:
            app.openapi_schema = None
            document(default(), secured=bool(settings.api_key), max_n=settings.max_n)
            loaded_models(app.openapi_schema["components"]["schemas"], catalog, settings.max_n)
            loaded_v2_models(app.openapi_schema["paths"], catalog)
            built_for[0] = catalog
        return app.openapi_schema

    app.openapi = openapi


@dataclass(frozen=True)
class Catalog:
    """The ready models by kind, and the labels every conditional one takes."""

    unconditional: tuple[str, ...] = ()
    conditional: tuple[str, ...] = ()
    translation: tuple[str, ...] = ()
    super_resolution: tuple[str, ...] = ()
    stylegan: tuple[str, ...] = ()
    movable: tuple[str, ...] = ()  # StyleGAN3s whose synthesis takes `transform`
    directions: tuple[str, ...] = ()  # `<name>.a2b` / `<name>.b2a`, those each model ships
    class_names: tuple[str, ...] = ()
    class_count: int = 0
    versions: tuple[str, ...] = ()

    @classmethod
    def of(cls, app: FastAPI) -> Catalog:
        services = getattr(app.state, "services", None)
        if services is None:  # before the lifespan: nothing is loaded
            return cls()
        ready = services.repository.ready_models()
        names = {
            kind.replace("-", "_"): tuple(m.name for m in ready if m.kind == kind) for kind in ROLES
        }
        translators = [m for m in ready if m.kind == "translation"]
        directions = tuple(f"{m.name}.{r}" for m in translators for r in m.manifest.roles())
        classes = [m.manifest.classes or [] for m in ready if m.kind == "conditional"]
        common = set.intersection(*(set(c) for c in classes)) if classes else set()
        movable = tuple(
            m.name
            for m in ready
            if m.kind == "stylegan" and m.manifest.stylegan.transform is not None
        )
        return cls(
            **names,
            movable=movable,
            directions=directions,
            class_names=tuple(n for n in (classes[0] if classes else []) if n in common),
            class_count=min((len(c) for c in classes), default=0),
            versions=tuple(sorted({m.manifest.version for m in ready if m.manifest})),
        )

    def v2_names(self) -> tuple[str, ...]:
        """The Open Inference Protocol's model names: one per session."""
        return (
            self.unconditional
            + self.conditional
            + self.stylegan
            + self.directions
            + self.super_resolution
        )


def document(schema: dict[str, Any], *, secured: bool, max_n: int) -> None:
    """Patch FastAPI's generated document in place."""
    components = schema.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    # Never a route's declared type: the errors, and the bodies routes read themselves
    # (routes/json_body.py), written as FastAPI writes a declared one (no null defaults).
    for model in (ErrorResponse, V2Error, InferRequest, GenerateRequest, InterpolateRequest):
        model_schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(model_schema.pop("$defs", {}))
        schemas[model.__name__] = model_schema
    for name in ("GenerateRequest", "InterpolateRequest"):
        written = jsonable_encoder(Schema.model_validate(schemas[name]), exclude_none=True)
        schemas[name] = written
    # The counts' ranges are settings, so the request models cannot carry them.
    schemas["GenerateRequest"]["properties"]["n"] |= {"minimum": 1, "maximum": max_n}
    schemas["InterpolateRequest"]["properties"]["steps"] |= {"minimum": 2, "maximum": max_n}
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    if secured:
        components["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
    form = schema["paths"]["/translate"]["post"]["requestBody"]["content"]["multipart/form-data"]
    form["encoding"] = {"file": {"contentType": UPLOAD_MEDIA_TYPES}}
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            if "HTTPValidationError" in str(responses.get("422", "")):
                del responses["422"]  # FastAPI's own 422 body, never sent: ours are below
            errors = dict(ROUTE_ERRORS.get((method, path), {}))
            if secured and path not in PUBLIC_PATHS:
                operation["security"] = [{"bearer": []}]
                errors[401] = "unauthorized: the bearer token is missing or wrong"
            ref = _V2_REF if is_v2(path) else _REF
            for status, codes in sorted(errors.items()):
                response: dict[str, Any] = {
                    "description": f"error codes: {codes}",
                    "content": {"application/json": {"schema": {"$ref": ref}}},
                }
                if status == 503:
                    response["headers"] = _RETRY_AFTER
                responses[str(status)] = response


def _one_of_names(names: tuple[str, ...]) -> dict[str, Any]:
    return {"type": "string", "enum": list(names)} if names else {"not": {}}


def _null(field: str) -> dict[str, Any]:
    return {"properties": {field: {"type": "null"}}}


def _conditional(catalog: Catalog) -> dict[str, Any]:
    """`model` naming a conditional model, or left to the default (a conditional one)."""
    return {"anyOf": [_one_of_names(catalog.conditional), {"type": "null"}]}


def label_shapes(catalog: Catalog, label: dict[str, Any]) -> list[dict[str, Any]]:
    """`/generate`'s bodies as shapes a generator draws from (`anyOf`; each narrows the body's
    own properties): no label; one `label` for every image; or `labels`, one per image. So
    `label` and `labels` exclude each other, and either needs a conditional model. That
    `labels` has `n` entries is said in its description and enforced by the server (422):
    stated in the schema it took 64 shapes, one per `n` (or `if`/`then`s and a `not`), more
    than schemathesis 4's canonicaliser takes, and it generated nothing for /generate."""
    shapes = [{"properties": {"label": {"type": "null"}, "labels": {"type": "null"}}}]
    if not catalog.conditional:
        return shapes
    model = _conditional(catalog)
    given = [("label", label, "labels"), ("labels", {"type": "array"}, "label")]
    for name, schema, other in given:
        shapes.append(
            {
                "required": [name],
                "properties": {name: schema, other: {"type": "null"}, "model": model},
            }
        )
    return shapes


def loaded_models(schemas: dict[str, Any], catalog: Catalog, max_n: int) -> None:
    """What the loaded models allow: model names of the route's kinds, labels every
    conditional model has, no label for an unconditional one, `label` or `labels` (not both),
    one label per image, and a file that is not empty."""
    generate, interpolate = schemas["GenerateRequest"], schemas["InterpolateRequest"]
    generators = _one_of_names(catalog.unconditional + catalog.conditional + catalog.stylegan)
    for body in (generate, interpolate):
        body["properties"]["model"]["anyOf"][0] = generators
        if not catalog.stylegan:  # a psi names a StyleGAN: with none loaded, it is `wrong_kind`
            body["properties"]["truncation_psi"]["anyOf"][0] = {"not": {}}
        if not catalog.movable:  # likewise a move: with no StyleGAN3 that takes one
            for field in ("translate", "rotate"):
                body["properties"][field]["anyOf"][0] = {"not": {}}
    label: list[dict[str, Any]] = []
    if catalog.class_count:
        label.append({"type": "integer", "minimum": 0, "maximum": catalog.class_count - 1})
    if catalog.class_names:
        label.append({"type": "string", "enum": list(catalog.class_names)})
    label_schema = {"anyOf": label} if label else {"not": {}}
    for body in (generate, interpolate):
        body["properties"]["label"]["anyOf"] = [label_schema, {"type": "null"}]
    generate["properties"]["labels"]["anyOf"][0] = {
        "type": "array",
        "items": label_schema,
        "minItems": 1,
        "maxItems": max_n,
    }
    generate["anyOf"] = label_shapes(catalog, label_schema)
    if catalog.unconditional and catalog.conditional:
        # No label for an unconditional model: a label names a conditional one, or none.
        interpolate["anyOf"] = [_null("label"), {"properties": {"model": _conditional(catalog)}}]
    translate = schemas["Body_translate_translate_post"]["properties"]
    # An empty form field is the field left out (FastAPI's form handling): the default.
    translate["model"]["anyOf"] = [
        _one_of_names(catalog.translation + catalog.super_resolution),
        {"const": ""},
        {"type": "null"},
    ]
    translate["direction"]["enum"] = ["a2b", "b2a", ""]
    translate["file"]["minLength"] = 1  # an empty file is `400 empty_file`


def loaded_v2_models(paths: dict[str, Any], catalog: Catalog) -> None:
    """The `/v2` routes' `{name}` and `{version}`: the loaded V2 models and their versions."""
    allowed = {"name": catalog.v2_names(), "version": catalog.versions}
    for path, operations in paths.items():
        if not is_v2(path):
            continue
        for operation in operations.values():
            for param in operation.get("parameters", []):
                if param["in"] == "path":
                    param["schema"] = _one_of_names(allowed[param["name"]])
