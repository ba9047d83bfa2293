// ganserve's page: one small script, no build step, no dependencies.
// Every URL is relative to the page, so the page works behind a path prefix.
"use strict";

(() => {
  const KEY_STORAGE = "ganserve.apiKey";
  const $ = (id) => document.getElementById(id);

  const state = {
    models: [], // what GET models reported
    defaults: {},
    model: null, // the chosen one
    busy: new Set(), // forms waiting for an answer
    objectUrls: [], // blob URLs of the translate pair, revoked on the next upload
    file: null, // the photo to translate
    retryTimer: null,
  };

  // ---------------------------------------------------------------- messages

  /** Show (and announce, through the aria-live region) one message. */
  function say(text, kind = "info") {
    const box = $("messages");
    box.replaceChildren();
    if (!text) return;
    const p = document.createElement("p");
    p.className = `message message-${kind}`;
    p.textContent = text;
    if (kind === "error") {
      const close = document.createElement("button");
      close.type = "button";
      close.className = "dismiss";
      close.textContent = "Dismiss";
      close.addEventListener("click", () => box.replaceChildren());
      p.append(" ", close);
    }
    box.append(p);
  }

  class ApiFailure extends Error {
    constructor(status, code, message, retryAfter) {
      super(message);
      this.status = status;
      this.code = code;
      this.retryAfter = retryAfter;
    }
  }

  /** A readable sentence for a failed call. */
  function describe(err, what) {
    if (!(err instanceof ApiFailure)) {
      return `${what} failed: the service did not answer (${err.message}).`;
    }
    const why = err.message || err.code;
    if (err.status === 401) {
      return `${what} needs an API key: enter it under “API key” at the top. (${why})`;
    }
    if (err.status === 503) {
      const wait = err.retryAfter ? ` Try again in ${err.retryAfter} s.` : "";
      const label = err.code === "overloaded" ? "the service is overloaded" : "the service is not ready";
      return `${what} failed: ${label}: ${why}.${wait}`;
    }
    if (err.status === 413) return `${what} failed: the upload is too large: ${why}.`;
    if (err.status === 415) return `${what} failed: unsupported file: ${why}.`;
    const codes = {
      not_an_image: "that file is not an image",
      corrupt_image: "that image is damaged",
      empty_file: "that file is empty",
      unknown_class: "unknown label",
      label_out_of_range: "unknown label",
      unknown_model: "unknown model",
    };
    const head = codes[err.code] ? `${codes[err.code]}: ` : "";
    return `${what} failed (${err.status} ${err.code}): ${head}${why}.`;
  }

  // ---------------------------------------------------------------- the API

  function apiKey() {
    try {
      return sessionStorage.getItem(KEY_STORAGE) || "";
    } catch {
      return "";
    }
  }

  /** fetch() with the key, and the API's error shape turned into an ApiFailure. */
  async function api(path, init = {}) {
    const headers = new Headers(init.headers || {});
    const key = apiKey();
    if (key) headers.set("Authorization", `Bearer ${key}`);
    const response = await fetch(path, { ...init, headers });
    if (response.ok) return response;
    let code = `http_${response.status}`;
    let message = response.statusText;
    try {
      const body = await response.json();
      if (body && body.error) {
        code = body.error.code || code;
        message = body.error.message || message;
      }
    } catch {
      // not JSON: keep the status text
    }
    const retry = response.headers.get("Retry-After");
    throw new ApiFailure(response.status, code, message, retry ? Number(retry) || retry : null);
  }

  async function postJson(path, body) {
    const response = await api(path, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(body),
    });
    return response.json();
  }

  /** Run one form's request: busy state, errors announced, Retry-After honoured. */
  async function run(form, what, task) {
    if (state.busy.has(form)) return;
    const button = form.querySelector("button[type=submit]");
    const result = $(form.dataset.result);
    state.busy.add(form);
    button.disabled = true;
    if (result) result.setAttribute("aria-busy", "true");
    say(`${what}…`);
    try {
      const done = await task();
      say(done);
    } catch (err) {
      say(describe(err, what), "error");
      if (err instanceof ApiFailure && err.status === 401) openKeyPanel();
      if (err instanceof ApiFailure && err.status === 503 && Number(err.retryAfter) > 0) {
        // Keep the button off until the service said to come back.
        const seconds = Math.min(Number(err.retryAfter), 60);
        const label = button.textContent;
        let left = seconds;
        button.textContent = `${label} (${left} s)`;
        const timer = setInterval(() => {
          left -= 1;
          if (left > 0) {
            button.textContent = `${label} (${left} s)`;
            return;
          }
          clearInterval(timer);
          button.textContent = label;
          button.disabled = false;
        }, 1000);
        state.busy.delete(form);
        if (result) result.setAttribute("aria-busy", "false");
        return;
      }
    }
    state.busy.delete(form);
    button.disabled = false;
    if (result) result.setAttribute("aria-busy", "false");
  }

  // ---------------------------------------------------------------- API key

  function openKeyPanel() {
    const panel = $("auth");
    panel.open = true;
    $("api-key").focus();
  }

  function setupKey() {
    $("api-key").value = apiKey();
    $("auth-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const value = $("api-key").value.trim();
      try {
        if (value) sessionStorage.setItem(KEY_STORAGE, value);
        else sessionStorage.removeItem(KEY_STORAGE);
      } catch {
        // storage off: the key lives only as long as the field
      }
      say(value ? "API key saved for this tab." : "API key cleared.");
      $("auth").open = false;
      loadModels();
    });
    $("api-key-forget").addEventListener("click", () => {
      $("api-key").value = "";
      try {
        sessionStorage.removeItem(KEY_STORAGE);
      } catch {
        // nothing stored
      }
      say("API key forgotten.");
    });
  }

  // ---------------------------------------------------------------- models

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

  async function loadModels(announce = false) {
    const select = $("model");
    checkReady();
    let body;
    try {
      body = await (await api("models", { headers: { Accept: "application/json" } })).json();
    } catch (err) {
      say(describe(err, "Listing the models"), "error");
      if (err instanceof ApiFailure && err.status === 401) openKeyPanel();
      select.replaceChildren(new Option("unavailable", ""));
      select.disabled = true;
      showPanels(null);
      return;
    }
    state.models = body.models || [];
    state.defaults = body.defaults || {};
    const previous = (state.model && state.model.name) || decodeURIComponent(location.hash.slice(1));
    select.replaceChildren();
    const kinds = ["unconditional", "conditional", "translation"];
    const byKind = new Map();
    for (const m of state.models) {
      const kind = kinds.includes(m.kind) ? m.kind : "other";
      if (!byKind.has(kind)) byKind.set(kind, []);
      byKind.get(kind).push(m);
    }
    for (const kind of [...kinds, "other"]) {
      const list = byKind.get(kind);
      if (!list) continue;
      const group = document.createElement("optgroup");
      group.label = kind === "other" ? "not loaded" : kind;
      for (const m of list) group.append(new Option(modelLabel(m), m.name));
      select.append(group);
    }
    if (!state.models.length) {
      select.append(new Option("no models found", ""));
      select.disabled = true;
      showPanels(null);
      say("The service found no models in its models folder.", "error");
      return;
    }
    select.disabled = false;
    const names = state.models.map((m) => m.name);
    const firstReady = state.models.find((m) => m.state === "ready");
    const pick = names.includes(previous) ? previous : (firstReady || state.models[0]).name;
    select.value = pick;
    choose(pick);
    if (announce) say(`${state.models.length} model${state.models.length === 1 ? "" : "s"} listed.`);
  }

  function providerOf(m) {
    if (m.provider) return m.provider;
    const set = new Set(Object.values(m.sessions || {}).map((s) => s.provider));
    return set.size ? [...set].join(", ") : "—";
  }

  function infoRow(dl, term, value, cls) {
    const dt = document.createElement("dt");
    dt.textContent = term;
    const dd = document.createElement("dd");
    if (value instanceof Node) dd.append(value);
    else dd.textContent = value;
    if (cls) dd.className = cls;
    dl.append(dt, dd);
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
      infoRow(dl, "Images", size);
    }
    if (m.latent) infoRow(dl, "Latent", `${m.latent.dim}-d ${m.latent.distribution}`);
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
    const isDefault = Object.entries(state.defaults).filter(([, name]) => name === m.name).map(([k]) => k);
    if (isDefault.length) infoRow(dl, "Default for", isDefault.join(", "));
  }

  function fillLabels(select, m) {
    select.replaceChildren(new Option("any (by seed)", ""));
    (m.classes || []).forEach((c, i) => select.append(new Option(c === String(i) ? c : `${i}: ${c}`, c)));
  }

  function showPanels(m) {
    const ready = m && m.state === "ready";
    const generator = ready && (m.kind === "unconditional" || m.kind === "conditional");
    $("generate-section").hidden = !generator;
    $("interpolate-section").hidden = !generator;
    $("translate-section").hidden = !(ready && m.kind === "translation");
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
    if (ready && m.kind === "translation") {
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
    document.body.classList.toggle("pixelated", Boolean(m && m.image && Math.max(m.image.width, m.image.height) <= 64));
  }

  function choose(name) {
    const m = state.models.find((x) => x.name === name) || null;
    const changed = !state.model || !m || state.model.name !== m.name;
    state.model = m;
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

  // ---------------------------------------------------------------- generate

  function intField(input, what, { min = 0, max = Number.MAX_SAFE_INTEGER, optional = false } = {}) {
    const raw = input.value.trim();
    if (raw === "" && optional) return null;
    const value = Number(raw);
    if (raw === "" || !Number.isInteger(value) || value < min || value > max) {
      input.setAttribute("aria-invalid", "true");
      input.focus();
      const range = max === Number.MAX_SAFE_INTEGER ? `a whole number ≥ ${min}` : `a whole number in ${min}..${max}`;
      throw new Error(`${what} must be ${range}`);
    }
    input.removeAttribute("aria-invalid");
    return value;
  }

  /** `3 (cat)`, or just `3` when the class is named by its index (MNIST digits). */
  function labelText(img) {
    const name = img.class_name;
    return name && name !== String(img.label) ? `${img.label} (${name})` : String(img.label);
  }

  function caption(img) {
    const parts = [`seed ${img.seed}`];
    if (img.label !== null && img.label !== undefined) {
      parts.push(`label ${labelText(img)}`);
    }
    return parts.join(", ");
  }

  function pngUrl(b64) {
    return `data:image/png;base64,${b64}`;
  }

  function tile(img, extra) {
    const li = document.createElement("li");
    const button = document.createElement("button");
    button.type = "button";
    button.className = "tile";
    button.setAttribute("aria-pressed", "false");
    const text = caption(img);
    button.title = extra ? `${extra}, ${text}` : text;
    button.dataset.seed = String(img.seed);
    if (img.label !== null && img.label !== undefined) button.dataset.label = String(img.label);
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
    const dl = $("selected-info");
    dl.replaceChildren();
    infoRow(dl, "Model", state.model ? state.model.name : "—");
    infoRow(dl, "Seed", String(img.seed));
    if (extra) infoRow(dl, "On the path", `${extra} (seed: the nearer end)`);
    if (img.label !== null && img.label !== undefined) {
      infoRow(dl, "Label", labelText(img));
    }
    panel.dataset.seed = String(img.seed);
    const link = $("selected-download");
    link.href = pngUrl(img.png);
    link.download = `${state.model ? state.model.name : "ganserve"}-seed${img.seed}${img.class_name ? `-${img.class_name}` : ""}.png`;
  }

  function setupGenerate() {
    const form = $("generate-form");
    form.dataset.result = "generate-result";
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const m = state.model;
      let body;
      try {
        body = { model: m.name, n: intField($("gen-n"), "Images (n)", { min: 1, max: 1000 }) };
        const seed = intField($("gen-seed"), "Seed", { optional: true });
        if (seed !== null) body.seed = seed;
        const trunc = $("gen-trunc").value.trim();
        if (trunc !== "") body.truncation = Number(trunc);
        if (m.kind === "conditional" && $("gen-label").value !== "") body.label = $("gen-label").value;
      } catch (err) {
        say(err.message, "error");
        return;
      }
      run(form, "Generating", async () => {
        const data = await postJson("generate", body);
        const grid = $("grid");
        grid.replaceChildren(...data.images.map((img) => tile(img)));
        $("selected").hidden = true;
        const seeds = data.images.map((i) => i.seed);
        const range = body.seed !== undefined ? `seeds ${seeds[0]} to ${seeds[seeds.length - 1]}` : "random seeds";
        return `${data.images.length} image${data.images.length === 1 ? "" : "s"} from ${data.model}, ${range}. Select one for its details.`;
      });
    });
    $("use-a").addEventListener("click", () => {
      $("int-a").value = $("selected").dataset.seed;
      $("int-a").focus();
    });
    $("use-b").addEventListener("click", () => {
      $("int-b").value = $("selected").dataset.seed;
      $("int-b").focus();
    });
  }

  // ---------------------------------------------------------------- interpolate

  function setupInterpolate() {
    const form = $("interpolate-form");
    form.dataset.result = "interpolate-result";
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const m = state.model;
      let body;
      try {
        body = {
          model: m.name,
          seed_a: intField($("int-a"), "Seed A"),
          seed_b: intField($("int-b"), "Seed B"),
          steps: intField($("int-steps"), "Steps", { min: 2, max: 1000 }),
          method: form.elements.method.value,
        };
        if (m.kind === "conditional" && $("int-label").value !== "") body.label = $("int-label").value;
      } catch (err) {
        say(err.message, "error");
        return;
      }
      run(form, "Interpolating", async () => {
        const data = await postJson("interpolate", body);
        const n = data.images.length;
        const strip = $("strip");
        strip.replaceChildren(
          ...data.images.map((img, i) => {
            const t = n > 1 ? i / (n - 1) : 0;
            return tile(img, `${body.method} t=${t.toFixed(2)}`);
          }),
        );
        return `${n} images from seed ${body.seed_a} to seed ${body.seed_b} (${body.method}) with ${data.model}.`;
      });
    });
  }

  // ---------------------------------------------------------------- translate

  function revokeUrls() {
    for (const url of state.objectUrls) URL.revokeObjectURL(url);
    state.objectUrls = [];
  }

  function setFile(file) {
    state.file = file;
    $("drop").classList.toggle("has-file", Boolean(file));
    $("drop-help").textContent = file
      ? `Chosen: ${file.name} (${Math.max(1, Math.round(file.size / 1024))} KB). Choose or drop another to replace it.`
      : "Choose a file, or drop one on this box.";
  }

  function translate() {
    const form = $("translate-form");
    const file = state.file;
    if (!file) {
      say("Choose a photo first (or drop one on the box).", "error");
      $("tr-file").focus();
      return;
    }
    const m = state.model;
    const direction = form.elements.direction.value;
    run(form, "Translating", async () => {
      const data = new FormData();
      data.append("file", file, file.name);
      data.append("model", m.name);
      data.append("direction", direction);
      const response = await api("translate", { method: "POST", body: data });
      const blob = await response.blob();
      revokeUrls();
      const original = URL.createObjectURL(file);
      const output = URL.createObjectURL(blob);
      state.objectUrls.push(original, output);
      const d = m.domains || { a: "a", b: "b" };
      const [src, dst] = direction === "a2b" ? [d.a, d.b] : [d.b, d.a];
      const size = response.headers.get("X-Image-Size") || "";
      $("tr-original").src = original;
      $("tr-original").alt = `the uploaded photo, ${file.name}`;
      $("tr-original-caption").textContent = `original (${src}): ${file.name}`;
      $("tr-output").src = output;
      $("tr-output").alt = `${file.name} translated ${src} to ${dst}`;
      $("tr-output-caption").textContent = `${dst}${size ? `, ${size}` : ""}`;
      const base = file.name.replace(/\.[^.]*$/, "") || "photo";
      $("tr-download").href = output;
      $("tr-download").download = `${base}-${direction}-${m.name}.png`;
      $("translate-result").hidden = false;
      return `Translated ${file.name} from ${src} to ${dst} with ${m.name}.`;
    });
  }

  function setupTranslate() {
    const form = $("translate-form");
    form.dataset.result = "translate-result";
    const input = $("tr-file");
    const drop = $("drop");
    input.addEventListener("change", () => {
      setFile(input.files[0] || null);
      if (state.file) translate();
    });
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      translate();
    });
    for (const radio of form.elements.direction) {
      radio.addEventListener("change", () => {
        if (state.file) translate();
      });
    }
    // Drag and drop onto the box (the whole page would swallow stray drops otherwise).
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

  // ---------------------------------------------------------------- start

  function start() {
    setupKey();
    setupGenerate();
    setupInterpolate();
    setupTranslate();
    $("model").addEventListener("change", (event) => {
      choose(event.target.value);
      say(state.model ? `Model ${state.model.name} (${state.model.kind || "not loaded"}).` : "");
    });
    $("refresh").addEventListener("click", () => loadModels(true));
    $("reload").addEventListener("click", async () => {
      const button = $("reload");
      button.disabled = true;
      say("Rescanning the models folder…");
      try {
        const body = await postJson("admin/reload", {});
        const summary = Object.entries(body.results || {}).map(([k, v]) => `${k}: ${v}`).join("; ");
        await loadModels();
        say(`Rescanned. ${summary || "No models found."}`);
      } catch (err) {
        say(describe(err, "Rescanning"), "error");
        if (err instanceof ApiFailure && err.status === 401) openKeyPanel();
      } finally {
        button.disabled = false;
      }
    });
    window.addEventListener("hashchange", () => {
      const name = decodeURIComponent(location.hash.slice(1));
      if (name && state.models.some((m) => m.name === name) && (!state.model || state.model.name !== name)) {
        $("model").value = name;
        choose(name);
      }
    });
    loadModels();
  }

  start();
})();
