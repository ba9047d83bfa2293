// Which forms the chosen model gets: generate and interpolate for a generator, translate
// (with the directions it has) for a translation model, a sentence for one that is not ready.

import { $ } from "./dom.js";

function fillLabels(select, m) {
  select.replaceChildren(new Option("any (by seed)", ""));
  (m.classes || []).forEach((c, i) => select.append(new Option(c === String(i) ? c : `${i}: ${c}`, c)));
}

function showDirections(m) {
  const d = m.domains || { a: "a", b: "b" };
  const has = m.directions || ["a2b", "b2a"];
  for (const [dir, src, dst] of [["a2b", d.a, d.b], ["b2a", d.b, d.a]]) {
    const radio = $(`tr-${dir}`);
    radio.disabled = !has.includes(dir);
    $(`tr-${dir}-label`).textContent = `${dir}: ${src} → ${dst}${radio.disabled ? " (not in this model)" : ""}`;
  }
  // A one-direction model (the CycleGAN authors release one file per direction).
  if (!has.includes($("translate-form").elements.direction.value)) $(`tr-${has[0]}`).checked = true;
}

/** Show the panels that fit model `m` (null: none is available). */
export function showPanels(m) {
  const ready = m && m.state === "ready";
  const generator = ready && (m.kind === "unconditional" || m.kind === "conditional");
  $("generate-section").hidden = !generator;
  $("interpolate-section").hidden = !generator;
  const upscaler = ready && m.kind === "super-resolution";
  $("translate-section").hidden = !(ready && (m.kind === "translation" || upscaler));
  $("tr-directions").hidden = upscaler;
  $("translate-heading").textContent = upscaler ? `Upscale ${m.scale}×` : "Translate";
  $("empty-section").hidden = Boolean(ready);
  if (!ready) {
    $("empty-text").textContent = m
      ? `${m.name} is not ready: ${m.reason || "unknown reason"}. Choose another model, or fix it and press “Rescan folder”.`
      : "No model is available.";
  }
  const conditional = generator && m.kind === "conditional";
  for (const el of document.querySelectorAll("[data-conditional]")) el.hidden = !conditional;
  if (conditional) {
    fillLabels($("gen-label"), m);
    fillLabels($("int-label"), m);
  }
  if (ready && m.kind === "translation") showDirections(m);
  document.body.classList.toggle("pixelated", Boolean(m && m.image && Math.max(m.image.width, m.image.height) <= 64));
}
