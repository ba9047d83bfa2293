"""`ganserve ready on http://host:port`, logged once, when /readyz first answers 200.

uvicorn's own `Uvicorn running on ...` cannot say it: with several workers its supervisor
prints it as it binds the port, before any worker has loaded a model (service/server/logs.py
drops it), and a lone process prints it even when no model loaded. This line waits for what
/readyz waits for (every worker ready) and for the port to take a connection (a lone process
binds it only after its start-up).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

log = logging.getLogger("ganserve")

POLL_S = 0.1
LOOPBACK = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}  # wildcard -> dialable


async def announce_when_ready(
    not_ready: Callable[[], str | None],
    host: str,
    port: int,
    first: Callable[[], bool],
    summary: Callable[[], str],
) -> None:
    """Log the line once `not_ready()` is None and the port accepts, if `first()` says this
    process is the one to (one of several workers)."""
    while not_ready() is not None or not await accepts(LOOPBACK.get(host, host), port):
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


async def accepts(host: str, port: int) -> bool:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 1.0)
    except (OSError, TimeoutError):
        return False
    writer.close()
    return True
