// A generated image as a selectable tile, and the one details panel of the selected tile
// (enlarged, seed and label, PNG download, use as seed A / B).

import { $, infoRow } from "./dom.js";
import { current } from "./models.js";

/** `3 (cat)`, or just `3` when the class is named by its index (MNIST digits). */
function labelText(img) {
  const name = img.class_name;
  return name && name !== String(img.label) ? `${img.label} (${name})` : String(img.label);
}

const hasLabel = (img) => img.label !== null && img.label !== undefined;

function caption(img) {
  const parts = [`seed ${img.seed}`];
  if (hasLabel(img)) parts.push(`label ${labelText(img)}`);
  return parts.join(", ");
}

const pngUrl = (b64) => `data:image/png;base64,${b64}`;

/** One image of an answer as a list item; `extra` names its place on an interpolation path. */
export function tile(img, extra) {
  const li = document.createElement("li");
  const button = document.createElement("button");
  button.type = "button";
  button.className = "tile";
  button.setAttribute("aria-pressed", "false");
  const text = caption(img);
  button.title = extra ? `${extra}, ${text}` : text;
  button.dataset.seed = String(img.seed);
  if (hasLabel(img)) button.dataset.label = String(img.label);
  const picture = document.createElement("img");
  picture.src = pngUrl(img.png);
  picture.alt = `generated image, ${button.title}`;
  const cap = document.createElement("span");
  cap.className = "caption";
  cap.textContent = extra || (img.class_name ? `${img.seed} · ${img.class_name}` : `seed ${img.seed}`);
  button.append(picture, cap);
  button.addEventListener("click", () => select(img, button, extra));
  li.append(button);
  return li;
}

function select(img, button, extra) {
  for (const el of document.querySelectorAll(".tile[aria-pressed=true]")) el.setAttribute("aria-pressed", "false");
  button.setAttribute("aria-pressed", "true");
  const panel = $("selected");
  // One details panel, shown under the list the image came from.
  const list = button.closest("ul, ol");
  if (list && list.nextElementSibling !== panel) list.after(panel);
  panel.hidden = false;
  $("selected-img").src = pngUrl(img.png);
  $("selected-img").alt = `enlarged: ${caption(img)}`;
  const model = current();
  const dl = $("selected-info");
  dl.replaceChildren();
  infoRow(dl, "Model", model ? model.name : "—");
  infoRow(dl, "Seed", String(img.seed));
  if (extra) infoRow(dl, "On the path", `${extra} (seed: the nearer end)`);
  if (hasLabel(img)) infoRow(dl, "Label", labelText(img));
  panel.dataset.seed = String(img.seed);
  const link = $("selected-download");
  link.href = pngUrl(img.png);
  link.download = `${model ? model.name : "ganserve"}-seed${img.seed}${img.class_name ? `-${img.class_name}` : ""}.png`;
}

/** The panel's *use as seed A / B* buttons fill the interpolate form. */
export function setupSelected() {
  for (const [button, field] of [["use-a", "int-a"], ["use-b", "int-b"]]) {
    $(button).addEventListener("click", () => {
      $(field).value = $("selected").dataset.seed;
      $(field).focus();
    });
  }
}
