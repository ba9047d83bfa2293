"""Fine-tuning a served CycleGAN: `init_from` starts both generators from an exported folder."""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest
import torch
from onnx import numpy_helper
from training_fixtures import tiny_values

from service.manifest import Manifest
from training import cli, config
from training.config import ConfigError
from training.loops import trainer_for


def onnx_weights(path: Path) -> dict[str, torch.Tensor]:
    """The served tensors by parameter name (a `downscale` export names them `g.<name>`)."""
    inits = onnx.load(str(path)).graph.initializer
    return {
        i.name.removeprefix("g."): torch.from_numpy(numpy_helper.to_array(i).copy()) for i in inits
    }


def _exported(tmp_path: Path, **overrides: object) -> Path:
    values = tiny_values("cyclegan", tmp_path, steps=2, batch_size=2, **overrides)
    cfg = config.build(values)
    trainer_for(cfg).run()
    out = tmp_path / "model"
    assert cli.main(["export", str(cfg.run_dir), "--out", str(out)]) == 0
    return out


@pytest.mark.parametrize("downscale", [1, 2])
def test_a_new_run_starts_from_the_served_weights(tmp_path: Path, downscale: int) -> None:
    sizes = {"downscale": downscale, "load_size": 12, "crop_size": 8} if downscale > 1 else {}
    folder = _exported(tmp_path / "first", **sizes)
    values = tiny_values("cyclegan", tmp_path / "second", steps=2, init_from=str(folder))
    trainer = trainer_for(config.build(values))
    for key, role in (("g_ab", "a2b"), ("g_ba", "b2a")):
        served = onnx_weights(folder / f"{role}.onnx")
        for name, value in trainer.models[key].state_dict().items():
            assert torch.equal(value, served[name]), (key, name)
        assert torch.equal(  # the EMA copy starts there too
            trainer.emas[key].model.state_dict()["net.1.weight"], served["net.1.weight"]
        )
    provenance = trainer.extra["init_from"]
    assert provenance["folder"] == str(folder.resolve())
    assert sorted(provenance["sha256"]) == ["a2b", "b2a"]
    trainer.run()  # and it trains on from there, and says so in the exported model.json
    out = tmp_path / "tuned"
    assert cli.main(["export", str(trainer.run_dir), "--out", str(out)]) == 0
    assert Manifest.load(out).training["init_from"]["model"] == folder.name


def test_a_generator_of_another_shape_is_refused(tmp_path: Path) -> None:
    folder = _exported(tmp_path / "first")
    values = tiny_values("cyclegan", tmp_path / "second", ngf=8, init_from=str(folder))
    with pytest.raises(ConfigError, match="does not fit"):
        trainer_for(config.build(values))


def test_init_from_needs_a_translation_folder(tmp_path: Path) -> None:
    values = tiny_values("cyclegan", tmp_path, init_from=str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match="not a model folder"):
        trainer_for(config.build(values))
    with pytest.raises(ConfigError, match="only cyclegan"):
        config.build(tiny_values("dcgan", tmp_path, init_from=str(tmp_path)))
