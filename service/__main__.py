"""`python -m service [--host H] [--port P] [--models DIR]`: the entry point the image runs."""

from __future__ import annotations

import argparse
import logging

import uvicorn

from service.app import create_app
from service.settings import Settings


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m service", description=__doc__)
    parser.add_argument("--host", help="bind address (GANSERVE_HOST)")
    parser.add_argument("--port", type=int, help="port (GANSERVE_PORT)")
    parser.add_argument("--models", help="models folder (GANSERVE_MODELS_DIR)")
    args = parser.parse_args(argv)
    overrides = {"host": args.host, "port": args.port, "models_dir": args.models}
    settings = Settings(**{k: v for k, v in overrides.items() if v is not None})
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        access_log=settings.access_log,
        timeout_graceful_shutdown=10,
        server_header=False,  # no `server: uvicorn` banner
    )


if __name__ == "__main__":
    main()
