"""One V2 model per ONNX session: a generator or an upscaler by its model name, a translation
direction as `<name>.a2b` or `<name>.b2a` (a dot: model names may hold dashes, never dots). A
StyleGAN is one V2 model by its name, a generator like the others: its mapping's feeds in
(`z` or `seed`, `label` with classes, `psi`; a StyleGAN3 whose synthesis takes `transform`
also `translate` and `rotate`, as /generate takes them, per row), its synthesis' image out.

Each model's version is its manifest's `version`. Inputs are checked against the model as
strictly as the rest of the API checks its requests; outputs are the session's first output
(FP32) and `pixels`, the same uint8 conversion the PNGs get.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from service import imaging
from service.api import stylegan
from service.api.errors import ApiError
from service.api.schemas import MAX_PSI, MAX_ROTATE, MAX_TRANSLATE
from service.api.v2.schemas import ModelMetadata, TensorMetadata
from service.api.v2.tensors import DATATYPE_OF, refuse
from service.engine.batcher import Batcher
from service.engine.runtime import PHOTO_KINDS, Runner, output_name
from service.latents import default_label, latents
from service.manifest import SYNTHESIS, Manifest
from service.repository.model import Model
from service.repository.repository import Repository
from service.settings import Settings

NAME_PATTERN = r"^[a-z0-9][a-z0-9-]*(\.(a2b|b2a))?$"
VERSION_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._+-]*$"
PLATFORM = "onnxruntime_onnx"
PIXELS = "pixels"  # UINT8 [N, H, W, C]
ONNX_DATATYPES = {"tensor(float)": "FP32", "tensor(int64)": "INT64"}

Feeds = dict[str, np.ndarray]


@dataclass(frozen=True)
class Target:
    """A V2 model: one session of a served model."""

    name: str
    model: Model
    role: str  # generator, a2b, b2a, upscale, or a StyleGAN's synthesis

    @property
    def manifest(self) -> Manifest:
        assert self.model.manifest is not None
        return self.model.manifest

    @property
    def runner(self) -> Runner:
        return self.model.runners[self.role]

    @property
    def batcher(self) -> Batcher:
        return self.model.batchers[self.role]

    @property
    def output(self) -> str:
        return output_name(self.runner.session)

    @property
    def translation(self) -> bool:
        """A photo session (translation or super-resolution): its runs' memory goes back."""
        return self.manifest.kind in PHOTO_KINDS

    @property
    def upscaler(self) -> bool:
        return self.manifest.kind == "super-resolution"

    @property
    def stylegan(self) -> bool:
        return self.manifest.kind == "stylegan"


def find(repository: Repository, name: str, version: str | None = None) -> Target:
    """The ready V2 model `name` (at `version` when given): else 404, or 503 while it failed."""
    base, _, direction = name.partition(".")
    model = repository.models.get(base)
    if model is None:
        raise ApiError(404, "unknown_model", f"no model named {name!r}")
    if not model.ready:
        raise ApiError(
            503, "model_not_ready", f"model {base!r} failed: {model.reason}", {"Retry-After": "30"}
        )
    assert model.manifest is not None
    roles = model.manifest.roles()
    if model.kind == "translation" and not direction:
        named = " or ".join(f"{base}.{r}" for r in roles)
        raise ApiError(
            404,
            "unknown_model",
            f"{base!r} is a translation model: name one of its directions, {named}",
        )
    if (model.kind == "translation") != bool(direction) or (direction and direction not in roles):
        hint = " or ".join(f"{base}.{r}" for r in roles) if model.kind == "translation" else base
        raise ApiError(404, "unknown_model", f"no model named {name!r}; did you mean {hint}?")
    if version is not None and version != model.manifest.version:
        raise ApiError(
            404,
            "unknown_version",
            f"model {name!r} has version {model.manifest.version!r}, not {version!r}",
        )
    return Target(name, model, direction or v2_roles(model)[0])


def v2_name(model: Model, role: str) -> str:
    """A session's V2 model name: `<name>.<role>` for a translation's direction, else the
    model's."""
    return f"{model.name}.{role}" if model.kind == "translation" else model.name


def v2_roles(model: Model) -> tuple[str, ...]:
    """The sessions that are V2 models: each direction of a translation, a StyleGAN's
    synthesis (its mapping runs first, under the same name), else the model's one."""
    roles = model.manifest.roles() if model.manifest else ("generator",)
    return (SYNTHESIS,) if model.kind == "stylegan" else roles


def ready_targets(repository: Repository) -> list[Target]:
    """Every V2 model that serves."""
    return [
        Target(v2_name(model, role), model, role)
        for model in repository.models.values()
        if model.ready
        for role in v2_roles(model)
    ]


def metadata(target: Target) -> ModelMetadata:
    spec = target.manifest.image
    inputs = [
        TensorMetadata(
            name=arg.name,
            datatype=ONNX_DATATYPES[arg.type],
            shape=[d if isinstance(d, int) else -1 for d in arg.shape],
        )
        for arg in target.runner.session.get_inputs()
    ]
    if target.stylegan:  # the mapping's feeds, with the label as conditional models take it
        style = target.manifest.stylegan
        inputs = [TensorMetadata(name="z", datatype="FP32", shape=[-1, style.z_dim])]
        if style.c_dim:
            inputs.append(TensorMetadata(name="label", datatype="INT64", shape=[-1]))
        inputs.append(TensorMetadata(name="psi", datatype="FP32", shape=[-1]))
        if style.transform is not None:
            inputs.append(TensorMetadata(name="translate", datatype="FP32", shape=[-1, 2]))
            inputs.append(TensorMetadata(name="rotate", datatype="FP32", shape=[-1]))
    if target.translation:  # any size (super-resolution: scale times the input's)
        image, pixels = [-1, 3, -1, -1], [-1, -1, -1, 3]
    else:
        image = [-1, spec.channels, spec.height, spec.width]
        pixels = [-1, spec.height, spec.width, spec.channels]
    return ModelMetadata(
        name=target.name,
        versions=[target.manifest.version],
        platform=PLATFORM,
        inputs=inputs,
        outputs=[
            TensorMetadata(name=target.output, datatype="FP32", shape=image),
            TensorMetadata(name=PIXELS, datatype="UINT8", shape=pixels),
        ],
    )


def output_names(target: Target) -> list[str]:
    return [target.output, PIXELS]


# -- inputs ---------------------------------------------------------------------------------


def prepare(
    target: Target, arrays: Feeds, settings: Settings
) -> tuple[Feeds, tuple[int, int] | None]:
    """The session's feeds, and for a photo the height and width to crop the output to."""
    if target.upscaler:
        _expect(arrays, {"image"}, set(), target.name)
        return _upscaler_image(arrays["image"], target, settings)
    if target.translation:
        _expect(arrays, {"image"}, set(), target.name)
        return _image(arrays["image"], target, settings)
    allowed = {"z", "seed"} | ({"label"} if target.manifest.classes else set())
    if target.stylegan:
        moves = {"translate", "rotate"} if target.manifest.stylegan.transform is not None else set()
        _expect(arrays, set(), allowed | {"psi"} | moves, target.name)
        feeds = _latents(arrays, target, settings.max_n)
        rows = len(feeds["z"])
        psi = _per_row(arrays, "psi", 1, rows, MAX_PSI, settings.max_n)
        translate = _per_row(arrays, "translate", 2, rows, MAX_TRANSLATE, settings.max_n)
        rotate = _per_row(arrays, "rotate", 1, rows, MAX_ROTATE, settings.max_n)
        label = feeds.get("label")
        inputs = stylegan.request_feeds(target.model, feeds["z"], label, psi, translate, rotate)
        return inputs, None
    _expect(arrays, set(), allowed, target.name)
    return _latents(arrays, target, settings.max_n), None


def _per_row(
    arrays: Feeds, name: str, rank: int, rows: int, bound: float, max_n: int
) -> np.ndarray | None:
    """A StyleGAN's per-row input within +-bound, as /generate takes it: `psi` (FP32 [N]; None:
    the model's own), a StyleGAN3's `translate` (FP32 [N, 2]) or `rotate` (FP32 [N]); None
    when not given."""
    if name not in arrays:
        return None
    array = arrays[name]
    if _check(name, array, ("FP32",), rank, max_n) != rows:
        raise refuse(f"input {name!r} has {len(array)} rows, the latents {rows}")
    if rank == 2 and array.shape[1] != 2:
        raise refuse(f"input {name!r} must be [N, 2] (tx, ty), got {list(array.shape)}")
    _finite(name, array)
    if (np.abs(array) > bound).any():
        raise refuse(f"input {name!r} holds values outside [-{bound:g}, {bound:g}]")
    return array


def _expect(arrays: Feeds, required: set[str], allowed: set[str], model: str) -> None:
    unknown = set(arrays) - required - allowed
    if unknown:
        allowed_names = sorted(required | allowed)
        raise refuse(f"{model} takes no input {sorted(unknown)}; its inputs: {allowed_names}")
    missing = required - set(arrays)
    if missing:
        raise refuse(f"{model} needs the input {sorted(missing)}")


def _check(name: str, array: np.ndarray, datatypes: tuple[str, ...], rank: int, max_n: int) -> int:
    """Datatype, rank and rows (1..max_n); returns the rows."""
    got = DATATYPE_OF[array.dtype.str]
    if got not in datatypes:
        raise refuse(f"input {name!r} must be {' or '.join(datatypes)}, got {got}")
    if array.ndim != rank:
        raise refuse(f"input {name!r} must have {rank} axes, got shape {list(array.shape)}")
    rows = array.shape[0]
    if not 1 <= rows <= max_n:
        raise refuse(f"input {name!r} has {rows} rows; 1..{max_n} are served per request")
    return rows


def _finite(name: str, array: np.ndarray) -> None:
    if not np.isfinite(array).all():
        raise refuse(f"input {name!r} holds NaN or infinite values")


def _latents(arrays: Feeds, target: Target, max_n: int) -> Feeds:
    dim = target.manifest.latent.dim if target.manifest.latent else 0
    if ("z" in arrays) == ("seed" in arrays):
        raise refuse(f"{target.name} takes either z (FP32 [N, {dim}]) or seed (INT64 [N])")
    if "seed" in arrays:
        seed = arrays["seed"]
        rows = _check("seed", seed, ("INT64", "UINT64"), 1, max_n)
        if (seed < 0).any():
            raise refuse("input 'seed' holds negative values")
        seeds = [int(s) for s in seed]
        feeds = {"z": latents(seeds, dim)}
    else:
        z = arrays["z"]
        rows = _check("z", z, ("FP32",), 2, max_n)
        if z.shape[1] != dim:
            raise refuse(f"input 'z' must be [N, {dim}], got {list(z.shape)}")
        _finite("z", z)
        feeds, seeds = {"z": z}, []
    if not target.manifest.classes:
        return feeds
    classes = len(target.manifest.classes)
    if "label" not in arrays:
        if not seeds:
            raise refuse(f"{target.name} has classes: give label (INT64 [N]) with z")
        feeds["label"] = np.array([default_label(s, classes) for s in seeds], np.int64)
        return feeds
    label = arrays["label"]
    if _check("label", label, ("INT64",), 1, max_n) != rows:
        raise refuse(f"input 'label' has {len(label)} rows, the latents {rows}")
    if ((label < 0) | (label >= classes)).any():
        raise refuse(f"input 'label' holds values outside 0..{classes - 1}")
    feeds["label"] = label
    return feeds


def _image(image: np.ndarray, target: Target, settings: Settings) -> tuple[Feeds, tuple[int, int]]:
    _check("image", image, ("FP32",), 4, settings.max_n)
    channels, height, width = image.shape[1:]
    if channels != 3 or height < 1 or width < 1:
        raise refuse(f"input 'image' must be [N, 3, H, W], got {list(image.shape)}")
    if max(height, width) > settings.max_side or height * width > settings.max_pixels:
        raise refuse(
            f"input 'image' is {width}x{height}; at most {settings.max_side} pixels a side "
            f"(max_side) and {settings.max_pixels} pixels an image (max_pixels) are served"
        )
    _finite("image", image)
    if image.min() < -1 or image.max() > 1:
        raise refuse("input 'image' holds values outside [-1, 1]")
    padded = imaging.pad_to_multiple(image, target.manifest.image.multiple_of)
    return {"image": padded}, (height, width)


def _upscaler_image(
    image: np.ndarray, target: Target, settings: Settings
) -> tuple[Feeds, tuple[int, int]]:
    """As `/translate` takes a photo for this model: any size whose answer is within
    `max_output_pixels`, values in the manifest's range; the crop is the answer's size."""
    _check("image", image, ("FP32",), 4, settings.max_n)
    channels, height, width = image.shape[1:]
    if channels != 3 or height < 1 or width < 1:
        raise refuse(f"input 'image' must be [N, 3, H, W], got {list(image.shape)}")
    scale = target.manifest.scale or 1
    out = height * scale * width * scale
    if out > settings.max_output_pixels or height * width > settings.max_pixels:
        raise refuse(
            f"input 'image' is {width}x{height}; its x{scale} answer would be {out} pixels, "
            f"and at most {settings.max_output_pixels} (max_output_pixels) are served"
        )
    _finite("image", image)
    low, high = target.manifest.image.range
    if image.min() < low or image.max() > high:
        raise refuse(f"input 'image' holds values outside [{low:g}, {high:g}]")
    padded = imaging.pad_to_multiple(image, target.manifest.image.multiple_of)
    return {"image": padded}, (height * scale, width * scale)


# -- outputs --------------------------------------------------------------------------------


def outputs(
    target: Target, out: np.ndarray, crop: tuple[int, int] | None, wanted: list[str]
) -> dict[str, np.ndarray]:
    """The requested outputs, in the requested order, of one run's output."""
    if crop is not None:
        out = np.ascontiguousarray(out[:, :, : crop[0], : crop[1]])
    result = {}
    for name in wanted:
        if name == PIXELS and target.upscaler:
            result[name] = imaging.from_range(out.copy(), target.manifest.image.range)
        elif name == PIXELS:
            pixels = imaging.to_uint8(out)
            result[name] = pixels[..., None] if pixels.ndim == 3 else pixels
        else:
            result[name] = out
    return result
