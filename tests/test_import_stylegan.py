"""`python -m training import stylegan`: NVIDIA-layout snapshots made in the tests from
ganserve's own networks (StyleGAN2, StyleGAN3 T and R, conditional and not), read without
running their code, rebuilt, exported and checked."""

from __future__ import annotations

import base64
import copy
import hashlib
import io
import json
import pickle
import shutil
from pathlib import Path

import httpx
import numpy as np
import onnxruntime as ort
import pytest
import torch
from live_server import live_server
from PIL import Image
from stylegan_snapshots import snapshot

from service.latents import latents
from service.manifest import Manifest, sha256_of
from training import cli
from training.importers import stylegan_export
from training.importers.stylegan_pickle import read
from training.nets import stylegan2, stylegan3

TINY = {
    "z_dim": 16,
    "w_dim": 16,
    "img_resolution": 16,
    "img_channels": 3,
    "mapping_kwargs": {"num_layers": 2},
    "channel_base": 128,
    "channel_max": 16,
    "conv_clamp": 256,
}
# stylegan2-ada-pytorch nests the synthesis options; it also records fp16 and EMA options
ADA_LAYOUT = {
    **{k: TINY[k] for k in ("z_dim", "w_dim", "img_resolution", "img_channels")},
    "mapping_kwargs": {"num_layers": 2, "w_avg_beta": 0.995},
    "synthesis_kwargs": {
        "channel_base": 128,
        "channel_max": 16,
        "num_fp16_res": 4,
        "conv_clamp": 256,
    },
}

# NVIDIA's legacy.py converting a TensorFlow pickle records every option, flat
CONVERTED = {
    **TINY,
    "num_fp16_res": 0,
    "architecture": "skip",
    "resample_filter": [1, 3, 3, 1],
    "use_noise": True,
    "activation": "lrelu",
    "mapping_kwargs": {
        "num_layers": 2,
        "embed_features": None,
        "layer_features": None,
        "activation": "lrelu",
        "lr_multiplier": 0.01,
        "w_avg_beta": 0.995,
    },
}
# StyleGAN3 at 16 px with 4 layers (the released configs have 14): as stylegan3's train.py
# records them, with magnitude_ema_beta; R adds 1x1 convolutions and radial filters
TINY3 = {
    **{k: TINY[k] for k in ("z_dim", "w_dim", "img_resolution", "img_channels", "conv_clamp")},
    "mapping_kwargs": {"num_layers": 2},
    "channel_base": 256,
    "channel_max": 16,
    "num_layers": 4,
    "num_fp16_res": 4,
    "magnitude_ema_beta": 0.998,
}
R = {"conv_kernel": 1, "use_radial_filters": True}
# name: (network, its recorded init kwargs, c_dim, --psi)
SNAPSHOTS = {
    "sg2": (stylegan2.Generator, ADA_LAYOUT, 0, 0.7),
    "sg2-cond": (stylegan2.Generator, CONVERTED, 4, 1.0),
    "sg3t": (stylegan3.Generator, TINY3, 0, 0.6),
    "sg3r-cond": (stylegan3.Generator, {**TINY3, **R}, 2, 1.0),
}
# sg3r-cond's stored input transform buffer (NVIDIA's snapshots normally hold the identity)
STORED = np.array([[0.96, -0.28, 0.05], [0.28, 0.96, -0.1], [0.0, 0.0, 1.0]], np.float32)
IGNORED = {
    "num_fp16_res",
    "magnitude_ema_beta",
    "synthesis_kwargs",
    "mapping_kwargs",
    "architecture",
    "activation",
}


def _net(name: str, seed: int = 0) -> torch.nn.Module:
    """A tiny generator whose every parameter and buffer is random (trained-looking: noise
    strengths, w_avg and magnitude_ema away from their initial values)."""
    net_class, kwargs, c_dim, _ = SNAPSHOTS[name]
    options = {k: v for k, v in kwargs.items() if k not in IGNORED}
    options.update(kwargs.get("synthesis_kwargs", {}))
    options.pop("num_fp16_res", None)
    mapping = {"num_layers": kwargs["mapping_kwargs"]["num_layers"]}
    torch.manual_seed(seed)
    g = net_class(c_dim=c_dim, mapping_kwargs=mapping, **options).eval()
    with torch.no_grad():
        for p in g.parameters():
            p.add_(torch.randn_like(p) * 0.3)
        g.mapping.w_avg.normal_()
        for key, b in g.named_buffers():
            if key.endswith("magnitude_ema"):
                b.uniform_(0.5, 2.0)
        if name == "sg3r-cond":  # a stored input transform other than the identity
            g.synthesis.input.transform.copy_(torch.from_numpy(STORED))
    return g


def _evil(marker: Path) -> str:
    return f"import pathlib\npathlib.Path({str(marker)!r}).write_text('ran')\n"


@pytest.fixture(scope="module")
def imported(tmp_path_factory) -> dict:
    """Every SNAPSHOTS entry pickled with embedded source that would write a file, imported."""
    tmp = tmp_path_factory.mktemp("stylegan")
    marker = tmp / "pwned.txt"
    made = {}
    for name, (_, kwargs, c_dim, psi) in SNAPSHOTS.items():
        g = _net(name)
        path = snapshot(g, {**kwargs, "c_dim": c_dim}, tmp / f"{name}.pkl", _evil(marker))
        out = tmp / name
        argv = ["import", "stylegan", str(path), "--out", str(out), "--psi", str(psi)]
        assert cli.main(argv) == 0
        made[name] = {"g": g, "out": out, "path": path, "psi": psi, "c_dim": c_dim}
    made["marker"] = marker
    return made


def cpu_session(path: Path) -> ort.InferenceSession:
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def _synthesis_feeds(out: Path, ws: np.ndarray) -> dict[str, np.ndarray]:
    """ws, and a StyleGAN3's stored transform (model.json's) for every row."""
    stored = Manifest.load(out).stylegan.transform
    if stored is None:
        return {"ws": ws}
    return {"ws": ws, "transform": np.tile(np.array(stored, np.float32), (len(ws), 1, 1))}


def _generate(out: Path, feeds: dict[str, np.ndarray]) -> np.ndarray:
    ws = cpu_session(out / "mapping.onnx").run(None, feeds)[0]
    return cpu_session(out / "synthesis.onnx").run(None, _synthesis_feeds(out, ws))[0]


def _feeds(c_dim: int, seeds: list[int], psi: float) -> dict[str, np.ndarray]:
    feeds = {"z": latents(seeds, 16)}
    if c_dim:
        feeds["c"] = np.eye(c_dim, dtype=np.float32)[[s % c_dim for s in seeds]]
    feeds["psi"] = np.full(len(seeds), psi, np.float32)
    return feeds


def test_the_rebuild_has_nvidias_layout_at_the_released_size() -> None:
    """FFHQ 1024 (channel_base 32768, channel_max 512, 8 mapping layers): 18 ws, 182
    tensors and 30,370,060 parameters, as NVIDIA's G_ema; the names of one block."""
    g = stylegan2.Generator(
        z_dim=512,
        c_dim=0,
        w_dim=512,
        img_resolution=1024,
        img_channels=3,
        mapping_kwargs={"num_layers": 8},
        conv_clamp=256,
    )
    state = g.state_dict()
    assert g.num_ws == 18 and len(state) == 182
    assert sum(p.numel() for p in g.parameters()) == 30_370_060
    assert (
        state["synthesis.b4.const"].shape == (512, 4, 4)
        and "synthesis.b4.conv0.weight" not in state
    )
    assert state["synthesis.b8.conv0.noise_const"].shape == (8, 8)
    assert state["synthesis.b1024.torgb.weight"].shape == (3, 32, 1, 1)
    assert state["mapping.fc7.weight"].shape == (512, 512) and "mapping.w_avg" in state
    layer = {k.removeprefix("synthesis.b64.conv0.") for k in state if ".b64.conv0." in k}
    assert layer == {
        "weight",
        "bias",
        "noise_strength",
        "resample_filter",
        "noise_const",
        "affine.weight",
        "affine.bias",
    }


def test_the_stylegan3_rebuilds_have_nvidias_layout_at_the_released_size() -> None:
    """stylegan3-t and -r at 1024 (as their train.py configures FFHQ): 16 ws, 114 tensors,
    22,313,167 and 15,093,151 parameters, NVIDIA's layer names (all counted with NVIDIA's
    code), and R's radial 12x12 down-filters."""
    base = {"z_dim": 512, "c_dim": 0, "w_dim": 512, "img_resolution": 1024, "img_channels": 3}
    t = stylegan3.Generator(**base, mapping_kwargs={"num_layers": 2}, conv_clamp=256)
    r = stylegan3.Generator(
        **base, mapping_kwargs={"num_layers": 2}, channel_base=65536, channel_max=1024, **R
    )
    for g, params in ((t, 22_313_167), (r, 15_093_151)):
        assert g.num_ws == 16 and len(g.state_dict()) == 114
        assert sum(p.numel() for p in g.parameters()) == params
    sizes = [36, 36, 52, 52, 84, 148, 148, 276, 276, 532, 1044, 1044, 1044, 1024, 1024]
    channels = [512] * 7 + [323, 203, 128, 81, 51, 32, 32, 3]
    assert t.synthesis.layer_names == [
        f"L{i}_{s}_{c}" for i, (s, c) in enumerate(zip(sizes, channels, strict=True))
    ]
    state = r.state_dict()
    assert state["synthesis.L3_52_1024.down_filter"].shape == (12, 12)
    assert state["synthesis.L3_52_1024.weight"].shape == (1024, 1024, 1, 1)
    assert "synthesis.L14_1024_3.up_filter" not in state  # toRGB: no filters
    assert {"transform", "freqs", "phases", "weight", "affine.weight", "affine.bias"} == {
        k.removeprefix("synthesis.input.") for k in state if k.startswith("synthesis.input.")
    }


@pytest.mark.parametrize("name", SNAPSHOTS)
def test_the_folder_serves_g_ema_exactly(imported, name) -> None:
    """model.json's contract, one self-contained file per half, and mapping then synthesis
    in ONNX Runtime equal to G(z, c, psi) in PyTorch, psi chosen per row."""
    made = imported[name]
    out, g, c_dim = made["out"], made["g"], made["c_dim"]
    m = Manifest.load(out)
    assert m.kind == "stylegan" and m.roles() == ("mapping", "synthesis")
    spec = m.stylegan
    arch = {"sg2": "stylegan2", "sg3t": "stylegan3-t", "sg3r": "stylegan3-r"}[name.split("-")[0]]
    # StyleGAN2 at 16 px: 5 convolutions + 1 toRGB; StyleGAN3: input + 4 layers + toRGB
    assert (spec.architecture, spec.resolution, spec.num_ws, spec.psi) == (
        arch,
        16,
        6,
        made["psi"],
    )
    assert (spec.z_dim, spec.w_dim, spec.c_dim, m.latent.dim) == (16, 16, c_dim, 16)
    assert m.classes == ([str(i) for i in range(c_dim)] if c_dim else None)
    assert sorted(p.name for p in out.iterdir()) == [
        "README.md",
        "mapping.onnx",
        "model.json",
        "samples.png",
        "synthesis.onnx",
    ]
    for role in m.roles():
        assert m.files[role].sha256 == sha256_of(out / f"{role}.onnx")
    names = [a.name for a in cpu_session(out / "mapping.onnx").get_inputs()]
    assert names == (["z", "c", "psi"] if c_dim else ["z", "psi"])
    names = [a.name for a in cpu_session(out / "synthesis.onnx").get_inputs()]
    assert names == (["ws"] if arch == "stylegan2" else ["ws", "transform"])
    stored = None if arch == "stylegan2" else g.synthesis.input.transform.numpy().tolist()
    assert spec.transform == (None if stored is None else tuple(map(tuple, stored)))
    feeds = _feeds(c_dim, list(range(5)), 0.5)
    feeds["psi"] = np.array([1.0, 0.5, 0.7, 0.0, 1.0], np.float32)
    image = _generate(out, feeds)
    with torch.no_grad():
        c = torch.from_numpy(feeds["c"]) if c_dim else None
        ref = g(torch.from_numpy(feeds["z"]), c, torch.from_numpy(feeds["psi"])).numpy()
        one = g(torch.from_numpy(feeds["z"][1:2]), None if c is None else c[1:2], 0.5).numpy()
    assert image.shape == (5, 3, 16, 16)
    np.testing.assert_allclose(image, ref, atol=1e-4)
    np.testing.assert_allclose(ref[1:2], one, atol=1e-5)  # a per-row psi is the scalar's
    parity = m.source["onnx_parity_max_abs_diff"]
    moved = {"synthesis, random transforms"} if arch != "stylegan2" else set()
    assert set(parity) == {"mapping", "synthesis", "generate"} | moved
    assert all(set(v) == {"batch 1", "batch 2"} for v in parity.values())


@pytest.mark.parametrize("name", SNAPSHOTS)
def test_a_seed_gives_the_same_image_alone_or_in_a_batch(imported, name) -> None:
    out, psi, c_dim = (imported[name][k] for k in ("out", "psi", "c_dim"))
    batch = _generate(out, _feeds(c_dim, [7, 1, 2, 3, 4, 5, 6], psi))
    alone = _generate(out, _feeds(c_dim, [7], psi))
    np.testing.assert_array_equal(alone[0], batch[0])


@pytest.mark.parametrize("name", ["sg2-cond", "sg3r-cond"])
def test_the_w_walk_synthesises_interpolated_ws(imported, name) -> None:
    """/interpolate's recipe: map both ends with the same psi and label, lerp the ws, then
    synthesise; the ends are the generated images, the middle G's synthesis of the mean w."""
    made = imported[name]
    out, g, c_dim = made["out"], made["g"], made["c_dim"]
    mapping, synthesis = (cpu_session(out / f"{r}.onnx") for r in ("mapping", "synthesis"))
    ends = _feeds(c_dim, [1, 2], 0.7)
    ends["c"][:] = np.eye(c_dim, dtype=np.float32)[c_dim - 1]
    ws = mapping.run(None, ends)[0]
    steps = np.linspace(0, 1, 5, dtype=np.float32)[:, None, None]
    walk = ((1 - steps) * ws[0] + steps * ws[1]).astype(np.float32)
    frames = synthesis.run(None, _synthesis_feeds(out, walk))[0]
    np.testing.assert_array_equal(frames[[0, -1]], _generate(out, ends))
    with torch.no_grad():
        middle = g.synthesis(torch.from_numpy(walk[2:3])).numpy()
    np.testing.assert_allclose(frames[2:3], middle, atol=1e-4)


def test_the_embedded_source_never_runs_and_is_recorded(imported) -> None:
    """Every snapshot's records carry source that writes a file when run: nothing was
    written, and model.json keeps the source's sha256 with the classes it defines."""
    marker = imported["marker"]
    assert not marker.exists()
    m = Manifest.load(imported["sg2"]["out"])
    sources = m.source["g_ema"]["module_src_sha256"]
    evil = _evil(marker).encode()
    assert list(sources) == [hashlib.sha256(evil).hexdigest()]
    assert {"Generator", "MappingNetwork", "SynthesisLayer", "Discriminator"} <= set(
        next(iter(sources.values()))
    )
    assert m.source["g_ema"]["init_kwargs"]["synthesis_kwargs"]["num_fp16_res"] == 4
    assert "Source Code License-NC" in m.source["licence"]
    assert "Source Code License-NC" in (imported["sg2"]["out"] / "README.md").read_text()
    exec(compile(evil, "evil", "exec"))  # the source is a real side effect when run
    assert marker.read_text() == "ran"
    marker.unlink()


def test_a_python_37_pickle_reads(tmp_path) -> None:
    """stylegan2-ada-pytorch ran on Python 3.7, whose default protocol 3 writes a set (each
    module's _non_persistent_buffers_set) as builtins.set."""
    g = _net("sg2")
    path = snapshot(g, {**TINY, "c_dim": 0}, tmp_path / "old.pkl", protocol=3)
    snap = read(path)
    assert snap.g_ema.tensors().keys() == g.state_dict().keys()
    assert snap.training_set["resolution"] == 32


class _Exec:
    def __reduce__(self):
        return (exec, ("open('x', 'w')",))


def _refused(argv: list[str], capsys) -> str:
    assert cli.main(["import", "stylegan", *argv]) == 2
    return capsys.readouterr().err


def test_refusals_name_what_is_wrong(tmp_path, capsys) -> None:
    out = ["--out", str(tmp_path / "m")]
    text = tmp_path / "notes.pkl"
    text.write_text("not a pickle")
    assert "not a StyleGAN snapshot" in _refused([str(text), *out], capsys)

    ckpt = tmp_path / "weights.pkl"
    torch.save({"w": torch.zeros(2)}, ckpt)  # a zip archive
    assert "not a StyleGAN snapshot" in _refused([str(ckpt), *out], capsys)

    g = _net("sg2")
    kwargs = {**TINY, "c_dim": 0}
    no_ema = tmp_path / "no_ema.pkl"
    with no_ema.open("wb") as f:
        pickle.dump({"G": 1, "D": 2}, f)
    assert "has no G_ema network (it holds D, G)" in _refused([str(no_ema), *out], capsys)

    evil = snapshot(g, kwargs, tmp_path / "exec.pkl", augment_pipe=_Exec())
    err = _refused([str(evil), *out], capsys)
    assert "refused global builtins.exec" in err and not (tmp_path / "x").exists()

    resnet = snapshot(g, {**kwargs, "architecture": "resnet"}, tmp_path / "resnet.pkl")
    assert "architecture 'resnet'" in _refused([str(resnet), *out], capsys)

    odd = snapshot(g, {**kwargs, "kernel_size": 5}, tmp_path / "odd.pkl")
    assert "options ganserve does not rebuild: kernel_size" in _refused([str(odd), *out], capsys)

    wider = snapshot(g, {**kwargs, "channel_max": 32}, tmp_path / "wider.pkl")
    err = _refused([str(wider), *out], capsys)
    assert "does not fit ganserve's stylegan2 generator" in err and "shapes differ" in err

    no_mapping = snapshot(g.synthesis, kwargs, tmp_path / "synthesis.pkl")
    assert "without mapping and synthesis networks" in _refused([str(no_mapping), *out], capsys)

    sg3 = snapshot(_net("sg3t"), {**TINY3, "c_dim": 0, "filter_size": 4}, tmp_path / "f4.pkl")
    err = _refused([str(sg3), *out], capsys)
    assert "does not fit ganserve's stylegan3-t generator" in err and "up_filter" in err

    classes = snapshot(g, kwargs, tmp_path / "uncond.pkl")
    err = _refused([str(classes), *out, "--classes", "a,b"], capsys)
    assert "it is unconditional" in err
    assert not (tmp_path / "m").exists()


def test_the_manifest_contract_is_checked() -> None:
    spec = {
        "architecture": "stylegan2",
        "resolution": 16,
        "z_dim": 16,
        "c_dim": 2,
        "w_dim": 16,
        "num_ws": 6,
        "psi": 0.7,
    }
    files = {r: {"path": f"{r}.onnx", "sha256": "0" * 64} for r in ("mapping", "synthesis")}
    base = {
        "name": "sg",
        "kind": "stylegan",
        "image": {"channels": 3, "height": 16, "width": 16},
        "latent": {"dim": 16},
        "classes": ["a", "b"],
        "stylegan": spec,
        "files": files,
    }
    Manifest.model_validate(base)
    for change, message in (
        ({"classes": None}, "needs as many 'classes'"),
        ({"files": {"mapping": files["mapping"]}}, "needs files 'mapping' and 'synthesis'"),
        ({"latent": {"dim": 8}}, "is not stylegan.z_dim"),
        ({"stylegan": None}, "needs 'stylegan'"),
        ({"kind": "conditional", "files": {"generator": files["mapping"]}}, "only for kind"),
    ):
        with pytest.raises(ValueError, match=message):
            Manifest.model_validate({**base, **change})


def test_generate_and_interpolate_serve_the_imported_snapshots_under_uvicorn(
    imported, tmp_path
) -> None:
    """Every imported folder served by `python -m service`: /generate's PNGs are NVIDIA's
    G_ema(z, c, psi) in PyTorch for the seeds' z, its pixels by gen_images.py's rule, with
    the model's psi or the request's; /interpolate's ends are the ends' own images. A
    StyleGAN3's translate and rotate are gen_images.py's; a StyleGAN2, values out of range
    and a StyleGAN3 folder exported before synthesis took `transform` are refused."""
    models = tmp_path / "models"
    models.mkdir()
    for name in SNAPSHOTS:
        shutil.copytree(imported[name]["out"], models / name)
    _exported_before_transforms(imported["sg3t"], models / "sg3t-old")
    with live_server(models, tmp_path / "server.log") as server, httpx.Client() as http:
        listed = {m["name"]: m for m in http.get(f"{server.url}/models").json()["models"]}
        for name, (_, _, c_dim, psi) in SNAPSHOTS.items():
            assert listed[name]["state"] == "ready", listed[name]["reason"]
            assert listed[name]["stylegan"]["num_ws"] == 6
            for ask in (None, 0.5):
                body = {"model": name, "n": 3, "seed": 40}
                if ask is not None:
                    body["truncation_psi"] = ask
                r = http.post(f"{server.url}/generate", json=body)
                assert r.status_code == 200, r.text
                images = r.json()["images"]
                got = np.stack([_png_pixels(i["png"]) for i in images])
                seeds = [40, 41, 42]
                with torch.no_grad():
                    z = torch.from_numpy(latents(seeds, 16))
                    c = torch.eye(c_dim)[[s % c_dim for s in seeds]] if c_dim else None
                    ref = imported[name]["g"](z, c, psi if ask is None else ask)
                want = (ref * 127.5 + 128).clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1)
                assert np.abs(got.astype(int) - want.numpy().astype(int)).max() <= 1, name
            walk = http.post(
                f"{server.url}/interpolate",
                json={"model": name, "seed_a": 40, "seed_b": 42, "steps": 4},
            ).json()["images"]
            ends = http.post(
                f"{server.url}/generate", json={"model": name, "n": 3, "seed": 40}
            ).json()["images"]
            if not c_dim:  # with classes, the walk keeps seed_a's label at both ends
                assert [walk[0]["png"], walk[-1]["png"]] == [ends[0]["png"], ends[2]["png"]]
        for name in ("sg3t", "sg3r-cond"):
            _check_moves(server.url, http, imported[name], name)
        _check_move_refusals(server.url, http)


def _gen_images_g(g: torch.nn.Module, translate: tuple[float, float], rotate: float):
    """A copy of `g` as NVIDIA's gen_images.py runs it for --translate and --rotate: the input
    transform buffer replaced by the inverse of [[c, s, tx], [-s, c, ty], [0, 0, 1]]."""
    g = copy.deepcopy(g)
    a = torch.deg2rad(torch.tensor(rotate, dtype=torch.float64))
    c, s = torch.cos(a).item(), torch.sin(a).item()
    m = torch.tensor([[c, s, translate[0]], [-s, c, translate[1]], [0.0, 0.0, 1.0]])
    with torch.no_grad():
        g.synthesis.input.transform.copy_(torch.linalg.inv(m.double()).float())
    return g


def _check_moves(url: str, http: httpx.Client, made: dict, name: str) -> None:
    """/generate's translate and rotate are gen_images.py's; /interpolate's walk moves alike."""
    c_dim = made["c_dim"]
    seeds = [5, 6]
    for translate, rotate in (((0.2, -0.3), 25.0), ((0.0, 0.5), 0.0), ((0.0, 0.0), -140.0)):
        body = {"model": name, "n": 2, "seed": 5, "translate": translate, "rotate": rotate}
        r = http.post(f"{url}/generate", json=body)
        assert r.status_code == 200, r.text
        got = np.stack([_png_pixels(i["png"]) for i in r.json()["images"]])
        with torch.no_grad():
            z = torch.from_numpy(latents(seeds, 16))
            c = torch.eye(c_dim)[[s % c_dim for s in seeds]] if c_dim else None
            ref = _gen_images_g(made["g"], translate, rotate)(z, c, made["psi"])
        want = (ref * 127.5 + 128).clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1)
        assert np.abs(got.astype(int) - want.numpy().astype(int)).max() <= 1, (name, rotate)
    still = http.post(f"{url}/generate", json={"model": name, "seed": 5}).json()["images"][0]
    assert still["png"] != r.json()["images"][0]["png"]  # the default is not a move
    walk = {"model": name, "seed_a": 5, "seed_b": 6, "steps": 3, "rotate": -140.0}
    frames = http.post(f"{url}/interpolate", json=walk).json()["images"]
    assert frames[0]["png"] == r.json()["images"][0]["png"]


def _check_move_refusals(url: str, http: httpx.Client) -> None:
    for body, status, code in (
        ({"model": "sg2", "rotate": 10}, 400, "wrong_kind"),
        ({"model": "sg2-cond", "translate": [0.1, 0]}, 400, "wrong_kind"),
        ({"model": "sg3t", "rotate": 400}, 422, "invalid_request"),
        ({"model": "sg3t", "translate": [0, -2.5]}, 422, "invalid_request"),
        ({"model": "sg3t-old", "rotate": 10}, 400, "transform_unavailable"),
    ):
        r = http.post(f"{url}/generate", json=body)
        assert (r.status_code, r.json()["error"]["code"]) == (status, code), body


def _exported_before_transforms(made: dict, out: Path) -> None:
    """`made`'s folder as exported before synthesis took `transform`: ws alone in, the
    stored buffer inside, and no `stylegan.transform` in model.json."""
    shutil.copytree(made["out"], out)
    g = made["g"]
    with torch.no_grad():
        ws = g.mapping(torch.from_numpy(latents([0, 1, 2], 16)), None, torch.ones(3))
    graph = stylegan_export.SynthesisGraph(g)
    stylegan_export._write(graph, (ws,), ["ws"], "image", out / "synthesis.onnx", 18)
    manifest = json.loads((out / "model.json").read_text())
    manifest["name"] = out.name
    del manifest["stylegan"]["transform"]
    manifest["files"]["synthesis"]["sha256"] = sha256_of(out / "synthesis.onnx")
    (out / "model.json").write_text(json.dumps(manifest))


def _png_pixels(png: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(png))).convert("RGB"))
