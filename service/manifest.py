"""The model manifest (`models/<name>/model.json`): the one definition of the contract.

`training/` imports these classes to write manifests, `service/` to read them, so the two
halves cannot drift apart. See docs/architecture.md for the meaning of every field.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

MANIFEST_FILE = "model.json"
SCHEMA_VERSION = 1
NAME_PATTERN = r"^[a-z0-9][a-z0-9-]*$"

Kind = Literal["unconditional", "conditional", "translation", "super-resolution"]

# The ONNX file roles each kind may ship: a generator has its one; a translation model has
# either direction or both (the CycleGAN authors release each direction as its own file).
ROLES: dict[str, tuple[str, ...]] = {
    "unconditional": ("generator",),
    "conditional": ("generator",),
    "translation": ("a2b", "b2a"),
}
# A super-resolution model ships one network, `upscale`. It stays out of ROLES until the
# service serves the kind: the service takes ROLES' keys as the kinds its routes serve.
UPSCALE = "upscale"
KIND_ROLES: dict[str, tuple[str, ...]] = {**ROLES, "super-resolution": (UPSCALE,)}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ImageSpec(_Strict):
    channels: Literal[1, 3]
    height: int = Field(
        gt=0,
        description="training height; translation and super-resolution accept other sizes",
    )
    width: int = Field(gt=0)
    range: tuple[float, float] = Field(
        default=(-1.0, 1.0), description="the pixel range the network takes (and gives)"
    )
    multiple_of: int = Field(
        default=1,
        gt=0,
        description="translation, super-resolution: H and W fed to the network must divide by this",
    )


class LatentSpec(_Strict):
    dim: int = Field(gt=0)
    distribution: Literal["normal"] = "normal"


class FileRef(_Strict):
    path: str = Field(description="relative to the model folder")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class Manifest(BaseModel):
    """Everything a consumer may rely on about one served model.

    Extra top-level keys are allowed (and kept) so newer training code can add fields
    without breaking an older service.
    """

    model_config = ConfigDict(extra="allow")

    schema_version: int = SCHEMA_VERSION
    name: str = Field(pattern=NAME_PATTERN, max_length=64)
    version: str = "0.1.0"
    description: str = ""
    kind: Kind
    image: ImageSpec
    latent: LatentSpec | None = None
    classes: list[str] | None = None
    domains: dict[Literal["a", "b"], str] | None = None
    scale: Literal[1, 2, 4] | None = Field(
        default=None, description="super-resolution: output sides = input sides x scale"
    )
    files: dict[str, FileRef]
    untrained: bool = Field(
        default=False, description="true for placeholder models made without training"
    )
    training: dict[str, Any] = Field(default_factory=dict)
    metrics: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _kind_fields(self) -> Manifest:
        if not self.roles():
            wanted = " or ".join(repr(r) for r in KIND_ROLES[self.kind])
            raise ValueError(f"kind {self.kind!r} needs files {wanted}")
        if self.kind in ("unconditional", "conditional") and self.latent is None:
            raise ValueError(f"kind {self.kind!r} needs 'latent'")
        if self.kind == "conditional" and not self.classes:
            raise ValueError("kind 'conditional' needs a non-empty 'classes' list")
        if self.kind != "conditional" and self.classes:
            raise ValueError("'classes' is only for conditional models")
        if self.kind == "translation":
            if self.domains is None or set(self.domains) != {"a", "b"}:
                raise ValueError("kind 'translation' needs 'domains' with keys 'a' and 'b'")
            if self.image.channels != 3:
                raise ValueError("translation models take 3-channel images")
        if self.kind == "super-resolution":
            if self.scale is None:
                raise ValueError("kind 'super-resolution' needs 'scale' (1, 2 or 4)")
            if self.image.channels != 3:
                raise ValueError("super-resolution models take 3-channel images")
            if self.latent is not None or self.domains is not None:
                raise ValueError("super-resolution models have no 'latent' or 'domains'")
            low, high = self.image.range
            if not low < high:
                raise ValueError(f"image.range {[low, high]} is empty")
        elif self.scale is not None:
            raise ValueError("'scale' is only for super-resolution models")
        for role, ref in self.files.items():
            if Path(ref.path).is_absolute() or ".." in Path(ref.path).parts:
                raise ValueError(f"file {role!r} must be a path inside the model folder")
        return self

    def roles(self) -> tuple[str, ...]:
        """The ONNX roles this model ships, in KIND_ROLES order (its translation directions)."""
        return tuple(role for role in KIND_ROLES[self.kind] if role in self.files)

    @classmethod
    def load(cls, folder: Path) -> Manifest:
        return cls.model_validate_json((folder / MANIFEST_FILE).read_bytes())

    def dump(self, folder: Path) -> None:
        text = self.model_dump_json(indent=2, exclude_none=True)
        (folder / MANIFEST_FILE).write_text(text + "\n")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
