// The models the service reports: the list, the chosen one (kept in the address, /#name),
// its details, the readiness badge and the folder rescan.

import { api, postJson } from "./api.js";
import { $, infoRow, say } from "./dom.js";
import { report } from "./failures.js";
import { showPanels } from "./panels.js";

const KINDS = ["unconditional", "conditional", "stylegan", "translation", "super-resolution"];
let models = []; // what GET models reported
let defaults = {};
let chosen = null;

/** The chosen model (null when there is none). */
export const current = () => chosen;

async function checkReady() {
  const badge = $("readiness");
  try {
    const response = await fetch("readyz", { headers: { Accept: "application/json" } });
    const body = await response.json().catch(() => ({}));
    if (response.ok) {
      badge.dataset.state = "ready";
      badge.textContent = `ready · ${body.models_ready} model${body.models_ready === 1 ? "" : "s"}`;
      badge.title = "readyz: at least one model is loaded and warm";
    } else {
      badge.dataset.state = "down";
      badge.textContent = "not ready";
      badge.title = (body.error && body.error.message) || response.statusText;
    }
  } catch (err) {
    badge.dataset.state = "down";
    badge.textContent = "unreachable";
    badge.title = err.message;
  }
}

function modelLabel(m) {
  const bits = [m.name];
  if (m.state !== "ready") bits.push("(failed)");
  else if (m.untrained) bits.push("(untrained)");
  return bits.join(" ");
}

/** Ask the service for its models and fill the list, by kind; keep the choice if it is still there. */
export async function loadModels(announce = false) {
  const select = $("model");
  checkReady();
  let body;
  try {
    body = await (await api("models", { headers: { Accept: "application/json" } })).json();
  } catch (err) {
    report(err, "Listing the models");
    select.replaceChildren(new Option("unavailable", ""));
    select.disabled = true;
    showPanels(null);
    return;
  }
  models = body.models || [];
  defaults = body.defaults || {};
  const previous = (chosen && chosen.name) || decodeURIComponent(location.hash.slice(1));
  select.replaceChildren();
  const byKind = new Map();
  for (const m of models) {
    const kind = KINDS.includes(m.kind) ? m.kind : "other";
    if (!byKind.has(kind)) byKind.set(kind, []);
    byKind.get(kind).push(m);
  }
  for (const kind of [...KINDS, "other"]) {
    const list = byKind.get(kind);
    if (!list) continue;
    const group = document.createElement("optgroup");
    group.label = kind === "other" ? "not loaded" : kind;
    for (const m of list) group.append(new Option(modelLabel(m), m.name));
    select.append(group);
  }
  if (!models.length) {
    select.append(new Option("no models found", ""));
    select.disabled = true;
    showPanels(null);
    say("The service found no models in its models folder.", "error");
    return;
  }
  select.disabled = false;
  const names = models.map((m) => m.name);
  const firstReady = models.find((m) => m.state === "ready");
  const pick = names.includes(previous) ? previous : (firstReady || models[0]).name;
  select.value = pick;
  choose(pick);
  if (announce) say(`${models.length} model${models.length === 1 ? "" : "s"} listed.`);
}

function providerOf(m) {
  if (m.provider) return m.provider;
  const set = new Set(Object.values(m.sessions || {}).map((s) => s.provider));
  return set.size ? [...set].join(", ") : "—";
}

function renderInfo(m) {
  const dl = $("model-info");
  dl.replaceChildren();
  if (!m) return;
  infoRow(dl, "State", m.state === "ready" ? "ready" : `failed: ${m.reason || "unknown reason"}`,
    m.state === "ready" ? "ok" : "bad");
  if (m.reload_error) infoRow(dl, "Last reload", `refused: ${m.reload_error}`, "bad");
  infoRow(dl, "Kind", m.kind || "—");
  if (m.version) infoRow(dl, "Version", m.version);
  if (m.description) infoRow(dl, "About", m.description);
  infoRow(dl, "Provider", providerOf(m));
  infoRow(dl, "Trained", m.untrained ? "no: untrained placeholder" : m.untrained === false ? "yes" : "—",
    m.untrained ? "warn" : "");
  if (m.image) {
    const img = m.image;
    let size = `${img.width}×${img.height}, ${img.channels === 1 ? "grey" : "RGB"}`;
    if (m.kind === "translation") size += ` (any size, sides padded to multiples of ${img.multiple_of})`;
    if (m.kind === "super-resolution") size = `any size, answered ${m.scale}× larger (sides padded to multiples of ${img.multiple_of})`;
    infoRow(dl, "Images", size);
  }
  if (m.latent) infoRow(dl, "Latent", `${m.latent.dim}-d ${m.latent.distribution}`);
  if (m.stylegan) {
    const sg = m.stylegan;
    infoRow(dl, "StyleGAN", `${sg.architecture}, ${sg.resolution}×${sg.resolution}, ${sg.num_ws} ws of ${sg.w_dim}, ` +
      `${sg.c_dim ? `${sg.c_dim} classes` : "no classes"}, default ψ ${sg.psi}`);
  }
  if (m.classes && m.classes.length) {
    const list = document.createElement("span");
    list.className = "chips";
    m.classes.forEach((c, i) => {
      const chip = document.createElement("span");
      chip.className = "chip";
      chip.textContent = c === String(i) ? c : `${i} ${c}`;
      list.append(chip);
    });
    infoRow(dl, `Classes (${m.classes.length})`, list);
  }
  if (m.domains) infoRow(dl, "Domains", `a = ${m.domains.a}, b = ${m.domains.b}`);
  if (m.directions) infoRow(dl, "Directions", m.directions.join(", "));
  const isDefault = Object.entries(defaults).filter(([, name]) => name === m.name).map(([k]) => k);
  if (isDefault.length) infoRow(dl, "Default for", isDefault.join(", "));
}

function choose(name) {
  const m = models.find((x) => x.name === name) || null;
  const changed = !chosen || !m || chosen.name !== m.name;
  chosen = m;
  renderInfo(m);
  showPanels(m);
  if (m && location.hash.slice(1) !== encodeURIComponent(m.name)) {
    history.replaceState(null, "", `#${encodeURIComponent(m.name)}`);
  }
  if (changed) {
    $("grid").replaceChildren();
    $("strip").replaceChildren();
    $("selected").hidden = true;
  }
}

async function rescan() {
  const button = $("reload");
  button.disabled = true;
  say("Rescanning the models folder…");
  try {
    const body = await postJson("admin/reload", {});
    const summary = Object.entries(body.results || {}).map(([k, v]) => `${k}: ${v}`).join("; ");
    await loadModels();
    say(`Rescanned. ${summary || "No models found."}`);
  } catch (err) {
    report(err, "Rescanning");
  } finally {
    button.disabled = false;
  }
}

/** Wire the model list, its buttons and the address. */
export function setupModels() {
  $("model").addEventListener("change", (event) => {
    choose(event.target.value);
    say(chosen ? `Model ${chosen.name} (${chosen.kind || "not loaded"}).` : "");
  });
  $("refresh").addEventListener("click", () => loadModels(true));
  $("reload").addEventListener("click", rescan);
  window.addEventListener("hashchange", () => {
    const name = decodeURIComponent(location.hash.slice(1));
    if (name && models.some((m) => m.name === name) && (!chosen || chosen.name !== name)) {
      $("model").value = name;
      choose(name);
    }
  });
}
