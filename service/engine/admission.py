"""Admission by estimate: will a new request finish before its deadline?

Each session measures what a unit of its work costs (a row of a generator, a pixel of a
photo) and counts the work in front of a newcomer: what is queued, and what is left of the
run in progress. A request whose estimated finish is past `request_timeout_s` is refused at
once, with the seconds after which it would fit, instead of being queued only to time out.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass


class Overloaded(Exception):
    """Refused before queueing: the queue is full, or the work in front would not finish in
    time. `retry_after_s` is when the estimate says it would fit."""

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s

    @property
    def retry_after(self) -> str:
        """The Retry-After header: whole seconds, at least 1."""
        return str(max(1, math.ceil(self.retry_after_s)))


@dataclass
class WorkEstimate:
    """One session's measured cost per unit of work and the work it holds."""

    unit_s: float | None = None  # seconds per unit of work; None until a run was timed
    unit_bytes: int | None = None  # peak resident bytes per unit, measured at load
    queued: int = 0  # units waiting, not yet in a run
    running: int = 0  # units of the run in progress
    running_since: float = 0.0
    # Work is admitted when estimated to finish within this share of the request timeout: a
    # session whose runs yield the cores to other work runs slower under load than measured.
    headroom: float = 1.0
    runs: int = 0  # served runs observed

    def observe(self, units: int, seconds: float) -> None:
        """A run's time; halfway to the last figure, so one slow run only moves it part way."""
        measured = seconds / max(1, units)
        self.unit_s = measured if self.unit_s is None else (self.unit_s + measured) / 2
        self.runs += 1

    def remeasured(self, unit_s: float, unit_bytes: int | None) -> None:
        """A better start than the one the session began with (its largest photo timed after
        start-up): the memory per unit, which only start-up measures, and the time unless
        served runs have corrected it already."""
        self.unit_bytes = unit_bytes
        if self.runs == 0:
            self.unit_s = unit_s

    def started(self, units: int) -> None:
        self.running = units
        self.running_since = time.perf_counter()

    def finished(self) -> None:
        self.running = 0

    def seconds_before_done(self, units: int) -> float:
        """Estimated seconds until `units` more, queued behind everything held, are done."""
        if self.unit_s is None:
            return 0.0
        left = self.running * self.unit_s - (time.perf_counter() - self.running_since)
        return max(0.0, left) + (self.queued + units) * self.unit_s

    def peak_bytes(self, units: int) -> int:
        return (self.unit_bytes or 0) * units

    def rows_within(self, room: int, units_per_row: int, most: int) -> int:
        """How many rows one run may hold: at most `most`, and no more than an estimated
        peak within `room` bytes (at least one row; `most` when no peak was measured)."""
        peak = self.peak_bytes(units_per_row)
        return max(1, min(most, room // peak)) if peak else most

    def admit(self, units: int, timeout_s: float, name: str) -> None:
        """Raise Overloaded when `units` would finish later than `timeout_s` from now.

        An idle session takes any request: refusing it could not make it sooner, and its run
        corrects an estimate measured on a busy machine (else that could refuse for good).
        """
        if self.queued == 0 and self.running == 0:
            return
        finish = self.seconds_before_done(units)
        allowed = timeout_s * self.headroom
        if finish > allowed:
            raise Overloaded(
                f"{name} would finish this in about {finish:.1f} s, over the {allowed:g} s "
                f"it takes on (of the {timeout_s:g} s request timeout)",
                finish - allowed,
            )
