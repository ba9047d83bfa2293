"""Request and response bodies (they are also the OpenAPI documentation)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from service.manifest import NAME_PATTERN


def _whole_float_to_int(value: Any) -> Any:
    """JSON Schema's `integer` includes 16.0; strict validation alone would refuse it."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# An integer as the document defines it: 16 or 16.0, never "16" or true (the models are strict).
Whole = Annotated[int, BeforeValidator(_whole_float_to_int)]
# JSON's exact integers: above 2^53 a JavaScript client (the web page) and JSON Schema tools,
# which compare numbers as doubles, round seeds. The range sits inside the type: on an
# optional field pydantic writes `ge`/`lt` into the document, keywords JSON Schema lacks.
MAX_SEED = 2**53 - 1
Seed = Annotated[int, Field(ge=0, le=MAX_SEED), BeforeValidator(_whole_float_to_int)]
# A class index or name; names are short, and error messages that echo one stay short too.
Label = Whole | Annotated[str, Field(max_length=128)]
# Names are dictionary keys, never paths; the manifest's pattern also keeps `../` and the like
# out of logs and metric labels.
ModelName = Annotated[str, Field(pattern=NAME_PATTERN, max_length=64)]
# StyleGAN's truncation in W, `w_avg + psi * (w - w_avg)`: 1 is none, 0 the average image,
# below 0 its opposite; NVIDIA's tools take any value, the service the range anyone uses.
MAX_PSI = 2.0
Psi = Annotated[float, Field(ge=-MAX_PSI, le=MAX_PSI)]
PSI = "StyleGAN models only: truncation in W, -2..2 (omitted: the model's own psi)"
# A StyleGAN3's input transform, as NVIDIA's gen_images.py --translate and --rotate set it:
# translations in image widths (beyond 2 the view has left the image twice over) and
# degrees (a turn either way).
MAX_TRANSLATE = 2.0
MAX_ROTATE = 360.0
Shift = Annotated[float, Field(ge=-MAX_TRANSLATE, le=MAX_TRANSLATE)]
Degrees = Annotated[float, Field(ge=-MAX_ROTATE, le=MAX_ROTATE)]
TRANSLATE = (
    "StyleGAN3 models only: [tx, ty], each -2..2 image widths, as NVIDIA's gen_images.py "
    "--translate (omitted: no translation)"
)
ROTATE = (
    "StyleGAN3 models only: degrees, -360..360, as NVIDIA's gen_images.py --rotate "
    "(omitted: no rotation; neither given: the snapshot's own input transform)"
)


class _Request(BaseModel):
    # A typo in a field name is an error, not a silently ignored option; strict types, so
    # `"seed": false` or `"n": "3"` are errors, not 0 and 3 (the schema says integer).
    model_config = ConfigDict(extra="forbid", strict=True)


class GenerateRequest(_Request):
    model: ModelName | None = Field(default=None, description="model name; omitted: the default")
    n: Whole = Field(default=1, description="images, 1..max_n")
    label: Label | None = Field(default=None, description="class index or name, for all images")
    labels: list[Label] | None = Field(
        default=None, description="one class per image: exactly n entries (n defaults to 1)"
    )
    seed: Seed | None = Field(
        default=None, description="image i uses seed+i; omitted: random seeds"
    )
    truncation: float | None = Field(default=None, gt=0, le=1, description="truncated normal z")
    truncation_psi: Psi | None = Field(default=None, description=PSI)
    translate: tuple[Shift, Shift] | None = Field(default=None, description=TRANSLATE)
    rotate: Degrees | None = Field(default=None, description=ROTATE)

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"n": 16, "label": 3, "seed": 42}]}
    )


class InterpolateRequest(_Request):
    model: ModelName | None = None
    seed_a: Seed
    seed_b: Seed
    steps: Whole = Field(default=8, description="images along the path, 2..max_n")
    method: Literal["slerp", "lerp"] = "slerp"
    label: Label | None = None
    truncation: float | None = Field(default=None, gt=0, le=1)
    truncation_psi: Psi | None = Field(default=None, description=PSI)
    translate: tuple[Shift, Shift] | None = Field(default=None, description=TRANSLATE)
    rotate: Degrees | None = Field(default=None, description=ROTATE)

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"seed_a": 1, "seed_b": 2, "steps": 8, "label": 7}]},
    )


class GeneratedImage(BaseModel):
    seed: int = Field(description="the seed of this image (/interpolate: of the nearer end)")
    label: int | None = None
    class_name: str | None = None
    png: str = Field(description="base64 PNG")


class ImagesResponse(BaseModel):
    model: str
    images: list[GeneratedImage]


class ModelInfo(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str
    state: Literal["ready", "failed"]
    reason: str | None = None
    reload_error: str | None = None
    kind: str | None = None
    version: str | None = None
    description: str | None = None
    untrained: bool | None = None
    provider: str | None = None
    image: dict[str, Any] | None = None
    latent: dict[str, Any] | None = None
    classes: list[str] | None = None
    domains: dict[str, str] | None = None
    directions: list[str] | None = Field(
        default=None, description="translation: the directions it has, `a2b` and/or `b2a`"
    )
    scale: int | None = Field(
        default=None, description="super-resolution: the answer's sides are the photo's times this"
    )
    stylegan: dict[str, Any] | None = Field(
        default=None,
        description="stylegan: architecture, resolution, z_dim, c_dim, w_dim, num_ws, the "
        "psi of a request that names none and, for a StyleGAN3 that translates and rotates, "
        "its stored input transform",
    )
    sessions: dict[str, dict[str, Any]] = {}
    manifest: dict[str, Any] | None = None


class WorkerState(BaseModel):
    """One worker process: whether it serves, and the state of each model in it."""

    pid: int
    ready: bool
    reason: str | None = None
    reload: int = Field(description="the last /admin/reload this worker has done (a counter)")
    models: dict[str, Literal["ready", "failed"]]


class ModelsResponse(BaseModel):
    models: list[ModelInfo]
    defaults: dict[str, str | None]
    workers: list[WorkerState]


class ReloadResponse(BaseModel):
    results: dict[str, str]
    models: list[ModelInfo]
    workers: list[WorkerState]


class Health(BaseModel):
    status: str
    models_ready: int | None = None


class ErrorDetail(BaseModel):
    code: str = Field(description="stable and machine-readable, e.g. `unknown_model`")
    message: str


class ErrorResponse(BaseModel):
    """Every error the service answers, whatever its status."""

    error: ErrorDetail
