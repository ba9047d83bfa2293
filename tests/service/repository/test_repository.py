"""The model repository: verification, failure reporting, and reload without downtime."""

from __future__ import annotations

import asyncio
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from onnx_models import generator, make_unconditional, translator

from service.engine.runtime import CPU, ProviderChoice, cpu_session
from service.manifest import sha256_of
from service.metrics import Metrics
from service.repository.loading import load_model
from service.repository.repository import Repository
from service.settings import Settings

pytestmark = pytest.mark.anyio


@pytest.fixture
async def repo(settings: Settings):
    with ThreadPoolExecutor(2) as pool:
        repository = Repository(settings, Metrics(), pool)
        yield repository
        await repository.close()


def _rewrite(folder: Path, **changes) -> None:
    manifest = json.loads((folder / "model.json").read_text())
    manifest.update(changes)
    (folder / "model.json").write_text(json.dumps(manifest))


def _replace_file(folder: Path, data: bytes, role: str = "generator", fix_hash: bool = True):
    (folder / f"{role}.onnx").write_bytes(data)
    if fix_hash:
        manifest = json.loads((folder / "model.json").read_text())
        manifest["files"][role]["sha256"] = sha256_of(folder / f"{role}.onnx")
        (folder / "model.json").write_text(json.dumps(manifest))


async def test_every_kind_loads_and_reports_itself(repo: Repository) -> None:
    results = await repo.reload()
    assert results == {"cond": "loaded", "trans": "loaded", "uncond": "loaded"}
    info = {name: m.describe() for name, m in repo.models.items()}
    assert info["cond"]["classes"] == ["cat", "dog", "bird"]
    assert info["trans"]["domains"] == {"a": "horse", "b": "zebra"}
    assert set(info["trans"]["sessions"]) == {"a2b", "b2a"}
    assert info["trans"]["sessions"]["a2b"]["key"] == "trans:a2b"
    assert info["uncond"]["sessions"]["generator"]["inputs"][0]["name"] == "z"
    assert all(i["state"] == "ready" and i["provider"] == CPU for i in info.values())
    assert repo.default("conditional").name == "cond"


@pytest.mark.parametrize("reuse", [False, True])
async def test_a_photo_model_beside_reuse_freed_memory_is_warned_of(
    settings: Settings, reuse: bool, caplog: pytest.LogCaptureFixture
) -> None:
    """The setting keeps glibc's freed buffers, which photos of mixed sizes grow past the
    budget: loading a translation model with it on says so (settings only: the allocator of
    the test process is left alone)."""
    with ThreadPoolExecutor(2) as pool:
        repository = Repository(
            settings.model_copy(update={"reuse_freed_memory": reuse}), Metrics(), pool
        )
        with caplog.at_level("WARNING", logger="ganserve.repository"):
            await repository.reload()
        await repository.close()
    warned = [r.getMessage() for r in caplog.records if "reuse_freed_memory" in r.getMessage()]
    assert warned == (
        [
            "model trans: reuse_freed_memory is on, and photos of mixed sizes grow "
            "the heap it keeps, past memory_budget_mb (docs/benchmarks.md)"
        ]
        if reuse
        else []
    )


BREAKAGES = {
    "bad_json": lambda f: (f / "model.json").write_text("{not json"),
    "invalid_manifest": lambda f: _rewrite(f, kind="sideways"),
    "name_mismatch": lambda f: _rewrite(f, name="other"),
    "missing_file": lambda f: (f / "generator.onnx").unlink(),
    "hash_mismatch": lambda f: _replace_file(f, generator(8, 1, 8, seed=9), fix_hash=False),
    "not_onnx": lambda f: _replace_file(f, b"this is not a protobuf"),
    "wrong_signature": lambda f: _replace_file(f, translator()),
    "wrong_latent_dim": lambda f: _replace_file(f, generator(5, 1, 8)),
    "wrong_image_size": lambda f: _replace_file(f, generator(8, 1, 6)),
}
REASONS = {
    "bad_json": "bad manifest",
    "invalid_manifest": "bad manifest: kind",
    "name_mismatch": "differs from folder",
    "missing_file": "missing",
    "hash_mismatch": "sha256",
    "not_onnx": "cannot load",
    "wrong_signature": "wrong signature",
    "wrong_latent_dim": "z has 5 entries",
    "wrong_image_size": "image axis 2",
}


@pytest.mark.parametrize("breakage", sorted(BREAKAGES))
async def test_a_broken_model_is_reported_and_the_others_serve(
    repo: Repository, models_dir: Path, breakage: str
) -> None:
    BREAKAGES[breakage](models_dir / "uncond")
    await repo.reload()
    broken = repo.models["uncond"]
    assert broken.state == "failed"
    assert REASONS[breakage] in broken.reason
    assert repo.models["cond"].ready and repo.models["trans"].ready
    assert repo.default("unconditional") is None


async def test_a_folder_without_manifest_is_ignored(repo: Repository, models_dir: Path) -> None:
    (models_dir / "notes").mkdir()
    (models_dir / "notes" / "x.txt").write_text("hi")
    await repo.reload()
    assert "notes" not in repo.models


async def test_reload_keeps_unchanged_models_and_replaces_changed_ones(
    repo: Repository, models_dir: Path
) -> None:
    await repo.reload()
    old = repo.models["uncond"]
    assert (await repo.reload())["uncond"] == "unchanged"
    make_unconditional(models_dir / "uncond", seed=5)
    assert (await repo.reload())["uncond"] == "replaced"
    assert repo.models["uncond"] is not old and repo.models["uncond"].ready


async def test_a_broken_replacement_never_displaces_a_working_model(
    repo: Repository, models_dir: Path
) -> None:
    await repo.reload()
    old = repo.models["uncond"]
    _replace_file(models_dir / "uncond", b"garbage")
    result = (await repo.reload())["uncond"]
    assert result.startswith("kept")
    assert repo.models["uncond"] is old and old.ready
    assert "cannot load" in old.reload_error


async def test_a_removed_folder_is_dropped(repo: Repository, models_dir: Path) -> None:
    import shutil

    await repo.reload()
    shutil.rmtree(models_dir / "trans")
    assert (await repo.reload())["trans"] == "removed"
    assert "trans" not in repo.models


async def test_requests_in_flight_finish_on_the_old_session(
    repo: Repository, models_dir: Path
) -> None:
    await repo.reload()
    old = repo.models["uncond"].batchers["generator"]
    gate = threading.Event()
    real_run = old._run

    def slow(inputs):
        gate.wait(5)
        return real_run(inputs)

    old._run = slow
    z = {"z": np.zeros((2, 8), np.float32)}
    in_flight = asyncio.ensure_future(old.submit(z))
    await asyncio.sleep(0.05)
    make_unconditional(models_dir / "uncond", seed=6)
    assert (await repo.reload())["uncond"] == "replaced"
    gate.set()
    out = await asyncio.wait_for(in_flight, 5)
    assert out.shape == (2, 1, 8, 8)
    new = repo.models["uncond"].batchers["generator"]
    assert new is not old
    assert (await new.submit(z)).shape == (2, 1, 8, 8)


async def test_metrics_follow_the_models(repo: Repository, models_dir: Path) -> None:
    from prometheus_client import generate_latest

    await repo.reload()
    _replace_file(models_dir / "cond", b"garbage")
    make_unconditional(models_dir / "uncond", seed=7)
    await repo.reload()
    text = generate_latest(repo.metrics.registry).decode()
    assert 'ganserve_model_ready{model="trans:a2b"} 1.0' in text
    assert 'ganserve_model_info{kind="unconditional",model="uncond"' in text
    assert text.count('ganserve_model_info{kind="unconditional"') == 1


def test_auto_skips_cuda_without_a_driver(monkeypatch: pytest.MonkeyPatch) -> None:
    import service.engine.runtime as runtime
    from service.resources import accelerator

    monkeypatch.setattr(accelerator, "cuda_driver_present", lambda: False)
    assert ProviderChoice("auto").requested() == [CPU]
    assert ProviderChoice("cpu").requested() == [CPU]
    assert ProviderChoice("cuda").requested()[0] == runtime.CUDA


def test_bucket_padding_does_not_change_rows(models_dir: Path) -> None:
    """The CUDA path pads batches to warmed-up sizes; the rows that come back are the same."""

    from service.engine.runtime import Runner, batch_buckets

    assert batch_buckets(64) == (1, 2, 4, 8, 16, 32, 64)
    assert batch_buckets(48) == (1, 2, 4, 8, 16, 32, 48)
    assert batch_buckets(1) == (1,)
    session = cpu_session(models_dir / "cond" / "generator.onnx")
    inputs = {
        "z": np.random.default_rng(0).standard_normal((5, 8)).astype(np.float32),
        "label": np.array([0, 1, 2, 1, 0], np.int64),
    }
    plain = Runner("cond", session, CPU).run(inputs)
    padded = Runner("cond", session, CPU, buckets=(1, 2, 4, 8)).run(inputs)
    assert padded.shape == plain.shape == (5, 3, 8, 8)
    np.testing.assert_array_equal(padded, plain)


def test_a_session_keeps_the_faster_thread_count(models_dir: Path, settings: Settings) -> None:
    """With intra_op_threads > 1 each CPU session is timed with one thread and with that many,
    and the faster is kept and reported; with 1 there is nothing to choose."""
    choice = ProviderChoice("cpu")
    for threads, allowed in ((1, {1}), (2, {1, 2})):
        tuned = settings.model_copy(update={"intra_op_threads": threads})
        model = load_model(models_dir / "trans", tuned, choice)
        assert model.ready, model.reason
        for runner in model.runners.values():
            assert runner.threads in allowed
            assert runner.session.get_session_options().intra_op_num_threads == runner.threads
            assert runner.describe()["intra_op_threads"] == runner.threads
