"""`python -m training import pix2pix`: the authors' U-Net, each image normalised on its own."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
from authors_checkpoints import AuthorsUnet, the_authors_way, unet_checkpoint

from service.manifest import Manifest
from training import cli
from training.importers.unet import UnetGenerator


@pytest.mark.parametrize(("net", "levels"), [("unet_256", 8), ("unet_128", 7)])
def test_the_rebuild_has_the_authors_layout(net: str, levels: int) -> None:
    ours = UnetGenerator(net).state_dict()
    theirs = AuthorsUnet(levels, 64).state_dict()
    assert list(ours) == list(theirs)
    assert all(ours[k].shape == theirs[k].shape for k in ours)
    assert next(iter(ours)) == "model.model.0.weight"
    innermost = "model.model.1." + "model.3." * (levels - 2) + "model.1.weight"
    assert ours[innermost].shape == (512, 512, 4, 4)


def test_unet_256_has_the_authors_parameter_count() -> None:
    """54,413,955 at ngf 64, checked on the architecture without exporting it."""
    assert sum(p.numel() for p in UnetGenerator("unet_256").parameters()) == 54_413_955


def _session(path: Path) -> ort.InferenceSession:
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


@pytest.fixture(scope="module")
def imported(tmp_path_factory) -> tuple[Path, AuthorsUnet]:
    root = tmp_path_factory.mktemp("pix2pix")
    ckpt = unet_checkpoint(root / "latest_net_G.pth", num_downs=7, ngf=2, seed=3)
    out = root / "facades-label2photo"
    argv = ["import", "pix2pix", str(ckpt), "--out", str(out), "--netG", "unet_128"]
    assert cli.main([*argv, "--ngf", "2", "--domains", "label,photo"]) == 0
    theirs = AuthorsUnet(7, 2)
    theirs.load_state_dict(torch.load(ckpt, weights_only=True))
    return out, theirs


def test_manifest_and_provenance(imported) -> None:
    out, _ = imported
    m = Manifest.load(out)
    assert m.roles() == ("a2b",) and m.image.multiple_of == 128 and m.image.height == 128
    source = json.loads((out / "model.json").read_text())["source"]
    assert source["architecture"] == "UnetGenerator" and source["options"]["netG"] == "unet_128"
    assert "own statistics" in source["options"]["norm"]
    assert "off" in source["options"]["dropout"]
    assert "dropout off" in (out / "README.md").read_text()


def test_onnx_computes_what_the_authors_test_script_does(imported) -> None:
    """BatchNorm in training mode on a batch of one, the skip after the in-place LeakyReLU:
    the exported graph matches it on every image of a batch."""
    out, theirs = imported
    x = np.random.default_rng(0).uniform(-1, 1, (3, 3, 128, 256)).astype(np.float32)
    got = _session(out / "a2b.onnx").run(None, {"image": x})[0]
    want = the_authors_way(theirs, torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, want, atol=1e-4)


def test_a_batch_never_mixes_its_images(imported) -> None:
    """Each image gives the same result alone and among others, so dynamic batching of
    requests is invisible; normalising over the batch (BatchNorm's training mode on the
    whole batch) would not be."""
    out, theirs = imported
    session = _session(out / "a2b.onnx")
    rng = np.random.default_rng(1)
    x = np.concatenate(
        [rng.uniform(-1, 1, (2, 3, 128, 128)), rng.uniform(-0.2, 0.9, (2, 3, 128, 128))]
    ).astype(np.float32)
    batch = session.run(None, {"image": x})[0]
    alone = np.concatenate([session.run(None, {"image": x[i : i + 1]})[0] for i in range(4)])
    np.testing.assert_allclose(batch, alone, atol=1e-5)
    with torch.no_grad():
        mixed = theirs.train()(torch.from_numpy(x)).numpy()
    assert np.abs(mixed - alone).max() > 1e-2


def test_eval_norm_uses_the_running_statistics(tmp_path: Path) -> None:
    ckpt = unet_checkpoint(tmp_path / "G.pth", num_downs=7, ngf=2, seed=4)
    out = tmp_path / "m"
    argv = ["import", "pix2pix", str(ckpt), "--out", str(out), "--netG", "unet_128", "--ngf", "2"]
    assert cli.main([*argv, "--eval-norm"]) == 0
    theirs = AuthorsUnet(7, 2)
    theirs.load_state_dict(torch.load(ckpt, weights_only=True))
    x = np.random.default_rng(2).uniform(-1, 1, (2, 3, 128, 128)).astype(np.float32)
    with torch.no_grad():
        want = theirs.eval()(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(
        _session(out / "a2b.onnx").run(None, {"image": x})[0], want, atol=1e-4
    )
    assert (
        "running statistics"
        in json.loads((out / "model.json").read_text())["source"]["options"]["norm"]
    )


def test_a_wrong_net_names_the_option(tmp_path: Path, capsys) -> None:
    ckpt = unet_checkpoint(tmp_path / "G.pth", num_downs=7, ngf=2)
    assert (
        cli.main(["import", "pix2pix", str(ckpt), "--out", str(tmp_path / "m"), "--ngf", "2"]) == 2
    )
    assert "It is unet_128: change --netG" in capsys.readouterr().err
    argv = ["import", "pix2pix", str(ckpt), "--out", str(tmp_path / "m"), "--netG", "unet_128"]
    assert cli.main(argv) == 2
    assert "It was made with --ngf 2: change --ngf" in capsys.readouterr().err
