"""`inference.GRPCInferenceService`: each call answered as its REST twin under /v2 answers it.

The model view (find, metadata, prepare, outputs) is /v2's own (service/api/v2/models.py) and
the rows go through the same batcher (`inference.run`), so a gRPC request and an HTTP one can
share a run. Every call but ServerLive and ServerReady (probes, open like /v2/health/*) needs
`authorization: Bearer <api_key>` in its metadata when the key is set. Every call is counted
in `ganserve_requests_total` and `ganserve_request_seconds` with the route `grpc:<Method>`
and the status its REST twin would answer (200, 400, 503, ...), so dashboards read both.
"""

from __future__ import annotations

import asyncio
import functools
import hmac
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import grpc
from google.protobuf import json_format
from google.protobuf.message import DecodeError

from service.api.errors import ApiError
from service.api.grpc import status
from service.api.grpc.protocol import grpc_service_pb2 as pb
from service.api.grpc.protocol import model_config_pb2
from service.api.grpc.tensors import (
    Arrays,
    decode_inputs,
    encode_response,
    requested_outputs,
    timeout_parameter,
)
from service.api.services import Services
from service.api.v2.config import configuration
from service.api.v2.infer_steps import decode, encode, off_loop, run_target
from service.api.v2.models import (
    NAME_PATTERN,
    VERSION_PATTERN,
    Target,
    find,
    metadata,
    ready_targets,
)
from service.api.v2.paths import MAX_NAME, MAX_VERSION
from service.api.v2.repository import index
from service.api.v2.routes import EXTENSIONS
from service.api.v2.schemas import Statistics
from service.api.v2.statistics import model_statistics
from service.api.v2.tensors import refuse
from service.resources.memory import give_back_after_burst

log = logging.getLogger("ganserve.grpc")

Context = grpc.aio.ServicerContext
MAX_ID = 256  # characters of a request id, as over REST
_NAME = re.compile(NAME_PATTERN)
_VERSION = re.compile(VERSION_PATTERN)
SERVICE = pb.DESCRIPTOR.services_by_name["GRPCInferenceService"]


class Unreadable:
    """A request whose bytes are not its message: the call answers INVALID_ARGUMENT (gRPC's
    own answer to a deserializer that raises is INTERNAL, which bad input never gets)."""

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason


def _reader(message: type) -> Callable[[bytes], Any]:
    def read(data: bytes) -> Any:
        try:
            return message.FromString(data)
        except DecodeError as exc:
            return Unreadable(f"the request is not a {message.__name__}: {exc}")

    return read


class Call:
    """What one call's metrics need to know beyond its route: the session key it used."""

    __slots__ = ("model",)

    def __init__(self) -> None:
        self.model = ""


Method = Callable[[Any, Any, Context, Call], Awaitable[Any]]


def rpc(*, public: bool = False) -> Callable[[Method], Callable[[Any, Any, Context], Any]]:
    """A servicer method with the key checked (unless `public`), its errors as gRPC statuses,
    and its metrics counted."""

    def wrap(method: Method) -> Callable[[Any, Any, Context], Any]:
        route = f"grpc:{method.__name__}"

        @functools.wraps(method)
        async def handler(self: InferenceServicer, request: Any, context: Context) -> Any:
            start = time.perf_counter()
            call = Call()
            answer = 500
            try:
                if not public and not self.authorized(context):
                    raise ApiError(401, "unauthorized", "a valid bearer token is required")
                if isinstance(request, Unreadable):
                    raise refuse(request.reason)
                response = await method(self, request, context, call)
                answer = 200
                return response
            except ApiError as exc:
                answer = exc.status
                log.warning("%s -> %s %s: %s", route, exc.status, exc.code, exc.message)
                await context.abort(status.code_of(exc), exc.message, status.trailers(exc))
            except asyncio.CancelledError:
                answer = 499  # the client went away or its deadline passed
                raise
            except Exception:
                log.exception("%s -> 500", route)
                await context.abort(grpc.StatusCode.INTERNAL, "the server failed; see its log")
            finally:
                metrics = self.svc.metrics
                metrics.requests.labels(route, call.model, str(answer)).inc()
                metrics.request_seconds.labels(route).observe(time.perf_counter() - start)

        return handler

    return wrap


class InferenceServicer:
    def __init__(self, svc: Services, version: str) -> None:
        self.svc = svc
        self.version = version
        self.key = (svc.settings.api_key or "").encode()

    def handler(self) -> grpc.GenericRpcHandler:
        """Every call of the service, its request read by `_reader`."""
        return grpc.method_handlers_generic_handler(
            SERVICE.full_name,
            {
                method.name: grpc.unary_unary_rpc_method_handler(
                    getattr(self, method.name),
                    request_deserializer=_reader(getattr(pb, method.input_type.name)),
                    response_serializer=getattr(pb, method.output_type.name).SerializeToString,
                )
                for method in SERVICE.methods
            },
        )

    def authorized(self, context: Context) -> bool:
        if not self.key:
            return True
        for key, value in context.invocation_metadata() or ():
            if key == "authorization":
                scheme, _, token = str(value).partition(" ")
                return scheme.lower() == "bearer" and hmac.compare_digest(
                    token.strip().encode(), self.key
                )
        return False

    # -- health and metadata --------------------------------------------------------------

    @rpc(public=True)
    async def ServerLive(self, request: Any, context: Context, call: Call) -> Any:
        return pb.ServerLiveResponse(live=True)

    @rpc(public=True)
    async def ServerReady(self, request: Any, context: Context, call: Call) -> Any:
        return pb.ServerReadyResponse(ready=self.svc.not_ready_reason() is None)

    @rpc()
    async def ModelReady(self, request: Any, context: Context, call: Call) -> Any:
        """Not ready (no error) for a model that failed or is not there, as REST's 503 and
        404 read through a client."""
        try:
            self.find(request.name, request.version)
        except ApiError as exc:
            if exc.status in (404, 503):
                return pb.ModelReadyResponse(ready=False)
            raise
        return pb.ModelReadyResponse(ready=True)

    @rpc()
    async def ServerMetadata(self, request: Any, context: Context, call: Call) -> Any:
        return pb.ServerMetadataResponse(
            name="ganserve", version=self.version, extensions=EXTENSIONS
        )

    @rpc()
    async def ModelMetadata(self, request: Any, context: Context, call: Call) -> Any:
        meta = metadata(self.find(request.name, request.version))
        tensor = pb.ModelMetadataResponse.TensorMetadata
        return pb.ModelMetadataResponse(
            name=meta.name,
            versions=meta.versions,
            platform=meta.platform,
            inputs=[tensor(**t.model_dump()) for t in meta.inputs],
            outputs=[tensor(**t.model_dump()) for t in meta.outputs],
        )

    # -- inference ------------------------------------------------------------------------

    @rpc()
    async def ModelInfer(self, request: Any, context: Context, call: Call) -> Any:
        svc = self.svc
        target = self.find(request.model_name, request.model_version)
        call.model = target.batcher.name
        if len(request.id) > MAX_ID:
            raise refuse(f"id has {len(request.id)} characters; at most {MAX_ID}")
        size = sum(len(chunk) for chunk in request.raw_input_contents) or request.ByteSize()
        read = partial(_read, request)
        _, feeds, crop, wanted = await off_loop(
            svc, size, decode, target, svc.settings, read, requested_outputs
        )
        timeout = self.timeout(context, timeout_parameter(request))
        out = await run_target(svc, target, feeds, timeout)
        svc.metrics.images.labels(target.batcher.name, "grpc:ModelInfer").inc(len(out))
        head = {
            "model_name": target.name,
            "model_version": target.manifest.version,
            "id": request.id or uuid.uuid4().hex,
        }
        raw = bool(request.raw_input_contents)  # the outputs go the way the inputs came
        write = partial(encode_response, head, raw=raw)
        response = await off_loop(svc, out.nbytes, encode, target, out, crop, wanted, write)
        if target.translation:
            del feeds, out  # the photo's arrays freed, and with no more work back to the OS
            give_back_after_burst(lambda: target.batcher.idle, svc.in_pool)
        return response

    # -- the repository calls tritonclient.grpc makes: REST's answers, in Triton's messages --

    @rpc()
    async def RepositoryIndex(self, request: Any, context: Context, call: Call) -> Any:
        """POST /v2/repository/index (`ready`: only those that serve; one repository, so
        `repository_name` names nothing)."""
        entries = index(self.svc.repository, request.ready)
        return json_format.ParseDict(
            {"models": [e.model_dump(exclude_none=True) for e in entries]},
            pb.RepositoryIndexResponse(),
        )

    @rpc()
    async def ModelConfig(self, request: Any, context: Context, call: Call) -> Any:
        """GET /v2/models/{name}[/versions/{v}]/config, but its version_policy: Triton's
        versions are integers, ganserve's the manifest's strings (ModelMetadata has them)."""
        target = self.find(request.name, request.version)
        config = configuration(target, self.svc.settings).model_dump(exclude_none=True)
        del config["version_policy"]
        message = json_format.ParseDict(config, model_config_pb2.ModelConfig())
        return pb.ModelConfigResponse(config=message)

    @rpc()
    async def ModelStatistics(self, request: Any, context: Context, call: Call) -> Any:
        """GET /v2/models/stats (no name: every ready model) or
        /v2/models/{name}[/versions/{v}]/stats: this worker's counts."""
        if request.name:
            targets = [self.find(request.name, request.version)]
        else:
            targets = ready_targets(self.svc.repository)
        stats = Statistics(model_stats=[model_statistics(t) for t in targets])
        return json_format.ParseDict(stats.model_dump(), pb.ModelStatisticsResponse())

    # -- helpers --------------------------------------------------------------------------

    def find(self, name: str, version: str) -> Target:
        """The ready V2 model, as /v2/models/{name}[/versions/{version}] finds it."""
        if len(name) > MAX_NAME or not _NAME.match(name):
            raise refuse(f"model name {name[:80]!r} does not match {NAME_PATTERN}")
        if version and (len(version) > MAX_VERSION or not _VERSION.match(version)):
            raise refuse(f"model version {version[:80]!r} does not match {VERSION_PATTERN}")
        return find(self.svc.repository, name, version or None)

    def timeout(self, context: Context, asked: float | None) -> float:
        """`request_timeout_s`, or the call's deadline or `timeout` parameter if sooner."""
        limits = [self.svc.settings.request_timeout_s, context.time_remaining(), asked]
        return max(0.0, min(limit for limit in limits if limit is not None))


def _read(request: pb.ModelInferRequest) -> tuple[pb.ModelInferRequest, Arrays]:
    """The request, as `requested_outputs` reads it, and its inputs."""
    return request, decode_inputs(request)
