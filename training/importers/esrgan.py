"""`python -m training import esrgan`: an ESRGAN or Real-ESRGAN checkpoint (BasicSR's
RRDBNet at x4, x2 or x1, Real-ESRGAN's SRVGGNetCompact, or the original ESRGAN release) as a
super-resolution model folder, `upscale.onnx`, that enlarges a photo of any size.

The network, its scale, blocks and widths are read from the checkpoint's keys and shapes; the
options need not be given, and one given wrongly is refused naming the key that disagrees.
The exported graph takes RGB in [0, 1] as Real-ESRGAN feeds it (pixels / 255), sides padded
to multiples of `multiple_of` (x2 RRDBNet: 2, x1: 4), and gives the unclamped output; the
service clamps it to [0, 1], scales by 255 and rounds, as Real-ESRGAN does.
"""

from __future__ import annotations

from pathlib import Path

import torch

from service.manifest import UPSCALE, ImageSpec, Manifest
from training.importers import (
    esrgan_checkpoint,
    esrgan_layout,
    folder,
    low_res,
    provenance,
    upscalers,
)
from training.importers.job import Job
from training.importers.state_dict import fit

SERVED_OUTPUT = 256  # the manifest's nominal input is the size that comes out this large


def _advice(state: dict[str, torch.Tensor]) -> str:
    return (
        "Its options were read from its keys; the other keys do not fit BasicSR's network "
        "built with them."
    )


def run(
    path: Path,
    arch: str | None,
    given: dict[str, int | str | None],
    photo: Path | None,
    job: Job,
) -> Manifest:
    """`given`: the options passed (None where not), checked against what the keys say;
    `photo`: the picture for samples.png (None: a synthetic one)."""
    weights = esrgan_checkpoint.read(path)
    layout = esrgan_layout.read(weights.state, path.name)
    esrgan_layout.agree(layout, arch, given, path.name)
    net = layout.build()
    fit(net, weights.state, path.name, layout.describe(), _advice)
    net.eval()
    scale, multiple = int(layout.options["scale"]), layout.multiple_of  # type: ignore[arg-type]
    job.photos[UPSCALE] = low_res.photo(photo, multiple) if photo else low_res.synthetic()
    parity = upscalers.export(net, job, multiple)
    side = SERVED_OUTPUT // scale
    record = provenance.file_record(path, weights=weights.form)
    if weights.renamed:
        record["renamed_from_original_esrgan"] = weights.renamed
    source = provenance.record(
        "an ESRGAN-family checkpoint (BasicSR / Real-ESRGAN)",
        {UPSCALE: record},
        provenance.ESRGAN_LICENCE,
        job.command,
        authors=provenance.ESRGAN_AUTHORS,
        architecture=layout.arch,
        options={**layout.options, "parameters": sum(p.numel() for p in net.parameters())},
        onnx_parity_max_abs_diff={UPSCALE: parity},
        torch=torch.__version__,
    )
    where = f"the centre of {photo.name}" if photo else "a synthetic pattern"
    return folder.write(
        job,
        "super-resolution",
        ImageSpec(channels=3, height=side, width=side, range=(0.0, 1.0), multiple_of=multiple),
        [UPSCALE],
        f"x{scale} super-resolution: {layout.describe()} (from {path.name})",
        source,
        scale=scale,
        notes=[
            f"served as docs/architecture.md says, at the upload's own size: sides padded by "
            f"reflection to multiples of {multiple}, the output {scale} times larger, cropped "
            "back",
            "input RGB / 255 in [0, 1]; output clamped to [0, 1], times 255, rounded (as "
            "Real-ESRGAN's inference does)",
            f"samples.png: {where}, left enlarged by nearest neighbour, right by the network",
        ],
    )
