// The tender panel: split payments over the active channels, change for
// cash, the unpaid rest on the customer's account (credit sale).
//
// Cash received above what is owed is change, not a payment: the payment
// sent to the engine is capped at what is owed, so the invoice never
// records an overpayment.

import { h, field, moneyInput, button } from "./ui.js";
import { money, parseMoney, moneyInput as moneyText } from "./format.js";

/**
 * `tenderPanel(channels, {onChange})`: `channels` are the active payment
 * channels. Call `panel.update({total, customer})` whenever the sale
 * changes; `panel.state()` returns `{payments, tendered, change, remaining,
 * error, errorField}`.
 */
export function tenderPanel(channelList, { onChange = () => {}, idPrefix = "pay" } = {}) {
  // Cash first: it is the usual tender and the one that gives change.
  const channels = [...channelList].sort((a, b) => (b.is_cash ? 1 : 0) - (a.is_cash ? 1 : 0));
  let total = 0;
  let customer = null;
  const inputs = new Map();
  const rows = channels.map((c) => {
    const inp = moneyInput(`${idPrefix}_${c.code}`, { field: `payments.${c.code}`, "aria-label": `${c.name} amount` });
    inp.addEventListener("input", () => {
      refresh();
      onChange();
    });
    inputs.set(c.code, inp);
    const rest = button(c.is_cash ? "Exact" : "Rest", () => {
      const s = compute(c.code);
      inp.value = s > 0 ? moneyText(s) : "";
      refresh();
      onChange();
      inp.focus();
    }, { kind: "ghost small", title: `Put what is still owed on ${c.name}` });
    return h("div", { class: "tender" }, field(c.is_cash ? `${c.name} received` : c.name, inp), rest);
  });
  const summary = h("div", { class: "tender-summary", "aria-live": "polite" });
  const el = h("div", { class: "tenders" }, rows.length ? rows : h("p", { class: "form-error" }, "No active payment channel: ask the back office to set one up."), summary);

  /** What is still owed if `except` channel were empty. */
  function compute(except) {
    let paid = 0;
    for (const c of channels) {
      if (c.code === except) continue;
      const v = parseMoney(inputs.get(c.code).value) || 0;
      paid += v;
    }
    return Math.max(0, total - paid);
  }

  function state() {
    let nonCash = 0;
    let cash = 0;
    const payments = [];
    for (const c of channels) {
      const text = inputs.get(c.code).value.trim();
      if (!text) continue;
      const v = parseMoney(text);
      if (v === null) return { error: `${c.name}: enter an amount like 12.50.`, errorField: `payments.${c.code}`, payments: [] };
      if (v === 0) continue;
      if (c.is_cash) cash += v;
      else {
        nonCash += v;
        payments.push({ channel: c.code, amount: v });
      }
    }
    if (nonCash > total) {
      return { error: `Card and other non-cash tenders (${money(nonCash)}) exceed the total ${money(total)}.`, payments: [] };
    }
    let cashRoom = total - nonCash;
    let cashApplied = 0;
    for (const c of channels.filter((c) => c.is_cash)) {
      const v = parseMoney(inputs.get(c.code).value) || 0;
      const applied = Math.min(v, cashRoom);
      if (applied > 0) {
        payments.push({ channel: c.code, amount: applied });
        cashRoom -= applied;
        cashApplied += applied;
      }
    }
    const change = cash - cashApplied;
    const remaining = total - nonCash - cashApplied;
    let error = null;
    if (remaining > 0 && !customer) error = `Still due: ${money(remaining)}. A walk-in sale is paid in full; choose a customer to put the rest on account.`;
    return { payments, tendered: nonCash + cash, change, remaining, error };
  }

  function refresh() {
    const s = state();
    const lines = [h("div", { class: "sum-row total" }, h("span", {}, "Total"), h("strong", { class: "num" }, money(total)))];
    if (s.tendered !== undefined) lines.push(h("div", { class: "sum-row" }, h("span", {}, "Tendered"), h("span", { class: "num" }, money(s.tendered))));
    if (s.change > 0) lines.push(h("div", { class: "sum-row change" }, h("span", {}, "Change to give"), h("strong", { class: "num" }, money(s.change))));
    if (s.remaining > 0 && customer) {
      const after = (customer.balance || 0) + s.remaining;
      const over = after > (customer.credit_limit || 0);
      lines.push(
        h("div", { class: "sum-row" }, h("span", {}, "On account"), h("span", { class: "num" }, money(s.remaining))),
        h("div", { class: `sum-row ${over ? "warn" : ""}` }, h("span", {}, "Balance after"), h("span", { class: "num" }, `${money(after)} / limit ${money(customer.credit_limit || 0)}`)),
      );
    }
    if (s.error) lines.push(h("p", { class: "form-error" }, s.error));
    summary.replaceChildren(...lines);
  }

  el.update = ({ total: t, customer: c }) => {
    total = t;
    customer = c;
    refresh();
  };
  el.state = state;
  el.clear = () => {
    for (const i of inputs.values()) i.value = "";
    refresh();
  };
  el.focusFirst = () => {
    const first = channels.find((c) => c.is_cash) || channels[0];
    if (first) inputs.get(first.code).focus();
  };
  el.fillCash = () => {
    const c = channels.find((c) => c.is_cash) || channels[0];
    if (!c) return;
    const s = compute(c.code);
    inputs.get(c.code).value = s > 0 ? moneyText(s) : "";
    refresh();
  };
  return el;
}
