// Which forms the chosen model gets: generate and interpolate for a generator (a psi slider
// for a StyleGAN), translate (with the directions it has) for a translation model, a sentence
// for one that is not ready.

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

/** A psi slider at `value` (the model's own psi), its number shown beside its label. */
function setPsi(id, value) {
  const slider = $(id);
  slider.value = String(value);
  $(`${id}-value`).textContent = Number(slider.value).toFixed(2);
}

/** Keep each psi slider's number beside it as it moves. */
export function setupPsi() {
  for (const id of ["gen-psi", "int-psi"]) {
    $(id).addEventListener("input", () => {
      $(`${id}-value`).textContent = Number($(id).value).toFixed(2);
    });
  }
}

/** Show the panels that fit model `m` (null: none is available). */
export function showPanels(m) {
  const ready = m && m.state === "ready";
  const generator = ready && ["unconditional", "conditional", "stylegan"].includes(m.kind);
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
  const conditional = generator && Boolean(m.classes && m.classes.length);
  for (const el of document.querySelectorAll("[data-conditional]")) el.hidden = !conditional;
  if (conditional) {
    fillLabels($("gen-label"), m);
    fillLabels($("int-label"), m);
  }
  const stylegan = generator && m.kind === "stylegan";
  for (const el of document.querySelectorAll("[data-stylegan]")) el.hidden = !stylegan;
  for (const el of document.querySelectorAll("[data-not-stylegan]")) el.hidden = stylegan;
  if (stylegan) for (const id of ["gen-psi", "int-psi"]) setPsi(id, m.stylegan.psi);
  if (ready && m.kind === "translation") showDirections(m);
  document.body.classList.toggle("pixelated", Boolean(m && m.image && Math.max(m.image.width, m.image.height) <= 64));
}
