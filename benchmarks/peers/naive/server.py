"""The server most tutorials write, on ONNX Runtime: a sync FastAPI endpoint (run in
FastAPI's thread pool) calling `session.run` per request, no batching.

    python server.py --model models/dcgan-mnist --port 8001
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import Generator, answer


class GenerateRequest(BaseModel):
    n: int = 1
    model: str | None = None


def create_app(folder: Path) -> FastAPI:
    app = FastAPI()
    generator = Generator(folder)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/generate")
    def generate(req: GenerateRequest) -> dict:
        return answer(generator.name, generator.images(req.n))

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True, help="model folder")
    parser.add_argument("--port", type=int, default=8001)
    args = parser.parse_args()
    uvicorn.run(create_app(args.model), host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
