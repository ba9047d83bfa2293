// A failed call told to the person: one readable sentence, and the key panel on a 401.

import { ApiFailure } from "./api.js";
import { $, say } from "./dom.js";

const CODES = {
  not_an_image: "that file is not an image",
  corrupt_image: "that image is damaged",
  empty_file: "that file is empty",
  unknown_class: "unknown label",
  label_out_of_range: "unknown label",
  unknown_model: "unknown model",
};

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
  const head = CODES[err.code] ? `${CODES[err.code]}: ` : "";
  return `${what} failed (${err.status} ${err.code}): ${head}${why}.`;
}

/** Open the API key panel, with the focus in its field. */
function openKeyPanel() {
  $("auth").open = true;
  $("api-key").focus();
}

/** Announce a failed call; a missing or wrong key opens the key panel. */
export function report(err, what) {
  say(describe(err, what), "error");
  if (err instanceof ApiFailure && err.status === 401) openKeyPanel();
}
