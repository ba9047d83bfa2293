"""The model folder of an imported model: its ONNX files (already in place), model.json with
their hashes and the `source` record, samples.png (a translator's: when photos were given),
README.md."""

from __future__ import annotations

from typing import Any

from service.manifest import FileRef, ImageSpec, LatentSpec, Manifest, sha256_of
from training.export import PHOTOS, samples
from training.importers import card
from training.importers.job import Job


def write(
    job: Job,
    kind: str,
    image: ImageSpec,
    roles: list[str],
    description: str,
    source: dict[str, Any],
    domains: bool = False,
    latent: int | None = None,
    classes: list[str] | None = None,
    notes: list[str] | None = None,
    scale: int | None = None,
) -> Manifest:
    """`roles` name the files `<role>.onnx` in `job.out`; `domains` whether the manifest
    names them (translation); `scale` a super-resolution model's. The samples of a
    translation direction are the job's photos for it, a super-resolution model's the
    picture it enlarges (a generator's preview needs none)."""
    out = job.out
    photos = job.photos_for(roles)
    manifest = Manifest(
        name=out.name,
        kind=kind,
        description=description,
        image=image,
        latent=LatentSpec(dim=latent) if latent else None,
        classes=classes,
        domains=dict(zip("ab", job.domains, strict=True)) if domains else None,
        scale=scale,
        files={r: FileRef(path=f"{r}.onnx", sha256=sha256_of(out / f"{r}.onnx")) for r in roles},
        source=source,
    )
    with_samples = kind != "translation" or bool(photos)
    if with_samples:
        extra = {PHOTOS[role]: batch for role, batch in photos.items()}
        if photos:  # one grid, so every direction shows as many photos
            n = min(len(batch) for batch in photos.values())
            extra = {key: batch[:n] for key, batch in extra.items()}
        samples(out, manifest, extra)
    manifest.dump(out)
    (out / "README.md").write_text(card.text(manifest, with_samples, notes or []))
    print(f"imported {kind} model {manifest.name!r} ({', '.join(roles)}) to {out}")
    return manifest
