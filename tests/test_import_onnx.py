"""`python -m training import onnx`: any ONNX generator or translator, copied and described."""

from __future__ import annotations

import json
from pathlib import Path

import onnx
import pytest
from onnx import TensorProto, helper
from onnx_models import CLASSES, DIM, generator, translator

from scripts.make_placeholder_models import IR_VERSION, OPSET
from service.manifest import Manifest, sha256_of
from training import cli


def _import(files: list[Path], out: Path, *options: str) -> int:
    return cli.main(["import", "onnx", *map(str, files), "--out", str(out), *options])


def _file(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_an_unconditional_generator(tmp_path: Path) -> None:
    src = _file(tmp_path / "gen.onnx", generator(DIM, 3, 8, seed=0))
    out = tmp_path / "gen"
    assert _import([src], out) == 0
    m = Manifest.load(out)
    assert m.kind == "unconditional" and m.latent.dim == DIM
    assert (m.image.channels, m.image.height, m.image.width) == (3, 8, 8)
    assert (out / "generator.onnx").read_bytes() == src.read_bytes()  # served untouched
    source = json.loads((out / "model.json").read_text())["source"]
    assert source["files"]["generator"]["sha256"] == sha256_of(src)
    assert source["files"]["generator"]["opset"] == OPSET and "Unknown" in source["licence"]
    assert "gen.onnx" in (out / "README.md").read_text() and (out / "samples.png").is_file()


def test_a_conditional_generator_needs_its_classes(tmp_path: Path, capsys) -> None:
    src = _file(tmp_path / "cond.onnx", generator(DIM, 1, 8, num_classes=3, seed=1))
    assert _import([src], tmp_path / "c") == 2
    assert "pass --classes" in capsys.readouterr().err
    assert _import([src], tmp_path / "c", "--classes", "a,b,c,d") == 2
    assert "fewer classes than the 4" in capsys.readouterr().err
    assert _import([src], tmp_path / "c", "--classes", ",".join(CLASSES)) == 0
    m = Manifest.load(tmp_path / "c")
    assert m.kind == "conditional" and m.classes == CLASSES


def test_translators_get_their_multiple_measured(tmp_path: Path) -> None:
    """A 3x3 convolution takes any size (1); the authors' ResNet generator needs 4."""
    from authors_checkpoints import resnet_checkpoint

    net = tmp_path / "net"
    ckpt = resnet_checkpoint(tmp_path / "G.pth", ngf=2, n_blocks=1)
    assert (
        cli.main(
            ["import", "cyclegan", str(ckpt), "--out", str(net), "--ngf", "2", "--n-blocks", "1"]
        )
        == 0
    )
    conv = _file(tmp_path / "conv.onnx", translator(seed=0))
    out = tmp_path / "both"
    assert _import([net / "a2b.onnx", conv], out, "--domains", "day,night") == 0
    m = Manifest.load(out)
    assert m.roles() == ("a2b", "b2a") and m.image.multiple_of == 4
    source = json.loads((out / "model.json").read_text())["source"]
    assert source["files"]["a2b"]["multiple_of"] == 4 and source["files"]["b2a"]["multiple_of"] == 1
    assert m.domains == {"a": "day", "b": "night"}


def _graph(inputs, outputs, nodes) -> bytes:
    graph = helper.make_graph(nodes, "g", inputs, outputs)
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=IR_VERSION
    )
    return model.SerializeToString()


def _tensor(name: str, shape: list) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b"not onnx at all", "is not an ONNX model ONNX Runtime can load"),
        (
            _graph(
                [_tensor("x", ["N", 4, 4])],
                [_tensor("y", ["N", 4, 4])],
                [helper.make_node("Tanh", ["x"], ["y"])],
            ),
            "fits no kind",
        ),
        (
            _graph(
                [_tensor("input.1", ["N", 3, "H", "W"])],
                [_tensor("y", ["N", 3, "H", "W"])],
                [helper.make_node("Tanh", ["input.1"], ["y"])],
            ),
            "input_names=['image']",
        ),
        (
            _graph(
                [_tensor("image", [1, 3, "H", "W"])],
                [_tensor("y", [1, 3, "H", "W"])],
                [helper.make_node("Tanh", ["image"], ["y"])],
            ),
            "fixed batch of 1",
        ),
        (
            _graph(
                [_tensor("image", ["N", 3, 256, 256])],
                [_tensor("y", ["N", 3, 256, 256])],
                [helper.make_node("Tanh", ["image"], ["y"])],
            ),
            "dynamic H and W",
        ),
        (
            _graph(
                [_tensor("z", ["N", 8])],
                [_tensor("out", ["N", 8])],
                [helper.make_node("Tanh", ["z"], ["out"])],
            ),
            "first output must be float [N, C, H, W]",
        ),
    ],
    ids=["not-onnx", "rank-3", "input-name", "fixed-batch", "fixed-size", "output-rank"],
)
def test_what_the_service_cannot_serve_is_refused(
    data: bytes, says: str, tmp_path: Path, capsys
) -> None:
    src = _file(tmp_path / "model.onnx", data)
    assert _import([src], tmp_path / "m") == 2
    err = capsys.readouterr().err
    assert err.startswith("error: model.onnx") and says in err and "Traceback" not in err
    assert not (tmp_path / "m").exists()
