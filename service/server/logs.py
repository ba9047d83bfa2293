"""What the processes log, and how: ganserve's lines as `time LEVEL logger: message` on
stderr, uvicorn's as uvicorn prints them (its line per request, with `access_log`, on stdout).

With several workers every worker loads every model, so their start-up said everything once
per worker. Here:

- a line that is the same in every worker (a model's start-up line, logged with
  `extra={"once": True}`) is written by the first worker only;
- a line one worker says for all (`extra={"service_wide": True}`: the service is ready) is
  written as it is;
- every other ganserve line of a worker names it, `ganserve.repository [worker 2]: ...`:
  a failure or a signal is that worker's own;
- uvicorn's `Uvicorn running on ...` is dropped: its supervisor prints it as it binds the
  port, a minute before any worker could answer (service/server/readiness.py says
  `ganserve ready on ...` when /readyz answers 200).

uvicorn applies this configuration in every process it starts, so a spawned worker logs as
the supervisor does.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

from uvicorn.config import LOGGING_CONFIG

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s%(worker)s: %(message)s"

_worker: int | None = None  # this process's worker number, where there are several


def set_worker(number: int) -> None:
    """This process is worker `number` (from 1) of several."""
    global _worker
    _worker = number


class WorkerLines(logging.Filter):
    """Lines the same in every worker from the first only; the others' named by worker."""

    def filter(self, record: logging.LogRecord) -> bool:
        once = getattr(record, "once", False)
        if once and _worker not in (None, 1):
            return False
        plain = once or getattr(record, "service_wide", False) or _worker is None
        record.worker = "" if plain else f" [worker {_worker}]"
        return True


class NotRunningYet(logging.Filter):
    """uvicorn's `Uvicorn running on ...`, which no worker may be able to back yet."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Uvicorn running on")


def log_config(level: str) -> dict[str, Any]:
    """uvicorn's logging config with ours on the root logger and the filters above."""
    config = copy.deepcopy(LOGGING_CONFIG)
    config["filters"] = {
        "worker_lines": {"()": WorkerLines},
        "not_running_yet": {"()": NotRunningYet},
    }
    config["formatters"]["ganserve"] = {"format": LOG_FORMAT}
    config["handlers"]["ganserve"] = {
        "class": "logging.StreamHandler",
        "formatter": "ganserve",
        "stream": "ext://sys.stderr",
        "filters": ["worker_lines"],
    }
    config["handlers"]["default"]["filters"] = ["not_running_yet"]
    config["root"] = {"handlers": ["ganserve"], "level": level.upper()}
    return config
