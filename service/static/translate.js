// Translate: a picked or dropped photo and its translation side by side, with a download.

import { api } from "./api.js";
import { $, say } from "./dom.js";
import { run } from "./forms.js";
import { current } from "./models.js";

let file = null; // the photo to translate
let objectUrls = []; // blob URLs of the shown pair, revoked on the next answer

function setFile(chosen) {
  file = chosen;
  $("drop").classList.toggle("has-file", Boolean(file));
  $("drop-help").textContent = file
    ? `Chosen: ${file.name} (${Math.max(1, Math.round(file.size / 1024))} KB). Choose or drop another to replace it.`
    : "Choose a file, or drop one on this box.";
}

/** X-Resized (`1280x960->1024x768->1280x960`): the photo was over the service's max_side,
 * translated smaller and scaled back to its own size. Said in words, or "" when it was not. */
function resizeNote(response) {
  const resized = response.headers.get("X-Resized");
  if (!resized) return "";
  const [own, translated] = resized.split("->");
  return (
    `The photo (${own}) is larger than the service translates (max_side): it was translated ` +
    `at ${translated} and scaled back up to ${own}, so its detail is softer.`
  );
}

function show(photo, blob, response, m, direction) {
  for (const url of objectUrls) URL.revokeObjectURL(url);
  const original = URL.createObjectURL(photo);
  const output = URL.createObjectURL(blob);
  objectUrls = [original, output];
  const d = m.domains || { a: "a", b: "b" };
  const [src, dst] = direction === "a2b" ? [d.a, d.b] : [d.b, d.a];
  const size = response.headers.get("X-Image-Size") || "";
  $("tr-original").src = original;
  $("tr-original").alt = `the uploaded photo, ${photo.name}`;
  $("tr-original-caption").textContent = `original (${src}): ${photo.name}`;
  $("tr-output").src = output;
  $("tr-output").alt = `${photo.name} translated ${src} to ${dst}`;
  const note = resizeNote(response);
  const scaled = note ? " (translated smaller, scaled back)" : "";
  $("tr-output-caption").textContent = `${dst}${size ? `, ${size}` : ""}${scaled}`;
  const base = photo.name.replace(/\.[^.]*$/, "") || "photo";
  $("tr-download").href = output;
  $("tr-download").download = `${base}-${direction}-${m.name}.png`;
  $("translate-result").hidden = false;
  return `Translated ${photo.name} from ${src} to ${dst} with ${m.name}.${note ? ` ${note}` : ""}`;
}

function translate() {
  const form = $("translate-form");
  const photo = file;
  if (!photo) {
    say("Choose a photo first (or drop one on the box).", "error");
    $("tr-file").focus();
    return;
  }
  const m = current();
  const direction = form.elements.direction.value;
  run(form, "Translating", async () => {
    const data = new FormData();
    data.append("file", photo, photo.name);
    data.append("model", m.name);
    data.append("direction", direction);
    const response = await api("translate", { method: "POST", body: data });
    return show(photo, await response.blob(), response, m, direction);
  });
}

/** Drag and drop onto the box (the whole page would swallow stray drops otherwise). */
function setupDrop(input) {
  const drop = $("drop");
  let depth = 0;
  drop.addEventListener("dragenter", (event) => {
    event.preventDefault();
    depth += 1;
    drop.classList.add("over");
  });
  drop.addEventListener("dragover", (event) => {
    event.preventDefault();
    if (event.dataTransfer) event.dataTransfer.dropEffect = "copy";
  });
  drop.addEventListener("dragleave", () => {
    depth = Math.max(0, depth - 1);
    if (!depth) drop.classList.remove("over");
  });
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    depth = 0;
    drop.classList.remove("over");
    const files = event.dataTransfer ? event.dataTransfer.files : null;
    if (!files || !files.length) {
      say("Nothing to translate: drop a file (JPEG, PNG or WebP).", "error");
      return;
    }
    try {
      input.files = files; // keeps the picker in step where the browser allows it
    } catch {
      // read-only in some browsers: the page keeps its own reference
    }
    setFile(files[0]);
    translate();
  });
  for (const type of ["dragover", "drop"]) {
    window.addEventListener(type, (event) => {
      if (!drop.contains(event.target)) event.preventDefault();
    });
  }
}

export function setupTranslate() {
  const form = $("translate-form");
  const input = $("tr-file");
  input.addEventListener("change", () => {
    setFile(input.files[0] || null);
    if (file) translate();
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    translate();
  });
  for (const radio of form.elements.direction) {
    radio.addEventListener("change", () => {
      if (file) translate();
    });
  }
  setupDrop(input);
}
