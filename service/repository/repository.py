"""The model repository: scan `models/`, load, and reload without downtime.

A model is replaced only by a fully loaded and warmed-up successor; requests that already
picked the old one finish on it (its batcher drains, then the session is dropped). Loading a
folder is service/repository/loading.py; the batcher each session gets is made here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from concurrent.futures import Executor, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from service.engine.batcher import Batcher
from service.engine.runtime import CUDA, PHOTO_KINDS, ProviderChoice, Runner, holds_large_runs
from service.manifest import MANIFEST_FILE, SYNTHESIS
from service.metrics import Metrics
from service.repository import upscaling
from service.repository.cost_cache import CostCache
from service.repository.loading import fingerprint, load_model
from service.repository.max_side_probe import MaxSideProbes
from service.repository.model import Model
from service.resources.memory import MemoryBudget, resident_bytes
from service.settings import Settings

log = logging.getLogger("ganserve.repository")


def _discard(metric: Any, *labels: str) -> None:
    with contextlib.suppress(KeyError):
        metric.remove(*labels)


class Repository:
    """All models by name. Changed only by `reload`, one reload at a time."""

    def __init__(
        self,
        settings: Settings,
        metrics: Metrics,
        executor: Executor,
        translation_executor: Executor | None = None,
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self._translation_executor = translation_executor or executor
        self.memory = MemoryBudget(settings.memory_budget_mb << 20)
        metrics.watch_memory(self.memory)
        self._executor = executor
        # Not asyncio's default executor, whose threads asyncio.run waits for at exit: a load
        # cut short by SIGTERM or Ctrl-C would hold the exit (service/server/signals.py).
        self._load_executor = ThreadPoolExecutor(1, thread_name_prefix="ganserve-load")
        self.choice = ProviderChoice(settings.provider)
        self.cost_cache = CostCache.open(settings.cache_dir)
        # Started by the app once loaded: `probes.run(ready)` (max_side_probe.py).
        self.probes = MaxSideProbes(self.cost_cache, self.memory, self._translation_executor)
        self.models: dict[str, Model] = {}
        self._lock = asyncio.Lock()
        self.loaded = False

    # -- loading ------------------------------------------------------------------------

    async def reload(self) -> dict[str, str]:
        """Rescan the folder; returns what happened per model (loaded, kept, failed, ...)."""
        async with self._lock:
            report: dict[str, str] = {}
            folders = self._scan()
            for name in sorted(set(self.models) - set(folders)):
                report[name] = "removed"
                self._retire(self.models.pop(name))
            for name, folder in folders.items():
                report[name] = await self._refresh(name, folder)
            self.memory.set_baseline(resident_bytes())
            self.loaded = True
            return report

    def _scan(self) -> dict[str, Path]:
        root = self.settings.models_dir
        if not root.is_dir():
            log.warning("models folder %s does not exist", root)
            return {}
        return {
            p.name: p for p in sorted(root.iterdir()) if p.is_dir() and (p / MANIFEST_FILE).exists()
        }

    async def _refresh(self, name: str, folder: Path) -> str:
        old = self.models.get(name)
        if old is not None and old.ready:
            try:
                unchanged = fingerprint(folder) == old.fingerprint
            except OSError:
                unchanged = False
            if unchanged:
                return "unchanged"
        new = await asyncio.get_running_loop().run_in_executor(
            self._load_executor, load_model, folder, self.settings, self.choice, self.cost_cache
        )
        if not new.ready:
            if old is not None and old.ready:
                old.reload_error = new.reason
                log.error("model %s: broken replacement refused, old one keeps serving", name)
                return f"kept: {new.reason}"
            if old is not None:
                self._retire(old)
            self._publish(new)
            self.models[name] = new
            return f"failed: {new.reason}"
        translation = new.kind in PHOTO_KINDS  # its rows' work is their pixels
        assert new.manifest is not None
        if translation and self.settings.reuse_freed_memory:
            log.warning(
                "model %s: reuse_freed_memory is on, and photos of mixed sizes grow the heap "
                "it keeps, past memory_budget_mb (docs/benchmarks.md)",
                name,
            )
        for role, runner in new.runners.items():
            # On CPU photos cost more per pixel in one run than apart (docs/benchmarks.md).
            one_photo = translation and runner.provider != CUDA
            large = holds_large_runs(new.manifest, role)  # else: its arena, allocated at load
            new.batchers[role] = Batcher(
                runner.run,
                max_batch=self._rows_per_run(new, role, runner, one_photo),
                max_delay_s=self.settings.max_delay_ms / 1000,
                queue_size=self.settings.queue_size,
                executor=self._translation_executor if translation else self._executor,
                metrics=self.metrics.for_session(runner.key),
                inline_max_s=self.settings.inline_run_ms / 1000,
                max_work=self.settings.max_batch_pixels if translation else None,
                estimate=runner.estimate,
                memory=self.memory if large else None,
                name=runner.key,
            )
            full_run = self._full_run(new, new.batchers[role])
            self.metrics.watch_session(runner.key, runner.estimate, full_run)
        self.models[name] = new  # requests from now on use the new sessions
        self.probes.add(new)
        if old is not None:
            self._retire(old, keep=set(new.session_keys()))
        self._publish(new)
        return "loaded" if old is None else "replaced"

    def _rows_per_run(self, model: Model, role: str, runner: Runner, one_photo: bool) -> int:
        """On CPU a photo session's run holds one photo or window (merged they cost more
        per pixel: docs/benchmarks.md); on CUDA a super-resolution run holds windows up to
        its memory (upscaling.py), a translation run `max_batch` photos of one size. A
        StyleGAN synthesis run holds the rows whose measured peak fits half the memory
        budget's room (16 rows at 1024x1024 hold gigabytes)."""
        if one_photo:
            return 1
        # The room as the process is now, the new model loaded: at the first load the
        # budget's baseline is not set yet.
        room = max(0, self.memory.budget_bytes - resident_bytes())
        if model.kind == "super-resolution" and model.manifest is not None:
            return upscaling.rows_per_run(runner, model.manifest, self.settings, room)
        if role == SYNTHESIS:
            return runner.estimate.rows_within(room // 2, 1, self.settings.max_batch)
        return self.settings.max_batch

    def _full_run(self, model: Model, batcher: Batcher) -> int:
        """The work of a full run (for its peak-memory gauge): windows, photo pixels, rows (a
        StyleGAN synthesis' as many as the memory budget allows)."""
        if model.kind == "super-resolution" and model.manifest is not None:
            return batcher.max_batch * upscaling.window_side(model.manifest, self.settings) ** 2
        if model.kind in PHOTO_KINDS:
            return self.settings.max_batch_pixels
        return batcher.max_batch

    def _publish(self, model: Model) -> None:
        version = model.manifest.version if model.manifest else ""
        for key, runner in zip(model.session_keys(), model.runners.values(), strict=False):
            self.metrics.model_info.labels(key, model.kind or "", version, runner.provider).set(1)
        for key in model.session_keys():
            self.metrics.model_ready.labels(key).set(1 if model.ready else 0)

    def _retire(self, model: Model, keep: set[str] = frozenset()) -> None:
        """Drop a model's metrics series; its batchers finish what they hold in the background."""
        version = model.manifest.version if model.manifest else ""
        for key, runner in zip(model.session_keys(), model.runners.values(), strict=False):
            _discard(self.metrics.model_info, key, model.kind or "", version, runner.provider)
        for key in model.session_keys():
            if key not in keep:
                _discard(self.metrics.model_ready, key)
        for batcher in model.batchers.values():
            batcher.close()

    async def close(self) -> None:
        for model in self.models.values():
            for batcher in model.batchers.values():
                await batcher.aclose()
        self._load_executor.shutdown(wait=False)

    # -- lookup -------------------------------------------------------------------------

    def ready_models(self, kind: str | None = None) -> list[Model]:
        return [m for m in self.models.values() if m.ready and (kind is None or m.kind == kind)]

    def default(self, kind: str) -> Model | None:
        """The setting's model for this kind when it is ready, else the first ready one."""
        preferred = getattr(self.settings, f"default_{kind.replace('-', '_')}")
        model = self.models.get(preferred) if preferred else None
        if model is not None and model.ready and model.kind == kind:
            return model
        ready = self.ready_models(kind)
        return ready[0] if ready else None

    def not_ready_reason(self) -> str | None:
        """Why this process should not get traffic yet; None when it may."""
        if not self.loaded:
            return "models are still loading"
        if not self.ready_models():
            return "no model is ready; see /models"
        return self.cuda_problem()

    def cuda_problem(self) -> str | None:
        """With provider=cuda, the reason /readyz fails when any session is not on CUDA."""
        if self.settings.provider != "cuda":
            return None
        for model in self.ready_models():
            for runner in model.runners.values():
                if runner.provider != CUDA:
                    return (
                        f"provider=cuda but {runner.key} runs on {runner.provider}: "
                        "CUDA did not load"
                    )
        return None
