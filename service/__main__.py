"""`python -m service [--host H] [--port P] [--grpc-port P] [--models DIR] [--workers N|auto]`: the
entry point the image runs."""

from __future__ import annotations

import argparse
import logging
import logging.config
import os
import tempfile
from pathlib import Path

import uvicorn

from service.app import create_app
from service.server import http_protocol, signals, workers
from service.server.logs import log_config
from service.settings import Settings


def worker_count(value: str) -> int | str:
    return value if value == "auto" else int(value)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m service", description=__doc__)
    parser.add_argument("--host", help="bind address (GANSERVE_HOST)")
    parser.add_argument("--port", type=int, help="port (GANSERVE_PORT)")
    parser.add_argument("--grpc-port", type=int, help="gRPC port, 0 for none (GANSERVE_GRPC_PORT)")
    parser.add_argument("--models", help="models folder (GANSERVE_MODELS_DIR)")
    parser.add_argument(
        "--workers",
        type=worker_count,
        help="processes serving the port, or auto (GANSERVE_WORKERS)",
    )
    args = parser.parse_args(argv)
    overrides = {
        "host": args.host,
        "port": args.port,
        "grpc_port": args.grpc_port,
        "models_dir": args.models,
        "workers": args.workers,
    }
    overrides = {k: v for k, v in overrides.items() if v is not None}
    settings = Settings(**overrides)
    logs = log_config(settings.log_level)
    logging.config.dictConfig(logs)
    logging.getLogger("ganserve").info(
        "starting %d worker process%s (%d intra-op thread%s each) for http://%s:%d, "
        "loading the models in %s",
        settings.workers,
        "es" if settings.workers > 1 else "",
        settings.intra_op_threads,
        "s" if settings.intra_op_threads > 1 else "",
        settings.host,
        settings.port,
        settings.models_dir,
    )
    options = {
        "host": settings.host,
        "port": settings.port,
        "log_level": settings.log_level.lower(),
        "log_config": logs,
        "access_log": settings.access_log,
        "timeout_graceful_shutdown": 10,
        "server_header": False,  # no `server: uvicorn` banner
        "timeout_keep_alive": settings.keep_alive_s,
        "limit_concurrency": settings.max_connections,  # beyond it uvicorn answers 503
        "http": http_protocol.protocol(settings.header_timeout_s, settings.body_timeout_s),
        # uvloop's loop, which says when uvicorn serves the port (service/server/balance.py)
        # and, in workers, accepts each one's share of the connections.
        "loop": "service.server.balance:BalancedLoop",
    }
    if settings.workers == 1:
        uvicorn.run(create_app(settings), **options)
        signals.exit_if_stopped()
        return
    if settings.grpc_port and not workers.port_free(settings.host, settings.grpc_port):
        # Each worker binds it with SO_REUSEPORT, which would share it with another server.
        raise SystemExit(f"gRPC port {settings.grpc_port} is in use")
    # Each worker builds its app from the environment: the overrides and the shared folder
    # go there. On SIGTERM the supervisor stops every worker, each draining its requests.
    # `auto` is settled here, once: every worker is told the count the supervisor starts.
    overrides["workers"] = settings.workers
    os.environ.update({f"GANSERVE_{k.upper()}": str(v) for k, v in overrides.items()})
    with tempfile.TemporaryDirectory(prefix="ganserve-workers-") as folder:
        os.environ.update(workers.prepare(Path(folder)))
        app = "service.app:create_app"
        workers.serve(uvicorn.Config(app, factory=True, workers=settings.workers, **options))


if __name__ == "__main__":
    main()
