"""Prometheus metrics, one registry per app so tests that build many apps never collide.

With several workers (`PROMETHEUS_MULTIPROC_DIR` set before prometheus-client is imported,
see service/server/workers.py) every sample also goes to that folder, and a scrape on any worker
collects the folder: counters and histograms summed over workers, gauges as their mode says.

The label `model` is the session key: the model name for generators (`dcgan-mnist`), the name
and direction for translation (`cyclegan-horse2zebra:a2b`). Names are fixed: dashboards use them.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

from service.resources.memory import resident_bytes

if TYPE_CHECKING:
    from service.engine.admission import WorkEstimate
    from service.resources.memory import MemoryBudget

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 48, 64, 96, 128, 256)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "ganserve_requests", "Requests answered", ["route", "model", "status"], registry=r
        )
        self.request_seconds = Histogram(
            "ganserve_request_seconds",
            "Request latency",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.queue_wait = Histogram(
            "ganserve_queue_wait_seconds",
            "Time rows wait in the batcher",
            ["model"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.inference = Histogram(
            "ganserve_inference_seconds",
            "session.run time per batch",
            ["model"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.batch_size = Histogram(
            "ganserve_batch_size",
            "Rows per session.run",
            ["model"],
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        self.queue_depth = Gauge(
            "ganserve_queue_depth",
            "Rows waiting in the batcher",
            ["model"],
            registry=r,
            multiprocess_mode="livesum",  # rows waiting in all live workers
        )
        self.images = Counter("ganserve_images", "Images produced", ["model", "route"], registry=r)
        self.model_info = Gauge(
            "ganserve_model_info",
            "Loaded model sessions (value 1)",
            ["model", "kind", "version", "provider"],
            registry=r,
            multiprocess_mode="livemax",
        )
        self.model_ready = Gauge(
            "ganserve_model_ready",
            "1 when the session serves",
            ["model"],
            registry=r,
            multiprocess_mode="livemin",  # 1 only when every live worker serves it
        )

        def gauge(name: str, doc: str, mode: str, labels: tuple[str, ...] = ()) -> Gauge:
            return Gauge(name, doc, labels, registry=r, multiprocess_mode=mode)

        # Sampled (refresh): the process's memory and the sessions' estimates.
        self.resident = gauge(
            "ganserve_resident_bytes", "Resident memory (with workers: of all)", "livesum"
        )
        self.memory_budget = gauge(
            "ganserve_memory_budget_bytes", "The memory_budget setting, per process", "livemax"
        )
        self.memory_reserved = gauge(
            "ganserve_memory_reserved_bytes", "Estimated peaks of the runs in flight", "livesum"
        )
        self.run_peak = gauge(
            "ganserve_session_run_peak_bytes",
            "Estimated resident bytes one full run adds (measured at load)",
            "livemax",
            ("model",),
        )
        self.work_held = gauge(
            "ganserve_session_work_seconds",
            "Estimated seconds of work the session holds (queued and running)",
            "livemax",
            ("model",),
        )
        self._watched: dict[str, Callable[[], None]] = {}

    def watch_memory(self, memory: MemoryBudget) -> None:
        self.memory_budget.set(memory.budget_bytes)

        def refresh() -> None:
            self.resident.set(resident_bytes())
            self.memory_reserved.set(memory.reserved)

        self._watched[""] = refresh

    def watch_session(self, key: str, estimate: WorkEstimate, full_run: int) -> None:
        self.run_peak.labels(key).set(estimate.peak_bytes(full_run))
        work = self.work_held.labels(key)
        self._watched[key] = lambda: work.set(estimate.seconds_before_done(0))

    def refresh(self) -> None:
        """The sampled gauges, set from what they watch: at each scrape, and every second
        (with workers a scrape reads the other workers' last samples)."""
        for refresh in self._watched.values():
            refresh()

    async def refresh_every(self, seconds: float) -> None:
        while True:
            self.refresh()
            await asyncio.sleep(seconds)

    def exposition(self) -> tuple[bytes, str]:
        """The scrape's body and content type: this app's registry, or every worker's files."""
        self.refresh()
        folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        if not folder:
            return generate_latest(self.registry), CONTENT_TYPE_LATEST
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=folder)
        return generate_latest(registry), CONTENT_TYPE_LATEST

    def for_session(self, key: str) -> SessionMetrics:
        return SessionMetrics(
            queue_wait=self.queue_wait.labels(key),
            inference=self.inference.labels(key),
            batch_size=self.batch_size.labels(key),
            queue_depth=self.queue_depth.labels(key),
        )


@dataclass(frozen=True)
class SessionMetrics:
    """The batcher's metric children, resolved once so the hot path skips label lookups."""

    queue_wait: Histogram
    inference: Histogram
    batch_size: Histogram
    queue_depth: Gauge
