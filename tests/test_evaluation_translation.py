"""Translation evaluation on tiny photos with known answers: trainA is reddish, trainB bluish,
a colour judge tells them apart, and a model that swaps red and blue translates perfectly."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from onnx_models import make_translation
from PIL import Image
from training_fixtures import colour_judge, tiny_photos, tiny_values

from scripts.make_placeholder_models import _image_output, _model
from service.engine.runtime import cpu_session
from service.manifest import Manifest
from training import cli, config
from training.data import translation_domains
from training.evaluation import photo_judge, translation
from training.evaluation.judge import Judge
from training.loops import trainer_for

HOLDOUT = (2, 3)


def channel_map(permutation: list[int], output: str = "translated", image: str = "image") -> bytes:
    """A 1x1 convolution that reorders the colour channels (no Tanh: exact on [-1, 1])."""
    kernel = np.zeros((3, 3, 1, 1), np.float32)
    kernel[np.arange(3), permutation, 0, 0] = 1.0
    nodes = [helper.make_node("Conv", [image, "K"], [output])]
    inputs = [helper.make_tensor_value_info(image, TensorProto.FLOAT, ["N", 3, "H", "W"])]
    return _model(nodes, inputs, [_image_output(output, 3)], {"K": kernel})


def write_translator(folder: Path, permutation: list[int], **names: str) -> Path:
    graph = channel_map(permutation, **names)
    return make_translation(folder, graphs={"a2b": graph, "b2a": graph})


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("translation")
    return {
        "photos": tiny_photos(tmp / "photos", n=8),
        "judge": colour_judge(tmp / "judge"),
        "swap": write_translator(tmp / "swap", [2, 1, 0]),
        "identity": write_translator(tmp / "identity", [0, 1, 2]),
    }


def test_a_perfect_translator_scores_perfectly(world) -> None:
    m = translation.evaluate(world["swap"], world["photos"], world["judge"], HOLDOUT)
    t = m["translation"]
    assert t["photos"] == {"a": 2, "b": 3}
    assert t["a2b_judged_b"] == 1.0 and t["b2a_judged_a"] == 1.0
    assert t["real_reference"] == {"a_judged_a": 1.0, "b_judged_b": 1.0}
    assert m["cycle_l1"]["a"] == 0.0 and m["cycle_l1"]["b"] == 0.0  # swap twice = identity
    for direction in ("a2b", "b2a"):
        assert np.isfinite(m["fd_judge"][direction]["value"])
        assert m["fd_judge"][direction]["floor"] >= 0
    gallery = Image.open(world["swap"] / translation.GALLERY_FILE)
    side = translation.GALLERY_SIDE + 2
    assert gallery.size == (3 * side + 2, 4 * side + 2)  # rows: A, a2b, B, b2a


def test_a_translator_that_changes_nothing_is_caught(world) -> None:
    m = translation.evaluate(world["identity"], world["photos"], world["judge"], HOLDOUT)
    assert m["translation"]["a2b_judged_b"] == 0.0 and m["translation"]["b2a_judged_a"] == 0.0
    assert m["cycle_l1"]["mean"] == 0.0


def test_translate_keeps_any_size(world) -> None:
    session = cpu_session(world["swap"] / "a2b.onnx")
    rgb = np.random.default_rng(0).integers(0, 256, (37, 50, 3), dtype=np.uint8)
    out = translation.translate(session, rgb, 4)
    assert out.shape == rgb.shape and np.array_equal(out, rgb[..., ::-1])


def test_evaluate_cli_writes_metrics_card_and_gallery(world, capsys) -> None:
    folder = world["swap"]
    args = ["evaluate", str(folder), "--data", str(world["photos"]), "--judge", str(world["judge"])]
    assert cli.main([*args, "--holdout", "2,3"]) == 0
    out = capsys.readouterr().out
    assert "horse judged zebra after a2b" in out and "100.0%" in out
    metrics = json.loads((folder / "model.json").read_text())["metrics"]
    assert metrics["translation"]["a2b_judged_b"] == 1.0
    Manifest.load(folder)  # still a valid manifest
    assert "](gallery.png)" in (folder / "README.md").read_text()


def test_a_translator_whose_output_has_another_name_is_scored(world, tmp_path: Path) -> None:
    """The contract lets a translator name its one output anything (an imported ONNX file's
    is often `output`); /translate reads the first output, and so does evaluation."""
    folder = write_translator(tmp_path / "named", [2, 1, 0], output="fake_B")
    m = translation.evaluate(folder, world["photos"], world["judge"], HOLDOUT)
    assert m["translation"]["a2b_judged_b"] == 1.0 and m["cycle_l1"]["mean"] == 0.0


def test_a_translator_the_service_would_refuse_is_not_scored(world, tmp_path: Path) -> None:
    folder = write_translator(tmp_path / "x-input", [2, 1, 0], image="x")
    refusal = "a2b: wrong signature for translation: inputs are ['x'], expected ['image']"
    with pytest.raises(ValueError, match=re.escape(refusal)):
        translation.evaluate(folder, world["photos"], world["judge"], HOLDOUT)


def test_without_a_recorded_holdout_evaluation_refuses(world) -> None:
    with pytest.raises(ValueError, match="holdout"):
        translation.evaluate(world["identity"], world["photos"], world["judge"])


def test_holdout_photos_are_never_training_photos(tmp_path: Path) -> None:
    root = tiny_photos(tmp_path / "photos", n=8)
    train_a, train_b, val_a, val_b = translation_domains(str(root), 20, 16, True, HOLDOUT)
    assert len(train_a) == 6 and len(train_b) == 5 and len(val_a) == 2 and len(val_b) == 3
    assert [p.name for p in val_a.files] == ["006.jpg", "007.jpg"]
    assert not set(train_b.files) & set(val_b.files)


def test_resize_upsampling_trains_exports_and_evaluates(tmp_path: Path, world) -> None:
    values = tiny_values(
        "cyclegan", tmp_path, steps=2, batch_size=2, upsample="resize", holdout=[2, 3]
    )
    cfg = config.build(values)
    trainer = trainer_for(cfg)
    trainer.run()
    assert trainer.extra["holdout"]["a"] == ["004.jpg", "005.jpg"]  # tiny_photos(n=6)
    out = tmp_path / "model"
    assert cli.main(["export", str(cfg.run_dir), "--out", str(out)]) == 0
    holdout = Manifest.load(out).training["holdout"]
    assert holdout == {"a": ["004.jpg", "005.jpg"], "b": ["003.jpg", "004.jpg", "005.jpg"]}
    assert "held out and never trained on" in (out / "README.md").read_text()
    graph = onnx.load(str(out / "a2b.onnx")).graph
    ops = {node.op_type for node in graph.node}
    assert "ConvTranspose" not in ops and {"Resize", "Conv"} <= ops
    m = translation.evaluate(out, cfg.data, world["judge"])  # holdout from model.json
    assert m["translation"]["photos"] == {"a": 2, "b": 3}


def test_downscaled_model_exports_for_full_size_photos_and_evaluates(tmp_path: Path, world) -> None:
    values = tiny_values(
        "cyclegan",
        tmp_path,
        steps=2,
        batch_size=2,
        holdout=[2, 3],
        downscale=2,
        load_size=12,
        crop_size=8,
    )
    cfg = config.build(values)
    trainer_for(cfg).run()
    out = tmp_path / "model"
    assert cli.main(["export", str(cfg.run_dir), "--out", str(out)]) == 0
    manifest = Manifest.load(out)
    assert manifest.image.multiple_of == 8 and manifest.image.height == 16  # served scale
    assert "at 1/2 size" in manifest.description
    ops = {node.op_type for node in onnx.load(str(out / "a2b.onnx")).graph.node}
    assert "AveragePool" in ops  # the shrink is inside the graph, not left to callers
    session = cpu_session(out / "a2b.onnx")
    rgb = np.random.default_rng(0).integers(0, 256, (37, 50, 3), dtype=np.uint8)
    assert translation.translate(session, rgb, manifest.image.multiple_of).shape == rgb.shape
    samples = Image.open(out / "samples.png")
    assert samples.size[1] == 4 * (16 + 2) + 2  # the four preview rows at the served scale
    m = translation.evaluate(out, cfg.data, world["judge"])
    assert m["translation"]["photos"] == {"a": 2, "b": 3}
    # 20 px photos divide by 4 but not by 8: evaluation must pad to the manifest's multiple
    odd = tiny_photos(tmp_path / "odd", n=8, size=20)
    m = translation.evaluate(out, odd, world["judge"], HOLDOUT)
    assert m["translation"]["photos"] == {"a": 2, "b": 3}


def test_photo_judge_trains_and_reports_heldout_accuracy(tmp_path: Path, world) -> None:
    root = tiny_photos(tmp_path / "photos", n=8)
    args = argparse.Namespace(
        data=str(root),
        out=str(tmp_path / "judge"),
        holdout="2,2",
        classes="horse,zebra",
        cast_model=str(world["swap"]),
        cast_photos=2,
        epochs=2,
        batch_size=8,
        lr=3e-3,
        seed=0,
        threads=1,
    )
    assert photo_judge.run(args, command="test") == 0
    judge = Judge.load(tmp_path / "judge")
    assert judge.info["classes"] == ["horse", "zebra"] and judge.num_classes == 2
    assert 0.0 <= judge.info["heldout_accuracy"] <= 1.0
    assert judge.info["data"]["train"].startswith("trainA and trainB less")
    logits, feats = judge.run(np.zeros((3, 3, photo_judge.SIZE, photo_judge.SIZE), np.float32))
    assert logits.shape == (3, 2) and feats.shape == (3, photo_judge.FEATURE_DIM)
    robust = judge.info["heldout_colour_robustness"]
    assert set(robust) == {"as_is", "greyscale", "model_cast"}
    assert robust["as_is"]["accuracy"] == judge.info["heldout_accuracy"]
    assert set(robust["greyscale"]) == {"accuracy", "horse", "zebra"}
    # the red-blue swap's colour cast, fitted on its own outputs, is the channel swap
    cast = np.array(judge.info["training"]["cast_map"])
    assert np.abs(cast[:, :3] - np.eye(3)[[2, 1, 0]]).max() < 0.05


def test_photos_are_read_as_translate_reads_an_upload(tmp_path: Path) -> None:
    """EXIF orientation applied, then the longest side capped at the service's max_side."""
    exif = Image.Exif()
    exif[0x0112] = 6  # shown turned 90 degrees clockwise: 300 wide, 1200 high
    path = tmp_path / "turned.jpg"
    Image.new("RGB", (1200, 300), (200, 10, 10)).save(path, exif=exif)
    assert translation._photo(path).shape == (1024, 256, 3)
