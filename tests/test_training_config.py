"""Options: shipped configs load, wrong options and values are errors that name them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from training_fixtures import tiny_photos, tiny_values

from training import cli, config
from training.config import ConfigError

CONFIGS = sorted((Path(__file__).parents[1] / "training" / "configs").glob("*.json"))


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_shipped_configs_are_valid(path: Path) -> None:
    cfg = config.load(path)
    assert cfg.name == path.stem or path.stem.startswith(cfg.name)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["nope=1"], "unknown option 'nope'"),
        (["loss=wgan"], "loss='wgan'"),
        (["steps=abc"], "steps='abc'"),
        (["steps=0"], "steps=0"),
        (["ema_decay=1.5"], "ema_decay"),
        (["image_size=48"], "image_size=48"),
        (["spectral_norm=maybe"], "spectral_norm='maybe'"),
        (["steps"], "expected key=value"),
        (["decay_steps=99"], "decay_steps=99"),
    ],
)
def test_bad_values_name_the_option(overrides: list[str], message: str, tmp_path) -> None:
    values = tiny_values("dcgan", tmp_path)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        config.build(values, overrides)


def test_family_specific_checks(tmp_path) -> None:
    with pytest.raises(ConfigError, match="crop_size=18"):
        config.build(tiny_values("cyclegan", tmp_path, crop_size=18))
    with pytest.raises(ConfigError, match="toy2d data"):
        config.build(tiny_values("toy2d", tmp_path, data="spiral"))
    with pytest.raises(ConfigError, match=r"r1_gamma=-0\.1"):
        config.build(tiny_values("toy2d", tmp_path, r1_gamma=-0.1))
    with pytest.raises(ConfigError, match=r"r1_gamma=0\.1: .* not for cyclegan"):
        config.build(tiny_values("cyclegan", tmp_path, r1_gamma=0.1))
    with pytest.raises(ConfigError, match="unknown option"):
        config.build({"family": "dcgan", "data": "x.npz", "widht": 3})
    with pytest.raises(ConfigError, match="expected int"):
        config.build({"family": "dcgan", "data": "x.npz", "steps": 1.5})


def test_cli_errors_are_one_line(tmp_path, capsys) -> None:
    assert cli.main(["train", "dcgan", "--set", "data=x.npz", "--set", "lr=fast"]) == 2
    assert "lr='fast'" in capsys.readouterr().err
    assert cli.main(["resume", str(tmp_path / "missing")]) == 2
    assert "no checkpoint" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["train", "biggan"])


def test_unusable_data_is_a_one_line_error(tmp_path, capsys) -> None:
    np.savez(tmp_path / "wrong.npz", pixels=np.zeros((2, 4, 4), np.uint8))
    (tmp_path / "classes" / "cat").mkdir(parents=True)  # a class folder without images
    photos = str(tiny_photos(tmp_path / "photos", n=3))
    cases = [
        ("dcgan", str(tmp_path / "wrong.npz"), [], "needs arrays 'images' and 'labels'"),
        ("cgan", str(tmp_path / "classes"), [], "no images in the class subfolders"),
        (
            "cyclegan",
            photos,
            ["holdout=3,0", "ngf=4", "ndf=4", "n_blocks=1", "crop_size=32"],
            "holdout=3 leaves no training",
        ),
    ]
    for family, data, extra, message in cases:
        sets = [f"data={data}", "steps=1", "progress=false", f"out_dir={tmp_path / 'runs'}"]
        args = ["train", family] + [x for s in sets + extra for x in ("--set", s)]
        assert cli.main(args) == 2, family
        assert message in capsys.readouterr().err


def test_help_lists_every_option(capsys) -> None:
    with pytest.raises(SystemExit):
        cli.main(["train", "--help"])
    text = capsys.readouterr().out
    for name in config.Config.__dataclass_fields__:
        assert f"  {name} " in text


def test_resume_may_only_change_loop_options(tmp_path) -> None:
    with pytest.raises(ConfigError, match="may only change"):
        cli.resume(str(tmp_path), ["loss=hinge"])


def test_a_resumed_run_may_be_extended_with_a_new_decay(tmp_path) -> None:
    from training import checkpoint
    from training.loops import trainer_for

    cfg = config.build(tiny_values("dcgan", tmp_path, steps=4))
    trainer_for(cfg).run()
    args = ["resume", str(cfg.run_dir), "--set", "steps=6", "--set", "decay_steps=2"]
    assert cli.main(args) == 0
    state = checkpoint.load(cfg.run_dir / "checkpoints" / checkpoint.LAST)
    assert state["step"] == 6 and state["config"]["decay_steps"] == 2
    (resumed,) = state["extra"]["resumes"]  # the run's provenance names the resume
    assert resumed["from_step"] == 4 and resumed["command"].startswith("python -m training ")
    bad = ["resume", str(cfg.run_dir), "--set", "decay_steps=9"]  # more than steps
    assert cli.main(bad) == 2
