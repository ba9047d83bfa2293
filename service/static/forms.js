// What every form on the page shares: reading its fields, and running its request
// (busy state, errors announced, Retry-After honoured).

import { ApiFailure } from "./api.js";
import { $, say } from "./dom.js";
import { report } from "./failures.js";

const busy = new Set(); // forms waiting for an answer

/** One whole-number field, or a clear error that names it (the field gets the focus). */
export function intField(input, what, { min = 0, max = Number.MAX_SAFE_INTEGER, optional = false } = {}) {
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

/** Keep the button off for the seconds the service asked for, counting down on it. */
function holdButton(button, retryAfter) {
  const label = button.textContent;
  let left = Math.min(Number(retryAfter), 60);
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
}

/** Run one form's request: `task` answers the sentence to show when it is done. */
export async function run(form, what, task) {
  if (busy.has(form)) return;
  const button = form.querySelector("button[type=submit]");
  const result = $(form.dataset.result);
  busy.add(form);
  button.disabled = true;
  result.setAttribute("aria-busy", "true");
  say(`${what}…`);
  let held = false;
  try {
    say(await task());
  } catch (err) {
    report(err, what);
    held = err instanceof ApiFailure && err.status === 503 && Number(err.retryAfter) > 0;
    if (held) holdButton(button, err.retryAfter);
  }
  busy.delete(form);
  if (!held) button.disabled = false;
  result.setAttribute("aria-busy", "false");
}

/** On submit, `read` the form into a request body (a bad field is announced), then `send` it. */
export function onSubmit(form, what, read, send) {
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    let body;
    try {
      body = read();
    } catch (err) {
      say(err.message, "error");
      return;
    }
    run(form, what, () => send(body));
  });
}
