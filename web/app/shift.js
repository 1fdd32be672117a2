// Shift: open with the float in the drawer, follow what each channel took,
// close with the counted amount per channel, and see (and print) the
// differences.

import { h, mount, button, field, moneyInput, formError, clearFormError, invalid, table, facts, card, confirm, toast, errorMessage } from "./ui.js";
import { money, dateTime, parseMoney } from "./format.js";
import { printNode } from "./receipt.js";

const LAST = "pos.lastShift";

export async function render(root, ctx) {
  async function show() {
    mount(root, h("p", { class: "muted pad" }, "Loading…"));
    let open;
    try {
      open = await ctx.q({ query: "open_shift", terminal_id: ctx.terminalId });
    } catch (err) {
      return mount(root, h("p", { class: "form-error pad" }, errorMessage(err)));
    }
    if (open) return showOpen(open);
    return showClosed();
  }

  async function showClosed() {
    const float = moneyInput("opening_float", { value: "" });
    const form = h("form", { class: "form", novalidate: true },
      h("p", { class: "form-error", role: "alert", hidden: true }),
      field("Cash in the drawer (opening float)", float, "Count the notes and coins before the first sale."),
      h("button", { type: "submit", class: "btn primary big" }, "Open shift"),
    );
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      clearFormError(form);
      try {
        const v = float.value.trim() ? parseMoney(float.value) : 0;
        if (v === null) throw invalid("opening_float", "Enter the float as an amount, like 200.00.");
        await ctx.run({ type: "open_shift", opening_float: v });
        toast(`Shift opened with ${money(v)} in the drawer.`, "ok");
        show();
      } catch (err) {
        formError(form, err);
      }
    });
    const last = localStorage.getItem(LAST);
    const lastBox = h("div");
    mount(root, h("div", { class: "stack" }, card("No shift is open on this terminal", form), lastBox));
    float.focus();
    if (last) {
      try {
        const s = await ctx.q({ query: "shift_summary", shift_id: last });
        if (s) lastBox.replaceChildren(card("Last closed shift", summaryNode(s)));
      } catch {
        /* nothing to show */
      }
    }
  }

  async function showOpen(open) {
    let s;
    try {
      s = await ctx.q({ query: "shift_summary", shift_id: open.shift_id });
    } catch (err) {
      return mount(root, h("p", { class: "form-error pad" }, errorMessage(err)));
    }
    const channels = await ctx.channels();
    // Every channel with activity, plus every active one, by code.
    const codes = new Map();
    for (const c of s.channels) codes.set(c.channel, { code: c.channel, name: c.name || c.channel, is_cash: c.is_cash, expected: c.expected });
    for (const c of channels) if (c.active && !codes.has(c.code)) codes.set(c.code, { code: c.code, name: c.name, is_cash: c.is_cash, expected: c.is_cash && ![...codes.values()].some((x) => x.is_cash) ? s.opening_float : 0 });
    const rows = [...codes.values()].sort((a, b) => (a.code < b.code ? -1 : 1));
    const inputs = new Map();
    const diffCells = new Map();
    const closeTable = h("table", { class: "grid" },
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Channel"), h("th", { scope: "col", class: "num" }, "Expected"), h("th", { scope: "col", class: "num" }, "Counted"), h("th", { scope: "col", class: "num" }, "Difference"))),
      h("tbody", {}, rows.map((r) => {
        const inp = moneyInput(`counted_${r.code}`, { field: `counted.${r.code}`, "aria-label": `Counted ${r.name}` });
        const diff = h("td", { class: "num", "data-label": "Difference" });
        inp.addEventListener("input", () => {
          const v = parseMoney(inp.value);
          diff.textContent = inp.value.trim() && v !== null ? money(v - r.expected) : "";
          diff.className = `num ${v !== null && v - r.expected < 0 ? "neg" : ""}`;
        });
        inputs.set(r.code, inp);
        diffCells.set(r.code, diff);
        return h("tr", {}, h("td", { "data-label": "Channel" }, r.name, r.is_cash ? " (cash)" : ""), h("td", { class: "num", "data-label": "Expected" }, money(r.expected)), h("td", { class: "num", "data-label": "Counted" }, inp), diff);
      })),
    );
    const form = h("form", { class: "form", novalidate: true },
      h("p", { class: "form-error", role: "alert", hidden: true }),
      h("p", {}, "Count each channel (cash in the drawer, card slips, cheques…) and enter what you counted. Leave a channel empty if you did not count it."),
      h("div", { class: "table-wrap" }, closeTable),
      h("button", { type: "submit", class: "btn primary big" }, "Close shift"),
    );
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      clearFormError(form);
      try {
        const counted = {};
        for (const [code, inp] of inputs) {
          const t = inp.value.trim();
          if (!t) continue;
          const v = parseMoney(t);
          if (v === null) throw invalid(`counted.${code}`, `${code}: enter an amount like 150.00.`);
          counted[code] = v;
        }
        if (!Object.keys(counted).length && !(await confirm("Nothing counted", "Close the shift without counting any channel?", { ok: "Close anyway", kind: "danger" }))) return;
        if (!(await confirm("Close the shift?", "After closing, sales are no longer counted in this shift.", { ok: "Close shift" }))) return;
        await ctx.run({ type: "close_shift", shift_id: open.shift_id, counted });
        localStorage.setItem(LAST, open.shift_id);
        const closed = await ctx.q({ query: "shift_summary", shift_id: open.shift_id });
        toast("Shift closed.", "ok");
        showClosedSummary(closed);
      } catch (err) {
        formError(form, err);
      }
    });
    mount(
      root,
      h("div", { class: "stack" },
        card(`Shift open since ${dateTime(open.opened_at)}`,
          h("div", { class: "row-inline end" }, button("Refresh", show), button("Print", () => printNode(summaryNode(s, true)))),
          summaryNode(s),
        ),
        card("Close the shift", form),
      ),
    );
  }

  function showClosedSummary(s) {
    mount(
      root,
      h("div", { class: "stack" },
        card("Shift closed",
          summaryNode(s),
          h("div", { class: "row-inline" },
            button("Print", () => printNode(summaryNode(s, true))),
            button("Open a new shift", show, { kind: "primary" }),
          ),
        ),
      ),
    );
  }

  show();
}

/** A shift summary: header facts and the per-channel table. */
export function summaryNode(s, forPrint = false) {
  const diff = (v) => (v === null || v === undefined ? "" : h("span", { class: v < 0 ? "neg" : v > 0 ? "pos" : "" }, money(v)));
  return h("div", { class: forPrint ? "shift-print" : "" },
    forPrint ? h("h3", {}, "Shift report") : null,
    facts([
      ["Opened", `${dateTime(s.opened_at)} by ${s.user_id}`],
      s.closed_at ? ["Closed", `${dateTime(s.closed_at)} by ${s.closed_by || ""}`] : ["Status", "open"],
      ["Opening float", money(s.opening_float)],
      ["Taken", money(s.received)],
      ["Refunded", money(s.refunded)],
      ["Expected cash", h("strong", {}, money(s.expected_cash))],
      s.counted_cash !== null && s.counted_cash !== undefined ? ["Counted cash", money(s.counted_cash)] : null,
      s.cash_difference !== null && s.cash_difference !== undefined ? ["Cash difference", h("strong", {}, diff(s.cash_difference))] : null,
    ]),
    table(
      [
        { label: "Channel", value: (c) => `${c.name || c.channel}${c.is_cash ? " (cash)" : ""}` },
        { label: "Payments", num: true, value: (c) => String(c.payments) },
        { label: "Taken", num: true, value: (c) => money(c.received) },
        { label: "Refunded", num: true, value: (c) => money(c.refunded) },
        { label: "Expected", num: true, value: (c) => money(c.expected) },
        { label: "Counted", num: true, value: (c) => (c.counted === null || c.counted === undefined ? "" : money(c.counted)) },
        { label: "Difference", num: true, value: (c) => diff(c.difference) },
      ],
      s.channels,
      { empty: "No payments in this shift yet." },
    ),
  );
}
