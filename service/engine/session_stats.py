"""Counts and durations of one session's work, kept by its batcher and the route that waits on
it: what the Open Inference Protocol's statistics extension reports (`GET /v2/models/stats`,
in Triton's shape), read by the API without reaching into Prometheus.

Plain integers in nanoseconds, updated on the event loop only (the batcher observes a run
after it returns from its thread), so no lock is needed. They are this process's: with
several workers each keeps its own, and a reload that replaces the session starts again.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field


@dataclass
class Duration:
    """How many, and their total nanoseconds."""

    count: int = 0
    ns: int = 0

    def add(self, seconds: float, count: int = 1) -> None:
        self.count += count
        self.ns += round(seconds * 1e9)


@dataclass
class SessionStats:
    success: Duration = field(default_factory=Duration)  # requests answered, end to end
    fail: Duration = field(default_factory=Duration)  # requests refused or failed
    queue: Duration = field(default_factory=Duration)  # each request's wait for its run
    compute_infer: Duration = field(default_factory=Duration)  # each request's run
    inference_count: int = 0  # rows run
    execution_count: int = 0  # session.run calls
    last_inference_ms: int = 0  # wall clock of the last run's end
    by_batch_size: dict[int, Duration] = field(default_factory=lambda: defaultdict(Duration))

    def ran(self, rows: int, run_s: float, waits: list[float]) -> None:
        """One run of `rows` rows taking `run_s`, for requests that waited `waits`."""
        self.execution_count += 1
        self.inference_count += rows
        self.last_inference_ms = time.time_ns() // 1_000_000
        self.compute_infer.add(run_s * len(waits), len(waits))
        self.by_batch_size[rows].add(run_s)
        for wait in waits:
            self.queue.add(wait)

    def answered(self, ok: bool, seconds: float) -> None:
        (self.success if ok else self.fail).add(seconds)
