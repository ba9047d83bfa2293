"""The key of the live server of the gRPC tests (their conftest.py starts it, on an HTTP port
and a gRPC port; tests/protocol_server.py says what it serves and with which caps), and the
helpers the tests share."""

from __future__ import annotations

import numpy as np
import tritonclient.grpc as triton

KEY = "grpc-key-0123456789"
AUTH = {"authorization": f"Bearer {KEY}"}  # tritonclient.grpc sends headers as metadata
HTTP_AUTH = {"Authorization": f"Bearer {KEY}"}


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
