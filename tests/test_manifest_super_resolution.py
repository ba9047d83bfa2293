"""The super-resolution kind of the manifest contract, and the three older kinds unchanged."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from service.manifest import Manifest

MODELS = Path(__file__).resolve().parents[1] / "models"


def _manifest(**changes) -> dict:
    data = {
        "name": "realesrgan-x4plus",
        "kind": "super-resolution",
        "image": {"channels": 3, "height": 64, "width": 64, "range": [0, 1], "multiple_of": 1},
        "scale": 4,
        "files": {"upscale": {"path": "upscale.onnx", "sha256": "0" * 64}},
    }
    return data | changes


def test_a_super_resolution_manifest_round_trips(tmp_path: Path) -> None:
    m = Manifest.model_validate(_manifest())
    assert m.roles() == ("upscale",) and m.scale == 4 and m.image.range == (0.0, 1.0)
    m.dump(tmp_path)
    written = json.loads((tmp_path / "model.json").read_text())
    assert written["kind"] == "super-resolution" and written["scale"] == 4
    assert written["image"]["multiple_of"] == 1 and "latent" not in written
    assert Manifest.load(tmp_path) == m


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"scale": None}, "needs 'scale' (1, 2 or 4)"),
        ({"scale": 3}, "scale"),
        ({"files": {"a2b": {"path": "a2b.onnx", "sha256": "0" * 64}}}, "needs files 'upscale'"),
        ({"latent": {"dim": 8}}, "no 'latent' or 'domains'"),
        ({"image": {"channels": 1, "height": 64, "width": 64}}, "3-channel"),
        (
            {"image": {"channels": 3, "height": 64, "width": 64, "range": [1, 1]}},
            "image.range [1.0, 1.0] is empty",
        ),
    ],
)
def test_a_broken_super_resolution_manifest_is_refused(changes, says) -> None:
    data = {k: v for k, v in _manifest(**changes).items() if v is not None}
    with pytest.raises(ValidationError) as caught:
        Manifest.model_validate(data)
    assert says in str(caught.value)


def test_scale_is_only_for_super_resolution() -> None:
    translation = _manifest(
        kind="translation",
        domains={"a": "horse", "b": "zebra"},
        files={"a2b": {"path": "a2b.onnx", "sha256": "0" * 64}},
    )
    with pytest.raises(ValidationError, match="'scale' is only for super-resolution"):
        Manifest.model_validate(translation)


@pytest.mark.parametrize("folder", sorted(p.name for p in MODELS.iterdir() if p.is_dir()))
def test_the_shipped_manifests_read_and_write_as_before(folder: str) -> None:
    """The older kinds gain no field: what is written is what was read, without `scale`."""
    m = Manifest.load(MODELS / folder)
    written = json.loads(m.model_dump_json(indent=2, exclude_none=True))
    assert written == json.loads((MODELS / folder / "model.json").read_text())
    assert "scale" not in written
