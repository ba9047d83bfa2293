"""uvicorn's httptools protocol with a header-read timeout, and room made at the limit.

uvicorn times out an idle keep-alive connection, but not one that never completes its request
headers: a client that connects and sends nothing, or half a request line, holds its
connection (and a place under `max_connections`, which uvicorn counts only once headers are
complete) for good. This protocol closes such a connection `header_timeout_s` after it opened
or after the first byte of its next request; and when a new connection finds `max_connections`
open, the ones still waiting for their headers make room for it (the oldest first), then
uploads whose body has sent nothing for `BODY_SILENCE` of `body_timeout_s` (the longest
silent first), so thousands of stalled clients do not get every complete request refused
`503` until their timeouts. An upload that keeps sending, however slowly, is never dropped
for room, nor one whose reading the server itself paused. Bodies have their own timeout
(`BodyTimeoutMiddleware`), idle time between requests is uvicorn's `timeout_keep_alive`. On
shutdown, uvicorn closes at once every connection with no request under way, which drops a
request whose bytes were still arriving on a connection already accepted; this protocol lets
such a request finish its headers (within `SHUTDOWN_HEADER_GRACE_S`), answers it and then
closes.
"""

from __future__ import annotations

import asyncio
import functools
import heapq
import itertools
import logging
from collections.abc import Callable
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = logging.getLogger("service.http")

# How long a connection that was accepted before shutdown, but has not sent whole headers
# yet, may still take to send them: a client that connected means to send a request.
SHUTDOWN_HEADER_GRACE_S = 2.0
# At `max_connections`, an upload whose body has sent nothing for this share of
# `body_timeout_s` (2 s of the default 10 s) makes room for a new connection.
BODY_SILENCE = 0.2
# The order in which header timers were armed: uvloop's clock counts whole milliseconds, so
# connections accepted together share a deadline, and this keeps the newest of them open.
_ARMED = itertools.count()


class HeaderTimeoutProtocol(HttpToolsProtocol):
    """An httptools connection whose request headers must arrive within `header_timeout_s`."""

    def __init__(
        self, *args: Any, header_timeout_s: float, body_timeout_s: float, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout_s = header_timeout_s
        self.body_silence_s = BODY_SILENCE * body_timeout_s
        self._header_timer: asyncio.TimerHandle | None = None
        self._armed = 0  # this connection's place in `_ARMED` when its header timer was armed
        self._body_quiet_since: float | None = None  # a body in progress: its last bytes
        self._shutting_down = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()  # a connection that sends nothing at all is timed out too
        self._make_room()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)  # cancels the keep-alive timer, may complete headers
        between_requests = self.cycle is None or self.cycle.response_complete
        if self._header_timer is None and between_requests and not self.transport.is_closing():
            self._arm()  # the first bytes of the next request on a kept-alive connection

    def on_headers_complete(self) -> None:
        self._disarm()
        self._body_quiet_since = self.loop.time()  # until the message is complete
        super().on_headers_complete()
        if self._shutting_down and self.cycle is not None:
            self.cycle.keep_alive = False  # answered with `Connection: close`, then closed

    def on_body(self, body: bytes) -> None:
        self._body_quiet_since = self.loop.time()
        super().on_body(body)

    def on_message_complete(self) -> None:
        self._body_quiet_since = None
        super().on_message_complete()

    def shutdown(self) -> None:
        """uvicorn's graceful shutdown, except that a request still sending its headers (on a
        new connection, or the next one on a kept-alive connection) is let in and answered.
        An idle keep-alive connection is closed at once, as uvicorn does."""
        if not self._awaiting_headers():
            super().shutdown()
            return
        self._shutting_down = True
        remaining = self._header_timer.when() - self.loop.time()
        self._disarm()
        grace = max(0.0, min(remaining, SHUTDOWN_HEADER_GRACE_S))
        self._header_timer = self.loop.call_later(grace, self._headers_stalled)

    def _arm(self) -> None:
        self._header_timer = self.loop.call_later(self.header_timeout_s, self._headers_stalled)
        self._armed = next(_ARMED)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _awaiting_headers(self) -> bool:
        return self._header_timer is not None

    def _body_stalled(self, now: float) -> bool:
        """A body under way that has sent nothing for `body_silence_s`, though read."""
        quiet = self._body_quiet_since
        return (
            quiet is not None and now - quiet >= self.body_silence_s and not self.flow.read_paused
        )

    def _make_room(self) -> None:
        """At the limit, drop enough connections that have not sent whole headers (the
        nearest to their timeout first), then enough stalled uploads (the longest silent
        first), for this one's request to pass uvicorn's check."""
        limit = self.limit_concurrency
        if limit is None or len(self.connections) < limit:
            return
        others = [c for c in self.connections if isinstance(c, HeaderTimeoutProtocol)]
        others = [c for c in others if c is not self]
        excess = len(self.connections) - limit + 1
        waiting = [c for c in others if c._awaiting_headers()]
        nearest = heapq.nsmallest(excess, waiting, key=lambda c: (c._header_timer.when(), c._armed))
        for connection in nearest:
            connection._drop("request headers incomplete, room made for a new connection")
            excess -= 1
        now = self.loop.time()
        stalled = [c for c in others if c._body_stalled(now)]
        for connection in heapq.nsmallest(excess, stalled, key=lambda c: c._body_quiet_since):
            connection._drop(
                f"request body silent for {now - connection._body_quiet_since:.1f} s, "
                "room made for a new connection"
            )

    def _headers_stalled(self) -> None:
        self._header_timer = None
        if self._shutting_down:
            self._drop("request headers incomplete at shutdown")
        else:
            self._drop(f"request headers incomplete after {self.header_timeout_s:g} s")

    def _drop(self, why: str) -> None:
        """Close now, and leave uvicorn's count of open connections at once."""
        self._disarm()
        self.connections.discard(self)
        if not self.transport.is_closing():
            log.info("connection closed: %s", why)
            self.transport.close()


def protocol(
    header_timeout_s: float, body_timeout_s: float
) -> Callable[..., HeaderTimeoutProtocol]:
    """What uvicorn's `http=` option takes: a picklable factory (workers are spawned with the
    config), called like the protocol class with uvicorn's own arguments."""
    return functools.partial(
        HeaderTimeoutProtocol, header_timeout_s=header_timeout_s, body_timeout_s=body_timeout_s
    )
