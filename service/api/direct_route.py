"""A FastAPI route whose endpoint takes the `Request` alone and returns a `Response`.

FastAPI's request handler solves the endpoint's dependencies on every request, and for that
parses the query string, the headers and the cookies whether the endpoint asks for them or
not, inside its telemetry hooks: on a small `/generate` that is about a tenth of the event
loop's work. A route whose endpoint reads what it needs from the request itself has nothing
to solve, so this route class (FastAPI's documented extension point, `APIRoute.
get_route_handler`) calls it directly. Everything else stays FastAPI's: the OpenAPI
operation, the response model in the document, the exception handlers.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute


class DirectRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        return self.endpoint
