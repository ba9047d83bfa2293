"""README.md of an imported model: where it came from, how it is run, under what licence."""

from __future__ import annotations

from service.manifest import Manifest


def text(m: Manifest, with_samples: bool, notes: list[str]) -> str:
    src = m.source  # type: ignore[attr-defined]
    img = m.image
    low, high = img.range
    translation = m.kind == "translation"
    if m.kind == "super-resolution":
        kind = (
            f"- kind: {m.kind}, x{m.scale}; RGB in [{low:g}, {high:g}] at any size, sides "
            f"padded to multiples of {img.multiple_of}; output {m.scale} times larger"
        )
    else:
        kind = (
            f"- kind: {m.kind}; image {img.channels}x{img.height}x{img.width} in "
            f"[{low:g}, {high:g}]"
            + (f"; latent dim {m.latent.dim}" if m.latent else "")
            + (f"; sides padded to multiples of {img.multiple_of}" if translation else "")
        )
    lines = [f"# {m.name}", "", m.description, "", kind]
    if m.domains:
        names = {"a2b": ("a", "b"), "b2a": ("b", "a")}
        ways = [f"{r} ({m.domains[names[r][0]]} -> {m.domains[names[r][1]]})" for r in m.roles()]
        lines.append(f"- directions: {', '.join(ways)}")
    if m.classes:
        lines.append(f"- classes: {', '.join(m.classes)}")
    lines.append(f"- origin: {src['origin']}")
    for role, f in src["files"].items():
        lines.append(f"- {role}: from `{f['file']}`, sha256 `{f['sha256']}`")
    if "architecture" in src:
        options = ", ".join(f"{k} {v}" for k, v in src["options"].items())
        lines.append(f"- architecture: {src['architecture']} ({options})")
    if "onnx_parity_max_abs_diff" in src:
        checks = "; ".join(
            f"{role} " + ", ".join(f"{d:.2g} at {size}" for size, d in sizes.items())
            for role, sizes in src["onnx_parity_max_abs_diff"].items()
        )
        lines.append(f"- ONNX Runtime vs PyTorch, max abs diff on a batch of two: {checks}")
    lines += [f"- {note}" for note in notes]
    lines += ["", "## How it was imported", "", "```", src["command"], "```", ""]
    if with_samples:
        lines += ["![samples](samples.png)", ""]
    lines += ["## Licence", "", src["licence"]]
    return "\n".join(lines) + "\n"
