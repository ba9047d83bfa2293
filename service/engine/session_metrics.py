"""What a batcher reports about its session, as a protocol: the engine knows no Prometheus.

`service/metrics.py` satisfies it with prometheus-client's label children (its
`SessionMetrics`); tests and tools may pass anything with the same methods, or nothing.
"""

from __future__ import annotations

from typing import Protocol


class Observed(Protocol):
    """A distribution: a histogram child."""

    def observe(self, amount: float) -> None: ...


class Level(Protocol):
    """A value that goes up and down: a gauge child."""

    def set(self, value: float) -> None: ...


class SessionMetrics(Protocol):
    """The series one session's batcher updates on its hot path."""

    @property
    def queue_wait(self) -> Observed: ...

    @property
    def inference(self) -> Observed: ...

    @property
    def batch_size(self) -> Observed: ...

    @property
    def queue_depth(self) -> Level: ...
