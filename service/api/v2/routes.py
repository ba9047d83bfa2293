"""The Open Inference Protocol (KServe V2) over REST, beside the service's own API: the same
models, batchers, limits, metrics and API key; errors in the protocol's `{"error": "..."}`."""

from __future__ import annotations

import uuid
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse, Response

from service.api.errors import error_response
from service.api.inference import hangup_of
from service.api.services import Services, services
from service.api.upload_cap import over_cap
from service.api.v2.infer_steps import decode, encode, off_loop, run_target
from service.api.v2.models import Target, find, metadata
from service.api.v2.paths import Name, Version
from service.api.v2.schemas import (
    InferResponse,
    Live,
    ModelMetadata,
    ModelReady,
    Ready,
    ServerMetadata,
)
from service.api.v2.tensors import (
    BINARY_EXTENSION,
    HEADER_LENGTH,
    check_content_type,
    decode_request,
    encode_response,
    refuse,
    requested_outputs,
)
from service.resources.memory import give_back_after_burst

router = APIRouter(prefix="/v2", tags=["open inference protocol"])

HeaderLength = Annotated[
    int | None,
    Header(alias=HEADER_LENGTH, ge=0, description="binary tensors: the JSON's length in bytes"),
]

# The binary tensors, the repository index (repository.py), the statistics (statistics.py).
EXTENSIONS = [BINARY_EXTENSION, "model_repository", "statistics"]
INFER_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/InferRequest"}},
            "application/octet-stream": {
                "schema": {"type": "string", "format": "binary"},
            },
        },
    }
}
BINARY_ANSWER = {
    200: {"content": {"application/octet-stream": {}}, "description": "JSON, or JSON + tensors"}
}


@router.get("", response_model=ServerMetadata)
async def server_metadata(request: Request) -> ServerMetadata:
    """Name, version and the protocol extensions served."""
    return ServerMetadata(name="ganserve", version=request.app.version, extensions=EXTENSIONS)


@router.get("/health/live", response_model=Live)
async def live() -> Live:
    return Live(live=True)


@router.get("/health/ready", response_model=Ready)
async def ready(request: Request) -> Ready | JSONResponse:
    """Ready when /readyz is: a model is loaded and warm, and CUDA is in use when demanded."""
    reason = services(request).not_ready_reason()
    if reason:
        # Not logged: probes ask every few seconds while the models load.
        return error_response(503, "not_ready", reason, {"Retry-After": "5"}, request.url.path)
    return Ready(ready=True)


@router.get("/models/{name}", response_model=ModelMetadata)
async def model_metadata(name: Name, request: Request) -> ModelMetadata:
    """Platform, versions, and each input and output with its datatype and shape."""
    return metadata(find(services(request).repository, name))


@router.get("/models/{name}/versions/{version}", response_model=ModelMetadata)
async def model_version_metadata(name: Name, version: Version, request: Request) -> ModelMetadata:
    return metadata(find(services(request).repository, name, version))


@router.get("/models/{name}/ready", response_model=ModelReady)
async def model_ready(name: Name, request: Request) -> ModelReady:
    find(services(request).repository, name)
    return ModelReady(name=name, ready=True)


@router.get("/models/{name}/versions/{version}/ready", response_model=ModelReady)
async def model_version_ready(name: Name, version: Version, request: Request) -> ModelReady:
    find(services(request).repository, name, version)
    return ModelReady(name=name, ready=True)


@router.post(
    "/models/{name}/infer",
    response_model=InferResponse,
    responses=BINARY_ANSWER,
    openapi_extra=INFER_BODY,
)
async def model_infer(name: Name, request: Request, length: HeaderLength = None) -> Response:
    """Inputs in, outputs out: JSON `data`, or raw bytes with the binary tensor extension."""
    svc = services(request)
    return await _infer(svc, request, find(svc.repository, name), length)


@router.post(
    "/models/{name}/versions/{version}/infer",
    response_model=InferResponse,
    responses=BINARY_ANSWER,
    openapi_extra=INFER_BODY,
)
async def model_version_infer(
    name: Name, version: Version, request: Request, length: HeaderLength = None
) -> Response:
    svc = services(request)
    return await _infer(svc, request, find(svc.repository, name, version), length)


async def _infer(
    svc: Services, request: Request, target: Target, header_length: int | None
) -> Response:
    if request.headers.get("content-encoding", "identity") != "identity":
        raise refuse("compressed request bodies are not supported")
    check_content_type(request.headers.get("content-type"))
    body = await request.body()
    if len(body) > svc.settings.max_upload_bytes:
        raise refuse(over_cap("the body", svc.settings.max_upload_bytes))
    read = partial(decode_request, body, header_length)
    parsed, feeds, crop, wanted = await off_loop(
        svc, len(body), decode, target, svc.settings, read, requested_outputs
    )
    hangup = hangup_of(request, target.batcher)
    out = await run_target(svc, target, feeds, svc.settings.request_timeout_s, hangup)
    svc.metrics.images.labels(target.batcher.name, request.scope["route"].path).inc(len(out))
    head = {
        "model_name": target.name,
        "model_version": target.manifest.version,
        "id": parsed.id if parsed.id is not None else uuid.uuid4().hex,
    }
    write = partial(encode_response, head, binary=wanted)
    content, headers, media_type = await off_loop(
        svc, out.nbytes, encode, target, out, crop, wanted, write
    )
    if target.translation:
        del parsed, feeds, out  # the photo's arrays freed, and with no more work back to the OS
        give_back_after_burst(lambda: target.batcher.idle, svc.in_pool)
    return Response(content, media_type=media_type, headers=headers)
