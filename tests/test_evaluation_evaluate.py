"""End to end: `evaluate` on tiny ONNX generators and a hand-made judge with known answers.

The data are ten 28x28 templates (one bright patch per class) plus noise; the judge picks the
nearest template (a linear layer), so its answers are known exactly. A generator that draws
every template is scored like real data; a collapsed one and a conditional one are caught.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

from service.manifest import FileRef, ImageSpec, LatentSpec, Manifest, sha256_of  # noqa: E402
from training.evaluation import cli as evaluation_cli  # noqa: E402
from training.evaluation import evaluate as E  # noqa: E402
from training.evaluation.judge import Judge  # noqa: E402

NOISE = 0.1
DIM = 10 + 28 * 28
TRAIN, HELD = 300, 200


def _templates() -> np.ndarray:
    t = -np.ones((10, 28, 28), dtype=np.float32)
    for c in range(10):
        r, q = divmod(c, 5)
        t[c, 2 + 12 * r : 12 + 12 * r, 1 + 5 * q : 6 + 5 * q] = 1.0
    return t


def _export(module, args, path: Path, inputs, outputs) -> None:
    axes = {name: {0: "N"} for name in [*inputs, *outputs]}
    torch.onnx.export(
        module.eval(),
        args,
        str(path),
        input_names=inputs,
        output_names=outputs,
        dynamic_axes=axes,
        opset_version=17,
        dynamo=False,
    )


class _Judge(torch.nn.Module):
    def __init__(self, t: np.ndarray):
        super().__init__()
        flat = torch.from_numpy(t.reshape(10, -1))
        self.register_buffer("w", flat)
        self.register_buffer("b", -0.5 * (flat * flat).sum(1))
        g = torch.Generator().manual_seed(0)
        self.register_buffer("proj", torch.randn(28 * 28, 6, generator=g) / 28)

    def forward(self, image):
        x = image.flatten(1)
        return x @ self.w.T + self.b, x @ self.proj


class _Uncond(torch.nn.Module):
    """Template argmax(z[:10]) + noise from z[10:]: the real distribution."""

    def __init__(self, t: np.ndarray, collapse_to: int | None = None):
        super().__init__()
        self.register_buffer("t", torch.from_numpy(t))
        self.collapse_to = collapse_to
        self.size = t.shape[-1]

    def forward(self, z):
        if self.collapse_to is None:
            weights = torch.softmax(z[:, :10] * 1000.0, dim=1)
        else:
            weights = (
                torch.nn.functional.one_hot(torch.full((z.shape[0],), self.collapse_to), 10).float()
                + 0 * z[:, :10]
            )
        img = torch.einsum("nc,chw->nhw", weights, self.t)
        noise = z[:, 10:].reshape(-1, 1, 28, 28)
        if self.size != 28:
            noise = torch.nn.functional.interpolate(noise, size=(self.size, self.size))
        img = img + NOISE * noise[:, 0]
        return img.clamp(-1, 1)[:, None]


class _Cond(torch.nn.Module):
    def __init__(self, t: np.ndarray):
        super().__init__()
        self.register_buffer("t", torch.from_numpy(t))

    def forward(self, z, label):
        img = self.t[label] + NOISE * z[:, 10:].reshape(-1, 28, 28)
        return img.clamp(-1, 1)[:, None]


def _model(folder: Path, name: str, module, conditional: bool, size: int = 28) -> Path:
    folder.mkdir()
    z = torch.zeros(2, DIM)
    if conditional:
        _export(
            module,
            (z, torch.zeros(2, dtype=torch.int64)),
            folder / "generator.onnx",
            ["z", "label"],
            ["image"],
        )
    else:
        _export(module, (z,), folder / "generator.onnx", ["z"], ["image"])
    Manifest(
        name=name,
        kind="conditional" if conditional else "unconditional",
        image=ImageSpec(channels=1, height=size, width=size),
        latent=LatentSpec(dim=DIM),
        classes=[str(c) for c in range(10)] if conditional else None,
        files={
            "generator": FileRef(path="generator.onnx", sha256=sha256_of(folder / "generator.onnx"))
        },
        metrics={"kept": {"value": 1}},
    ).dump(folder)
    return folder


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("eval")
    t = _templates()
    rng = np.random.default_rng(0)
    labels = np.arange(TRAIN + HELD) % 10
    rng.shuffle(labels)
    x = t[labels] + NOISE * rng.standard_normal((TRAIN + HELD, 28, 28)).astype(np.float32)
    images = np.clip(np.round((x + 1) * 127.5), 0, 255).astype(np.uint8)
    data = root / "tiny.npz"
    np.savez(data, images=images, labels=labels.astype(np.uint8))

    judge_dir = root / "judge"
    judge_dir.mkdir()
    _export(
        _Judge(t),
        (torch.zeros(2, 1, 28, 28),),
        judge_dir / "judge.onnx",
        ["image"],
        ["logits", "features"],
    )
    (judge_dir / "judge.json").write_text(
        json.dumps(
            {
                "name": "template-judge",
                "classes": [str(c) for c in range(10)],
                "input": {"name": "image", "shape": [None, 1, 28, 28], "range": [-1, 1]},
            }
        )
    )
    return {
        "data": data,
        "judge": judge_dir,
        "good": _model(root / "good", "good", _Uncond(t), False),
        "collapsed": _model(root / "collapsed", "collapsed", _Uncond(t, collapse_to=3), False),
        "cond": _model(root / "cond", "cond", _Cond(t), True),
        "big": _model(root / "big", "big", _Uncond(_resized(t, 32)), False, size=32),
    }


def _resized(t: np.ndarray, size: int) -> np.ndarray:
    from training.evaluation.data import resize_batch

    return resize_batch(t[:, None], size, size)[:, 0]


def _evaluate(world, which: str, n: int = 400):
    return E.evaluate(world[which], world["data"], world["judge"], n=n, train_count=TRAIN)


def test_the_template_judge_is_right_on_the_tiny_data(world):
    from training.evaluation.data import load_split

    x, y = load_split(world["data"], "heldout", TRAIN)
    logits, feats = Judge.load(world["judge"]).run(x)
    assert (logits.argmax(1) == y).all()
    assert feats.shape == (HELD, 6)


def test_a_generator_of_the_real_distribution_scores_like_real_data(world):
    m = _evaluate(world, "good")
    assert m["classes"]["present"] == 10
    assert m["classes"]["kl_from_uniform"] < 0.05
    fd = m["fd_judge"]
    assert fd["value"] < 3 * fd["floor"] + 0.05
    assert m["precision_recall"]["precision"] > 0.8
    assert m["precision_recall"]["recall"] > 0.8
    for key in ("fd_judge", "classes", "precision_recall"):
        assert "template-judge" in m[key]["judge"]
        assert "tiny.npz" in m[key]["data"] or "good" in m[key]["data"]


def test_a_collapsed_generator_is_caught(world):
    m = _evaluate(world, "collapsed")
    good = _evaluate(world, "good")
    assert m["classes"]["present"] == 1
    assert m["classes"]["kl_from_uniform"] == pytest.approx(math.log(10), abs=1e-4)
    assert m["classes"]["histogram"][3] == 1.0
    assert m["fd_judge"]["value"] > 10 * good["fd_judge"]["value"]
    assert m["precision_recall"]["recall"] < 0.2


def test_a_conditional_generator_gets_per_label_accuracy(world):
    m = _evaluate(world, "cond", n=200)
    acc = m["label_accuracy"]
    assert acc["per_label"] == {str(c): 1.0 for c in range(10)}
    assert acc["min"] == 1.0 and acc["samples_per_label"] == 20
    assert "classes" not in m


def test_a_model_of_another_size_is_resized_for_the_judge(world):
    m = _evaluate(world, "big")
    assert m["classes"]["present"] == 10
    assert "32x32" in m["evaluation"]["resize"]
    assert m["fd_judge"]["value"] < 3 * m["fd_judge"]["floor"] + 0.05


def test_write_metrics_keeps_the_manifest_valid_and_the_hashes(world, capsys):
    folder = world["good"]
    before = sha256_of(folder / "generator.onnx")
    args = ["--data", str(world["data"]), "--judge", str(world["judge"]), "--n", "300"]
    assert evaluation_cli.main([str(folder), *args, "--train-count", str(TRAIN)]) == 0
    out = capsys.readouterr().out
    assert "FD-judge" in out and "classes present" in out and "template-judge" in out
    manifest = Manifest.load(folder)
    assert manifest.metrics["kept"] == {"value": 1}
    assert manifest.metrics["classes"]["present"] == 10
    assert manifest.metrics["evaluation"]["judge"]["name"] == "template-judge"
    assert manifest.files["generator"].sha256 == before == sha256_of(folder / "generator.onnx")
    card = (folder / "README.md").read_text()
    assert card.count("## Evaluation") == 1 and "FD-judge" in card
    # a second run replaces the section instead of appending another
    assert evaluation_cli.main([str(folder), *args, "--train-count", str(TRAIN)]) == 0
    assert (folder / "README.md").read_text().count("## Evaluation") == 1


def test_a_tampered_model_is_refused(world, tmp_path):
    import shutil

    folder = tmp_path / "tampered"
    shutil.copytree(world["good"], folder)
    with (folder / "generator.onnx").open("ab") as f:
        f.write(b"\0")
    with pytest.raises(ValueError, match="sha256"):
        E.evaluate(folder, world["data"], world["judge"], n=50, train_count=TRAIN)


def test_a_second_judge_reports_every_figure_the_worse_first(world, tmp_path, capsys):
    """A judge whose labels are rolled by one calls every conditional sample wrong: its 0 %
    label accuracy is the worse figure and comes first; model.json keeps both."""
    rolled = tmp_path / "rolled"
    rolled.mkdir()
    t = _templates()
    _export(
        _Judge(t[np.roll(np.arange(10), 1)]),
        (torch.zeros(2, 1, 28, 28),),
        rolled / "judge.onnx",
        ["image"],
        ["logits", "features"],
    )
    card = json.loads((world["judge"] / "judge.json").read_text())
    (rolled / "judge.json").write_text(json.dumps({**card, "name": "rolled-judge"}))
    folder = tmp_path / "cond"
    import shutil

    shutil.copytree(world["cond"], folder)
    args = ["--data", str(world["data"]), "--judge", str(world["judge"]), "--n", "200"]
    args += ["--second-judge", str(rolled), "--train-count", str(TRAIN)]
    assert evaluation_cli.main([str(folder), *args]) == 0
    out = capsys.readouterr().out
    row = [line for line in out.splitlines() if line.startswith("label accuracy, min")][-1]
    assert "0.0% (rolled-judge)" in row and row.index("rolled-judge") < row.index("template")
    metrics = Manifest.load(folder).metrics
    assert metrics["label_accuracy"]["min"] == 1.0
    assert metrics["second_judge"]["label_accuracy"]["min"] == 0.0
    assert "worse" in (folder / "README.md").read_text()
