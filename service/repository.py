"""The model repository: scan `models/`, verify, load, warm up, and reload without downtime.

A model is replaced only by a fully loaded and warmed-up successor; requests that already
picked the old one finish on it (its batcher drains, then the session is dropped).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import ValidationError

from service import priority
from service.admission import WorkEstimate
from service.batcher import Batcher, work_per_row
from service.manifest import MANIFEST_FILE, Manifest, sha256_of
from service.memory import MemoryBudget, give_back_freed, peak_bytes_of, resident_bytes
from service.metrics import Metrics
from service.runtime import (
    CUDA,
    ProviderChoice,
    Runner,
    batch_buckets,
    check_signature,
    fewer_threads_if_faster,
    make_session,
    warmup_inputs,
)
from service.settings import Settings

log = logging.getLogger("ganserve.repository")

PROBE_SIDE = 256  # translation: the thread count is chosen on a photo of about this side
# Translation runs yield the cores to /generate and decoding (service/priority.py), so during
# a burst they run slower than their probe measured at load (docs/reliability.md): admission
# takes on only what its estimate says finishes within half the request timeout.
TRANSLATION_HEADROOM = 0.5


class LoadError(Exception):
    """Why a model folder cannot serve; reported in /models and skipped."""


@dataclass(eq=False)
class Model:
    name: str
    state: Literal["ready", "failed"]
    reason: str | None = None
    manifest: Manifest | None = None
    runners: dict[str, Runner] = field(default_factory=dict)  # role -> runner
    fingerprint: str = ""
    reload_error: str | None = None  # a broken successor that was refused

    @property
    def ready(self) -> bool:
        return self.state == "ready"

    @property
    def kind(self) -> str | None:
        return self.manifest.kind if self.manifest else None

    @property
    def provider(self) -> str | None:
        providers = {r.provider for r in self.runners.values()}
        return providers.pop() if len(providers) == 1 else None

    def session_keys(self) -> list[str]:
        return [session_key(self.name, role, self.manifest) for role in self._roles()]

    def _roles(self) -> tuple[str, ...]:
        return self.manifest.roles() if self.manifest else ("generator",)

    def describe(self) -> dict[str, Any]:
        m = self.manifest
        return {
            "name": self.name,
            "state": self.state,
            "reason": self.reason,
            "reload_error": self.reload_error,
            "kind": m.kind if m else None,
            "version": m.version if m else None,
            "description": m.description if m else None,
            "untrained": m.untrained if m else None,
            "provider": self.provider,
            "image": m.image.model_dump() if m else None,
            "latent": m.latent.model_dump() if m and m.latent else None,
            "classes": m.classes if m else None,
            "domains": m.domains if m else None,
            "directions": list(m.roles()) if m and m.kind == "translation" else None,
            "sessions": {role: r.describe() for role, r in self.runners.items()},
            "manifest": m.model_dump(mode="json") if m else None,
        }


def session_key(name: str, role: str, manifest: Manifest | None) -> str:
    return f"{name}:{role}" if manifest and manifest.kind == "translation" else name


def fingerprint(folder: Path) -> str:
    """Cheap change detector: manifest bytes plus size and mtime of every other file."""
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            st = path.stat()
            digest.update(f"{path.relative_to(folder)}:{st.st_size}:{st.st_mtime_ns};".encode())
    digest.update((folder / MANIFEST_FILE).read_bytes())
    return digest.hexdigest()


def load_model(folder: Path, settings: Settings, choice: ProviderChoice) -> Model:
    """Blocking: verify and load one folder. Never raises; a broken model comes back failed."""
    name = folder.name
    try:
        stamp = fingerprint(folder)
    except OSError as exc:
        return Model(name=name, state="failed", reason=f"unreadable: {exc}")
    manifest = None
    try:
        manifest = _read_manifest(folder)
        runners = {}
        for role in manifest.roles():
            args = (folder, manifest, role, settings, choice)
            # A translation session's intra-op threads run at bulk priority (priority.py).
            bulk = manifest.kind == "translation"
            runners[role] = priority.lowered(_load_runner, *args) if bulk else _load_runner(*args)
    except LoadError as exc:
        log.error("model %s failed: %s", name, exc)
        return Model(
            name=name, state="failed", reason=str(exc), manifest=manifest, fingerprint=stamp
        )
    log.info(
        "model %s ready (%s, %s)",
        name,
        manifest.kind,
        ", ".join(f"{r.key} on {r.provider}, {r.threads} threads" for r in runners.values()),
    )
    return Model(name=name, state="ready", manifest=manifest, runners=runners, fingerprint=stamp)


def _read_manifest(folder: Path) -> Manifest:
    try:
        manifest = Manifest.load(folder)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "model.json"
        raise LoadError(f"bad manifest: {where}: {first['msg']}") from exc
    if manifest.name != folder.name:
        raise LoadError(f"manifest name {manifest.name!r} differs from folder {folder.name!r}")
    return manifest


def _load_runner(
    folder: Path, manifest: Manifest, role: str, settings: Settings, choice: ProviderChoice
) -> Runner:
    ref = manifest.files[role]
    path = folder / ref.path
    if not path.is_file():
        raise LoadError(f"{role}: file {ref.path} is missing")
    if sha256_of(path) != ref.sha256:
        raise LoadError(f"{role}: sha256 of {ref.path} differs from the manifest")
    generator = manifest.kind != "translation"
    try:
        session = make_session(
            path, choice, settings.intra_op_threads, settings.inter_op_threads, arena=generator
        )
    except Exception as exc:  # ORT raises its own exception types for anything unloadable
        raise LoadError(f"{role}: ONNX Runtime cannot load {ref.path}: {_short(exc)}") from exc
    try:
        check_signature(session, manifest)
    except ValueError as exc:
        raise LoadError(f"{role}: wrong signature for {manifest.kind}: {exc}") from exc
    provider = session.get_providers()[0]
    threads = settings.intra_op_threads
    if provider != CUDA and threads > 1:
        try:
            session, threads = fewer_threads_if_faster(
                session,
                path,
                choice,
                settings.inter_op_threads,
                _probe(manifest, settings),
                arena=generator,
            )
        except Exception as exc:
            raise LoadError(f"{role}: timing run failed: {_short(exc)}") from exc
    buckets = batch_buckets(settings.max_batch) if provider == CUDA and generator else ()
    key = session_key(manifest.name, role, manifest)
    runner = Runner(key, session, provider, buckets=buckets, threads=threads)
    _warm_up(runner, manifest, settings.max_batch)
    if not generator:
        give_back_freed()  # the probe's peak is measured from memory the OS holds back
    try:
        runner.estimate = _measured_cost(
            runner,
            _probe(manifest, settings, settings.max_side),
            1.0 if generator else TRANSLATION_HEADROOM,
        )
    except Exception as exc:
        raise LoadError(f"{role}: timing run failed: {_short(exc)}") from exc
    if not generator:
        give_back_freed()
    return runner


def _measured_cost(runner: Runner, probe: dict[str, np.ndarray], headroom: float) -> WorkEstimate:
    """Admission's first estimate: the time and peak memory of one probe run per unit of
    work (the batcher's runs correct it from then on)."""
    units = len(next(iter(probe.values()))) * work_per_row(probe)
    start = time.perf_counter()
    _, peak = peak_bytes_of(lambda: runner.run(probe))
    seconds = time.perf_counter() - start
    estimate = WorkEstimate(
        unit_bytes=None if peak is None else -(-peak // units),
        headroom=headroom,
    )
    estimate.observe(units, seconds)
    log.info("%s: %.3f s for %d units of work on the probe", runner.key, seconds, units)
    return estimate


def _probe(manifest: Manifest, settings: Settings, side: int = PROBE_SIDE) -> dict[str, np.ndarray]:
    """A full generator batch, or a photo of about `side` square. The thread count is chosen
    on a 256x256 photo; admission's first estimate is measured on the largest the service
    takes (max_side), since a photo's cost per pixel grows with its size (on the shipped
    CycleGAN 14.8 us at 256x256, 22.2 us at 512x512): an estimate from a small probe admitted
    a burst of large photos that then timed out in the queue."""
    if manifest.kind != "translation":
        return warmup_inputs(manifest, settings.max_batch)
    side = -(-side // manifest.image.multiple_of) * manifest.image.multiple_of
    return {"image": np.zeros((1, 3, side, side), np.float32)}


def _warm_up(runner: Runner, manifest: Manifest, max_batch: int) -> None:
    """Run the sizes the batcher will use, and check the output shape while at it."""
    if manifest.kind == "translation":
        sizes: tuple[int, ...] = (1,)
    else:
        sizes = runner.buckets or tuple(sorted({1, max_batch}))
    for rows in sizes:
        inputs = warmup_inputs(manifest, rows)
        try:
            out = runner.run(inputs)
        except Exception as exc:
            raise LoadError(f"warm-up run failed: {_short(exc)}") from exc
        spec = manifest.image
        if manifest.kind == "translation":
            want = inputs["image"].shape
        else:
            want = (rows, spec.channels, spec.height, spec.width)
        if out.shape != want or out.dtype != np.float32:
            got = f"{out.dtype}{list(out.shape)}"
            raise LoadError(f"warm-up output is {got}, expected float32{list(want)}")


def _discard(metric: Any, *labels: str) -> None:
    with contextlib.suppress(KeyError):
        metric.remove(*labels)


def _short(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__


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
        # cut short by SIGTERM or Ctrl-C would hold the exit (service/signals.py).
        self._load_executor = ThreadPoolExecutor(1, thread_name_prefix="ganserve-load")
        self.choice = ProviderChoice(settings.provider)
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
            self._load_executor, load_model, folder, self.settings, self.choice
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
        translation = new.kind == "translation"  # its rows' work is their pixels
        for runner in new.runners.values():
            # On CPU photos cost more per pixel in one run than apart (docs/benchmarks.md).
            one_photo = translation and runner.provider != CUDA
            runner.batcher = Batcher(
                runner.run,
                max_batch=1 if one_photo else self.settings.max_batch,
                max_delay_s=self.settings.max_delay_ms / 1000,
                queue_size=self.settings.queue_size,
                executor=self._translation_executor if translation else self._executor,
                metrics=self.metrics.for_session(runner.key),
                inline_max_s=self.settings.inline_run_ms / 1000,
                max_work=self.settings.max_batch_pixels if translation else None,
                estimate=runner.estimate,
                memory=self.memory if translation else None,  # generators: arena at load
                name=runner.key,
            )
            full_run = self.settings.max_batch_pixels if translation else self.settings.max_batch
            self.metrics.watch_session(runner.key, runner.estimate, full_run)
        self.models[name] = new  # requests from now on use the new sessions
        if old is not None:
            self._retire(old, keep=set(new.session_keys()))
        self._publish(new)
        return "loaded" if old is None else "replaced"

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
        for runner in model.runners.values():
            if runner.batcher is not None:
                runner.batcher.close()

    async def close(self) -> None:
        for model in self.models.values():
            for runner in model.runners.values():
                if runner.batcher is not None:
                    await runner.batcher.aclose()
        self._load_executor.shutdown(wait=False)

    # -- lookup -------------------------------------------------------------------------

    def ready_models(self, kind: str | None = None) -> list[Model]:
        return [m for m in self.models.values() if m.ready and (kind is None or m.kind == kind)]

    def default(self, kind: str) -> Model | None:
        """The setting's model for this kind when it is ready, else the first ready one."""
        preferred = getattr(self.settings, f"default_{kind}")
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
