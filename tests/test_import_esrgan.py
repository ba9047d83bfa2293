"""`python -m training import esrgan`: ESRGAN-family checkpoints, laid out exactly as BasicSR's
`save_network` writes them (`{'params': sd}`, `{'params_ema': sd}`, both) or bare as the
original ESRGAN release, made here from tiny random networks, imported and checked.

The rebuilt networks are checked against the facts of BasicSR's code twice: their layout
(key names, the parameter counts of the released models, whose file sizes the issue gives)
and their arithmetic, against a second implementation written here from those facts with
plain functional calls (BasicSR's own view/permute pixel unshuffle included).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
from PIL import Image
from torch import nn
from torch.nn import functional as F

from service.manifest import Manifest, sha256_of
from training import cli
from training.importers.resnet import ResnetGenerator
from training.nets.esrgan import RRDBNet, SRVGGNetCompact

FEAT, GROW = 8, 4  # tiny widths, so every import takes a second or two


def basicsr_save(path: Path, params: nn.Module | None, params_ema: nn.Module | None = None):
    """As BasicSR's `save_network`: one entry per network saved, under its param_key, each
    the network's own state_dict (an OrderedDict with `_metadata`), `module.` removed."""
    save_dict = {}
    for key, net in (("params", params), ("params_ema", params_ema)):
        if net is not None:
            state = net.state_dict()
            for name in list(state):
                if name.startswith("module."):
                    state[name[7:]] = state.pop(name)
            save_dict[key] = state
    torch.save(save_dict, path)
    return path


def original_names(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """BasicSR's RRDBNet names -> the original ESRGAN code's (as in RRDB_ESRGAN_x4.pth)."""
    renamed = {}
    for key, value in state.items():
        if ".rdb" in key:
            key = key.replace("body.", "RRDB_trunk.").replace(".rdb", ".RDB")
        key = key.replace("conv_body.", "trunk_conv.").replace("conv_up", "upconv")
        renamed[key.replace("conv_hr.", "HRconv.")] = value
    return renamed


def _seeded(make, seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return make().eval()


# ---- the rebuilds against the facts of BasicSR's code ----------------------------------


def _conv(sd: dict, name: str, x: torch.Tensor) -> torch.Tensor:
    return F.conv2d(x, sd[f"{name}.weight"], sd[f"{name}.bias"], padding=1)


def reference_rrdb(sd: dict, x: torch.Tensor, scale: int, blocks: int) -> torch.Tensor:
    if scale < 4:  # BasicSR's pixel_unshuffle: view, permute, reshape
        r = 4 // scale
        b, c, h, w = x.shape
        x = x.view(b, c, h // r, r, w // r, r).permute(0, 1, 3, 5, 2, 4)
        x = x.reshape(b, c * r * r, h // r, w // r)
    feat = _conv(sd, "conv_first", x)
    trunk = feat
    for i in range(blocks):
        rrdb_in = trunk
        for j in (1, 2, 3):
            seen = [trunk]
            for k in (1, 2, 3, 4):
                seen.append(
                    F.leaky_relu(_conv(sd, f"body.{i}.rdb{j}.conv{k}", torch.cat(seen, 1)), 0.2)
                )
            trunk = trunk + 0.2 * _conv(sd, f"body.{i}.rdb{j}.conv5", torch.cat(seen, 1))
        trunk = rrdb_in + 0.2 * trunk
    feat = feat + _conv(sd, "conv_body", trunk)
    for up in ("conv_up1", "conv_up2"):
        feat = F.leaky_relu(
            _conv(sd, up, F.interpolate(feat, scale_factor=2.0, mode="nearest")), 0.2
        )
    return _conv(sd, "conv_last", F.leaky_relu(_conv(sd, "conv_hr", feat), 0.2))


def reference_srvgg(sd: dict, x: torch.Tensor, scale: int, convs: int, act: str) -> torch.Tensor:
    out = x
    for n in range(convs + 1):  # the first convolution and the body's, each with its act
        out = _conv(sd, f"body.{2 * n}", out)
        if act == "prelu":
            out = F.prelu(out, sd[f"body.{2 * n + 1}.weight"])
        else:
            out = F.relu(out) if act == "relu" else F.leaky_relu(out, 0.1)
    out = F.pixel_shuffle(_conv(sd, f"body.{2 * convs + 2}", out), scale)
    return out + F.interpolate(x, scale_factor=float(scale), mode="nearest")


def test_the_rebuilds_have_basicsr_layout() -> None:
    """Key names, and the parameter counts of the released configurations: 16,697,987 for
    RealESRGAN_x4plus (about 64 MiB of float32), 4,467,779 for the anime 6B (17 MiB),
    1,213,296 for realesr-general-x4v3 (4.6 MiB)."""
    net = RRDBNet(4, FEAT, 2, GROW)
    convs = ["conv_first", "conv_body", "conv_up1", "conv_up2", "conv_hr", "conv_last"]
    convs += [f"body.{i}.rdb{j}.conv{k}" for i in (0, 1) for j in (1, 2, 3) for k in range(1, 6)]
    assert set(net.state_dict()) == {f"{c}.{p}" for c in convs for p in ("weight", "bias")}
    assert net.state_dict()["body.1.rdb3.conv4.weight"].shape == (GROW, FEAT + 3 * GROW, 3, 3)
    for scale, channels in ((2, 12), (1, 48)):
        assert RRDBNet(scale, FEAT, 1, GROW).conv_first.in_channels == channels
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(RRDBNet()) == 16_697_987 and count(RRDBNet(num_block=6)) == 4_467_779
    assert count(SRVGGNetCompact(num_conv=32)) == 1_213_296
    assert count(SRVGGNetCompact(num_conv=16)) == 621_424  # realesr-animevideov3
    prelu = SRVGGNetCompact(4, FEAT, 2, "prelu").state_dict()
    assert [k for k in prelu if k.startswith("body.1.")] == ["body.1.weight"]
    assert prelu["body.6.weight"].shape == (48, FEAT, 3, 3)
    assert "body.1.weight" not in SRVGGNetCompact(4, FEAT, 2, "relu").state_dict()


@pytest.mark.parametrize("scale", [4, 2, 1])
def test_rrdbnet_computes_what_the_facts_say(scale: int) -> None:
    net = _seeded(lambda: RRDBNet(scale, FEAT, 2, GROW), scale)
    x = torch.rand(2, 3, 12, 20)
    with torch.no_grad():
        got = net(x)
        torch.testing.assert_close(got, reference_rrdb(net.state_dict(), x, scale, 2))
    assert got.shape == (2, 3, 12 * scale, 20 * scale)


@pytest.mark.parametrize(("act", "scale"), [("prelu", 4), ("relu", 2), ("leakyrelu", 1)])
def test_srvggnet_computes_what_the_facts_say(act: str, scale: int) -> None:
    net = _seeded(lambda: SRVGGNetCompact(scale, FEAT, 3, act), 1)
    for m in net.modules():  # PReLU starts at 0.25 everywhere: make each channel differ
        if isinstance(m, nn.PReLU):
            nn.init.uniform_(m.weight, -0.5, 0.5)
    x = torch.rand(2, 3, 9, 13)
    with torch.no_grad():
        got = net(x)
        torch.testing.assert_close(got, reference_srvgg(net.state_dict(), x, scale, 3, act))
    assert got.shape == (2, 3, 9 * scale, 13 * scale)


# ---- imports -------------------------------------------------------------------------------


def _import(argv: list[str]) -> int:
    return cli.main(["import", "esrgan", *argv])


def _upscale(out: Path, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(out / "upscale.onnx"), providers=["CPUExecutionProvider"])
    return session.run(None, {"image": x})[0]


CASES = {  # name: (network, form, multiple_of, options to pass)
    "rrdb-x4-both": (lambda: RRDBNet(4, FEAT, 2, GROW), "both", 1, []),
    "rrdb-x2-params": (lambda: RRDBNet(2, FEAT, 1, GROW), "params", 2, []),
    "rrdb-x1-bare": (lambda: RRDBNet(1, FEAT, 1, GROW), "state_dict", 4, []),
    "srvgg-prelu": (lambda: SRVGGNetCompact(4, FEAT, 2, "prelu"), "params_ema", 1, []),
    "srvgg-relu-x2": (
        lambda: SRVGGNetCompact(2, FEAT, 1, "relu"),
        "params",
        1,
        ["--act-type", "relu"],
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_each_form_and_architecture_imports(case: str, tmp_path: Path) -> None:
    """Read with no option (but the activation PReLU-less SRVGG needs), exported, and the
    ONNX file enlarging an odd-sided photo as the checkpoint's network does; `params_ema`
    is taken over `params` when both are there."""
    make, form, multiple, options = CASES[case]
    net, other = _seeded(make, 1), _seeded(make, 2)
    ckpt = tmp_path / "net_g_latest.pth"
    if form == "both":
        basicsr_save(ckpt, params=other, params_ema=net)
    elif form == "params":
        basicsr_save(ckpt, params=net)
    elif form == "params_ema":
        basicsr_save(ckpt, params=None, params_ema=net)
    else:
        torch.save(net.state_dict(), ckpt)
    out = tmp_path / "models" / case
    assert _import([str(ckpt), "--out", str(out), *options]) == 0
    m = Manifest.load(out)
    scale = net.scale if isinstance(net, SRVGGNetCompact) else 4 // net.unshuffle
    assert m.kind == "super-resolution" and m.roles() == ("upscale",) and m.scale == scale
    assert m.image.range == (0.0, 1.0) and m.image.multiple_of == multiple
    assert m.image.height == 256 // scale and m.files["upscale"].sha256 == sha256_of(
        out / "upscale.onnx"
    )
    source = json.loads((out / "model.json").read_text())["source"]
    taken = "params_ema" if form == "both" else form
    assert source["files"]["upscale"] == {
        "file": ckpt.name,
        "sha256": sha256_of(ckpt),
        "weights": taken,
    }
    assert source["architecture"] == type(net).__name__
    assert source["options"]["parameters"] == sum(p.numel() for p in net.parameters())
    parity = source["onnx_parity_max_abs_diff"]["upscale"]
    assert len(parity) == 2 and all(v <= 1e-4 for v in parity.values())
    assert "Apache-2.0" in source["licence"] and "BSD-3-Clause" in source["licence"]
    card = (out / "README.md").read_text()
    assert "state no separate licence" in card and "a synthetic pattern" in card
    assert (out / "samples.png").is_file()
    x = np.random.default_rng(3).uniform(0, 1, (1, 3, 7 * multiple, 5 * multiple))
    x = x.astype(np.float32)
    got = _upscale(out, x)
    with torch.no_grad():
        want = net(torch.from_numpy(x)).numpy()
    assert got.shape == (1, 3, 7 * multiple * scale, 5 * multiple * scale)
    np.testing.assert_allclose(got, want, atol=1e-4)
    if form == "both":  # and not the other network's answer
        with torch.no_grad():
            assert np.abs(other(torch.from_numpy(x)).numpy() - got).max() > 1e-3


def test_the_original_esrgan_names_are_renamed(tmp_path: Path) -> None:
    net = _seeded(lambda: RRDBNet(4, FEAT, 2, GROW), 4)
    old = original_names(net.state_dict())
    assert {"RRDB_trunk.1.RDB3.conv5.weight", "trunk_conv.bias", "upconv2.weight"} <= set(old)
    assert {"HRconv.weight", "conv_first.weight", "conv_last.bias"} <= set(old)
    ckpt = tmp_path / "RRDB_ESRGAN_x4.pth"
    torch.save(old, ckpt)
    out = tmp_path / "esrgan"
    assert _import([str(ckpt), "--out", str(out)]) == 0
    record = json.loads((out / "model.json").read_text())["source"]["files"]["upscale"]
    assert record["weights"] == "state_dict"
    assert record["renamed_from_original_esrgan"] == 2 * 3 * 5 * 2 + 4 * 2
    x = np.random.default_rng(5).uniform(0, 1, (2, 3, 9, 11)).astype(np.float32)
    with torch.no_grad():
        np.testing.assert_allclose(_upscale(out, x), net(torch.from_numpy(x)).numpy(), atol=1e-4)


def test_samples_enlarge_the_centre_of_the_photo(tmp_path: Path) -> None:
    """Before (nearest neighbour) and after, side by side, from the photo's own pixels."""
    ckpt = basicsr_save(tmp_path / "x2.pth", _seeded(lambda: RRDBNet(2, FEAT, 1, GROW), 6))
    photo = tmp_path / "photo.png"
    pixels = np.random.default_rng(0).integers(0, 256, (51, 130, 3), np.uint8)
    Image.fromarray(pixels).save(photo)
    out = tmp_path / "with-photo"
    assert _import([str(ckpt), "--out", str(out), "--photo", str(photo)]) == 0
    grid = np.asarray(Image.open(out / "samples.png"))
    h, w = 50 * 2, 96 * 2  # the centre 96 px, sides cut to even (x2 takes multiples of 2)
    assert grid.shape == (h + 4, 2 * w + 6, 3)
    before = grid[2 : 2 + h, 2 : 2 + w]
    top, left = (51 - 50) // 2, (130 - 96) // 2
    assert (before[::2, ::2] == pixels[top : top + 50, left : left + 96]).all()
    assert "the centre of photo.png" in (out / "README.md").read_text()


# ---- refusals ------------------------------------------------------------------------------


def _refusal(tmp_path: Path, capsys, ckpt: Path, *options: str) -> str:
    out = tmp_path / "m"
    assert _import([str(ckpt), "--out", str(out), *options]) == 2
    assert not out.exists()
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err and err.count("\n") == 1
    return err


def _text(path: Path) -> Path:
    path.write_text("not a checkpoint")
    return path


def _rrdb_x4(path: Path) -> Path:
    return basicsr_save(path, None, _seeded(lambda: RRDBNet(4, FEAT, 2, GROW), 7))


def _srvgg_relu(path: Path) -> Path:
    return basicsr_save(path, _seeded(lambda: SRVGGNetCompact(4, FEAT, 2, "relu"), 7))


def _with_extra_key(path: Path) -> Path:
    state = _seeded(lambda: RRDBNet(4, FEAT, 1, GROW), 7).state_dict()
    state["conv_extra.weight"] = torch.zeros(3, 3, 3, 3)
    torch.save({"params_ema": state}, path)
    return path


def _mixed_names(path: Path) -> Path:
    state = _seeded(lambda: RRDBNet(4, FEAT, 1, GROW), 7).state_dict()
    state["HRconv.weight"] = state["conv_hr.weight"]
    torch.save(state, path)
    return path


@pytest.mark.parametrize(
    ("write", "options", "says"),
    [
        (_text, [], "is not a PyTorch checkpoint"),
        (
            lambda p: torch.save({"params_ema": nn.Linear(2, 2)}, p) or p,
            [],
            "holds more than tensors",
        ),
        (
            lambda p: torch.save({"epoch": 3, "iter": 1000, "optimizers": [{}]}, p) or p,
            [],
            "holds 'epoch', 'iter', 'optimizers': not an ESRGAN checkpoint",
        ),
        (
            lambda p: torch.save({"params": torch.zeros(3)}, p) or p,
            [],
            "G.pth['params'] holds a Tensor, not a state_dict",
        ),
        (
            lambda p: torch.save(ResnetGenerator(4, 1).state_dict(), p) or p,
            [],
            "not an ESRGAN-family network: it has neither conv_first.weight",
        ),
        (_with_extra_key, [], "1 unexpected keys (conv_extra.weight)"),
        (
            lambda p: basicsr_save(p, SRVGGNetCompact(3, FEAT, 1)),
            [],
            "body.4.weight is [27, 8, 3, 3]: 27 output channels, not 3 x scale^2 for scale 1, 2",
        ),
        (_mixed_names, [], "has both conv_hr.weight and HRconv.weight"),
        (
            _rrdb_x4,
            ["--num-block", "23"],
            "--num-block 23 disagrees with G.pth: its last block is body.1: 2 blocks",
        ),
        (
            _rrdb_x4,
            ["--scale", "2"],
            "--scale 2 disagrees with G.pth: conv_first.weight is [8, 3, 3, 3]",
        ),
        (_rrdb_x4, ["--num-grow-ch", "32"], "body.0.rdb1.conv1.weight is [4, 8, 3, 3]"),
        (_rrdb_x4, ["--arch", "SRVGGNetCompact"], "it has conv_first.weight, so it is an RRDBNet"),
        (_rrdb_x4, ["--num-conv", "16"], "--num-conv is not an option of RRDBNet"),
        (_srvgg_relu, [], "no body.1.weight, so no PReLU weights"),
        (_srvgg_relu, ["--act-type", "prelu"], "--act-type prelu disagrees with G.pth"),
        (
            _srvgg_relu,
            ["--act-type", "relu", "--num-conv", "16"],
            "its last convolution is body.6.weight: 2 between the first and the last",
        ),
    ],
)
def test_refusals_are_one_line(write, options, says, tmp_path: Path, capsys) -> None:
    ckpt = write(tmp_path / "G.pth")
    assert says in _refusal(tmp_path, capsys, ckpt, *options)


def test_an_unreadable_photo_is_refused_before_the_export(tmp_path: Path, capsys) -> None:
    photo = tmp_path / "photo.jpg"
    photo.write_text("not a photo")
    err = _refusal(tmp_path, capsys, _rrdb_x4(tmp_path / "G.pth"), "--photo", str(photo))
    assert "photo.jpg is not an image Pillow can read" in err
