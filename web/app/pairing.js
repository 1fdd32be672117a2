// Pairing: a new terminal learns its identity from the server with the
// one-time terminal token an administrator issued.

import { h, mount, field, input, formError, clearFormError, invalid } from "./ui.js";

/** The sync URL of the server that serves this page. */
export function defaultSyncUrl() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  return `${scheme}://${location.host}/sync`;
}

const HELP = {
  network: "The server could not be reached. Check the address and that the server is running, then try again.",
  sync_refused: "The server refused the token. Check that it was copied completely and that the terminal was not revoked; an administrator can issue a new one.",
};

/** Renders the pairing screen into `root`; `onPaired()` once paired. */
export function renderPairing(root, engine, onPaired) {
  const url = input("server_url", { type: "url", value: defaultSyncUrl(), required: true, spellcheck: "false", inputmode: "url" });
  const token = h("textarea", { name: "token", id: "pair-token", rows: 3, required: true, spellcheck: "false", autocomplete: "off", dataset: { field: "token" }, placeholder: "Paste the terminal token" });
  const submit = h("button", { type: "submit", class: "btn primary big" }, "Pair this terminal");
  const form = h(
    "form",
    { class: "form pairing", novalidate: true },
    h("p", { class: "form-error", role: "alert", hidden: true }),
    field("Server sync address", url, "Usually the address of this page with /sync, e.g. ws://server:8080/sync."),
    field("Terminal token", token, "Issued by the administrator: sync-server register-terminal --branch B1, or the back office (POST /api/terminals)."),
    submit,
  );
  url.dataset.field = "server_url";
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    clearFormError(form);
    const u = url.value.trim();
    const t = token.value.trim();
    try {
      if (!/^wss?:\/\/\S+$/.test(u)) throw invalid("server_url", "The address must start with ws:// or wss://.");
      if (!t) throw invalid("token", "Paste the terminal token.");
      submit.disabled = true;
      submit.textContent = "Pairing…";
      await engine.pair(u, t);
      await onPaired();
    } catch (err) {
      const e2 = Object.assign(new Error(HELP[err.code] ? `${err.message} — ${HELP[err.code]}` : err.message), { code: err.code, field: err.field === "server_url" || err.field === "token" ? err.field : undefined });
      formError(form, e2);
    } finally {
      submit.disabled = false;
      submit.textContent = "Pair this terminal";
    }
  });
  mount(
    root,
    h(
      "main",
      { class: "pair-screen" },
      h(
        "section",
        { class: "card pair-card" },
        h("div", { class: "brand big" }, h("img", { src: "icons/icon.svg", alt: "", width: 48, height: 48 }), h("h1", {}, "Set up this terminal")),
        h("p", {}, "This browser is not a terminal yet. Pair it once with the store's server while online; after that it keeps selling with or without a network."),
        form,
      ),
    ),
  );
  token.focus();
}
