"""A rebuilt StyleGAN generator -> `mapping.onnx` and `synthesis.onnx` (the contract of
`service.manifest.StyleGANSpec`), their parity against PyTorch, and the preview grid.

The graphs come from the dynamo exporter (`torch.onnx.export(dynamo=True)`): the TorchScript
exporter cannot export a convolution whose weight is computed. Each file is written whole,
weights inside (no `.onnx.data` beside it), so the manifest's one sha256 covers all of it;
ONNX's 2 GiB limit is far above a StyleGAN's 30 M parameters. The batch axis is traced at 3
(the exporter fixes a traced size of 1) and checked at 1 and 2, each half alone and the two
in a row against the PyTorch generator as a whole. Memory is bounded: the PyTorch reference
runs one row at a time (rows are independent), ONNX Runtime at most two rows per run; a
StyleGAN3 at 1024 px holds over a GiB per row in a single activation.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from torch import nn

from service.latents import default_label, latents
from service.manifest import Manifest
from service.stylegan_transform import input_transforms, synthesis_feeds
from training.export import IR_VERSION, ExportError
from training.imaging import grid, save_png

OPSET = 18
TRACE_BATCH = 3
PARITY_BATCHES = (1, 2)
SAMPLE_PIXELS = 2**20  # rows per synthesis run for samples.png: this many pixels, at least 1
SAMPLE_TILE = 256  # larger images are averaged down to this for the grid (a 4x4 of 1024 px
# noise-like tiles made a 25 MB PNG)


class MappingGraph(nn.Module):
    """(z, c, psi) -> ws for a conditional generator; see `Unconditional`."""

    def __init__(self, g: nn.Module) -> None:
        super().__init__()
        self.mapping = g.mapping

    def forward(self, z: torch.Tensor, c: torch.Tensor, psi: torch.Tensor) -> torch.Tensor:
        return self.mapping(z, c, psi)


class UnconditionalMappingGraph(MappingGraph):
    """(z, psi) -> ws: a generator with c_dim 0 takes no `c`."""

    def forward(self, z: torch.Tensor, psi: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return self.mapping(z, None, psi)


class SynthesisGraph(nn.Module):
    """ws -> image (StyleGAN2); see `TransformedSynthesisGraph`."""

    def __init__(self, g: nn.Module) -> None:
        super().__init__()
        self.synthesis = g.synthesis

    def forward(self, ws: torch.Tensor) -> torch.Tensor:
        return self.synthesis(ws)


class TransformedSynthesisGraph(SynthesisGraph):
    """(ws, transform) -> image: a StyleGAN3 takes each row's input transform [N, 3, 3] in
    place of its buffer, so requests translate and rotate their own rows."""

    def forward(self, ws: torch.Tensor, transform: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return self.synthesis(ws, transform)


def stored_transform(g: nn.Module) -> np.ndarray | None:
    """A StyleGAN3's input transform buffer (float32 [3, 3]); None for a StyleGAN2."""
    synthesis_input = getattr(g.synthesis, "input", None)
    if synthesis_input is None:
        return None
    return synthesis_input.transform.detach().cpu().numpy().astype(np.float32)


def random_transforms(n: int, rng: np.random.Generator) -> np.ndarray:
    """n rows of translations within an image width and any rotation, as requests give."""
    translate = rng.uniform(-1, 1, (n, 2))
    return input_transforms(translate, rng.uniform(-180, 180, n))


def _write(
    module: nn.Module, args: tuple, names: list[str], output: str, path: Path, opset: int
) -> None:
    # the exporter logs a warning per torchvision operator it cannot register: none is used
    logging.getLogger("torch.onnx._internal.exporter._registration").setLevel(logging.ERROR)
    batch = torch.export.Dim("N", min=1, max=1024)
    shapes = {arg: {0: batch} for arg in names}
    with warnings.catch_warnings():  # exporter notes, not problems
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            module.eval(),
            args,
            input_names=names,
            output_names=[output],
            dynamic_shapes=shapes,
            opset_version=opset,
            dynamo=True,
            verbose=False,
        )
    model = program.model_proto
    model.ir_version = min(model.ir_version, IR_VERSION)
    onnx.checker.check_model(model)
    onnx.save_model(model, str(path), save_as_external_data=False)
    if path.with_name(path.name + ".data").exists():
        raise ExportError(f"{path.name}: the exporter wrote external data")


def feeds_for(g: nn.Module, n: int, rng: np.random.Generator, psi: float) -> dict:
    """The mapping's inputs for n random rows: z, one-hot c (conditional), psi."""
    feeds = {"z": rng.standard_normal((n, g.z_dim)).astype(np.float32)}
    if g.c_dim:
        feeds["c"] = np.eye(g.c_dim, dtype=np.float32)[rng.integers(0, g.c_dim, n)]
    feeds["psi"] = np.full(n, psi, np.float32)
    return feeds


class _Generate(nn.Module):
    """The whole generator with the mapping's inputs, for the end-to-end check."""

    def __init__(self, g: nn.Module) -> None:
        super().__init__()
        self.g = g

    def forward(self, z: torch.Tensor, *rest: torch.Tensor) -> torch.Tensor:
        c, psi = (None, rest[0]) if len(rest) == 1 else rest
        return self.g(z, c, psi)


def _session(path: Path) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors still raise
    # no arena: it would keep each run's peak (gigabytes at 1024 px) beside PyTorch's rows
    options.enable_cpu_mem_arena = False
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


class _Chained:
    """mapping.onnx then synthesis.onnx in ONNX Runtime, as the service will run them (a
    StyleGAN3's rows with the `stored` transform)."""

    def __init__(self, out: Path, stored: np.ndarray | None) -> None:
        self.mapping = _session(out / "mapping.onnx")
        self.synthesis = _session(out / "synthesis.onnx")
        self.stored = stored

    def run(self, _outputs, feeds: dict) -> list[np.ndarray]:
        ws = self.mapping.run(None, feeds)[0]
        return self.synthesis.run(None, synthesis_feeds(ws, self.stored))


def export(
    g: nn.Module, out: Path, psi: float, tolerance: float, opset: int = OPSET
) -> dict[str, dict[str, float]]:
    """Write both files; return max |onnxruntime - torch| per role and batch size. A
    StyleGAN3's synthesis is checked on random transforms, and mapping then synthesis on
    its stored one against G(z, c, psi)."""
    if opset < OPSET:
        raise ExportError(f"opset {opset}: the dynamo exporter needs {OPSET} or newer")
    out.mkdir(parents=True, exist_ok=True)
    mapping: nn.Module = MappingGraph(g) if g.c_dim else UnconditionalMappingGraph(g)
    rng = np.random.default_rng(0)
    traced = feeds_for(g, TRACE_BATCH, rng, psi)
    args = tuple(torch.from_numpy(v) for v in traced.values())
    _write(mapping, args, list(traced), "ws", out / "mapping.onnx", opset)
    with torch.no_grad():
        ws = mapping(*args)
    stored = stored_transform(g)
    synthesis = SynthesisGraph(g) if stored is None else TransformedSynthesisGraph(g)
    traced_synthesis = synthesis_feeds(ws.numpy(), stored)
    if stored is not None:
        traced_synthesis["transform"] = random_transforms(TRACE_BATCH, rng)
    synthesis_args = tuple(torch.from_numpy(v) for v in traced_synthesis.values())
    _write(
        synthesis, synthesis_args, list(traced_synthesis), "image", out / "synthesis.onnx", opset
    )
    print(f"export: mapping.onnx and synthesis.onnx (opset {opset}, batch axis dynamic)")
    generate = _Generate(g)
    parity: dict[str, dict[str, float]] = {"mapping": {}, "synthesis": {}, "generate": {}}
    if stored is not None:
        parity["synthesis, random transforms"] = {}
    chained = _Chained(out, stored)
    for n in PARITY_BATCHES:
        feeds = feeds_for(g, n, rng, psi)
        key = f"batch {n}"
        ws = chained.mapping.run(None, feeds)[0]
        parity["mapping"][key] = _compare("mapping", ws, mapping, feeds, tolerance)
        own = synthesis_feeds(ws, stored)
        image = chained.synthesis.run(None, own)[0]  # the chain's own output
        parity["synthesis"][key] = _compare("synthesis", image, synthesis, own, tolerance)
        role = "mapping + synthesis vs G(z, c, psi)"
        parity["generate"][key] = _compare(role, image, generate, feeds, tolerance)
        if stored is not None:
            moved = {"ws": ws, "transform": random_transforms(n, rng)}
            image = chained.synthesis.run(None, moved)[0]
            role = "synthesis, random transforms"
            parity[role][key] = _compare(role, image, synthesis, moved, tolerance)
    return parity


def _compare(
    role: str, out: np.ndarray, module: nn.Module, feeds: dict[str, np.ndarray], tolerance: float
) -> float:
    """ONNX Runtime's output on the whole batch against `module` row by row: the largest
    difference."""
    with torch.no_grad():
        rows = [
            module(*(torch.from_numpy(v[i : i + 1]) for v in feeds.values())).numpy()
            for i in range(len(out))
        ]
    ref = np.concatenate(rows)
    if out.shape != ref.shape or out.dtype != np.float32:
        raise ExportError(f"{role}: ONNX gives {out.dtype}{out.shape}, torch {ref.shape}")
    diff = float(np.abs(out - ref).max())
    shapes = ", ".join(f"{k}{list(v.shape)}" for k, v in feeds.items())
    print(f"parity: {role}: max |onnxruntime - torch| = {diff:.3g} on {shapes}", flush=True)
    if diff > tolerance:
        raise ExportError(f"{role}: ONNX Runtime differs from PyTorch by {diff} > {tolerance}")
    return diff


def samples(out: Path, manifest: Manifest) -> None:
    """samples.png from the exported files, as `/generate` draws them: seeds 0.., z by the
    service's seed rule, a conditional model's label `seed % c_dim` as one-hot c, the
    model's default psi; 8x8 images up to 128 px, 4x4 above, each averaged down to at most
    SAMPLE_TILE px."""
    spec = manifest.stylegan
    count, per_row = (64, 8) if spec.resolution <= 128 else (16, 4)
    seeds = list(range(count))
    feeds = {"z": latents(seeds, spec.z_dim)}
    if spec.c_dim:
        labels = np.array([default_label(s, spec.c_dim) for s in seeds])
        order = np.argsort(labels, kind="stable")  # the classes in rows
        feeds = {"z": feeds["z"][order], "c": np.eye(spec.c_dim, dtype=np.float32)[labels[order]]}
    feeds["psi"] = np.full(count, spec.psi, np.float32)
    chained = _Chained(
        out, None if spec.transform is None else np.array(spec.transform, np.float32)
    )
    chunk = max(SAMPLE_PIXELS // spec.resolution**2, 1)
    images = [
        _shrink(chained.run(None, {k: v[i : i + chunk] for k, v in feeds.items()})[0])
        for i in range(0, count, chunk)
    ]
    save_png(grid(np.concatenate(images), per_row), out / "samples.png")


def _shrink(images: np.ndarray) -> np.ndarray:
    """[N, C, R, R] averaged over f x f blocks down to at most SAMPLE_TILE px."""
    n, c, r, _ = images.shape
    f = max(r // SAMPLE_TILE, 1)
    return images.reshape(n, c, r // f, f, r // f, f).mean(axis=(3, 5))
