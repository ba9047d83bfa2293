"""`python -m training import cyclegan`: the CycleGAN authors' generator checkpoints (one file
per direction, `latest_net_G.pth` of a released model or `<epoch>_net_G_A.pth` / `_G_B.pth`
of a run) as a translation model folder: one file gives `a2b`, two give `a2b` and `b2a`."""

from __future__ import annotations

from pathlib import Path

import torch

from service.manifest import ImageSpec, Manifest
from training.importers import folder, provenance, resnet, state_dict, translators, unet
from training.importers.job import Job

SIZE = 256  # the authors' test-time load size


def _flags(ngf: int, n_blocks: int, dropout: bool) -> str:
    return f"--ngf {ngf} --n-blocks {n_blocks}" + (" --dropout" if dropout else "")


def _advice(chosen: dict[str, object]):
    def advice(state: dict[str, torch.Tensor]) -> str:
        found = resnet.options_of(state)
        if found is None:
            if unet.options_of(state) is not None:
                return "It is a pix2pix U-Net: use `python -m training import pix2pix`."
            return "It is not the authors' ResNet generator (it has no model.1.weight)."
        change = [k for k in found if found[k] != chosen[k]]
        if not change:
            return "Its layout is not the authors' ResnetGenerator."
        flags = ", ".join("--" + k.replace("_", "-") for k in change)
        return f"It was made with {_flags(**found)}: change {flags}."  # type: ignore[arg-type]

    return advice


def load(
    path: Path, ngf: int, n_blocks: int, dropout: bool
) -> tuple[resnet.ResnetGenerator, list[str]]:
    """The authors' generator with the checkpoint's weights, and the statistics dropped."""
    net = resnet.ResnetGenerator(ngf, n_blocks, dropout)
    chosen = {"ngf": ngf, "n_blocks": n_blocks, "dropout": dropout}
    dropped = state_dict.fit(
        net,
        state_dict.read(path),
        path.name,
        f"the authors' ResNet generator with {_flags(ngf, n_blocks, dropout)}",
        _advice(chosen),
    )
    return net.eval(), dropped


def run(files: list[Path], ngf: int, n_blocks: int, dropout: bool, job: Job) -> Manifest:
    roles = ["a2b", "b2a"][: len(files)]
    nets, records = {}, {}
    for role, path in zip(roles, files, strict=True):
        nets[role], dropped = load(path, ngf, n_blocks, dropout)
        records[role] = provenance.file_record(path, dropped_instance_norm_stats=len(dropped))
    parity = translators.export(nets, job, SIZE, resnet.MULTIPLE_OF)
    source = provenance.authors_record(
        "the CycleGAN authors' generator checkpoint(s)",
        records,
        job.command,
        "ResnetGenerator",
        {
            "ngf": ngf,
            "n_blocks": n_blocks,
            "norm": "instance (no affine, no running statistics)",
            "dropout": dropout,
            "padding": "reflect",
            "parameters": sum(p.numel() for p in nets[roles[0]].parameters()),
        },
        parity,
    )
    a, b = job.domains
    return folder.write(
        job,
        "translation",
        ImageSpec(channels=3, height=SIZE, width=SIZE, multiple_of=resnet.MULTIPLE_OF),
        roles,
        f"CycleGAN {a} -> {b}"
        + (f" and {b} -> {a}" if len(roles) == 2 else "")
        + f" (the authors' ResNet-{n_blocks} generator, ngf {ngf})",
        source,
        domains=True,
        notes=[
            "served at the upload's own size (sides padded to multiples of 4), where the "
            "authors' test script resizes every photo to 256x256 first; upload photos of "
            "about 256 px for their look" + ("; dropout is off (eval mode)" if dropout else ""),
        ],
    )
