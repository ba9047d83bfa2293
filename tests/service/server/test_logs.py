"""What the processes log: each start-up line once with several workers, a worker's own
lines named by worker, and no `Uvicorn running on` before anything can answer."""

from __future__ import annotations

import logging
import os
import subprocess

import pytest

from service.server import logs, workers


def record(message: str, name: str = "uvicorn.error", **extra: object) -> logging.LogRecord:
    rec = logging.LogRecord(name, logging.INFO, __file__, 1, message, None, None)
    rec.__dict__.update(extra)
    return rec


def shown(rec: logging.LogRecord) -> str | None:
    """The line as our handler writes it, or None when filtered out."""
    if not logs.WorkerLines().filter(rec):
        return None
    rec.asctime = "T"
    return logs.LOG_FORMAT % (rec.__dict__ | {"message": rec.getMessage()})


@pytest.fixture
def worker(monkeypatch: pytest.MonkeyPatch):
    def become(number: int | None) -> None:
        monkeypatch.setattr(logs, "_worker", number)

    return become


def test_one_process_logs_everything_as_it_is(worker) -> None:
    worker(None)
    assert shown(record("model x ready", "ganserve", once=True)) == "T INFO ganserve: model x ready"
    assert shown(record("boom", "ganserve")) == "T INFO ganserve: boom"


def test_the_first_worker_says_what_every_worker_would(worker) -> None:
    worker(1)
    assert shown(record("model x ready", "ganserve", once=True)) == "T INFO ganserve: model x ready"
    worker(2)
    assert shown(record("model x ready", "ganserve", once=True)) is None


def test_a_workers_own_lines_name_it(worker) -> None:
    worker(2)
    assert shown(record("model y failed", "ganserve.repository")) == (
        "T INFO ganserve.repository [worker 2]: model y failed"
    )
    ready = record("ganserve ready on http://h:1", "ganserve", service_wide=True)
    assert shown(ready) == "T INFO ganserve: ganserve ready on http://h:1"


def test_uvicorns_running_line_is_dropped() -> None:
    keep = logs.NotRunningYet().filter
    assert not keep(record("Uvicorn running on %s://%s:%d (Press CTRL+C to quit)"))
    assert keep(record("Started server process [%d]"))


def test_the_config_puts_the_filters_on_the_handlers() -> None:
    config = logs.log_config("info")
    assert config["handlers"]["ganserve"]["filters"] == ["worker_lines"]
    assert config["handlers"]["default"]["filters"] == ["not_running_yet"]
    assert config["root"]["level"] == "INFO"


def test_workers_take_the_lowest_free_number_and_one_announces(tmp_path, monkeypatch) -> None:
    env = workers.prepare(tmp_path)
    monkeypatch.setenv(workers.ENV, env[workers.ENV])
    first, second = workers.Board.from_env(2), workers.Board.from_env(2)
    assert first is not None and second is not None
    second.pid = os.getppid()  # another live process
    assert (first.claim_number(), second.claim_number(), first.claim_number()) == (1, 2, 1)
    dead = _dead_pid()
    (tmp_path / "number-2").write_text(str(dead))  # a worker that died
    restarted = workers.Board.from_env(2)
    assert restarted is not None
    restarted.pid = os.getppid()
    assert restarted.claim_number() == 2
    assert [first.first_to_announce(), restarted.first_to_announce()] == [True, False]


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid
