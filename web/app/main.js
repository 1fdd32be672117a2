// The terminal's shell: starts the engine, shows its state (starting,
// locked by another tab, failed), pairs a new terminal, asks the cashier's
// name, and routes between the screens (`#/sell`, `#/customers`...).
//
// Every screen module exports `render(root, ctx, params)` and may return a
// cleanup function. `ctx` is the screens' one handle on the terminal: see
// `makeContext`.

import { Engine } from "../engine/client.js";
import { h, mount, button, toast, dialog, formDialog, field, input, invalid, errorMessage, closeDialogs, warningMessage } from "./ui.js";
import { ago, dateTime, parsePercentBp, percent } from "./format.js";
import { renderPairing } from "./pairing.js";

const SCREENS = [
  { path: "sell", label: "Sell", key: "1", load: () => import("./sell.js") },
  { path: "customers", label: "Customers", key: "2", load: () => import("./customers.js") },
  { path: "invoices", label: "Invoices", key: "3", load: () => import("./invoices.js") },
  { path: "shift", label: "Shift", key: "4", load: () => import("./shift.js") },
  { path: "stock", label: "Stock", key: "5", load: () => import("./stock.js") },
  { path: "workshop", label: "Workshop", key: "6", load: () => import("./workshop.js") },
  { path: "reports", label: "Reports", key: "7", load: () => import("./reports.js") },
];

const LS_USER = "pos.cashier";
const LS_SETTINGS = "pos.settings";

const app = document.getElementById("app");
const overlay = document.getElementById("overlay");

export function settings() {
  try {
    return { shopName: "", taxBp: 0, ...JSON.parse(localStorage.getItem(LS_SETTINGS) || "{}") };
  } catch {
    return { shopName: "", taxBp: 0 };
  }
}

let engine;
try {
  engine = Engine.start();
} catch (err) {
  showFailed({ code: "internal", message: `The engine could not start: ${err.message}` });
}

let status = { state: "starting" };
let ctx = null;
let shell = null;
let current = { path: null, cleanup: null };
let paired = null;

if (engine) {
  engine.onStatus((s) => {
    const before = status.received || 0;
    status = { ...status, ...s };
    onState();
    // Changes arrived from the server: screens may refresh their lookups.
    if (ctx && (status.received || 0) > before) ctx.emit("synced", status);
  });
  engine.ready.then(
    async () => {
      try {
        status = { ...status, state: "ready", ...(await engine.status()) };
      } catch {
        /* the status event will come */
      }
      onState();
    },
    (err) => showFailed(err),
  );
  showOverlay("starting");
}

function onState() {
  if (status.state === "failed") return showFailed(status.error || engine.error);
  if (status.state === "locked") return showOverlay("locked");
  if (status.state !== "ready") return showOverlay("starting");
  hideOverlay();
  if (paired !== status.paired) {
    paired = !!status.paired;
    if (!paired) {
      teardownShell();
      renderPairing(app, engine, async () => {
        status = { ...status, ...(await engine.status()) };
        onState();
      });
      return;
    }
    startShell();
    return;
  }
  if (shell) shell.updateSync();
}

// ------------------------------------------------------------ overlays

function showOverlay(kind) {
  overlay.hidden = false;
  overlay.className = `overlay ${kind}`;
  if (kind === "starting") {
    mount(overlay, h("div", { class: "overlay-box", role: "status" }, h("div", { class: "spinner", "aria-hidden": "true" }), h("h1", {}, "Starting the terminal…"), h("p", {}, "Opening the local database.")));
  } else if (kind === "locked") {
    mount(
      overlay,
      h(
        "div",
        { class: "overlay-box", role: "alert" },
        h("h1", {}, "This terminal is open in another tab"),
        h("p", {}, "Only one tab at a time can run the terminal, so that every sale is written once. Use the other tab, or close it: this tab takes over by itself as soon as that one closes."),
        h("div", { class: "spinner", "aria-hidden": "true" }),
        h("p", { class: "muted" }, "Waiting for the other tab to close…"),
      ),
    );
  }
}

function hideOverlay() {
  overlay.hidden = true;
  overlay.replaceChildren();
}

function showFailed(err) {
  overlay.hidden = false;
  overlay.className = "overlay failed";
  const e = err || {};
  mount(
    overlay,
    h(
      "div",
      { class: "overlay-box", role: "alert" },
      h("h1", {}, "The terminal could not start"),
      h("p", { class: "form-error" }, errorMessage(e)),
      /worker failed/i.test(e.message || "") ? h("p", {}, "The engine files (engine/ and pkg/) could not be loaded: reconnect once to the server so that this browser gets them.") : null,
      e.code ? h("p", { class: "muted" }, `Error code: ${e.code}`) : null,
      h("p", {}, "Nothing was lost: the data stays in this browser. Check that this is a current browser and not a private window, then reload."),
      button("Reload", () => location.reload(), { kind: "primary big" }),
    ),
  );
}

// ------------------------------------------------------------ shell

function makeContext() {
  const identity = status.identity;
  const listeners = new Map();
  let channelCache = null;
  let channelAt = 0;
  const c = {
    engine,
    identity,
    branchId: identity.branch_id,
    terminalId: identity.replica_id,
    get user() {
      return localStorage.getItem(LS_USER) || "";
    },
    get status() {
      return status;
    },
    settings,
    toast,
    /** A branch for people: this branch's code, else the id. */
    branchLabel: (id) => (id === identity.branch_id ? `${identity.branch_code} (this branch)` : id),
    /** Runs a query. */
    q: (request) => engine.query(request),
    /**
     * Runs a command as the cashier; shows its warnings (`names` maps
     * product ids to names for them); tells the screens.
     */
    async run(command, { names } = {}) {
      const user = c.user;
      if (!user) {
        await askCashier(true);
      }
      const out = await engine.execute(c.user, command);
      for (const w of out.warnings || []) toast(warningMessage(w, names), "warn", 8000);
      c.emit("changed", command);
      return out;
    },
    /** Payment channels (cached for a minute, and until the next sync). */
    async channels() {
      if (!channelCache || !channelCache.length || Date.now() - channelAt > 60_000) {
        channelCache = await engine.query({ query: "payment_channels" });
        channelAt = Date.now();
      }
      return channelCache;
    },
    go(path, params) {
      const qs = params ? "?" + new URLSearchParams(params).toString() : "";
      location.hash = `#/${path}${qs}`;
    },
    on(event, fn) {
      if (!listeners.has(event)) listeners.set(event, new Set());
      listeners.get(event).add(fn);
      return () => listeners.get(event).delete(fn);
    },
    emit(event, data) {
      for (const fn of listeners.get(event) || []) {
        try {
          fn(data);
        } catch (err) {
          console.warn(err);
        }
      }
    },
  };
  c.on("synced", () => {
    channelCache = null;
  });
  return c;
}

function startShell() {
  teardownShell();
  ctx = makeContext();
  const id = ctx.identity;
  const nav = h(
    "nav",
    { class: "nav", "aria-label": "Screens" },
    SCREENS.map((s) => h("a", { href: `#/${s.path}`, dataset: { path: s.path }, title: `${s.label} (Alt+${s.key})` }, s.label)),
  );
  const syncBtn = h("button", { type: "button", class: "sync", "aria-haspopup": "dialog", title: "Sync status" });
  syncBtn.addEventListener("click", showSyncDetails);
  const syncNowBtn = button("Sync now", async () => {
    await engine.syncNow();
    toast("Syncing…");
  }, { kind: "ghost small", title: "Connect to the server now" });
  const userBtn = h("button", { type: "button", class: "user", title: "Change cashier" });
  userBtn.addEventListener("click", () => askCashier(false).then(updateUser));
  const settingsBtn = h("button", { type: "button", class: "icon-btn", "aria-label": "Terminal settings", title: "Terminal settings" }, "⚙");
  settingsBtn.addEventListener("click", editSettings);
  const header = h(
    "header",
    { class: "topbar" },
    h("div", { class: "brand" }, h("img", { src: "icons/icon.svg", alt: "", width: 28, height: 28 }), h("span", {}, "Store POS")),
    h("div", { class: "term", title: `Terminal ${id.replica_id} of branch ${id.branch_code} (${id.branch_id})` }, h("span", { class: "muted small" }, "Terminal "), h("strong", {}, `${id.branch_code}-${id.terminal_code}`)),
    nav,
    h("div", { class: "top-right" }, syncBtn, syncNowBtn, userBtn, settingsBtn),
  );
  const main = h("main", { id: "screen", tabindex: "-1" });
  mount(app, header, main);

  function updateUser() {
    userBtn.replaceChildren(h("span", { class: "muted small" }, "Cashier "), h("strong", {}, ctx.user || "not set"));
    userBtn.setAttribute("aria-label", `Cashier ${ctx.user || "not set"}: change`);
  }
  function updateSync() {
    const s = status;
    const conn = s.connection || "offline";
    syncBtn.className = `sync ${conn}${s.last_error ? " has-error" : ""}`;
    const pending = s.pending || 0;
    mount(
      syncBtn,
      h("span", { class: "dot", "aria-hidden": "true" }),
      h("span", {}, conn === "online" ? "Online" : conn === "connecting" ? "Connecting" : "Offline"),
      pending ? h("span", { class: "pending" }, `${pending} to send`) : null,
      s.last_error && conn !== "online" ? h("span", { class: "err-mark", title: s.last_error.message }, "!") : null,
      h("span", { class: "muted small" }, s.last_sync ? `synced ${ago(s.last_sync)}` : "never synced"),
    );
    syncBtn.setAttribute("aria-label", `Sync: ${conn}, ${pending} changes waiting, last sync ${ago(s.last_sync)}${s.last_error ? ", error: " + s.last_error.message : ""}`);
  }
  const tick = setInterval(updateSync, 15_000);
  shell = {
    updateSync,
    destroy() {
      clearInterval(tick);
      window.removeEventListener("hashchange", route);
      document.removeEventListener("keydown", keys);
    },
  };
  updateUser();
  updateSync();
  window.addEventListener("hashchange", route);
  document.addEventListener("keydown", keys);
  route();
  if (!ctx.user) askCashier(true).then(updateUser);
}

function teardownShell() {
  if (current.cleanup) current.cleanup();
  current = { path: null, cleanup: null };
  if (shell) shell.destroy();
  shell = null;
}

function keys(e) {
  if (e.altKey && !e.ctrlKey && !e.metaKey) {
    const s = SCREENS.find((x) => x.key === e.key);
    if (s) {
      e.preventDefault();
      location.hash = `#/${s.path}`;
    }
  }
}

async function route() {
  const hash = location.hash.replace(/^#\/?/, "");
  const [path, query] = hash.split("?");
  const screen = SCREENS.find((s) => s.path === path) || SCREENS[0];
  const params = new URLSearchParams(query || "");
  for (const a of document.querySelectorAll(".nav a")) {
    if (a.dataset.path === screen.path) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  if (current.cleanup) current.cleanup();
  current = { path: screen.path, cleanup: null };
  closeDialogs();
  const root = document.getElementById("screen");
  if (!root) return;
  root.replaceChildren(h("p", { class: "muted pad" }, "Loading…"));
  document.title = `${screen.label} · Store POS`;
  try {
    const mod = await screen.load();
    if (current.path !== screen.path) return;
    root.replaceChildren();
    root.dataset.screen = screen.path;
    const cleanup = await mod.render(root, ctx, params);
    if (current.path === screen.path) current.cleanup = typeof cleanup === "function" ? cleanup : null;
    else if (typeof cleanup === "function") cleanup();
  } catch (err) {
    console.error(err);
    root.replaceChildren(h("p", { class: "form-error pad", role: "alert" }, `This screen failed: ${errorMessage(err)}`));
  }
}

// ------------------------------------------------------------ dialogs

let asking = null;
async function askCashier(required) {
  if (asking) return asking;
  asking = formDialog({
    title: required ? "Who is at the till?" : "Change cashier",
    ok: "Start",
    build: (f) =>
      f.append(
        h("p", {}, "Your name is recorded on every sale, payment and stock movement you make on this terminal."),
        field("Cashier name", input("name", { value: localStorage.getItem(LS_USER) || "", maxlength: 64, required: true, autofocus: true, autocomplete: "username" })),
      ),
    submit: (f) => {
      const v = f.elements.name.value.trim();
      if (!v) throw invalid("name", "Enter your name.");
      if (v.length > 64) throw invalid("name", "At most 64 characters.");
      localStorage.setItem(LS_USER, v);
      return v;
    },
  }).finally(() => {
    asking = null;
  });
  const v = await asking;
  if (!v && required && !localStorage.getItem(LS_USER)) return askCashier(true);
  return v;
}

async function editSettings() {
  const s = settings();
  await formDialog({
    title: "Terminal settings",
    build: (f) =>
      f.append(
        field("Shop name on receipts", input("shop", { value: s.shopName, maxlength: 80 })),
        field("Tax % for new sale lines", input("tax", { value: percent(s.taxBp), inputmode: "decimal", class: "num" }), "0 when prices include tax."),
      ),
    submit: (f) => {
      const bp = parsePercentBp(f.elements.tax.value.trim() || "0");
      if (bp === null || bp > 10000) throw invalid("tax", "Enter a percentage from 0 to 100.");
      localStorage.setItem(LS_SETTINGS, JSON.stringify({ shopName: f.elements.shop.value.trim(), taxBp: bp }));
      toast("Settings saved.", "ok");
      return true;
    },
  });
}

async function showSyncDetails() {
  const s = status;
  const id = s.identity || {};
  const body = h(
    "div",
    {},
    h(
      "dl",
      { class: "facts" },
      h("dt", {}, "Connection"), h("dd", {}, s.connection || "offline"),
      h("dt", {}, "Server"), h("dd", {}, s.server || "—"),
      h("dt", {}, "Waiting to send"), h("dd", {}, String(s.pending ?? 0)),
      h("dt", {}, "Sent, not yet confirmed"), h("dd", {}, String(s.unacknowledged ?? 0)),
      h("dt", {}, "Last sync"), h("dd", {}, s.last_sync ? `${dateTime(s.last_sync)} (${ago(s.last_sync)})` : "never"),
      h("dt", {}, "Next retry"), h("dd", {}, s.next_retry ? dateTime(s.next_retry) : "—"),
      h("dt", {}, "Changes sent / received"), h("dd", {}, `${s.sent ?? 0} / ${s.received ?? 0} since start`),
      h("dt", {}, "Last error"), h("dd", { class: s.last_error ? "neg" : "" }, s.last_error ? `${s.last_error.message} (${s.last_error.code})` : "none"),
      h("dt", {}, "Terminal"), h("dd", {}, `${id.branch_code}-${id.terminal_code} (${id.replica_id})`),
      h("dt", {}, "Branch"), h("dd", {}, id.branch_id || ""),
    ),
    h("p", { class: "muted" }, "Sales are saved on this terminal first; they are sent to the server whenever it can be reached."),
  );
  const v = await dialog({
    title: "Sync",
    body,
    actions: [
      { label: "Download backup", value: "backup" },
      { label: "Sync now", value: "sync", kind: "primary" },
      { label: "Close", value: null },
    ],
  });
  if (v === "sync") {
    await engine.syncNow().catch((e) => toast(errorMessage(e), "error"));
  } else if (v === "backup") {
    try {
      const bytes = await engine.exportDatabase();
      const blob = new Blob([bytes], { type: "application/vnd.sqlite3" });
      const a = h("a", { href: URL.createObjectURL(blob), download: `terminal-${id.branch_code}-${id.terminal_code}-${new Date().toISOString().slice(0, 10)}.sqlite3` });
      document.body.appendChild(a);
      a.click();
      setTimeout(() => {
        URL.revokeObjectURL(a.href);
        a.remove();
      }, 1000);
    } catch (err) {
      toast(errorMessage(err), "error");
    }
  }
}

