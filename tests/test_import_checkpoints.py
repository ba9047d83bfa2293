"""Checkpoints are untrusted input: anything but a state_dict of tensors is refused cleanly."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from authors_checkpoints import resnet_checkpoint, unet_checkpoint

from training import cli


def _refusal(tmp_path: Path, capsys, source: str, ckpt: Path, *options: str) -> str:
    out = tmp_path / "m"
    code = cli.main(["import", source, str(ckpt), "--out", str(out), *options])
    assert code == 2 and not out.exists()
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err
    return err


def _pickled_module(path: Path) -> None:
    torch.save(torch.nn.Linear(2, 2), path)  # unpickling it would run torch code


@pytest.mark.parametrize(
    ("write", "says"),
    [
        (lambda p: p.write_text("not a checkpoint"), "is not a PyTorch checkpoint"),
        (lambda p: p.write_bytes(b"PK\x03\x04broken"), "is not a PyTorch checkpoint"),
        (_pickled_module, "holds more than tensors"),
        (lambda p: torch.save(torch.zeros(3), p), "holds a Tensor, not a state_dict"),
        (lambda p: torch.save({"w": torch.zeros(1), "n": "x"}, p), "entries are not tensors"),
        (
            lambda p: torch.save({"config": {}, "models": {}, "step": 3}, p),
            "ganserve training checkpoint: use `python -m training export`",
        ),
    ],
)
def test_not_a_checkpoint_is_refused(write, says, tmp_path: Path, capsys) -> None:
    path = tmp_path / "G.pth"
    write(path)
    assert says in _refusal(tmp_path, capsys, "cyclegan", path)


def test_a_missing_file_is_refused(tmp_path: Path, capsys) -> None:
    assert "no such file" in _refusal(tmp_path, capsys, "pix2pix", tmp_path / "none.pth")


def test_each_architecture_points_to_the_other(tmp_path: Path, capsys) -> None:
    unet = unet_checkpoint(tmp_path / "unet.pth")
    resnet = resnet_checkpoint(tmp_path / "resnet.pth")
    err = _refusal(tmp_path, capsys, "cyclegan", unet)
    assert "use `python -m training import pix2pix`" in err
    err = _refusal(tmp_path, capsys, "pix2pix", resnet)
    assert "use `python -m training import cyclegan`" in err
