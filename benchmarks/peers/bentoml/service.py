"""BentoML: one service with a batchable API. A batchable API takes a list and answers a
list, so the request body is `{"n": [1]}` and the answer a one-element list of the service's
JSON answer. (The documented two-service form, an API service calling a batched model
service, fails under load upstream.)

    PEER_MODEL=models/dcgan-mnist bentoml serve service:GeneratorService --port 8001
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import bentoml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import Generator, answer, split


@bentoml.service
class GeneratorService:
    def __init__(self) -> None:
        self.generator = Generator(Path(os.environ["PEER_MODEL"]))

    @bentoml.api(batchable=True, max_batch_size=64, route="/generate")
    def generate(self, n: list[int]) -> list[dict]:
        images = self.generator.images(sum(n))
        return [answer(self.generator.name, part) for part in split(images, n)]
