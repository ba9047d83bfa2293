"""`python -m training import pix2pix`: the pix2pix authors' U-Net generator checkpoint
(`latest_net_G.pth`) as a one-direction (`a2b`) translation model folder.

Exported as their test script runs it, but per image: each image normalised by its own
statistics (their batch of one in training mode), every image of a batch separately, so
dynamic batching never mixes two requests; `--eval-norm` uses the running statistics instead.
Dropout is off, so results are deterministic (their test script leaves it on)."""

from __future__ import annotations

from pathlib import Path

import torch

from service.manifest import ImageSpec, Manifest
from training.importers import folder, provenance, resnet, state_dict, translators, unet
from training.importers.job import Job


def _advice(net: str, ngf: int):
    def advice(state: dict[str, torch.Tensor]) -> str:
        found = unet.options_of(state)
        if found is None:
            if resnet.options_of(state) is not None:
                return (
                    "It is a CycleGAN ResNet generator: use `python -m training import cyclegan`."
                )
            return "It is not the authors' U-Net generator (it has no model.model.0.weight)."
        if found["netG"] != net:
            return f"It is {found['netG']}: change --netG."
        if found["ngf"] != ngf:
            return f"It was made with --ngf {found['ngf']}: change --ngf."
        return (
            "Its layout is not the authors' U-Net with BatchNorm (a checkpoint trained with "
            "--norm instance has no BatchNorm entries; only --norm batch is supported)."
        )

    return advice


def load(path: Path, net: str, ngf: int, eval_norm: bool) -> unet.UnetGenerator:
    model = unet.UnetGenerator(net, ngf, eval_norm)
    chosen = f"the authors' U-Net generator with --netG {net} --ngf {ngf}"
    state_dict.fit(model, state_dict.read(path), path.name, chosen, _advice(net, ngf))
    return model.eval()


def run(path: Path, net: str, ngf: int, eval_norm: bool, job: Job) -> Manifest:
    model = load(path, net, ngf, eval_norm)
    multiple = 2 ** unet.LEVELS[net]
    parity = translators.export({"a2b": model}, job, multiple, multiple)
    norm = (
        "batch, running statistics (--eval-norm)"
        if eval_norm
        else "batch, each image by its own statistics (as the authors' test script runs it)"
    )
    source = provenance.authors_record(
        "the pix2pix authors' generator checkpoint",
        {"a2b": provenance.file_record(path)},
        job.command,
        "UnetGenerator",
        {
            "netG": net,
            "ngf": ngf,
            "norm": norm,
            "dropout": "off (eval mode); the authors' test script leaves it on",
            "parameters": sum(p.numel() for p in model.parameters()),
        },
        parity,
    )
    a, b = job.domains
    per_image = "running BatchNorm statistics" if eval_norm else "BatchNorm per image"
    return folder.write(
        job,
        "translation",
        ImageSpec(channels=3, height=multiple, width=multiple, multiple_of=multiple),
        ["a2b"],
        f"pix2pix {a} -> {b} (the authors' {net} generator, ngf {ngf}, {per_image})",
        source,
        domains=True,
        notes=[
            f"sides padded to multiples of {multiple} ({net} halves them {unet.LEVELS[net]} "
            "times); the authors' test script resizes every photo to 256x256 first",
            f"normalisation: {norm}; a batch of requests never mixes their statistics",
            "dropout off, so the same photo always gives the same picture (the authors' "
            "test script leaves dropout on, as noise)",
        ],
    )
