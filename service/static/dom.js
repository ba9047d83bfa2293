// Small DOM helpers every part of the page uses.

/** The element with this id. */
export const $ = (id) => document.getElementById(id);

/** Append one term and its value (text or a node) to a <dl>. */
export function infoRow(dl, term, value, cls) {
  const dt = document.createElement("dt");
  dt.textContent = term;
  const dd = document.createElement("dd");
  if (value instanceof Node) dd.append(value);
  else dd.textContent = value;
  if (cls) dd.className = cls;
  dl.append(dt, dd);
}

/** Show (and announce, through the aria-live region) one message. */
export function say(text, kind = "info") {
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
