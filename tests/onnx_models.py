"""Tiny ONNX models of every kind, and model folders with valid manifests, for tests.

Importable by any test module (`from onnx_models import make_models_dir`). The builders live
in scripts/make_placeholder_models.py, which also makes the placeholder models in `models/`.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from scripts.make_placeholder_models import (
    IR_VERSION,
    OPSET,
    generator,
    translator,
    write_model,
)

__all__ = [
    "CLASSES",
    "DIM",
    "generator",
    "make_conditional",
    "make_models_dir",
    "make_slow_unconditional",
    "make_translation",
    "make_unconditional",
    "translator",
    "write_model",
]

CLASSES = ["cat", "dog", "bird"]
DIM = 8


def make_unconditional(folder: Path, seed: int = 0, graph: bytes | None = None) -> Path:
    """1x8x8 images from z[8]: a tiny generator, or `graph`."""
    write_model(
        folder,
        {"generator": graph or generator(DIM, 1, 8, seed=seed)},
        kind="unconditional",
        channels=1,
        size=8,
        dim=DIM,
        untrained=False,
    )
    return folder


def make_conditional(folder: Path, seed: int = 1) -> Path:
    """3x8x8 images from z[8] and a label in CLASSES."""
    write_model(
        folder,
        {"generator": generator(DIM, 3, 8, num_classes=len(CLASSES), seed=seed)},
        kind="conditional",
        channels=3,
        size=8,
        dim=DIM,
        classes=CLASSES,
        untrained=False,
    )
    return folder


def make_translation(
    folder: Path,
    seed: int = 2,
    graphs: dict[str, bytes] | None = None,
    domains: tuple[str, str] = ("horse", "zebra"),
) -> Path:
    """Any size, padded to multiples of 4: Conv 3x3 + Tanh both ways, or `graphs` (direction ->
    ONNX bytes; one direction makes a one-direction model)."""
    graphs = graphs or {"a2b": translator(seed=seed), "b2a": translator(seed=seed + 1)}
    write_model(
        folder,
        graphs,
        kind="translation",
        channels=3,
        size=16,
        domains=dict(zip("ab", domains, strict=True)),
        multiple_of=4,
        untrained=False,
    )
    return folder


def make_models_dir(root: Path) -> Path:
    """`root` with `uncond`, `cond` and `trans`: one ready model per kind."""
    make_unconditional(root / "uncond")
    make_conditional(root / "cond")
    make_translation(root / "trans")
    return root


def slow_generator(dim: int, size: int, hidden: int, layers: int) -> bytes:
    """z [N, dim] -> `layers` dense layers sharing one `hidden` x `hidden` weight -> image
    [N, 1, size, size]: a model whose session.run, not HTTP, is the bottleneck (load tests),
    in a small file."""
    rng = np.random.default_rng(0)
    weights = {
        "W_in": (rng.standard_normal((dim, hidden)) / np.sqrt(dim)).astype(np.float32),
        "W": (rng.standard_normal((hidden, hidden)) / np.sqrt(hidden)).astype(np.float32),
        "W_out": (rng.standard_normal((hidden, size * size)) / np.sqrt(hidden)).astype(np.float32),
        "shape": np.array([-1, 1, size, size], np.int64),
    }
    names = ["W_in"] + ["W"] * layers + ["W_out"]
    nodes, h = [], "z"
    for i, weight in enumerate(names):
        nodes += [
            helper.make_node("MatMul", [h, weight], [f"m{i}"]),
            helper.make_node("Tanh", [f"m{i}"], [f"t{i}"]),
        ]
        h = f"t{i}"
    nodes.append(helper.make_node("Reshape", [h, "shape"], ["image"]))
    graph = helper.make_graph(
        nodes,
        "slow-generator",
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, ["N", dim])],
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 1, size, size])],
        [numpy_helper.from_array(w, name) for name, w in weights.items()],
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=IR_VERSION
    )
    onnx.checker.check_model(model)
    return model.SerializeToString()


def make_slow_unconditional(folder: Path, hidden: int = 1024, layers: int = 24) -> Path:
    """1x8x8 images from z[8] through `layers` dense layers of `hidden` units."""
    return make_unconditional(folder, graph=slow_generator(DIM, 8, hidden, layers))


def make_broken(folder: Path, working: Path) -> None:
    """A generator whose ONNX file is not the one its manifest hashed: it fails to load."""
    shutil.copytree(working, folder)
    manifest = json.loads((folder / "model.json").read_text())
    (folder / "model.json").write_text(json.dumps({**manifest, "name": folder.name}))
    (folder / manifest["files"]["generator"]["path"]).write_bytes(b"not the hashed file")
