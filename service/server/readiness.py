"""`ganserve ready on http://host:port`, logged once, when /readyz first answers 200.

uvicorn's own `Uvicorn running on ...` cannot say it: with several workers its supervisor
prints it as it binds the port, before any worker has loaded a model (service/server/logs.py
drops it), and a lone process prints it even when no model loaded. This line waits for what
/readyz waits for (every worker ready) and for this process to serve the port (uvicorn makes
its server only after the lifespan's start-up: a lone process binds the port then).

Whether it serves is asked of its event loop (`listening`: service/server/balance.py's
`serving`), never by connecting to the port: a connection of the server's own counts under
`max_connections` like a client's, and at the limit it made room by closing a client's
(service/server/http_protocol.py), right as the first clients came in.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

log = logging.getLogger("ganserve")

POLL_S = 0.1


async def announce_when_ready(
    not_ready: Callable[[], str | None],
    listening: Callable[[], bool],
    host: str,
    port: int,
    first: Callable[[], bool],
    summary: Callable[[], str],
) -> None:
    """Log the line once `not_ready()` is None and `listening()` is true, if `first()` says
    this process is the one to (one of several workers)."""
    while not_ready() is not None or not listening():
        await asyncio.sleep(POLL_S)
    if first():
        line = "ganserve ready on http://%s:%d (%s)"
        log.info(line, host, port, summary(), extra={"service_wide": True})


def summary(ready: dict[str, bool], workers: int) -> str:
    """`3 of 3 models ready, 2 workers`, naming any model that failed."""
    failed = [name for name, ok in ready.items() if not ok]
    text = f"{len(ready) - len(failed)} of {len(ready)} models ready"
    if failed:
        text += f" ({', '.join(failed)} failed: see /models)"
    return f"{text}, {workers} worker{'s' if workers > 1 else ''}"
