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
from service.manifest import FileRef, ImageSpec, LatentSpec, Manifest, StyleGANSpec, sha256_of

__all__ = [
    "CLASSES",
    "DIM",
    "generator",
    "make_conditional",
    "make_models_dir",
    "make_slow_unconditional",
    "make_stylegan",
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


# A tiny StyleGAN: z [8] (and a one-hot c) -> w [6], broadcast to 4 ws -> 3x8x8 images.
STYLE = {"z_dim": 8, "w_dim": 6, "num_ws": 4, "resolution": 8}


def stylegan_weights(c_dim: int, seed: int = 3) -> dict[str, np.ndarray]:
    """The tiny StyleGAN's parameters, also the reference's (`stylegan_reference`)."""
    rng = np.random.default_rng(seed)
    z_dim, w_dim, k, r = (STYLE[n] for n in ("z_dim", "w_dim", "num_ws", "resolution"))
    return {
        "A": rng.standard_normal((z_dim + c_dim, w_dim)).astype(np.float32),
        "w_avg": rng.standard_normal(w_dim).astype(np.float32),
        "B": (rng.standard_normal((k * w_dim, 3 * r * r)) / 4).astype(np.float32),
        "T": (rng.standard_normal((9, 3 * r * r)) / 4).astype(np.float32),  # a StyleGAN3's
    }


def stylegan_reference(
    weights: dict[str, np.ndarray],
    z: np.ndarray,
    c: np.ndarray | None,
    psi: np.ndarray,
    transform: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """What the two tiny graphs compute, in numpy: (ws, images); a StyleGAN3's synthesis
    adds each row's `transform` [N, 3, 3] through its own weights."""
    x = z if c is None else np.concatenate([z, c], axis=1)
    w = np.tanh(x @ weights["A"])
    ws = np.repeat(w[:, None, :], STYLE["num_ws"], axis=1)
    ws = weights["w_avg"] + psi[:, None, None] * (ws - weights["w_avg"])
    r = STYLE["resolution"]
    y = ws.reshape(len(ws), -1) @ weights["B"]
    if transform is not None:
        y = y + transform.reshape(len(ws), 9) @ weights["T"]
    return ws, np.tanh(y).reshape(-1, 3, r, r)


def _synthesis_graph(weights: dict[str, np.ndarray], transform: bool) -> onnx.GraphProto:
    """ws (and with `transform` a StyleGAN3's [N, 3, 3]) -> image, as `stylegan_reference`."""
    w_dim, k, r = (STYLE[n] for n in ("w_dim", "num_ws", "resolution"))
    f = TensorProto.FLOAT
    inputs = [helper.make_tensor_value_info("ws", f, ["N", k, w_dim])]
    nodes = [
        helper.make_node("Reshape", ["ws", "flat"], ["x"]),
        helper.make_node("MatMul", ["x", "B"], ["y"]),
    ]
    consts = {
        "B": weights["B"],
        "flat": np.array([-1, k * w_dim], np.int64),
        "shape": np.array([-1, 3, r, r], np.int64),
    }
    if transform:
        inputs.append(helper.make_tensor_value_info("transform", f, ["N", 3, 3]))
        nodes += [
            helper.make_node("Reshape", ["transform", "flat9"], ["m"]),
            helper.make_node("MatMul", ["m", "T"], ["mt"]),
            helper.make_node("Add", ["y", "mt"], ["y2"]),
        ]
        consts |= {"T": weights["T"], "flat9": np.array([-1, 9], np.int64)}
    nodes += [
        helper.make_node("Tanh", ["y2" if transform else "y"], ["t"]),
        helper.make_node("Reshape", ["t", "shape"], ["image"]),
    ]
    return helper.make_graph(
        nodes,
        "tiny-synthesis",
        inputs,
        [helper.make_tensor_value_info("image", f, ["N", 3, r, r])],
        [numpy_helper.from_array(v, n) for n, v in consts.items()],
    )


def _stylegan_graphs(
    c_dim: int, weights: dict[str, np.ndarray], transform: bool
) -> dict[str, bytes]:
    z_dim, w_dim, k = (STYLE[n] for n in ("z_dim", "w_dim", "num_ws"))
    f = TensorProto.FLOAT
    inputs = [helper.make_tensor_value_info("z", f, ["N", z_dim])]
    x = "z"
    nodes = []
    if c_dim:
        inputs.append(helper.make_tensor_value_info("c", f, ["N", c_dim]))
        nodes.append(helper.make_node("Concat", ["z", "c"], ["zc"], axis=1))
        x = "zc"
    inputs.append(helper.make_tensor_value_info("psi", f, ["N"]))
    nodes += [
        helper.make_node("MatMul", [x, "A"], ["h"]),
        helper.make_node("Tanh", ["h"], ["w"]),
        helper.make_node("Unsqueeze", ["w", "axis1"], ["w1"]),
        helper.make_node("Tile", ["w1", "repeats"], ["wk"]),
        helper.make_node("Sub", ["wk", "w_avg"], ["d"]),
        helper.make_node("Unsqueeze", ["psi", "axes12"], ["p"]),
        helper.make_node("Mul", ["d", "p"], ["pd"]),
        helper.make_node("Add", ["pd", "w_avg"], ["ws"]),
    ]
    consts = {
        "A": weights["A"],
        "w_avg": weights["w_avg"],
        "axis1": np.array([1], np.int64),
        "axes12": np.array([1, 2], np.int64),
        "repeats": np.array([1, k, 1], np.int64),
    }
    mapping = helper.make_graph(
        nodes,
        "tiny-mapping",
        inputs,
        [helper.make_tensor_value_info("ws", f, ["N", k, w_dim])],
        [numpy_helper.from_array(v, n) for n, v in consts.items()],
    )
    synthesis = _synthesis_graph(weights, transform)
    out = {}
    for role, graph in (("mapping", mapping), ("synthesis", synthesis)):
        model = helper.make_model(
            graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=IR_VERSION
        )
        onnx.checker.check_model(model)
        out[role] = model.SerializeToString()
    return out


def make_stylegan(
    folder: Path,
    c_dim: int = 0,
    psi: float = 1.0,
    seed: int = 3,
    architecture: str = "stylegan2",
    transform: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """A kind `stylegan` folder of two tiny graphs (classes `k0`, `k1`, ... when c_dim > 0);
    returns its weights for `stylegan_reference`. A StyleGAN3 with a stored `transform`
    takes the synthesis input; one without is a folder exported before it existed."""
    weights = stylegan_weights(c_dim, seed)
    folder.mkdir(parents=True, exist_ok=True)
    refs = {}
    for role, data in _stylegan_graphs(c_dim, weights, transform is not None).items():
        path = folder / f"{role}.onnx"
        path.write_bytes(data)
        refs[role] = FileRef(path=path.name, sha256=sha256_of(path))
    r = STYLE["resolution"]
    Manifest(
        name=folder.name,
        kind="stylegan",
        image=ImageSpec(channels=3, height=r, width=r),
        latent=LatentSpec(dim=STYLE["z_dim"]),
        classes=[f"k{i}" for i in range(c_dim)] or None,
        stylegan=StyleGANSpec(
            architecture=architecture,
            c_dim=c_dim,
            psi=psi,
            transform=None if transform is None else transform.tolist(),
            **STYLE,
        ),
        files=refs,
    ).dump(folder)
    return weights


def make_broken(folder: Path, working: Path) -> None:
    """A generator whose ONNX file is not the one its manifest hashed: it fails to load."""
    shutil.copytree(working, folder)
    manifest = json.loads((folder / "model.json").read_text())
    (folder / "model.json").write_text(json.dumps({**manifest, "name": folder.name}))
    (folder / manifest["files"]["generator"]["path"]).write_bytes(b"not the hashed file")
