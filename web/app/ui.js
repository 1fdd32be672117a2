// Small DOM helpers shared by the screens: element building, dialogs,
// toasts, form errors, paginated lists. No framework: every screen builds
// its DOM with `h()` and re-renders the parts that change.

import { money, qty as fmtQty } from "./format.js";

let idSeq = 0;
/** A fresh id for label/input pairs. */
export const uid = (prefix = "f") => `${prefix}-${++idSeq}`;

/**
 * Builds an element. `attrs`: `class`, `text`, `html` (trusted only),
 * `on<event>` handlers, `dataset`, `style` (string), booleans set or
 * remove the attribute, anything else becomes an attribute. Children may
 * be nodes, strings, numbers, arrays, or null/false (skipped).
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") el.className = v;
    else if (k === "text") el.textContent = v;
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k === "value") el.value = v;
    else if (k === "checked") el.checked = !!v;
    else if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2).toLowerCase(), v);
    else if (v === true) el.setAttribute(k, "");
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

/** Replaces an element's children. */
export function mount(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** A button; `onClick` may return a promise, during which the button is busy. */
export function button(text, onClick, { kind = "", title, type = "button", disabled, ...rest } = {}) {
  const b = h("button", { type, class: `btn ${kind}`.trim(), title, disabled, ...rest }, text);
  if (onClick) {
    b.addEventListener("click", async (e) => {
      if (b.disabled) return;
      const r = onClick(e);
      if (r && typeof r.then === "function") {
        b.disabled = true;
        b.setAttribute("aria-busy", "true");
        try {
          await r;
        } catch (err) {
          toast(errorMessage(err), "error");
        } finally {
          b.disabled = false;
          b.removeAttribute("aria-busy");
        }
      }
    });
  }
  return b;
}

/** A labelled input wrapper: `field("Name", h("input", ...))`. */
export function field(label, control, hint) {
  if (!control.id) control.id = uid();
  const hintEl = hint ? h("small", { class: "hint", id: uid("hint") }, hint) : null;
  if (hintEl) control.setAttribute("aria-describedby", hintEl.id);
  return h("div", { class: "field" }, h("label", { for: control.id }, label), control, hintEl);
}

/** A text/number-like input. `name` is also the error `data-field`. */
export function input(name, attrs = {}) {
  return h("input", { name, dataset: { field: attrs.field || name }, autocomplete: "off", ...attrs, field: null });
}

/** A money input (text, decimal keyboard). */
export function moneyInput(name, attrs = {}) {
  return input(name, { inputmode: "decimal", placeholder: "0.00", class: "num", ...attrs });
}

/** A quantity input. */
export function qtyInput(name, attrs = {}) {
  return input(name, { inputmode: "decimal", placeholder: "0", class: "num", ...attrs });
}

/** A <select> from `[value, label]` pairs. */
export function select(name, options, attrs = {}) {
  const s = h("select", { name, dataset: { field: name }, ...attrs });
  for (const [value, text] of options) s.appendChild(h("option", { value }, text));
  if (attrs.value !== undefined) s.value = attrs.value;
  return s;
}

/** Calls `fn` once `ms` after the last call. */
export function debounce(fn, ms = 150) {
  let t = null;
  const d = (...args) => {
    clearTimeout(t);
    t = setTimeout(() => fn(...args), ms);
  };
  d.cancel = () => clearTimeout(t);
  return d;
}

// ---------------------------------------------------------------- errors

/** Turns an EngineError (or anything thrown) into a sentence for a cashier. */
export function errorMessage(err) {
  if (!err) return "Something went wrong.";
  const m = String(err.message || err);
  let r;
  switch (err.code) {
    case "insufficient_stock":
      if ((r = /of (\S+): (-?\d+) on hand, (-?\d+) requested/.exec(m))) {
        return `Not enough stock: ${fmtQty(+r[2])} on hand, ${fmtQty(+r[3])} needed.`;
      }
      return "Not enough stock.";
    case "credit_limit_exceeded":
      if ((r = /limit (-?\d+), balance would be (-?\d+)/.exec(m))) {
        return `Credit limit ${money(+r[1])} would be passed: the balance would be ${money(+r[2])}.`;
      }
      return "The customer's credit limit would be passed.";
    case "full_payment_required":
      if ((r = /total (-?\d+), paid (-?\d+)/.exec(m))) {
        return `A walk-in sale must be paid in full: total ${money(+r[1])}, tendered ${money(+r[2])}. Choose a customer to sell on credit.`;
      }
      return "A walk-in sale must be paid in full. Choose a customer to sell on credit.";
    case "overpayment":
      if ((r = /payment of (-?\d+) exceeds the (-?\d+) owed/.exec(m))) {
        return `Payment of ${money(+r[1])} is more than the ${money(+r[2])} owed.`;
      }
      break;
    case "refund_exceeds_credit":
      if ((r = /refund of (-?\d+) exceeds the (-?\d+) credit/.exec(m))) {
        return `Refund of ${money(+r[1])} is more than the ${money(+r[2])} due to the customer.`;
      }
      break;
    case "return_exceeds_sold":
      if ((r = /line (\d+) sold (-?\d+), (-?\d+) already returned, (-?\d+) requested/.exec(m))) {
        return `Line ${+r[1] + 1}: sold ${fmtQty(+r[2])}, already returned ${fmtQty(+r[3])}, asked ${fmtQty(+r[4])}.`;
      }
      break;
    case "duplicate":
      return m.replace(/^(\w+)/, (w) => w.charAt(0).toUpperCase() + w.slice(1)) + ".";
    case "not_paired":
      return "This terminal is not paired with a server yet.";
    case "shift_already_open":
      return "A shift is already open on this terminal.";
    case "invoice_has_returns":
      return "This invoice has returns, so it cannot be voided.";
    case "invoice_voided":
      return "This invoice is void.";
    case "illegal_transition":
      return m.replace("a service order", "The order") + ".";
    case "storage_unavailable":
    case "sync_refused":
      return m;
    default:
      break;
  }
  return m.charAt(0).toUpperCase() + m.slice(1);
}

/**
 * Shows an error inside a form: in its `.form-error` box, and marks the
 * offending field (`data-field`, matched exactly or as a prefix of a
 * dotted/indexed path) as invalid and focuses it.
 */
export function formError(form, err) {
  clearFormError(form);
  let box = form.querySelector(".form-error");
  if (!box) {
    box = h("p", { class: "form-error", role: "alert" });
    form.prepend(box);
  }
  box.textContent = errorMessage(err);
  box.hidden = false;
  // A duplicate key names its field first ("sku \"X\" is already used").
  const f = (err && err.field) || (err && err.code === "duplicate" ? (/^(\w+)/.exec(err.message || "") || [])[1] : null);
  if (f) {
    const candidates = [...form.querySelectorAll("[data-field]")];
    const el =
      candidates.find((c) => c.dataset.field === f) ||
      candidates.find((c) => f.startsWith(c.dataset.field) || c.dataset.field.endsWith("." + f));
    if (el) {
      el.setAttribute("aria-invalid", "true");
      el.focus();
    }
  }
}

export function clearFormError(form) {
  const box = form.querySelector(".form-error");
  if (box) {
    box.hidden = true;
    box.textContent = "";
  }
  for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
}

/** A client-side validation error with a field, shown like an engine error. */
export function invalid(field, message) {
  const e = new Error(message);
  e.code = "invalid";
  e.field = field;
  return e;
}

/**
 * A command's warning for a cashier: the engine's warnings carry raw ids
 * and minor units; `names` maps product ids to names when the caller knows.
 */
export function warningMessage(w, names = {}) {
  let r;
  if ((r = /^stock of (\S+) goes negative: (-?\d+) after this/.exec(w))) {
    return `Stock of ${names[r[1]] || "a product"} is now negative: ${fmtQty(+r[2])}. It is reported as an alert.`;
  }
  if ((r = /^credit limit (-?\d+) passed: balance (-?\d+)/.exec(w))) {
    return `Credit limit ${money(+r[1])} passed: the customer's balance is now ${money(+r[2])}. Flagged for the back office.`;
  }
  if ((r = /^(-?\d+) was paid on this invoice and is now due back to the customer/.exec(w))) {
    return `${money(+r[1])} was paid on this invoice and is now due back to the customer (use Refund).`;
  }
  return w;
}

// ---------------------------------------------------------------- toasts

let toastBox = null;
/** A short message at the bottom of the screen. `kind`: info, ok, warn, error. */
export function toast(message, kind = "info", ms = kind === "error" ? 7000 : 4000) {
  if (!toastBox) {
    toastBox = h("div", { class: "toasts", role: "status", "aria-live": "polite" });
    document.body.appendChild(toastBox);
  }
  const t = h("div", { class: `toast ${kind}` }, message);
  const close = () => t.remove();
  t.appendChild(h("button", { class: "toast-x", type: "button", "aria-label": "Dismiss", onclick: close }, "×"));
  toastBox.appendChild(t);
  while (toastBox.children.length > 3) toastBox.firstChild.remove();
  setTimeout(close, ms);
}

// ---------------------------------------------------------------- dialogs

/**
 * Opens a modal dialog. `body` is a node (often a form). `actions` are
 * `{label, value, kind}`; an action with `submit: true` submits the form
 * in the body (the form's own handler decides). Resolves with the value of
 * the action pressed (`null` on Escape/cancel). `close(value)` is passed to
 * `onOpen` so that a form handler can resolve it.
 */
const openDialogs = new Set();

/** Closes every open dialog (as cancelled), e.g. when the screen changes. */
export function closeDialogs() {
  for (const close of [...openDialogs]) close(null);
}

export function dialog({ title, body, actions = [{ label: "Close", value: null }], wide = false, onOpen }) {
  return new Promise((resolve) => {
    const titleId = uid("dlg");
    const dlg = h("dialog", { class: `dialog${wide ? " wide" : ""}`, "aria-labelledby": titleId });
    let done = false;
    const close = (value) => {
      if (done) return;
      done = true;
      openDialogs.delete(close);
      dlg.close();
      dlg.remove();
      resolve(value);
    };
    const bar = h(
      "div",
      { class: "dialog-actions" },
      actions.map((a) =>
        a.submit
          ? h("button", { type: "submit", class: `btn ${a.kind || "primary"}`, form: a.form }, a.label)
          : button(a.label, () => close(a.value), { kind: a.kind || "" }),
      ),
    );
    dlg.append(
      h("header", { class: "dialog-head" }, h("h2", { id: titleId }, title),
        h("button", { type: "button", class: "icon-btn", "aria-label": "Close", onclick: () => close(null) }, "×")),
      h("div", { class: "dialog-body" }, body),
      bar,
    );
    dlg.addEventListener("cancel", (e) => {
      e.preventDefault();
      close(null);
    });
    document.body.appendChild(dlg);
    openDialogs.add(close);
    dlg.showModal();
    if (onOpen) onOpen(close, dlg);
    const first = dlg.querySelector("[autofocus], .dialog-body input, .dialog-body select, .dialog-body textarea");
    if (first) first.focus();
  });
}

/** A yes/no question. Resolves true when confirmed. */
export async function confirm(title, message, { ok = "OK", kind = "primary" } = {}) {
  const v = await dialog({
    title,
    body: h("p", {}, message),
    actions: [
      { label: "Cancel", value: false },
      { label: ok, value: true, kind },
    ],
  });
  return v === true;
}

/**
 * A dialog around a form: `build(form)` fills it; `submit(form)` runs on
 * submit and its result closes the dialog; a thrown error is shown in the
 * form and the dialog stays open.
 */
export function formDialog({ title, build, submit, ok = "Save", kind = "primary", wide }) {
  const formId = uid("form");
  const form = h("form", { id: formId, class: "form", novalidate: true });
  form.appendChild(h("p", { class: "form-error", role: "alert", hidden: true }));
  build(form);
  return dialog({
    title,
    body: form,
    wide,
    actions: [
      { label: "Cancel", value: null },
      { label: ok, submit: true, form: formId, kind },
    ],
    onOpen: (close) => {
      form.addEventListener("submit", async (e) => {
        e.preventDefault();
        const btn = document.querySelector(`button[form="${formId}"]`);
        if (btn) btn.disabled = true;
        try {
          clearFormError(form);
          const r = await submit(form);
          if (r !== undefined) close(r);
        } catch (err) {
          formError(form, err);
        } finally {
          if (btn) btn.disabled = false;
        }
      });
    },
  });
}

/** Asks for one line of text (a reason...). Resolves with it or null. */
export function ask(title, label, { required = true, ok = "OK", kind = "primary", value = "" } = {}) {
  return formDialog({
    title,
    ok,
    kind,
    build: (f) => f.appendChild(field(label, input("text", { value, required, autofocus: true }))),
    submit: (f) => {
      const v = f.elements.text.value.trim();
      if (required && !v) throw invalid("text", `${label} is required.`);
      return v;
    },
  });
}

// ---------------------------------------------------------------- lists

/**
 * A table. `columns`: `{label, value: (row) => node|string, num, cls}`.
 * `onRow(row)` makes rows clickable (and keyboard-activatable).
 */
export function table(columns, rows, { onRow, empty = "Nothing to show.", caption } = {}) {
  const head = h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col", class: c.num ? "num" : c.cls }, c.label))));
  const body = h("tbody");
  addRows(body, columns, rows, onRow);
  const t = h("table", { class: `grid${onRow ? " clickable" : ""}` }, caption ? h("caption", {}, caption) : null, head, body);
  const wrap = h("div", { class: "table-wrap" }, t);
  const emptyEl = h("p", { class: "empty" }, empty);
  emptyEl.hidden = rows.length > 0;
  wrap.appendChild(emptyEl);
  wrap.addRows = (more) => {
    addRows(body, columns, more, onRow);
    if (body.children.length) emptyEl.hidden = true;
  };
  return wrap;
}

function addRows(body, columns, rows, onRow) {
  for (const r of rows) {
    const tr = h("tr", {}, columns.map((c) => h("td", { class: c.num ? "num" : c.cls, "data-label": c.label }, c.value(r))));
    if (onRow) {
      tr.tabIndex = 0;
      tr.addEventListener("click", (e) => {
        if (e.target.closest("button, a, input, select")) return;
        onRow(r, tr);
      });
      tr.addEventListener("keydown", (e) => {
        if (e.key === "Enter" && e.target === tr) onRow(r, tr);
      });
    }
    body.appendChild(tr);
  }
}

/**
 * A keyset-paginated table: `load(after)` returns `{rows, next}`; a "More"
 * button fetches the next page while `next` is not null.
 */
export function pagedTable(columns, load, opts = {}) {
  const box = h("div", { class: "paged" });
  const status = h("p", { class: "muted" }, "Loading…");
  box.appendChild(status);
  let next = null;
  let t = null;
  const more = button("Load more", async () => {
    const page = await load(next);
    next = page.next ?? null;
    t.addRows(page.rows);
    more.hidden = next === null || next === undefined;
  }, { kind: "ghost" });
  (async () => {
    try {
      const page = await load(null);
      next = page.next ?? null;
      t = table(columns, page.rows, opts);
      if (opts.onFirstPage) opts.onFirstPage(page);
      more.hidden = next === null || next === undefined;
      box.replaceChildren(t, more);
    } catch (err) {
      status.textContent = errorMessage(err);
      status.className = "form-error";
    }
  })();
  return box;
}

/** A status badge. */
export function badge(text, kind = text) {
  return h("span", { class: `badge b-${String(kind).replace(/[^a-z_]/gi, "")}` }, String(text).replace(/_/g, " "));
}

/** A definition list from `[label, value]` pairs. */
export function facts(pairs) {
  return h("dl", { class: "facts" }, pairs.filter(Boolean).map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
}

/** A card with a heading. */
export function card(title, ...children) {
  return h("section", { class: "card" }, title ? h("h2", {}, title) : null, ...children);
}

/** A row of tabs switching the content of `target`. */
export function tabs(items, target, initial = 0) {
  const bar = h("div", { class: "tabs", role: "tablist" });
  const btns = items.map(([label, render], i) => {
    const b = h("button", { type: "button", role: "tab", class: "tab", "aria-selected": "false" }, label);
    b.addEventListener("click", () => select(i));
    return b;
  });
  function select(i) {
    btns.forEach((b, j) => b.setAttribute("aria-selected", String(i === j)));
    target.replaceChildren();
    items[i][1](target);
  }
  bar.append(...btns);
  select(initial);
  bar.select = select;
  return bar;
}
