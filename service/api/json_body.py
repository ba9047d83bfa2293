"""A JSON request body read once: pydantic parses and validates the raw bytes in one pass.

FastAPI's own body handling (`body: Model`) decodes with `json.loads`, validates the dict,
and runs its dependency solver around it, about a sixth of a small `/generate` request's time
on the event loop. Here the bytes go to `Model.model_validate_json`; only a body it refuses
takes FastAPI's path again, so every refusal keeps FastAPI's status, location and message.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException

from service.api.content_types import is_json, not_json

M = TypeVar("M", bound=BaseModel)


def openapi_body(model: type[BaseModel]) -> dict[str, Any]:
    """The route's `openapi_extra`: the request body FastAPI documents for `body: model`
    (service/api/openapi.py adds the model to the schemas)."""
    schema = {"$ref": f"#/components/schemas/{model.__name__}"}
    return {"requestBody": {"content": {"application/json": {"schema": schema}}, "required": True}}


def _refusal(errors: list[Any]) -> RequestValidationError:
    return RequestValidationError([{**err, "loc": ("body", *err.get("loc", ()))} for err in errors])


async def read(request: Request, model: type[M]) -> M:
    """The body as `model`, or FastAPI's answer to it: 400 malformed JSON, 422 invalid; and
    415 naming the content type to send when the body is not declared JSON (FastAPI's strict
    content type: no header, no JSON)."""
    content_type = request.headers.get("content-type")
    if not is_json(content_type):
        raise not_json(content_type)
    data = await request.body()
    if not data:
        raise RequestValidationError(
            [{"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}]
        )
    try:
        return model.model_validate_json(data)
    except ValidationError:
        pass  # refused: FastAPI's path below says why, in its words
    try:
        value: Any = json.loads(data)
    except json.JSONDecodeError as exc:
        raise RequestValidationError(
            [
                {
                    "type": "json_invalid",
                    "loc": ("body", exc.pos),
                    "msg": "JSON decode error",
                    "input": {},
                    "ctx": {"error": exc.msg},
                }
            ]
        ) from exc
    except ValueError as exc:  # not UTF-8
        raise HTTPException(400, "There was an error parsing the body") from exc
    try:
        return model.model_validate(value, from_attributes=True)
    except ValidationError as exc:
        raise _refusal(exc.errors()) from exc
