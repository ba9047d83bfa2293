// The HTTP API: the key it is called with, and its error shape turned into an ApiFailure.
// Every URL is relative to the page, so the page works behind a path prefix.

const KEY_STORAGE = "ganserve.apiKey";

/** A call the API refused: its status, stable error code, message and Retry-After. */
export class ApiFailure extends Error {
  constructor(status, code, message, retryAfter) {
    super(message);
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
  }
}

/** The key kept in this tab's session storage ("" when none, or storage is off). */
export function apiKey() {
  try {
    return sessionStorage.getItem(KEY_STORAGE) || "";
  } catch {
    return "";
  }
}

/** Keep the key for this tab, or forget it when empty. */
export function storeApiKey(value) {
  try {
    if (value) sessionStorage.setItem(KEY_STORAGE, value);
    else sessionStorage.removeItem(KEY_STORAGE);
  } catch {
    // storage off: the key lives only as long as the field
  }
}

/** fetch() with the key, and the API's error shape turned into an ApiFailure. */
export async function api(path, init = {}) {
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

/** POST a JSON body, answer the JSON reply. */
export async function postJson(path, body) {
  const response = await api(path, {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify(body),
  });
  return response.json();
}
