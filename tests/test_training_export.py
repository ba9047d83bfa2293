"""Export writes folders the service loads and serves, with ONNX Runtime matching PyTorch at
other batch sizes (and, for translation, other image sizes) than the traced ones."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np
import onnx
import pytest
from PIL import Image
from training_fixtures import tiny_values

from service.manifest import Manifest, sha256_of
from training import cli, config
from training.loops import trainer_for

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One trained and exported model per served kind, in one models folder."""
    tmp = tmp_path_factory.mktemp("export")
    models = tmp / "models"
    for family, name in (("dcgan", "tiny-dcgan"), ("cgan", "tiny-cgan"), ("cyclegan", "tiny-h2z")):
        extra = {"classes": ["zero", "one", "two"], "g_cond": "cbn"} if family == "cgan" else {}
        cfg = config.build(tiny_values(family, tmp, steps=2, **extra))
        trainer_for(cfg).run()
        assert cli.main(["export", str(cfg.run_dir), "--out", str(models / name)]) == 0
    return models


def test_folders_follow_the_contract(exported: Path) -> None:
    for name, kind in (
        ("tiny-dcgan", "unconditional"),
        ("tiny-cgan", "conditional"),
        ("tiny-h2z", "translation"),
    ):
        folder = exported / name
        manifest = Manifest.load(folder)
        assert manifest.name == name and manifest.kind == kind and not manifest.untrained
        for ref in manifest.files.values():
            assert sha256_of(folder / ref.path) == ref.sha256
            model = onnx.load(str(folder / ref.path))
            assert model.opset_import[0].version >= 17 and model.ir_version <= 13
        assert (folder / "samples.png").is_file() and (folder / "README.md").is_file()
        t = manifest.training
        assert t["steps"] == 2 and t["config"]["family"] and t["code_revision"]
        assert t["device"] == "cpu" and t["wall_time_s"] >= 0 and t["data"]
        # no path of this machine: the run's checkpoint from its runs folder, the data by name
        assert t["checkpoint"] == f"{t['config']['name']}/checkpoints/last.pt"
        assert not Path(t["data"]).is_absolute() and not Path(t["config"]["out_dir"]).is_absolute()
        assert str(exported.parent) not in (folder / "model.json").read_text()
        assert str(exported.parent) not in (folder / "README.md").read_text()
    cond = Manifest.load(exported / "tiny-cgan")
    assert cond.classes == ["zero", "one", "two"]
    g = onnx.load(str(exported / "tiny-cgan" / "generator.onnx")).graph
    assert [i.name for i in g.input] == ["z", "label"]
    assert [i.type.tensor_type.elem_type for i in g.input] == [1, 7]  # float32, int64
    assert g.output[0].name == "image"
    trans = Manifest.load(exported / "tiny-h2z")
    assert trans.domains == {"a": "horse", "b": "zebra"} and trans.image.multiple_of == 4


def test_parity_failure_is_reported(exported: Path, tmp_path: Path, capsys) -> None:
    checkpoint = Manifest.load(exported / "tiny-dcgan").training["checkpoint"]
    run = str(exported.parent / "runs" / checkpoint)  # named from the runs folder
    assert cli.main(["export", run, "--out", str(tmp_path / "x"), "--tolerance", "-1"]) == 3
    assert "differs from PyTorch" in capsys.readouterr().err


async def test_service_serves_exported_models(exported: Path, app_client) -> None:
    async with app_client(models_dir=exported) as client:
        models = (await client.get("/models")).json()
        states = (
            {m["name"]: m["state"] for m in models["models"]}
            if isinstance(models, dict)
            else {m["name"]: m["state"] for m in models}
        )
        assert states == {"tiny-dcgan": "ready", "tiny-cgan": "ready", "tiny-h2z": "ready"}
        r = await client.post("/generate", json={"model": "tiny-cgan", "n": 3, "label": "two"})
        assert r.status_code == 200, r.text
        images = r.json()["images"]
        assert [i["class_name"] for i in images] == ["two"] * 3
        png = Image.open(io.BytesIO(base64.b64decode(images[0]["png"])))
        assert png.size == (16, 16)
        r = await client.post("/generate", json={"model": "tiny-dcgan", "n": 2, "seed": 5})
        assert r.status_code == 200, r.text
        photo = io.BytesIO()
        Image.fromarray(np.full((20, 28, 3), 90, np.uint8)).save(photo, "PNG")
        r = await client.post(
            "/translate",
            data={"model": "tiny-h2z", "direction": "b2a"},
            files={"file": ("x.png", photo.getvalue(), "image/png")},
        )
        assert r.status_code == 200, r.text
        assert Image.open(io.BytesIO(r.content)).size == (28, 20)
