// Generate: n images of a model, by seed (and label for a model with classes, psi for a
// StyleGAN), as a grid.

import { postJson } from "./api.js";
import { $ } from "./dom.js";
import { intField, onSubmit } from "./forms.js";
import { current } from "./models.js";
import { tile } from "./tiles.js";

function read() {
  const m = current();
  const body = { model: m.name, n: intField($("gen-n"), "Images (n)", { min: 1, max: 1000 }) };
  const seed = intField($("gen-seed"), "Seed", { optional: true });
  if (seed !== null) body.seed = seed;
  if (m.kind === "stylegan") {
    body.truncation_psi = Number($("gen-psi").value);
  } else {
    const trunc = $("gen-trunc").value.trim();
    if (trunc !== "") body.truncation = Number(trunc);
  }
  if (m.classes && m.classes.length && $("gen-label").value !== "") body.label = $("gen-label").value;
  return body;
}

async function send(body) {
  const data = await postJson("generate", body);
  $("grid").replaceChildren(...data.images.map((img) => tile(img)));
  $("selected").hidden = true;
  const seeds = data.images.map((i) => i.seed);
  const range = body.seed !== undefined ? `seeds ${seeds[0]} to ${seeds[seeds.length - 1]}` : "random seeds";
  return `${data.images.length} image${data.images.length === 1 ? "" : "s"} from ${data.model}, ${range}. Select one for its details.`;
}

export function setupGenerate() {
  onSubmit($("generate-form"), "Generating", read, send);
}
