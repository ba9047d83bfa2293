"""What the live server of the gRPC tests serves (their conftest.py starts it): the tiny models
of every kind and a slow one, behind an API key, with caps small enough for a test to reach,
on an HTTP port and a gRPC port; and the helpers the tests share."""

from __future__ import annotations

import numpy as np
import tritonclient.grpc as triton

KEY = "grpc-key-0123456789"
AUTH = {"authorization": f"Bearer {KEY}"}  # tritonclient.grpc sends headers as metadata
HTTP_AUTH = {"Authorization": f"Bearer {KEY}"}
MAX_N = 8
UPLOAD_CAP = 65536
MAX_SIDE = 64
MAX_PIXELS = 3000


def tensor(name: str, array: np.ndarray) -> triton.InferInput:
    t = triton.InferInput(name, list(array.shape), triton.np_to_triton_dtype(array.dtype))
    t.set_data_from_numpy(array)
    return t


def infer(
    client: triton.InferenceServerClient,
    model: str,
    inputs: dict[str, np.ndarray],
    outputs: tuple[str, ...] = (),
    **kw: object,
) -> triton.InferResult:
    """tritonclient.grpc's infer: raw tensors in, raw tensors out."""
    return client.infer(
        model,
        [tensor(name, array) for name, array in inputs.items()],
        outputs=[triton.InferRequestedOutput(name) for name in outputs] or None,
        headers=dict(AUTH),
        **kw,
    )
