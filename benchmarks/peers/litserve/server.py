"""LitServe with its dynamic batching: requests are decoded to their image counts, a batch
of counts runs as one `session.run`, and the rows go back to each request.

    python server.py --model models/dcgan-mnist --port 8001
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import litserve as ls
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import Generator, answer, split


class GeneratorAPI(ls.LitAPI):
    def __init__(self, folder: Path) -> None:
        super().__init__(max_batch_size=64, batch_timeout=0.003, api_path="/generate")
        self.folder = folder

    def setup(self, device: str) -> None:
        self.generator = Generator(self.folder)

    def decode_request(self, request: dict) -> int:
        return int(request.get("n", 1))

    def batch(self, counts: list[int]) -> list[int]:
        return counts  # LitServe's default would stack them; the run needs their sum

    def predict(self, counts: list[int] | int) -> list[np.ndarray] | np.ndarray:
        if isinstance(counts, int):  # a batch of one is not batched
            return self.generator.images(counts)
        return split(self.generator.images(sum(counts)), counts)

    def unbatch(self, output: list[np.ndarray]) -> list[np.ndarray]:
        return output

    def encode_response(self, images: np.ndarray) -> dict:
        return answer(self.generator.name, images)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True, help="model folder")
    parser.add_argument("--port", type=int, default=8001)
    args = parser.parse_args()
    server = ls.LitServer(GeneratorAPI(args.model), accelerator="cpu")
    server.run(host="127.0.0.1", port=args.port, generate_client_file=False)


if __name__ == "__main__":
    main()
