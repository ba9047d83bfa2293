"""`python -m training import onnx`: a generator or translator exported elsewhere, served as is.

The graph's signature says which kind it is: `z` [N, D] -> `image` (unconditional), `z` and
`label` [N] int64 -> `image` (conditional), `image` [N, 3, H, W] -> one output
(translation). The sizes it does not declare are measured with ONNX Runtime: a generator's
image shape from one run, and a translator's `multiple_of` as the smallest power of two whose
odd multiples come back at their own size. The file is copied byte for byte; model.json
records its name and sha256, and a graph fitting no kind is refused with what it would need.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

from service.engine.runtime import SIGNATURES
from service.manifest import ImageSpec, Manifest
from training.importers import folder, provenance
from training.importers.job import Job

FLOAT, INT64 = "tensor(float)", "tensor(int64)"
MAX_MULTIPLE = 512
SIZE = 256  # a translator's nominal size when the graph does not fix one


class OnnxImportError(ValueError):
    """The file is not an ONNX graph the service can serve; the message says why."""


@dataclass
class Graph:
    """What one ONNX file is, as far as the service is concerned."""

    name: str  # the file's
    kind: str
    session: ort.InferenceSession
    opset: int
    producer: str

    @property
    def inputs(self) -> dict[str, list]:
        return {a.name: list(a.shape) for a in self.session.get_inputs()}


def _session(path: Path) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.log_severity_level = 4  # the probing runs fail on purpose; say nothing
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _kind(args: list) -> str | None:
    shapes = sorted((a.type, len(a.shape)) for a in args)
    return {
        ((FLOAT, 4),): "translation",
        ((FLOAT, 2),): "unconditional",
        ((FLOAT, 2), (INT64, 1)): "conditional",
    }.get(tuple(shapes))


def inspect(path: Path) -> Graph:
    """Open and classify one file; refuse what the service could not serve."""
    try:
        proto = onnx.load(str(path), load_external_data=False)
        session = _session(path)
    except Exception as exc:  # onnx and ORT raise their own types for anything unreadable
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise OnnxImportError(
            f"{path.name} is not an ONNX model ONNX Runtime can load: {first}"
        ) from None
    args = session.get_inputs()
    described = ", ".join(f"{a.name} {a.type} {list(a.shape)}" for a in args)
    kind = _kind(args)
    if kind is None:
        raise OnnxImportError(
            f"{path.name} fits no kind: its inputs are {described}; ganserve serves "
            "z float [N, D] -> image, z and label int64 [N] -> image, or image float "
            "[N, 3, H, W] -> a float [N, 3, H, W]"
        )
    want_in, want_out = SIGNATURES[kind]
    if {a.name for a in args} != set(want_in):
        raise OnnxImportError(
            f"{path.name} looks {kind} but its inputs are named {sorted(a.name for a in args)}; "
            f"the service feeds {sorted(want_in)}: export it with input_names={sorted(want_in)}"
        )
    outputs = session.get_outputs()
    if not outputs or outputs[0].type != FLOAT or len(outputs[0].shape) != 4:
        raise OnnxImportError(f"{path.name}: its first output must be float [N, C, H, W]")
    if "image" in want_out and outputs[0].name != "image":
        raise OnnxImportError(
            f"{path.name}: a generator's first output must be named 'image', not "
            f"{outputs[0].name!r} (export it with output_names=['image'])"
        )
    for a in args:
        if isinstance(a.shape[0], int):
            raise OnnxImportError(
                f"{path.name}: input {a.name} has a fixed batch of {a.shape[0]}; the service "
                "batches requests: export it with a dynamic first axis"
            )
    opset = max((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), default=0)
    producer = f"{proto.producer_name} {proto.producer_version}".strip() or "unknown"
    return Graph(path.name, kind, session, opset, producer)


def generator_shape(g: Graph) -> tuple[int, int, int, int]:
    """(latent dim, channels, height, width), the last three from one run of two rows."""
    dim = g.inputs["z"][1]
    if not isinstance(dim, int):
        raise OnnxImportError(f"{g.name}: z has no fixed size; the manifest needs it")
    feeds = {"z": np.zeros((2, dim), np.float32)}
    if g.kind == "conditional":
        feeds["label"] = np.zeros(2, np.int64)
    out = g.session.run(None, feeds)[0]
    if out.shape[0] != 2 or out.shape[1] not in (1, 3):
        raise OnnxImportError(f"{g.name}: two latents gave {list(out.shape)}, not [2, 1|3, H, W]")
    return dim, *out.shape[1:]


def _keeps_size(g: Graph, h: int, w: int) -> bool:
    try:
        out = g.session.run(None, {"image": np.zeros((1, 3, h, w), np.float32)})[0]
    except Exception:  # the graph cannot take this size
        return False
    return out.shape == (1, 3, h, w)


def _check_labels(g: Graph, dim: int, count: int) -> None:
    """The last class of --classes must be a label the graph takes."""
    feeds = {"z": np.zeros((1, dim), np.float32), "label": np.array([count - 1], np.int64)}
    try:
        g.session.run(None, feeds)
    except Exception as exc:
        raise OnnxImportError(
            f"{g.name}: label {count - 1} fails: the graph has fewer classes than the {count} "
            "of --classes"
        ) from exc


def multiple_of(g: Graph) -> int:
    """The smallest power of two m such that photos of odd multiples of m (at least 64 px)
    come back at their own size."""
    shape = g.inputs["image"]
    if any(isinstance(d, int) for d in shape[2:]):
        raise OnnxImportError(
            f"{g.name}: image takes only {shape[2]}x{shape[3]}; the service translates "
            "photos at their own size: export it with dynamic H and W axes"
        )
    m = 1
    while m <= MAX_MULTIPLE:
        k = -(-64 // m) | 1  # odd, so m is the largest power of two dividing the side
        if _keeps_size(g, m * k, m * (k + 2)) and _keeps_size(g, m * (k + 2), m * k):
            return m
        m *= 2
    raise OnnxImportError(
        f"{g.name}: no size up to {MAX_MULTIPLE * 3} px came back at its own size: not a "
        "translator the service can pad photos for"
    )


def output_range(g: Graph, multiple: int) -> list[float]:
    """min and max of the output on random inputs: the contract says [-1, 1]."""
    rng = np.random.default_rng(0)
    if g.kind == "translation":
        side = multiple * -(-64 // multiple)
        feeds = {"image": rng.uniform(-1, 1, (1, 3, side, side)).astype(np.float32)}
    else:
        feeds = {"z": rng.standard_normal((8, g.inputs["z"][1])).astype(np.float32)}
        if g.kind == "conditional":
            feeds["label"] = np.zeros(8, np.int64)
    out = g.session.run(None, feeds)[0]
    return [round(float(out.min()), 4), round(float(out.max()), 4)]


def run(files: list[Path], classes: list[str] | None, job: Job) -> Manifest:
    graphs = [inspect(p) for p in files]
    kind = graphs[0].kind
    if len(files) == 2 and {g.kind for g in graphs} != {"translation"}:
        raise OnnxImportError(
            f"{files[0].name}, {files[1].name}: two files make a translation model (a2b, b2a); "
            "these are not both translators"
        )
    if kind == "conditional" and not classes:
        raise OnnxImportError(
            f"{files[0].name} is a conditional generator (z and label): pass --classes with "
            "its class names in label order"
        )
    roles = ["a2b", "b2a"][: len(files)] if kind == "translation" else ["generator"]
    records = {}
    for role, path, g in zip(roles, files, graphs, strict=True):
        measured = {}
        if kind == "translation":
            measured["multiple_of"] = multiple_of(g)
        else:
            latent, c, h, w = generator_shape(g)
            if classes:
                _check_labels(g, latent, len(classes))
        measured["output_range"] = output_range(g, measured.get("multiple_of", 1))
        records[role] = provenance.file_record(
            path, kind=kind, opset=g.opset, producer=g.producer, inputs=g.inputs, **measured
        )
    job.out.mkdir(parents=True, exist_ok=True)
    for role, path in zip(roles, files, strict=True):
        shutil.copyfile(path, job.out / f"{role}.onnx")  # byte for byte: the hash stays
    if kind == "translation":
        # one padding for both directions: the larger (powers of two divide each other)
        multiple = max(r["multiple_of"] for r in records.values())
        side = -(-SIZE // multiple) * multiple
        image = ImageSpec(channels=3, height=side, width=side, multiple_of=multiple)
        latent = None
    else:
        image = ImageSpec(channels=c, height=h, width=w)
    source = provenance.record(
        "an ONNX file exported elsewhere, copied byte for byte",
        records,
        provenance.UNKNOWN_LICENCE,
        job.command,
    )
    names = ", ".join(p.name for p in files)
    return folder.write(
        job,
        kind,
        image,
        roles,
        f"{kind} model imported from {names}",
        source,
        domains=kind == "translation",
        latent=latent,
        classes=classes if kind == "conditional" else None,
        notes=[
            "inputs are assumed in [-1, 1] and latents standard normal, as the service "
            f"feeds them; measured output range on random inputs: "
            f"{', '.join(str(r['output_range']) for r in records.values())}"
        ],
    )
