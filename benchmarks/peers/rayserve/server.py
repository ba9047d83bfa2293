"""Ray Serve: one deployment, `@serve.batch` over the requests' image counts, and
`max_ongoing_requests` raised so that a batch of 64 can form (its default, 5, caps a batch
at 5 requests).

    python server.py --model models/dcgan-mnist --port 8001
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import ray
from ray import serve
from starlette.requests import Request

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import Generator, answer, split


@serve.deployment(max_ongoing_requests=256)
class GeneratorDeployment:
    def __init__(self, folder: str) -> None:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
        self.generator = Generator(Path(folder))

    @serve.batch(max_batch_size=64, batch_wait_timeout_s=0.003)
    async def run(self, counts: list[int]) -> list[dict]:
        images = self.generator.images(sum(counts))
        return [answer(self.generator.name, part) for part in split(images, counts)]

    async def __call__(self, request: Request) -> dict:
        if request.method == "GET":  # the benchmark's readiness probe
            return {"status": "ok"}
        body = await request.json()
        return await self.run(int(body.get("n", 1)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True, help="model folder")
    parser.add_argument("--port", type=int, default=8001)
    args = parser.parse_args()
    peers = str(Path(__file__).resolve().parents[1])
    ray.init(include_dashboard=False, runtime_env={"env_vars": {"PYTHONPATH": peers}})
    serve.start(http_options={"host": "127.0.0.1", "port": args.port})
    serve.run(GeneratorDeployment.bind(str(args.model.resolve())), route_prefix="/generate")
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
