"""`python -m training import cyclegan`: the authors' ResNet generator, rebuilt and exported."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
from authors_checkpoints import resnet_checkpoint, save
from PIL import Image

from service.manifest import Manifest, sha256_of
from training import cli
from training.importers.resnet import ResnetGenerator
from training.nets.cyclegan import ResnetGenerator as ProjectResnet


def test_the_rebuild_has_the_authors_layout() -> None:
    """Key names, 48 tensors, ConvTranspose weights [in, out, k, k], 11,378,179 parameters
    (their resnet_9blocks at ngf 64), checked on the architecture without exporting it."""
    net = ResnetGenerator()
    state = net.state_dict()
    layers = [1, 4, 7, 19, 22, 26]
    blocks = [f"{i}.conv_block.{j}" for i in range(10, 19) for j in (1, 5)]
    expected = {f"model.{m}.{p}" for m in [*map(str, layers), *blocks] for p in ("weight", "bias")}
    assert set(state) == expected and len(state) == 48
    assert sum(p.numel() for p in net.parameters()) == 11_378_179
    assert state["model.19.weight"].shape == (256, 128, 3, 3)
    assert state["model.22.weight"].shape == (128, 64, 3, 3)
    assert isinstance(net.model[27], torch.nn.Tanh) and isinstance(
        net.model[25], torch.nn.ReflectionPad2d
    )
    with_dropout = ResnetGenerator(dropout=True).state_dict()
    assert "model.10.conv_block.6.weight" in with_dropout and len(with_dropout) == 48


def test_the_rebuild_computes_what_the_project_generator_computes() -> None:
    """The project's own CycleGAN generator (transposed convolutions) is the same network
    under other names: the same weights give the same translation."""
    ours = ResnetGenerator(ngf=4, n_blocks=3).eval()
    project = ProjectResnet(ngf=4, n_blocks=3, upsample="transpose").eval()
    renamed = {
        k.replace("model.", "net.", 1).replace(".conv_block.", ".body."): v
        for k, v in ours.state_dict().items()
    }
    project.load_state_dict(renamed, strict=True)
    x = torch.rand(2, 3, 36, 44) * 2 - 1
    with torch.no_grad():
        torch.testing.assert_close(ours(x), project(x))


def _import(argv: list[str]) -> int:
    return cli.main(["import", "cyclegan", *argv])


@pytest.fixture(scope="module")
def imported(tmp_path_factory) -> tuple[Path, dict[str, Path]]:
    root = tmp_path_factory.mktemp("cyclegan")
    files = {
        "a2b": resnet_checkpoint(root / "latest_net_G_A.pth", ngf=4, n_blocks=2, seed=1),
        "b2a": resnet_checkpoint(root / "latest_net_G_B.pth", ngf=4, n_blocks=2, seed=2),
    }
    photo = root / "horse.jpg"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (90, 120, 3), np.uint8)).save(photo)
    out = root / "models" / "horse2zebra"
    argv = [str(files["a2b"]), str(files["b2a"]), "--out", str(out), "--ngf", "4"]
    argv += ["--n-blocks", "2", "--domains", "horse,zebra", "--photos-a", str(photo)]
    assert _import([*argv, "--photos-b", str(photo)]) == 0
    return out, files


def test_two_files_give_both_directions_with_provenance(imported) -> None:
    out, files = imported
    m = Manifest.load(out)
    assert m.kind == "translation" and m.roles() == ("a2b", "b2a")
    assert m.domains == {"a": "horse", "b": "zebra"} and m.image.multiple_of == 4
    for role in m.roles():
        assert m.files[role].sha256 == sha256_of(out / f"{role}.onnx")
    source = json.loads((out / "model.json").read_text())["source"]
    for role, path in files.items():
        assert source["files"][role] == {
            "file": path.name,
            "sha256": sha256_of(path),
            "dropped_instance_norm_stats": 0,
        }
    assert source["architecture"] == "ResnetGenerator"
    assert source["options"]["ngf"] == 4 and source["options"]["n_blocks"] == 2
    assert "BSD" in source["licence"] and "no stated licence" in source["licence"]
    parity = source["onnx_parity_max_abs_diff"]["a2b"]
    assert len(parity) == 2 and all(v <= 1e-4 for v in parity.values())
    card = (out / "README.md").read_text()
    assert "latest_net_G_A.pth" in card and "no stated licence" in card
    assert (out / "samples.png").is_file()


def test_the_onnx_file_translates_as_the_checkpoint_does(imported) -> None:
    out, files = imported
    net = ResnetGenerator(4, 2)
    net.load_state_dict(torch.load(files["b2a"], weights_only=True))
    x = np.random.default_rng(1).uniform(-1, 1, (1, 3, 52, 68)).astype(np.float32)
    session = ort.InferenceSession(str(out / "b2a.onnx"), providers=["CPUExecutionProvider"])
    with torch.no_grad():
        want = net.eval()(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(session.run(None, {"image": x})[0], want, atol=1e-4)


def test_one_file_gives_a2b_only(tmp_path: Path) -> None:
    (tmp_path / "horse2zebra_pretrained").mkdir()
    ckpt = resnet_checkpoint(tmp_path / "horse2zebra_pretrained" / "latest_net_G.pth")
    out = tmp_path / "h2z"
    assert _import([str(ckpt), "--out", str(out), "--ngf", "4"]) == 0
    m = Manifest.load(out)
    assert m.roles() == ("a2b",) and not (out / "b2a.onnx").exists()
    assert m.domains == {"a": "horse", "b": "zebra"}  # from the authors' folder name
    assert not (out / "samples.png").exists()  # no photos given
    assert cli.main(["evaluate", str(out), "--data", str(tmp_path)]) == 2


def test_old_release_quirks_load(tmp_path: Path) -> None:
    """DataParallel's `module.` prefix, `_metadata`, and InstanceNorm running statistics."""
    net = ResnetGenerator(4, 2)
    state = {f"module.{k}": v for k, v in net.state_dict().items()}
    for i in (2, 5, 8, 13, 16):  # the top-level InstanceNorms of a 2-block generator
        state[f"module.model.{i}.running_mean"] = torch.ones(1)
        state[f"module.model.{i}.running_var"] = torch.ones(1)
    state["module.model.10.conv_block.2.num_batches_tracked"] = torch.tensor(5)
    ckpt = save(state, tmp_path / "old_net_G.pth")
    out = tmp_path / "old"
    assert _import([str(ckpt), "--out", str(out), "--ngf", "4", "--n-blocks", "2"]) == 0
    source = json.loads((out / "model.json").read_text())["source"]
    assert source["files"]["a2b"]["dropped_instance_norm_stats"] == 11


@pytest.mark.parametrize(
    ("made", "asked", "advice"),
    [
        ({"ngf": 8}, ["--ngf", "4"], "--ngf 8 --n-blocks 9: change --ngf"),
        ({"n_blocks": 6}, ["--ngf", "4"], "--ngf 4 --n-blocks 6: change --n-blocks"),
    ],
)
def test_a_wrong_architecture_names_the_option(made, asked, advice, tmp_path, capsys) -> None:
    options = {"ngf": 4, "n_blocks": 9} | made
    ckpt = resnet_checkpoint(tmp_path / "G.pth", **options)
    assert _import([str(ckpt), "--out", str(tmp_path / "m"), *asked]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: G.pth does not fit") and advice in err
    assert not (tmp_path / "m").exists()


def test_a_dropout_checkpoint_names_the_option(tmp_path, capsys) -> None:
    ckpt = save(ResnetGenerator(4, 2, dropout=True).state_dict(), tmp_path / "G.pth")
    assert _import([str(ckpt), "--out", str(tmp_path / "m"), "--ngf", "4", "--n-blocks", "2"]) == 2
    assert "change --dropout" in capsys.readouterr().err
    out = tmp_path / "d"
    assert (
        _import([str(ckpt), "--out", str(out), "--ngf", "4", "--n-blocks", "2", "--dropout"]) == 0
    )
