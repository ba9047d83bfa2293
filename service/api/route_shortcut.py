"""The image routes reached without Starlette's router and FastAPI's per-route layers.

Between our middleware and a `DirectRoute` endpoint (it takes the `Request` alone and answers
a `Response`) a request passes Starlette's `ExceptionMiddleware` (a `Request` and an exception
wrapper), FastAPI's exit-stack middleware, the router's and each included router's route
match, and the route's `request_response` (another `Request`, two exit stacks, another
exception wrapper): on a small `/generate` that is more than the endpoint's own Python work.
This middleware, innermost of ours, knows those routes by method and path, calls the endpoint
itself, and answers what it raises with the app's exception handlers, looked up as
`ExceptionMiddleware` looks them up (an exception none handles goes on up to Starlette's
`ServerErrorMiddleware`, the 500 answer, as before). Any other request takes the full path.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from fastapi import Request
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute, get_route_path
from starlette.types import ASGIApp, Receive, Scope, Send

from service.api.direct_route import DirectRoute


class RouteShortcut:
    def __init__(
        self, app: ASGIApp, routes: Iterable[BaseRoute], handlers: Mapping[Any, Any]
    ) -> None:
        self.app = app
        self.routes: dict[tuple[str, str], APIRoute] = {
            (method, route.path): route
            for route in routes
            if isinstance(route, DirectRoute)
            for method in route.methods
        }
        # What ExceptionMiddleware handles: FastAPI gives the 500 handler to ServerErrorMiddleware.
        self.handlers = {
            k: v for k, v in handlers.items() if isinstance(k, type) and k is not Exception
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = scope["type"] == "http" and self.routes.get(
            (scope["method"], get_route_path(scope))
        )
        if not route:
            await self.app(scope, receive, send)
            return
        scope["route"] = route
        scope["endpoint"] = route.endpoint
        scope["path_params"] = {}
        request = Request(scope, receive, send)
        try:
            response = await route.endpoint(request)
        except Exception as exc:
            handler = next(
                (self.handlers[c] for c in type(exc).__mro__ if c in self.handlers), None
            )
            if handler is None:
                raise
            response = await handler(request, exc)
            exc.__traceback__ = None  # as Starlette does: a reused exception keeps no frames
        await response(scope, receive, send)
