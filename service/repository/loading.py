"""Loading one model folder: verify the manifest and the files' hashes, open the sessions,
check their signatures, choose their thread count, warm them up, make admission's first
estimate. Blocking; run off the loop.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from pydantic import ValidationError

from service.engine.admission import WorkEstimate
from service.engine.runtime import (
    CUDA,
    PHOTO_KINDS,
    ProviderChoice,
    Runner,
    batch_buckets,
    check_signature,
    fewer_threads_if_faster,
    holds_large_runs,
    make_session,
)
from service.manifest import MANIFEST_FILE, SYNTHESIS, Manifest, sha256_of
from service.repository.cost_cache import CostCache, CostKey
from service.repository.load_report import ready_line
from service.repository.model import LoadError, Model, first_line, session_key
from service.repository.warmup import (
    PROBE_SIDE,
    measured_cost,
    probe,
    scaled_to_max_side,
    side_of,
    warm_up,
)
from service.resources import priority
from service.resources.memory import give_back_freed
from service.settings import Settings

log = logging.getLogger("ganserve.repository")

# Translation runs yield the cores to /generate and decoding (service/resources/priority.py),
# so during a burst they run slower than their probe measured at load (docs/reliability.md):
# admission takes on only what its estimate says finishes within half the request timeout.
TRANSLATION_HEADROOM = 0.5


def fingerprint(folder: Path) -> str:
    """Cheap change detector: manifest bytes plus size and mtime of every other file."""
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            st = path.stat()
            digest.update(f"{path.relative_to(folder)}:{st.st_size}:{st.st_mtime_ns};".encode())
    digest.update((folder / MANIFEST_FILE).read_bytes())
    return digest.hexdigest()


def load_model(
    folder: Path, settings: Settings, choice: ProviderChoice, cache: CostCache | None = None
) -> Model:
    """Blocking: verify and load one folder. Never raises; a broken model comes back failed.
    `cache`: where translation sessions look for their largest photo's measured cost."""
    name = folder.name
    cache = cache or CostCache(None)
    try:
        stamp = fingerprint(folder)
    except OSError as exc:
        return Model(name=name, state="failed", reason=f"unreadable: {exc}")
    manifest = None
    try:
        manifest = _read_manifest(folder)
        model = Model(name=name, state="ready", manifest=manifest, fingerprint=stamp)
        for role in manifest.roles():
            args = (folder, manifest, role, settings, choice)
            if manifest.kind == "translation":
                # A photo session's intra-op threads run at bulk priority (priority.py).
                runner, key = priority.lowered(_load_translator, *args, cache)
                model.runners[role] = runner
                if key is not None:
                    model.unmeasured[role] = key
            elif manifest.kind in PHOTO_KINDS:
                model.runners[role] = priority.lowered(_load_upscaler, *args)
            else:
                model.runners[role] = _load_runner(*args)
    except LoadError as exc:
        log.error("model %s failed: %s", name, exc)
        return Model(
            name=name, state="failed", reason=str(exc), manifest=manifest, fingerprint=stamp
        )
    # The same in every worker: with several, the first one's says it (server/logs.py).
    log.info("%s", ready_line(model, settings, cache.folder), extra={"once": True})
    return model


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
    generator = manifest.kind not in PHOTO_KINDS
    arena = not holds_large_runs(manifest, role)
    try:
        session = make_session(
            path, choice, settings.intra_op_threads, settings.inter_op_threads, arena=arena
        )
    except Exception as exc:  # ORT raises its own exception types for anything unloadable
        raise LoadError(f"{role}: ONNX Runtime cannot load {ref.path}: {first_line(exc)}") from exc
    try:
        check_signature(session, manifest, role)
    except ValueError as exc:
        raise LoadError(f"{role}: wrong signature for {manifest.kind}: {exc}") from exc
    provider = session.get_providers()[0]
    threads = settings.intra_op_threads
    # A StyleGAN synthesis row takes seconds to a minute at 1024x1024 on a CPU: timing it on
    # both thread counts took most of a StyleGAN3-R's start-up, and its large convolutions
    # gain from every core (the thread choice is for small networks).
    if provider != CUDA and threads > 1 and role != SYNTHESIS:
        try:
            session, threads = fewer_threads_if_faster(
                session,
                path,
                choice,
                settings.inter_op_threads,
                probe(manifest, settings, role),
                arena=arena,
            )
        except Exception as exc:
            raise LoadError(f"{role}: timing run failed: {first_line(exc)}") from exc
    buckets = batch_buckets(settings.max_batch) if provider == CUDA and arena else ()
    key = session_key(manifest.name, role, manifest)
    runner = Runner(key, session, provider, buckets=buckets, threads=threads)
    warm_up(runner, manifest, settings.max_batch, role)
    if generator:
        if not arena:
            give_back_freed()  # the probe's peak is measured from memory the OS holds back
        try:
            runner.estimate = measured_cost(runner, probe(manifest, settings, role), 1.0)
        except Exception as exc:
            raise LoadError(f"{role}: timing run failed: {first_line(exc)}") from exc
        if not arena:
            give_back_freed()  # else kept until the first request's burst ends
    return runner


def _load_translator(
    folder: Path,
    manifest: Manifest,
    role: str,
    settings: Settings,
    choice: ProviderChoice,
    cache: CostCache,
) -> tuple[Runner, CostKey | None]:
    """A translation session and its first estimate: its largest photo's cost as measured
    before on this machine, else a 256x256 photo's scaled up; with the key to measure it
    under when it is still to be measured."""
    runner = _load_runner(folder, manifest, role, settings, choice)
    sha256 = manifest.files[role].sha256
    side = side_of(manifest, settings.max_side)
    key = CostKey(sha256, runner.provider, runner.threads, side)
    # The warm-up's buffers back to the OS: held, they would stay until the first photo's
    # answer, and the probe's peak is measured from memory the OS holds back.
    give_back_freed()
    cached = cache.get(key)
    if cached is not None:
        runner.estimate = WorkEstimate(
            unit_s=cached.unit_s, unit_bytes=cached.unit_bytes, headroom=TRANSLATION_HEADROOM
        )
        return runner, None
    try:
        small = measured_cost(runner, probe(manifest, settings, role), TRANSLATION_HEADROOM)
    except Exception as exc:
        raise LoadError(f"{role}: timing run failed: {first_line(exc)}") from exc
    give_back_freed()
    runner.estimate = scaled_to_max_side(small, side_of(manifest, PROBE_SIDE), side)
    return runner, key


def _load_upscaler(
    folder: Path, manifest: Manifest, role: str, settings: Settings, choice: ProviderChoice
) -> Runner:
    """A super-resolution session and its estimate, measured on one window: its runs are
    windows of one size whatever the photo (service/repository/upscaling.py), so no photo
    size needs scaling to."""
    runner = _load_runner(folder, manifest, role, settings, choice)
    give_back_freed()  # the probe's peak is measured from memory the OS holds back
    try:
        window = probe(manifest, settings, role, settings.max_side)
        runner.estimate = measured_cost(runner, window, TRANSLATION_HEADROOM)
    except Exception as exc:
        raise LoadError(f"{role}: timing run failed: {first_line(exc)}") from exc
    give_back_freed()
    return runner
