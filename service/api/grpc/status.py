"""The error contract in gRPC statuses: each `ApiError` (whose message is the REST answer's)
becomes the status a gRPC client expects, and `Retry-After` a trailing `retry-after`.

Nothing a client sends becomes INTERNAL: that one is `inference_failed` (ONNX Runtime failed
on the batch) and a bug in the service, as 500 is over HTTP.
"""

from __future__ import annotations

import grpc

from service.api.errors import ApiError

CODES = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    401: grpc.StatusCode.UNAUTHENTICATED,
    404: grpc.StatusCode.NOT_FOUND,
    413: grpc.StatusCode.RESOURCE_EXHAUSTED,  # one run over the memory budget
    422: grpc.StatusCode.INVALID_ARGUMENT,
    499: grpc.StatusCode.CANCELLED,
    500: grpc.StatusCode.INTERNAL,
    503: grpc.StatusCode.UNAVAILABLE,  # overloaded, model not ready, no model
}


def code_of(error: ApiError) -> grpc.StatusCode:
    if error.code == "timeout":  # still queued at the deadline
        return grpc.StatusCode.DEADLINE_EXCEEDED
    return CODES.get(error.status, grpc.StatusCode.UNKNOWN)


def trailers(error: ApiError) -> tuple[tuple[str, str], ...]:
    retry = (error.headers or {}).get("Retry-After")
    return (("retry-after", retry),) if retry else ()
