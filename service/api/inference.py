"""One request's rows through a session's batcher, answered as the error contract says.

The batcher knows nothing of HTTP or gRPC: here its outcomes become answers (overloaded, timeout,
too large for the memory budget, client gone, inference failed), and queued work nobody
waits for any more is cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Iterator

import numpy as np
from fastapi import Request

from service.api.errors import ApiError
from service.engine.admission import Overloaded
from service.engine.batcher import Batcher, DeadlinePassed, TooLarge


async def _hangup(request: Request) -> None:
    """Return when the client disconnects. The body is read by now, so the server's next
    message is `http.disconnect`, sent when the connection drops (or the response is done)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def infer(
    request: Request,
    batcher: Batcher,
    inputs: dict[str, np.ndarray],
    timeout_s: float,
    each: Callable[[int, np.ndarray], None] | None = None,
) -> np.ndarray | None:
    """`run` for an HTTP request: its client hanging up cancels its queued work."""
    return await run(batcher, inputs, timeout_s, hangup_of(request, batcher), each)


def hangup_of(request: Request, batcher: Batcher) -> Callable[[], Awaitable[None]]:
    """An HTTP request's hang-up, for `run`; the request's metrics name the session."""
    request.state.model = batcher.name
    return lambda: _hangup(request)


async def run(
    batcher: Batcher,
    inputs: dict[str, np.ndarray],
    timeout_s: float,
    hangup: Callable[[], Awaitable[None]] | None = None,
    each: Callable[[int, np.ndarray], None] | None = None,
) -> np.ndarray | None:
    """Through the session's batcher, with the overload, deadline, hang-up and failure answers,
    each counted in the session's statistics as a success or a failure with its duration,
    whichever protocol asked.

    The batcher refuses at once what its estimate says cannot finish within `timeout_s`, and
    drops work still queued at the deadline; work still queued when `hangup()` returns (the
    client is gone) is cancelled, and the batcher drops it before it reaches the session.
    Without `hangup` (gRPC), cancelling the caller is the hang-up: it cancels the work too.
    With `each`, every chunk of rows is handed to it as its run is done and None is returned
    (Batcher.submit).
    """
    start = time.perf_counter()
    try:
        output = await _answer(batcher, inputs, timeout_s, hangup, each)
    except ApiError:
        batcher.stats.answered(False, time.perf_counter() - start)
        raise
    batcher.stats.answered(True, time.perf_counter() - start)
    return output


async def _answer(
    batcher: Batcher,
    inputs: dict[str, np.ndarray],
    timeout_s: float,
    hangup: Callable[[], Awaitable[None]] | None,
    each: Callable[[int, np.ndarray], None] | None,
) -> np.ndarray | None:
    if each is None:
        try:
            output = await batcher.run_now(inputs, timeout_s)  # idle and cheap: no hand-offs
        except (Overloaded, TooLarge) as exc:
            raise refusal(batcher.name, exc) from exc
        except Exception as exc:
            raise _failed(batcher.name) from exc
        if output is not None:
            return output
    work = asyncio.ensure_future(batcher.submit(inputs, timeout_s, each=each))
    gone = asyncio.ensure_future(hangup()) if hangup is not None else None
    if gone is not None:
        # The client gone, its work is cancelled (queued rows never reach the session). A
        # callback, not `asyncio.wait`: its waiter and callbacks per request cost more.
        gone.add_done_callback(lambda _: work.cancel())
    try:
        return await work
    except asyncio.CancelledError:
        if gone is not None and gone.done() and not gone.cancelled():
            # Nobody reads the answer; 499 (nginx's "client closed request") marks it in metrics.
            message = "the client disconnected before the answer"
            raise ApiError(499, "client_closed", message) from None
        raise  # this request itself was cancelled (the server is stopping, or gRPC's call)
    except (Overloaded, TooLarge) as exc:
        raise refusal(batcher.name, exc) from exc
    except DeadlinePassed as exc:
        raise ApiError(503, "timeout", str(exc), {"Retry-After": "1"}) from exc
    except Exception as exc:  # the batch this request was in failed in ONNX Runtime
        raise _failed(batcher.name) from exc
    finally:
        if gone is not None:
            gone.cancel()


def _failed(key: str) -> ApiError:
    return ApiError(
        500, "inference_failed", f"{key} failed on this request's batch; see the server log"
    )


@contextlib.contextmanager
def admitted(batcher: Batcher, rows: int, work_per_row: int, timeout_s: float) -> Iterator[None]:
    """The batcher's reservation for work whose input is still being made (a photo decoded),
    its refusals answered as the error contract says."""
    try:
        with batcher.reserved(rows, work_per_row, timeout_s):
            yield
    except (Overloaded, TooLarge) as exc:
        raise refusal(batcher.name, exc) from exc


def refusal(key: str, exc: Overloaded | TooLarge) -> ApiError:
    """The answer to work refused before it queued: over the memory budget, or overloaded."""
    if isinstance(exc, TooLarge):
        return ApiError(413, "image_too_large", str(exc))
    return ApiError(503, "overloaded", f"{key} is busy: {exc}", {"Retry-After": exc.retry_after})
