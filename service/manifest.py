"""The model manifest (`models/<name>/model.json`): the one definition of the contract.

`training/` imports these classes to write manifests, `service/` to read them, so the two
halves cannot drift apart. See docs/architecture.md for the meaning of every field.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, FiniteFloat, model_validator

MANIFEST_FILE = "model.json"
SCHEMA_VERSION = 1
NAME_PATTERN = r"^[a-z0-9][a-z0-9-]*$"

Kind = Literal["unconditional", "conditional", "translation", "super-resolution", "stylegan"]

# The ONNX file roles each kind may ship: a generator has its one; a translation model has
# either direction or both (the CycleGAN authors release each direction as its own file); a
# super-resolution model ships one network, `upscale`; a StyleGAN both of its halves (see
# StyleGANSpec). The service takes ROLES' keys as the kinds its routes serve.
UPSCALE = "upscale"
MAPPING, SYNTHESIS = "mapping", "synthesis"
ROLES: dict[str, tuple[str, ...]] = {
    "unconditional": ("generator",),
    "conditional": ("generator",),
    "translation": ("a2b", "b2a"),
    "super-resolution": (UPSCALE,),
    "stylegan": (MAPPING, SYNTHESIS),
}


# A 3x3 matrix of finite floats, row by row.
Row3 = tuple[FiniteFloat, FiniteFloat, FiniteFloat]
Matrix3 = tuple[Row3, Row3, Row3]


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


class StyleGANSpec(_Strict):
    """A StyleGAN generator (kind `stylegan`), shipped as its two halves.

    `mapping.onnx`: `z` [N, z_dim], `c` [N, c_dim] (only when c_dim > 0: one-hot labels),
    `psi` [N] -> `ws` [N, num_ws, w_dim]; `synthesis.onnx`: `ws` -> `image` [N, C, R, R].
    Two files rather than one generator because each request picks its own truncation psi
    (a per-row input, so rows with different psi batch together) and `/interpolate` walks W:
    it maps both ends, interpolates the ws and synthesises them, which needs synthesis on
    its own; a whole-generator file beside it would ship the synthesis weights (nearly all
    of them) twice. Mapping then synthesis is exactly NVIDIA's
    `G(z, c, truncation_psi=psi, noise_mode='const')`.

    A StyleGAN3's synthesis may also take `transform` [N, 3, 3]: each row's value of the
    input layer's transform buffer, which NVIDIA's gen_images.py sets to translate and rotate
    the image. `transform` here is the snapshot's stored buffer, which rows asking for no
    translation or rotation are fed; it is present exactly when synthesis.onnx takes the
    input (folders exported before it have neither).
    """

    architecture: Literal["stylegan2", "stylegan3-t", "stylegan3-r"]
    resolution: int = Field(gt=0)
    z_dim: int = Field(gt=0)
    c_dim: int = Field(ge=0, description="0: unconditional; else one-hot labels of c_dim")
    w_dim: int = Field(gt=0)
    num_ws: int = Field(gt=0, description="rows of ws: one per modulated layer")
    psi: float = Field(default=1.0, description="the truncation psi of a request naming none")
    transform: Matrix3 | None = Field(
        default=None,
        description="stylegan3-*: the snapshot's input transform, fed to synthesis' "
        "`transform` for rows that ask for none; absent: synthesis takes no `transform`",
    )

    @model_validator(mode="after")
    def _transform_for_stylegan3(self) -> StyleGANSpec:
        if self.transform is not None and self.architecture == "stylegan2":
            raise ValueError("'transform' is only for StyleGAN3 architectures")
        return self


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
    stylegan: StyleGANSpec | None = None
    files: dict[str, FileRef]
    untrained: bool = Field(
        default=False, description="true for placeholder models made without training"
    )
    training: dict[str, Any] = Field(default_factory=dict)
    metrics: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _kind_fields(self) -> Manifest:
        if not self.roles():
            wanted = " or ".join(repr(r) for r in ROLES[self.kind])
            raise ValueError(f"kind {self.kind!r} needs files {wanted}")
        if self.kind in ("unconditional", "conditional", "stylegan") and self.latent is None:
            raise ValueError(f"kind {self.kind!r} needs 'latent'")
        if self.kind == "conditional" and not self.classes:
            raise ValueError("kind 'conditional' needs a non-empty 'classes' list")
        if self.kind == "stylegan":
            self._stylegan_fields()
        elif self.stylegan is not None:
            raise ValueError("'stylegan' is only for kind 'stylegan'")
        elif self.kind != "conditional" and self.classes:
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

    def _stylegan_fields(self) -> None:
        spec = self.stylegan
        if spec is None:
            raise ValueError("kind 'stylegan' needs 'stylegan'")
        if set(self.roles()) != set(ROLES["stylegan"]):
            raise ValueError("kind 'stylegan' needs files 'mapping' and 'synthesis'")
        if self.latent is not None and self.latent.dim != spec.z_dim:
            raise ValueError(f"latent.dim {self.latent.dim} is not stylegan.z_dim {spec.z_dim}")
        if (self.image.height, self.image.width) != (spec.resolution, spec.resolution):
            raise ValueError(f"image is not {spec.resolution}x{spec.resolution}")
        if len(self.classes or []) != spec.c_dim:
            raise ValueError(f"stylegan.c_dim {spec.c_dim} needs as many 'classes'")

    def roles(self) -> tuple[str, ...]:
        """The ONNX roles this model ships, in ROLES order (its translation directions)."""
        return tuple(role for role in ROLES[self.kind] if role in self.files)

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
