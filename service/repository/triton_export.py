"""Export a model folder as an NVIDIA Triton model repository (ONNX Runtime backend).

    python -m service.repository.triton_export models/dcgan-mnist --out triton_repo [--max-batch 64]

For every ONNX file of the folder it writes `<out>/<triton name>/config.pbtxt` and copies the
file unchanged to `<out>/<triton name>/1/model.onnx`. Generators are named after the model,
translation directions `<model>-a2b` and `<model>-b2a`. Input and output names, element types
and shapes are read from the ONNX graph itself (ONNX Runtime's metadata, CPU only, nothing is
run) and checked against the manifest by the service's own rules (`service.engine.runtime`); the
batch axis is left out of `dims` (Triton adds it), dynamic axes are `-1`. No torch.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from service.engine.runtime import SignatureError, check_signature, cpu_session
from service.manifest import Manifest

# ONNX Runtime's element type strings -> Triton data types.
TRITON_TYPES = {
    "tensor(float)": "TYPE_FP32",
    "tensor(float16)": "TYPE_FP16",
    "tensor(double)": "TYPE_FP64",
    "tensor(int64)": "TYPE_INT64",
    "tensor(int32)": "TYPE_INT32",
    "tensor(uint8)": "TYPE_UINT8",
    "tensor(bool)": "TYPE_BOOL",
}


@dataclass(frozen=True)
class Tensor:
    name: str
    data_type: str
    dims: tuple[int, ...]  # without the batch axis; -1 where dynamic


def _dims(shape: list) -> tuple[int, ...]:
    """Drop the batch axis; symbolic or unknown sizes become -1."""
    return tuple(d if isinstance(d, int) and d > 0 else -1 for d in shape[1:])


def read_signature(path: Path, manifest: Manifest, role: str) -> tuple[list[Tensor], list[Tensor]]:
    """Inputs and outputs of an ONNX file, as Triton sees them, after the service's own
    signature check for the manifest's kind (runtime.check_signature)."""
    session = cpu_session(path)
    check_signature(session, manifest, role)

    def convert(args) -> list[Tensor]:
        out = []
        for arg in args:
            if arg.type not in TRITON_TYPES:
                raise ValueError(f"{path.name}: {arg.name} has unsupported type {arg.type}")
            out.append(Tensor(arg.name, TRITON_TYPES[arg.type], _dims(list(arg.shape))))
        return out

    return convert(session.get_inputs()), convert(session.get_outputs())


def _tensor_block(t: Tensor) -> str:
    # A per-row scalar (the [N] label) cannot have empty dims in Triton: it is [1] on the wire
    # and reshaped to [] for the model.
    dims = ", ".join(str(d) for d in t.dims) if t.dims else "1"
    reshape = "" if t.dims else "\n    reshape: { shape: [ ] }"
    body = f'name: "{t.name}"\n    data_type: {t.data_type}\n    dims: [ {dims} ]{reshape}'
    return f"  {{\n    {body}\n  }}"


def render_config(
    name: str,
    inputs: list[Tensor],
    outputs: list[Tensor],
    *,
    max_batch_size: int,
    max_queue_delay_us: int,
    gpu: bool,
) -> str:
    """config.pbtxt text (protobuf text format) for one ONNX model."""
    sizes = sorted({s for s in (1, 2, 4, 8, 16, 32, 64, max_batch_size) if s <= max_batch_size})
    lines = [
        f'name: "{name}"',
        'platform: "onnxruntime_onnx"',
        'backend: "onnxruntime"',
        f"max_batch_size: {max_batch_size}",
        "input [",
        ",\n".join(_tensor_block(t) for t in inputs),
        "]",
        "output [",
        ",\n".join(_tensor_block(t) for t in outputs),
        "]",
        "dynamic_batching {",
        f"  preferred_batch_size: [ {', '.join(str(s) for s in sizes)} ]",
        f"  max_queue_delay_microseconds: {max_queue_delay_us}",
        "}",
        "instance_group [",
        "  {",
        "    count: 1",
        f"    kind: {'KIND_GPU' if gpu else 'KIND_CPU'}",
        "  }",
        "]",
    ]
    return "\n".join(lines) + "\n"


def export(
    model_dir: Path,
    out: Path,
    *,
    max_batch_size: int = 64,
    max_queue_delay_us: int = 3000,
    gpu: bool = True,
) -> list[Path]:
    """Write one Triton model per ONNX file of `model_dir` under `out`; returns their folders."""
    manifest = Manifest.load(model_dir)
    if max_batch_size < 1:
        raise ValueError("max_batch_size must be at least 1")
    written = []
    for role, ref in manifest.files.items():
        src = model_dir / ref.path
        try:
            inputs, outputs = read_signature(src, manifest, role)
        except SignatureError as exc:
            raise ValueError(f"{role}: {exc}") from exc
        name = manifest.name if role == "generator" else f"{manifest.name}-{role}"
        folder = out / name
        (folder / "1").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, folder / "1" / "model.onnx")
        (folder / "config.pbtxt").write_text(
            render_config(
                name,
                inputs,
                outputs,
                max_batch_size=max_batch_size,
                max_queue_delay_us=max_queue_delay_us,
                gpu=gpu,
            )
        )
        # The manifest beside the model, for clients that need classes, domains or latent.dim.
        (folder / "ganserve.json").write_text(
            json.dumps(
                {"role": role, "manifest": manifest.model_dump(mode="json", exclude_none=True)},
                indent=2,
            )
            + "\n"
        )
        written.append(folder)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m service.repository.triton_export",
        description="Write a Triton model repository for one ganserve model folder.",
    )
    parser.add_argument("model_dir", type=Path, help="a model folder with model.json")
    parser.add_argument("--out", type=Path, required=True, help="Triton model repository")
    parser.add_argument("--max-batch", type=int, default=64, help="max_batch_size (64)")
    parser.add_argument(
        "--max-delay-us", type=int, default=3000, help="dynamic batching queue delay (3000)"
    )
    parser.add_argument("--cpu", action="store_true", help="instance_group KIND_CPU")
    args = parser.parse_args(argv)
    try:
        folders = export(
            args.model_dir,
            args.out,
            max_batch_size=args.max_batch,
            max_queue_delay_us=args.max_delay_us,
            gpu=not args.cpu,
        )
    except (OSError, ValueError) as exc:
        print(f"triton_export: {exc}", file=sys.stderr)
        return 1
    for folder in folders:
        print(folder)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
