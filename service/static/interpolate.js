// Interpolate: a strip of `steps` images from seed A to seed B, slerp or lerp (a StyleGAN's
// in W).

import { postJson } from "./api.js";
import { $ } from "./dom.js";
import { intField, onSubmit } from "./forms.js";
import { current } from "./models.js";
import { tile } from "./tiles.js";

function read() {
  const m = current();
  const body = {
    model: m.name,
    seed_a: intField($("int-a"), "Seed A"),
    seed_b: intField($("int-b"), "Seed B"),
    steps: intField($("int-steps"), "Steps", { min: 2, max: 1000 }),
    method: $("interpolate-form").elements.method.value,
  };
  if (m.classes && m.classes.length && $("int-label").value !== "") body.label = $("int-label").value;
  if (m.kind === "stylegan") body.truncation_psi = Number($("int-psi").value);
  return body;
}

async function send(body) {
  const data = await postJson("interpolate", body);
  const n = data.images.length;
  $("strip").replaceChildren(
    ...data.images.map((img, i) => {
      const t = n > 1 ? i / (n - 1) : 0;
      return tile(img, `${body.method} t=${t.toFixed(2)}`);
    }),
  );
  return `${n} images from seed ${body.seed_a} to seed ${body.seed_b} (${body.method}) with ${data.model}.`;
}

export function setupInterpolate() {
  onSubmit($("interpolate-form"), "Interpolating", read, send);
}
