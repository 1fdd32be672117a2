// Customers: search, create and edit, balance and credit limit, the
// statement (ledger with running balance, paginated), open invoices, and
// taking a payment, an advance or giving a refund.

import { h, mount, button, field, select, moneyInput, formDialog, invalid, pagedTable, badge, facts, debounce, errorMessage, tabs, toast } from "./ui.js";
import { money, dateTime, parseMoney, label, moneyInput as moneyText } from "./format.js";
import { customerForm, activeChannels } from "./pickers.js";

export async function render(root, ctx, params) {
  let selected = null;
  const search = h("input", { type: "search", name: "q", id: "cust-q", placeholder: "Name or phone", autocomplete: "off" });
  const listMode = select("mode", [["balance", "Customers with a balance"], ["over", "Over their credit limit"]], { "aria-label": "List" });
  const listBox = h("div", { class: "list-box" });
  const detail = h("div", { class: "detail" }, h("p", { class: "empty" }, "Search and choose a customer, or create one."));

  const newBtn = button("New customer", async () => {
    const c = await customerForm(ctx, null, { name: search.value.trim() });
    if (c) choose(c);
  }, { kind: "primary" });

  mount(
    root,
    h("div", { class: "split" },
      h("section", { class: "card list-pane", "aria-label": "Customer list" },
        h("div", { class: "row-inline" }, h("div", { class: "field grow" }, h("label", { for: "cust-q" }, "Find a customer"), search), newBtn),
        h("div", { class: "row-inline" }, listMode),
        listBox,
      ),
      h("section", { class: "card detail-pane", "aria-label": "Customer" }, detail),
    ),
  );

  const cols = [
    { label: "Name", value: (c) => h("span", {}, c.name || c.customer_id, c.phone_conflict ? badge("phone taken", "warn") : null) },
    { label: "Phone", value: (c) => c.phone || "" },
    { label: "Limit", num: true, value: (c) => money(c.credit_limit ?? 0) },
    { label: "Balance", num: true, value: (c) => h("span", { class: c.balance > (c.credit_limit ?? 0) ? "neg" : "" }, money(c.balance)) },
  ];
  const norm = (c) => ({ id: c.id || c.customer_id, name: c.name || c.customer_id, phone: c.phone, address: c.address, credit_limit: c.credit_limit ?? 0, balance: c.balance });

  function showList() {
    const text = search.value.trim();
    if (text) {
      mount(listBox, pagedTable(cols, (after) => ctx.q({ query: "search_customers", text, after, limit: 30 }), { onRow: (c) => choose(norm(c)), empty: `No customer matches “${text}”.` }));
    } else {
      const q = listMode.value === "over" ? "customers_over_credit" : "customers_with_balance";
      mount(listBox, pagedTable(cols, (after) => ctx.q({ query: q, after, limit: 30 }), { onRow: (c) => choose(norm(c)), empty: "No customer here." }));
    }
  }
  search.addEventListener("input", debounce(showList, 200));
  listMode.addEventListener("change", () => {
    search.value = "";
    showList();
  });

  /** Fresh balance of a customer (search by name, match by id). */
  async function refresh(c) {
    try {
      const page = await ctx.q({ query: "search_customers", text: c.phone || c.name, limit: 50 });
      const hit = page.rows.find((r) => r.id === c.id);
      if (hit) return norm(hit);
    } catch {
      /* keep what we have */
    }
    return c;
  }

  async function choose(c) {
    selected = c;
    renderDetail();
  }

  function renderDetail() {
    const c = selected;
    const over = c.balance > c.credit_limit;
    const content = h("div");
    mount(
      detail,
      h("div", { class: "detail-head" },
        h("h2", {}, c.name),
        h("div", { class: "row-inline" },
          button("Edit", async () => {
            const r = await customerForm(ctx, c);
            if (r) {
              selected = await refresh({ ...c, ...r });
              renderDetail();
              showList();
            }
          }),
          button("Take payment", () => takePayment(c), { kind: "primary" }),
          button("Sell to", async () => {
            const m = await import("./sell.js");
            m.sellTo(c);
            ctx.go("sell");
          }),
        ),
      ),
      facts([
        ["Phone", c.phone || "—"],
        c.address ? ["Address", c.address] : null,
        ["Credit limit", c.credit_limit ? money(c.credit_limit) : "cash only"],
        ["Balance", h("strong", { class: over ? "neg" : "" }, money(c.balance), c.balance < 0 ? " (in credit)" : "", over ? badge("over limit", "warn") : null)],
      ]),
      h("div", { class: "tabs-host" }),
      content,
    );
    const bar = tabs([
      ["Statement", (el) => statement(el, c)],
      ["Invoices", (el) => invoices(el, c)],
    ], content);
    detail.querySelector(".tabs-host").replaceWith(bar);
  }

  function statement(el, c) {
    // The statement runs oldest first; "from" starts it at a date (the
    // cursor is a time), with the balance brought forward.
    const since = select("since", [["30", "Last 30 days"], ["90", "Last 90 days"], ["365", "Last 12 months"], ["all", "All history"]], { "aria-label": "Statement period", value: "90" });
    const opening = h("p", { class: "muted" });
    const host = h("div");
    const draw = () => {
      const days = since.value;
      const start = days === "all" ? null : [Date.now() - Number(days) * 86_400_000, ""];
      mount(host, pagedTable(
        [
          { label: "Date", value: (r) => dateTime(r.at) },
          { label: "What", value: (r) => label(r.category) },
          { label: "Bill", value: (r) => (r.bill_no ? h("a", { href: `#/invoices?bill=${encodeURIComponent(r.bill_no)}` }, r.bill_no) : "") },
          { label: "Channel", value: (r) => r.channel || "" },
          { label: "Debit", num: true, value: (r) => (r.debit ? money(r.debit) : "") },
          { label: "Credit", num: true, value: (r) => (r.credit ? money(r.credit) : "") },
          { label: "Balance", num: true, value: (r) => money(r.balance) },
        ],
        (after) => ctx.q({ query: "customer_statement", customer_id: c.id, after: after || start, limit: 50 }),
        { empty: "No entries in this period.", onFirstPage: (p) => (opening.textContent = `Oldest first. Balance brought forward: ${money(p.opening_balance)}.`) },
      ));
    };
    since.addEventListener("change", draw);
    el.append(h("div", { class: "row-inline" }, since), opening, host);
    draw();
  }

  function invoices(el, c) {
    el.append(
      pagedTable(
        [
          { label: "Bill", value: (r) => r.bill_no },
          { label: "Date", value: (r) => dateTime(r.at) },
          { label: "Total", num: true, value: (r) => money(r.total) },
          { label: "Paid", num: true, value: (r) => money(r.paid) },
          { label: "Remaining", num: true, value: (r) => money(r.remaining) },
          { label: "Status", value: (r) => badge(r.status) },
        ],
        (after) => ctx.q({ query: "invoices_of_customer", customer_id: c.id, after, limit: 30 }),
        { onRow: (r) => ctx.go("invoices", { id: r.id }), empty: "No invoices." },
      ),
    );
  }

  async function takePayment(c) {
    const out = await paymentDialog(ctx, c);
    if (out) {
      selected = await refresh(c);
      renderDetail();
      showList();
    }
  }

  showList();
  search.focus();
  const id = params.get("id");
  if (id) {
    const page = await ctx.q({ query: "search_customers", text: params.get("name") || "", limit: 50 }).catch(() => ({ rows: [] }));
    const hit = page.rows.find((r) => r.id === id);
    if (hit) choose(norm(hit));
  }
}

/**
 * Take a payment from customer `c` (against an open invoice, or on
 * account as an advance) or give a refund. `invoice` preselects one.
 * Resolves with the outcome or null.
 */
export async function paymentDialog(ctx, c, invoice = null) {
  const channels = await activeChannels(ctx);
  let open = [];
  if (c) {
    try {
      // Open invoices, newest first; a couple of pages is plenty at a till.
      let after = null;
      for (let i = 0; i < 4; i++) {
        const page = await ctx.q({ query: "invoices_of_customer", customer_id: c.id, after, limit: 100 });
        open.push(...page.rows.filter((r) => r.remaining > 0 && r.status !== "void"));
        if (!page.next) break;
        after = page.next;
      }
    } catch (err) {
      toast(errorMessage(err), "error");
    }
  }
  if (invoice && !open.some((o) => o.id === invoice.id)) open.unshift(invoice);
  return formDialog({
    title: c ? `Payment from ${c.name}` : `Payment on ${invoice.bill_no}`,
    ok: "Record",
    build: (f) => {
      const kinds = [];
      if (open.length) kinds.push(["invoice", "Payment of an invoice"]);
      if (c) kinds.push(["advance", "Payment on account (advance)"]);
      kinds.push(["refund", "Refund to the customer"]);
      const kind = select("kind", kinds, { value: invoice ? "invoice" : open.length ? "invoice" : "advance" });
      const inv = select("invoice_id", open.map((o) => [o.id, `${o.bill_no} · ${money(o.remaining)} due`]), { value: invoice ? invoice.id : undefined });
      const amount = moneyInput("amount", { required: true });
      const ch = select("channel", channels.map((x) => [x.code, x.name]));
      const invField = field("Invoice", inv);
      const sync = () => {
        invField.hidden = kind.value === "advance" || (kind.value === "refund" && !!c) || open.length === 0;
        if (kind.value === "invoice") {
          const o = open.find((x) => x.id === inv.value);
          if (o && !amount.value) amount.value = moneyText(o.remaining);
        }
      };
      kind.addEventListener("change", sync);
      inv.addEventListener("change", () => {
        amount.value = "";
        sync();
      });
      f.append(
        c ? h("p", {}, `Balance ${money(c.balance)}${c.balance < 0 ? " (in credit)" : ""}.`) : null,
        field("Kind", kind),
        invField,
        field("Amount", amount),
        field("Channel", ch),
      );
      sync();
    },
    submit: async (f) => {
      const kind = f.elements.kind.value;
      const amount = parseMoney(f.elements.amount.value);
      if (amount === null || amount <= 0) throw invalid("amount", "Enter an amount above 0, like 100.00.");
      if (!f.elements.channel.value) throw invalid("channel", "No active payment channel.");
      const cmd = { type: "take_payment", amount, channel: f.elements.channel.value, kind };
      if (c) cmd.customer_id = c.id;
      if (kind === "invoice" || (kind === "refund" && !c)) {
        const inv = f.elements.invoice_id.value;
        if (!inv) throw invalid("invoice_id", "Choose the invoice.");
        cmd.invoice_id = inv;
      }
      const out = await ctx.run(cmd);
      toast(`${kind === "refund" ? "Refund" : "Payment"} of ${money(amount)} recorded.`, "ok");
      return out;
    },
  });
}

