"""`python -m service.repository.triton_export`: a Triton model repository from a model folder."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import onnx
import pytest
from onnx_models import DIM, make_conditional, make_translation, make_unconditional

from service.manifest import Manifest
from service.repository.triton_export import export, main

ROOT = Path(__file__).resolve().parent.parent
ONNX_TYPES = {1: "TYPE_FP32", 7: "TYPE_INT64"}


def parse_config(text: str) -> dict:
    """The few fields a test needs from config.pbtxt (protobuf text format)."""
    top = {
        "name": re.search(r'^name: "([^"]+)"', text, re.M).group(1),
        "platform": re.search(r'^platform: "([^"]+)"', text, re.M).group(1),
        "max_batch_size": int(re.search(r"^max_batch_size: (\d+)", text, re.M).group(1)),
        "dynamic_batching": "dynamic_batching {" in text,
    }
    for section in ("input", "output"):
        body = re.search(rf"^{section} \[\n(.*?)^\]", text, re.M | re.S).group(1)
        tensors = []
        for block in re.findall(r"\{\n(.*?)\n  \}", body, re.S):
            dims = re.search(r"dims: \[ ([^\]]*) \]", block).group(1)
            tensors.append(
                {
                    "name": re.search(r'name: "([^"]+)"', block).group(1),
                    "data_type": re.search(r"data_type: (\w+)", block).group(1),
                    "dims": [int(d) for d in dims.split(",") if d.strip()],
                    "reshape": "reshape: { shape: [ ] }" in block,
                }
            )
        top[section] = tensors
    # balanced braces and brackets: a cheap syntax check of the text format
    assert text.count("{") == text.count("}") and text.count("[") == text.count("]")
    return top


def onnx_signature(path: Path) -> tuple[list[dict], list[dict]]:
    model = onnx.load(str(path))

    def convert(values) -> list[dict]:
        out = []
        for v in values:
            t = v.type.tensor_type
            dims = [d.dim_value if d.HasField("dim_value") else -1 for d in t.shape.dim][1:]
            out.append({"name": v.name, "data_type": ONNX_TYPES[t.elem_type], "dims": dims})
        return out

    return convert(model.graph.input), convert(model.graph.output)


def check_against_onnx(folder: Path) -> dict:
    config = parse_config((folder / "config.pbtxt").read_text())
    model_file = folder / "1" / "model.onnx"
    inputs, outputs = onnx_signature(model_file)
    for ours, theirs in ((config["input"], inputs), (config["output"], outputs)):
        assert [t["name"] for t in ours] == [t["name"] for t in theirs]
        assert [t["data_type"] for t in ours] == [t["data_type"] for t in theirs]
        for t, o in zip(ours, theirs, strict=True):
            # per-row scalars travel as [1] and are reshaped to [] for the model
            assert t["dims"] == (o["dims"] or [1])
            assert t["reshape"] == (o["dims"] == [])
    assert config["name"] == folder.name
    assert config["platform"] == "onnxruntime_onnx"
    assert config["dynamic_batching"]
    return config


def test_unconditional(tmp_path: Path) -> None:
    src = make_unconditional(tmp_path / "models" / "uncond")
    (folder,) = export(src, tmp_path / "repo", max_batch_size=16)
    assert folder == tmp_path / "repo" / "uncond"
    config = check_against_onnx(folder)
    assert config["max_batch_size"] == 16
    assert config["input"] == [
        {"name": "z", "data_type": "TYPE_FP32", "dims": [DIM], "reshape": False}
    ]
    assert config["output"][0] == {
        "name": "image",
        "data_type": "TYPE_FP32",
        "dims": [1, 8, 8],
        "reshape": False,
    }
    # the ONNX file is copied unchanged
    manifest = Manifest.load(src)
    original = src / manifest.files["generator"].path
    assert (folder / "1" / "model.onnx").read_bytes() == original.read_bytes()
    assert "preferred_batch_size: [ 1, 2, 4, 8, 16 ]" in (folder / "config.pbtxt").read_text()


def test_conditional_label_is_int64_per_row(tmp_path: Path) -> None:
    src = make_conditional(tmp_path / "models" / "cond")
    (folder,) = export(src, tmp_path / "repo")
    config = check_against_onnx(folder)
    assert [(t["name"], t["data_type"]) for t in config["input"]] == [
        ("z", "TYPE_FP32"),
        ("label", "TYPE_INT64"),
    ]
    assert config["input"][1]["dims"] == [1] and config["input"][1]["reshape"]
    assert config["output"][0]["dims"] == [3, 8, 8]


def test_translation_one_model_per_direction_with_dynamic_sides(tmp_path: Path) -> None:
    src = make_translation(tmp_path / "models" / "trans")
    folders = export(src, tmp_path / "repo", gpu=False)
    assert sorted(f.name for f in folders) == ["trans-a2b", "trans-b2a"]
    for folder in folders:
        config = check_against_onnx(folder)
        assert config["input"][0]["name"] == "image"
        assert config["input"][0]["dims"] == [3, -1, -1]
        assert config["output"][0]["dims"] == [3, -1, -1]
        assert "kind: KIND_CPU" in (folder / "config.pbtxt").read_text()


def test_command_line_on_the_shipped_models(tmp_path: Path) -> None:
    for src in sorted((ROOT / "models").iterdir()):
        if not (src / "model.json").exists():
            continue
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "service.repository.triton_export",
                str(src),
                "--out",
                str(tmp_path),
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        for line in result.stdout.split():
            check_against_onnx(Path(line))
    # the exporter imports no torch
    probe = "import sys, service.repository.triton_export; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", probe], cwd=ROOT, check=True, timeout=60)


def test_a_mismatched_file_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    # a translation graph under a generator manifest: wrong input names
    trans = make_translation(tmp_path / "trans")
    uncond = make_unconditional(tmp_path / "uncond")
    manifest = Manifest.load(uncond)
    (uncond / manifest.files["generator"].path).write_bytes((trans / "a2b.onnx").read_bytes())
    assert main([str(uncond), "--out", str(tmp_path / "repo")]) == 1
    assert "inputs" in capsys.readouterr().err


def test_the_old_command_name_still_exports_and_says_where_it_went(tmp_path: Path) -> None:
    """Scripts written before service/ was laid out in layers call `service.triton_export`."""
    src = make_unconditional(tmp_path / "models" / "uncond")
    result = subprocess.run(
        [sys.executable, "-m", "service.triton_export", str(src), "--out", str(tmp_path / "o")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "python -m service.repository.triton_export" in result.stderr
    assert (tmp_path / "o" / "uncond" / "config.pbtxt").is_file()
