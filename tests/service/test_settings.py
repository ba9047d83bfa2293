"""Settings from the environment and the command line."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import uvicorn

import service.__main__ as entry
from service import settings
from service.settings import Settings


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.startswith("GANSERVE_")]:
        monkeypatch.delenv(name)
    s = Settings()
    assert (s.host, s.port, s.models_dir, s.provider) == ("0.0.0.0", 8000, Path("models"), "auto")
    assert (s.max_batch, s.max_n, s.api_key, s.cors_origins) == (64, 64, None, [])
    assert s.intra_op_threads >= 1 and s.inter_op_threads == 1


def test_a_batch_waits_for_no_company_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """Triton's default too: on two cores a wait left the session idle (docs/benchmarks.md)."""
    monkeypatch.delenv("GANSERVE_MAX_DELAY_MS", raising=False)
    assert Settings().max_delay_ms == 0


def test_environment_with_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GANSERVE_PROVIDER", "cpu")
    monkeypatch.setenv("GANSERVE_MAX_BATCH", "8")
    monkeypatch.setenv("GANSERVE_CORS_ORIGINS", "https://a.example, https://b.example")
    monkeypatch.setenv("GANSERVE_API_KEY", "k")
    s = Settings()
    assert (s.provider, s.max_batch, s.api_key) == ("cpu", 8, "k")
    assert s.cors_origins == ["https://a.example", "https://b.example"]
    monkeypatch.setenv("GANSERVE_CORS_ORIGINS", '["https://c.example"]')
    assert Settings().cors_origins == ["https://c.example"]
    monkeypatch.setenv("GANSERVE_PROVIDER", "tpu")
    with pytest.raises(ValueError):
        Settings()


def test_command_line_overrides_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = {}
    monkeypatch.setenv("GANSERVE_PORT", "9000")
    monkeypatch.setenv("GANSERVE_WORKERS", "1")  # one process: uvicorn gets the app itself
    monkeypatch.setattr(entry.uvicorn, "run", lambda app, **kw: seen.update(kw, app=app))
    entry.main(["--host", "127.0.0.1", "--models", "elsewhere"])
    assert (seen["host"], seen["port"]) == ("127.0.0.1", 9000)
    assert seen["app"].state.settings.models_dir == Path("elsewhere")


def test_access_log_is_off_unless_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = {}
    monkeypatch.setattr(entry.uvicorn, "run", lambda app, **kw: seen.update(kw, app=app))
    monkeypatch.delenv("GANSERVE_ACCESS_LOG", raising=False)
    monkeypatch.setenv("GANSERVE_WORKERS", "1")
    entry.main([])
    assert seen["access_log"] is False
    monkeypatch.setenv("GANSERVE_ACCESS_LOG", "true")
    entry.main([])
    assert seen["access_log"] is True


def test_workers_share_the_cores_unless_threads_are_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GANSERVE_INTRA_OP_THREADS", raising=False)
    cores = Settings(workers=1).intra_op_threads
    assert Settings(workers=2).intra_op_threads == max(1, cores // 2)
    assert Settings(workers=2, intra_op_threads=3).intra_op_threads == 3
    with pytest.raises(ValueError):
        Settings(workers=0)


def test_several_workers_run_from_the_environment_with_a_shared_folder(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """uvicorn's workers build the app themselves: the overrides and the folder go to them
    through the environment."""
    seen = {}

    def serve(config: uvicorn.Config) -> None:
        folder = Path(os.environ["GANSERVE_WORKERS_DIR"])
        seen.update(app=config.app, factory=config.factory, workers=config.workers)
        seen.update(reload=(folder / "reload").read_text())
        seen["metrics_dir"] = os.environ["PROMETHEUS_MULTIPROC_DIR"]

    monkeypatch.setattr(entry.workers, "serve", serve)
    # main() writes to the environment: a copy, so that nothing leaks into later tests.
    names = ("GANSERVE_MODELS_DIR", "GANSERVE_WORKERS", "GANSERVE_WORKERS_DIR")
    environ = {k: v for k, v in os.environ.items() if k not in names}
    environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
    environ["GANSERVE_GRPC_PORT"] = "0"  # no probe of port 8001, which another server may hold
    monkeypatch.setattr(os, "environ", environ)
    entry.main(["--workers", "2", "--models", "elsewhere"])
    assert (seen["app"], seen["factory"], seen["workers"]) == ("service.app:create_app", True, 2)
    assert os.environ["GANSERVE_MODELS_DIR"] == "elsewhere" and seen["reload"] == "0"
    assert seen["metrics_dir"].startswith(os.environ["GANSERVE_WORKERS_DIR"])
    assert not Path(os.environ["GANSERVE_WORKERS_DIR"]).exists()  # removed on exit
    # `auto` is settled once, by the supervisor: every worker is told the same count.
    monkeypatch.setattr(settings, "auto_workers", lambda provider, memory_budget_mb: 3)
    entry.main(["--workers", "auto"])
    assert seen["workers"] == 3 and os.environ["GANSERVE_WORKERS"] == "3"


def test_the_grpc_port_is_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GANSERVE_GRPC_PORT", raising=False)
    assert Settings(grpc_port=0, port=8000).grpc_port == 0
    assert Settings().grpc_port == 8001
    with pytest.raises(ValueError, match="grpc_port must differ from port"):
        Settings(grpc_port=9000, port=9000)
