"""Tiny untrained ONNX models (numpy + onnx only), so the service has something to serve.

    python scripts/make_placeholder_models.py [--out models]

writes `horse2zebra-untrained` with `"untrained": true`, a samples.png and a model card; a trained
CycleGAN replaces it later (the MNIST placeholders were replaced by `dcgan-mnist` and `cgan-mnist`).
The builders are also what the tests use (tests/onnx_models.py) to make models of every kind.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make `service` importable without installing
    sys.path.insert(0, str(ROOT))

from service import imaging  # noqa: E402
from service.engine.runtime import cpu_session  # noqa: E402
from service.latents import default_label, latents  # noqa: E402
from service.manifest import FileRef, ImageSpec, LatentSpec, Manifest, sha256_of  # noqa: E402

OPSET = 17
# onnx >= 1.19 writes IR version 11+ by default, newer than some ONNX Runtime releases read.
IR_VERSION = 9


def _model(nodes: list, inputs: list, outputs: list, weights: dict[str, np.ndarray]) -> bytes:
    graph = helper.make_graph(
        nodes,
        "ganserve-placeholder",
        inputs,
        outputs,
        [numpy_helper.from_array(w, name) for name, w in weights.items()],
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=IR_VERSION
    )
    onnx.checker.check_model(model)
    return model.SerializeToString()


def _image_output(name: str = "image", channels: int | str = "C") -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, ["N", channels, "H", "W"])


def generator(dim: int, channels: int, size: int, num_classes: int = 0, seed: int = 0) -> bytes:
    """z [N, dim] (+ label [N]) -> MatMul -> Tanh -> image [N, channels, size, size]."""
    rng = np.random.default_rng(seed)
    pixels = channels * size * size
    weights = {
        "W": (rng.standard_normal((dim, pixels)) / np.sqrt(dim)).astype(np.float32),
        "shape": np.array([-1, channels, size, size], np.int64),
    }
    inputs = [helper.make_tensor_value_info("z", TensorProto.FLOAT, ["N", dim])]
    nodes = []
    h = "z"
    if num_classes:
        weights["embedding"] = rng.standard_normal((num_classes, dim)).astype(np.float32)
        inputs.append(helper.make_tensor_value_info("label", TensorProto.INT64, ["N"]))
        nodes += [
            helper.make_node("Gather", ["embedding", "label"], ["e"], axis=0),
            helper.make_node("Add", ["z", "e"], ["h"]),
        ]
        h = "h"
    nodes += [
        helper.make_node("MatMul", [h, "W"], ["flat"]),
        helper.make_node("Tanh", ["flat"], ["act"]),
        helper.make_node("Reshape", ["act", "shape"], ["image"]),
    ]
    output = helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", channels, size, size])
    return _model(nodes, inputs, [output], weights)


def translator(seed: int = 0, identity_bias: float = 1.0) -> bytes:
    """image [N, 3, H, W] -> Conv 3x3 (pad 1) -> Tanh -> translated [N, 3, H, W], H, W dynamic."""
    rng = np.random.default_rng(seed)
    kernel = (rng.standard_normal((3, 3, 3, 3)) * 0.05).astype(np.float32)
    kernel[np.arange(3), np.arange(3), 1, 1] += identity_bias  # starts near the identity
    weights = {"K": kernel, "B": (rng.standard_normal(3) * 0.05).astype(np.float32)}
    nodes = [
        helper.make_node("Conv", ["image", "K", "B"], ["conv"], pads=[1, 1, 1, 1]),
        helper.make_node("Tanh", ["conv"], ["translated"]),
    ]
    inputs = [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, "H", "W"])]
    return _model(nodes, inputs, [_image_output("translated", 3)], weights)


def write_model(
    folder: Path,
    files: dict[str, bytes],
    *,
    kind: str,
    channels: int,
    size: int,
    dim: int | None = None,
    classes: list[str] | None = None,
    domains: dict[str, str] | None = None,
    multiple_of: int = 1,
    description: str = "",
    untrained: bool = True,
) -> Manifest:
    """Write ONNX files (role -> bytes) and a manifest whose hashes match them."""
    folder.mkdir(parents=True, exist_ok=True)
    refs = {}
    for role, data in files.items():
        path = folder / f"{role}.onnx"
        path.write_bytes(data)
        refs[role] = FileRef(path=path.name, sha256=sha256_of(path))
    manifest = Manifest(
        name=folder.name,
        description=description,
        kind=kind,
        image=ImageSpec(channels=channels, height=size, width=size, multiple_of=multiple_of),
        latent=LatentSpec(dim=dim) if dim else None,
        classes=classes,
        domains=domains,
        files=refs,
        untrained=untrained,
    )
    manifest.dump(folder)
    return manifest


def _samples_png(folder: Path, manifest: Manifest) -> None:
    """A preview grid made through ONNX Runtime, like the exporter's."""
    if manifest.kind == "translation":
        h = w = manifest.image.height
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        grad = np.stack([xx / w, yy / h, 1 - xx / w]) * 2 - 1
        x = grad[None].astype(np.float32)
        session = cpu_session(folder / "a2b.onnx")
        out = session.run(None, {"image": x})[0]
        batch = np.concatenate([x, out])
    else:
        seeds = list(range(16))
        feed = {"z": latents(seeds, manifest.latent.dim)}
        if manifest.kind == "conditional":
            n = len(manifest.classes)
            feed["label"] = np.array([default_label(s, n) for s in seeds], np.int64)
        session = cpu_session(folder / "generator.onnx")
        batch = session.run(None, feed)[0]
    (folder / "samples.png").write_bytes(imaging.encode_grid(batch))


CARD = """# {name} (untrained placeholder)

**This model is untrained.** Its weights are random; it exists so the service has a model
of kind `{kind}` to serve before trained models land. Its images are noise{extra}.

- made by: `python scripts/make_placeholder_models.py`
- data: none; training: none; metrics: none
- signature: see `model.json` and docs/architecture.md
"""


def make_all(out: Path) -> list[Path]:
    specs = [
        (
            "horse2zebra-untrained",
            {"a2b": translator(seed=3), "b2a": translator(seed=4)},
            {
                "kind": "translation",
                "channels": 3,
                "size": 256,
                "domains": {"a": "horse", "b": "zebra"},
                "multiple_of": 4,
            },
            " (a slightly tinted copy of the input)",
        ),
    ]
    folders = []
    for name, files, spec, extra in specs:
        folder = out / name
        manifest = write_model(
            folder, files, description=f"Untrained placeholder ({spec['kind']})", **spec
        )
        _samples_png(folder, manifest)
        (folder / "README.md").write_text(CARD.format(name=name, kind=spec["kind"], extra=extra))
        folders.append(folder)
    return folders


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "models")
    for folder in make_all(parser.parse_args().out):
        print(folder)


if __name__ == "__main__":
    main()
