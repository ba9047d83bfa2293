// The API key panel: the key goes out as `Authorization: Bearer` and stays in the tab.

import { apiKey, storeApiKey } from "./api.js";
import { $, say } from "./dom.js";

/** Wire the panel; `changed` runs after a key is saved or cleared (to list the models again). */
export function setupKey(changed) {
  $("api-key").value = apiKey();
  $("auth-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const value = $("api-key").value.trim();
    storeApiKey(value);
    say(value ? "API key saved for this tab." : "API key cleared.");
    $("auth").open = false;
    changed();
  });
  $("api-key-forget").addEventListener("click", () => {
    $("api-key").value = "";
    storeApiKey("");
    say("API key forgotten.");
  });
}
