// Reports: sales by day or month (with returns, payment channels and
// categories), top products, and the alerts this terminal knows of
// (concurrent edits, duplicate keys, negative stock, rejected records,
// customers over their credit limit).

import { h, mount, button, field, input, select, pagedTable, table, card, tabs, badge, errorMessage } from "./ui.js";
import { money, qty, utcDay, monthStart, label } from "./format.js";

export async function render(root, ctx) {
  const content = h("div", { class: "tab-content" });
  const bar = tabs([["Sales", sales], ["Top products", top], ["Alerts", alerts]], content);
  mount(root, h("div", { class: "stack" }, bar, content));

  function range(defaultFrom) {
    const today = utcDay();
    const from = input("from", { type: "date", value: defaultFrom || monthStart(today) });
    const to = input("to", { type: "date", value: today });
    return { from, to };
  }

  function sales(el) {
    const { from, to } = range();
    const period = select("period", [["day", "By day"], ["month", "By month"]]);
    const out = h("div", { class: "stack" });
    const run = async () => {
      if (from.value > to.value) return mount(out, h("p", { class: "form-error" }, "“From” is after “To”."));
      mount(out, h("p", { class: "muted" }, "Loading…"));
      try {
        const r = await ctx.q({ query: "sales_report", period: period.value, from: from.value, to: to.value });
        const sum = (k) => r.sales.reduce((a, s) => a + s[k], 0);
        mount(
          out,
          h("div", { class: "kpis" },
            kpi("Invoices", String(sum("invoices"))),
            kpi("Sales", money(sum("total"))),
            kpi("Paid on them", money(sum("paid"))),
            kpi("Returns", money(r.returns.reduce((a, s) => a + s.total, 0))),
            kpi("Voided", `${sum("voided")} · ${money(sum("voided_total"))}`),
          ),
          card("Sales", table(
            [
              { label: "Period", value: (s) => s.period },
              { label: "Branch", value: (s) => ctx.branchLabel(s.branch_id) },
              { label: "Invoices", num: true, value: (s) => String(s.invoices) },
              { label: "Gross", num: true, value: (s) => money(s.subtotal) },
              { label: "Discount", num: true, value: (s) => money(s.discount) },
              { label: "Tax", num: true, value: (s) => money(s.tax) },
              { label: "Total", num: true, value: (s) => money(s.total) },
              { label: "Paid", num: true, value: (s) => money(s.paid) },
              { label: "Voided", num: true, value: (s) => (s.voided ? `${s.voided} · ${money(s.voided_total)}` : "") },
            ],
            r.sales,
            { empty: "No sales in this range." },
          )),
          card("Money by payment channel", table(
            [
              { label: "Period", value: (s) => s.period },
              { label: "Branch", value: (s) => ctx.branchLabel(s.branch_id) },
              { label: "Channel", value: (s) => s.channel_name || s.channel },
              { label: "Payments", num: true, value: (s) => String(s.payments) },
              { label: "Invoices", num: true, value: (s) => money(s.invoice_payments) },
              { label: "Advances", num: true, value: (s) => money(s.advances) },
              { label: "Refunds", num: true, value: (s) => money(s.refunds) },
              { label: "Net", num: true, value: (s) => money(s.net) },
            ],
            r.channels,
            { empty: "No payments in this range." },
          )),
          card("Sales by category", table(
            [
              { label: "Period", value: (s) => s.period },
              { label: "Branch", value: (s) => ctx.branchLabel(s.branch_id) },
              { label: "Category", value: (s) => s.category },
              { label: "Lines", num: true, value: (s) => String(s.lines) },
              { label: "Total", num: true, value: (s) => money(s.total) },
              { label: "Cost", num: true, value: (s) => money(s.cost) },
              { label: "Margin", num: true, value: (s) => money(s.total - s.tax - s.cost) },
            ],
            r.categories,
            { empty: "No sales in this range." },
          )),
          card("Returns", table(
            [
              { label: "Period", value: (s) => s.period },
              { label: "Branch", value: (s) => ctx.branchLabel(s.branch_id) },
              { label: "Returns", num: true, value: (s) => String(s.returns) },
              { label: "Credited", num: true, value: (s) => money(s.total) },
            ],
            r.returns,
            { empty: "No returns in this range." },
          )),
        );
      } catch (err) {
        mount(out, h("p", { class: "form-error" }, errorMessage(err)));
      }
    };
    el.append(
      h("div", { class: "row-inline toolbar" }, field("Period", period), field("From", from), field("To", to), button("Show", run, { kind: "primary" })),
      h("p", { class: "muted small" }, "Every branch this terminal knows of; days are UTC."),
      out,
    );
    run();
  }

  function top(el) {
    const { from, to } = range();
    const by = select("by", [["revenue", "By revenue"], ["quantity", "By quantity"]]);
    const scope = select("scope", [["branch", "This branch"], ["all", "All branches"]]);
    const limit = select("limit", [["10", "Top 10"], ["25", "Top 25"], ["50", "Top 50"]]);
    const out = h("div");
    const run = async () => {
      if (from.value > to.value) return mount(out, h("p", { class: "form-error" }, "“From” is after “To”."));
      try {
        const req = { query: "top_products", from: from.value, to: to.value, by: by.value, limit: Number(limit.value) };
        if (scope.value === "branch") req.branch_id = ctx.branchId;
        const rows = await ctx.q(req);
        mount(out, card(null, table(
          [
            { label: "#", value: (r) => String(rows.indexOf(r) + 1) },
            { label: "Product", value: (r) => r.name || r.product_id },
            { label: "SKU", value: (r) => r.sku || "" },
            { label: "Category", value: (r) => r.category || "" },
            { label: "Quantity", num: true, value: (r) => `${qty(r.qty)} ${r.unit || ""}` },
            { label: "Revenue", num: true, value: (r) => money(r.revenue) },
            { label: "Invoices", num: true, value: (r) => String(r.invoices) },
          ],
          rows,
          { empty: "No sales in this range." },
        )));
      } catch (err) {
        mount(out, h("p", { class: "form-error" }, errorMessage(err)));
      }
    };
    el.append(h("div", { class: "row-inline toolbar" }, field("Rank", by), field("Where", scope), field("How many", limit), field("From", from), field("To", to), button("Show", run, { kind: "primary" })), out);
    run();
  }

  async function alerts(el) {
    const list = h("div");
    let s;
    try {
      s = await ctx.q({ query: "alerts_summary" });
    } catch (err) {
      el.append(h("p", { class: "form-error" }, errorMessage(err)));
      return;
    }
    const kinds = [
      ["negative_stock", "Negative stock", "Products sold below zero (often two terminals selling the last unit offline).", showNegative],
      ["customers_over_credit", "Over credit limit", "Customers whose balance passed their limit (for example a credit sale made offline).", showOverCredit],
      ["field_conflicts", "Concurrent edits", "The same field changed on two terminals at once: the value kept and the values that lost.", showConflicts],
      ["duplicate_keys", "Duplicate keys", "Two records wanted the same SKU, barcode, phone or bill number; one holds it.", showDuplicates],
      ["rejected_records", "Rejected records", "Records from another replica that could not be applied here.", showRejected],
    ];
    el.append(
      h("div", { class: "kpis" },
        kinds.map(([k, title, help, fn]) => {
          const b = h("button", { type: "button", class: `kpi clickable ${s[k] ? "alert" : ""}`, title: help }, h("span", { class: "kpi-value" }, String(s[k])), h("span", { class: "kpi-label" }, title));
          b.addEventListener("click", () => {
            for (const x of el.querySelectorAll(".kpi")) x.removeAttribute("aria-pressed");
            b.setAttribute("aria-pressed", "true");
            mount(list, card(title, h("p", { class: "muted" }, help), fn()));
          });
          return b;
        }),
      ),
      list,
    );
    const first = kinds.find(([k]) => s[k]);
    if (first) el.querySelectorAll(".kpi")[kinds.indexOf(first)].click();
    else list.append(h("p", { class: "empty" }, "No alerts. Everything is consistent."));
  }

  const showNegative = () =>
    pagedTable(
      [
        { label: "Branch", value: (r) => ctx.branchLabel(r.branch_id) },
        { label: "Product", value: (r) => r.name || r.product_id },
        { label: "SKU", value: (r) => r.sku || "" },
        { label: "On hand", num: true, value: (r) => h("span", { class: "neg" }, `${qty(r.qty)} ${r.unit || ""}`) },
      ],
      (after) => ctx.q({ query: "negative_stock", after, limit: 50 }),
    );
  const showOverCredit = () =>
    pagedTable(
      [
        { label: "Customer", value: (r) => (r.name ? h("a", { href: `#/customers?id=${encodeURIComponent(r.customer_id)}&name=${encodeURIComponent(r.name)}` }, r.name) : r.customer_id) },
        { label: "Phone", value: (r) => r.phone || "" },
        { label: "Limit", num: true, value: (r) => money(r.credit_limit ?? 0) },
        { label: "Balance", num: true, value: (r) => h("span", { class: "neg" }, money(r.balance)) },
      ],
      (after) => ctx.q({ query: "customers_over_credit", after, limit: 50 }),
    );
  const showConflicts = () =>
    pagedTable(
      [
        { label: "Record", value: (r) => `${label(r.record_kind)} ${r.record_id}` },
        { label: "Field", value: (r) => r.field },
        { label: "Kept", value: (r) => h("strong", {}, r.winner) },
        { label: "Lost", value: (r) => r.losers },
      ],
      (after) => ctx.q({ query: "field_conflicts", after, limit: 50 }),
    );
  const showDuplicates = () =>
    pagedTable(
      [
        { label: "Kind", value: (r) => label(r.kind) },
        { label: "Key", value: (r) => r.field },
        { label: "Value wanted", value: (r) => r.wanted },
        { label: "Record", value: (r) => r.id },
        { label: "Held by", value: (r) => r.holder || badge("nobody", "warn") },
      ],
      (after) => ctx.q({ query: "duplicate_keys", after, limit: 50 }),
    );
  const showRejected = () =>
    pagedTable(
      [
        { label: "Document", value: (r) => r.doc_id },
        { label: "Collection", value: (r) => r.collection },
        { label: "Record", value: (r) => r.record_id },
        { label: "Why", value: (r) => r.reason },
      ],
      (after) => ctx.q({ query: "rejected_records", after, limit: 50 }),
    );
}

function kpi(labelText, value) {
  return h("div", { class: "kpi" }, h("span", { class: "kpi-value" }, value), h("span", { class: "kpi-label" }, labelText));
}
