// Invoices of this branch by day, lookup by bill number, the invoice with
// its lines and settlements, and what can be done to it: print, take a
// payment, refund, return items (credit note), void with a reason.

import { h, mount, button, field, input, formDialog, invalid, pagedTable, badge, facts, table, confirm, ask, toast, errorMessage, qtyInput } from "./ui.js";
import { money, qty, dateTime, parseQty, parseMoney, utcDay, label, qtyInput as qtyText, moneyInput as moneyText } from "./format.js";
import { showReceipt } from "./receipt.js";
import { paymentDialog } from "./customers.js";

export async function render(root, ctx, params) {
  const today = utcDay();
  const from = input("from", { type: "date", value: params.get("from") || today, max: "9999-12-31" });
  const to = input("to", { type: "date", value: params.get("to") || today, max: "9999-12-31" });
  const bill = input("bill", { type: "search", placeholder: "e.g. B1-T1-000123", enterkeyhint: "search" });
  const listBox = h("div", { class: "list-box" });
  const detail = h("div", { class: "detail" }, h("p", { class: "empty" }, "Choose an invoice."));
  const findForm = h("form", { class: "row-inline", role: "search" }, field("Bill number", bill), h("button", { type: "submit", class: "btn" }, "Open"));
  findForm.addEventListener("submit", (e) => {
    e.preventDefault();
    openBill(bill.value.trim());
  });

  mount(
    root,
    h("div", { class: "split" },
      h("section", { class: "card list-pane", "aria-label": "Invoices" },
        findForm,
        h("div", { class: "row-inline" }, field("From", from), field("To", to), button("Today", () => {
          from.value = to.value = utcDay();
          showList();
        }, { kind: "ghost" })),
        h("p", { class: "muted small" }, "Days are UTC, as the server reports them."),
        listBox,
      ),
      h("section", { class: "card detail-pane", "aria-label": "Invoice" }, detail),
    ),
  );

  function showList() {
    const f = from.value || today;
    const t = to.value || f;
    if (f > t) {
      mount(listBox, h("p", { class: "form-error" }, "“From” is after “To”."));
      return;
    }
    let count = 0;
    let sum = 0;
    const foot = h("p", { class: "muted" });
    mount(
      listBox,
      pagedTable(
        [
          { label: "Bill", value: (r) => r.bill_no },
          { label: "Time", value: (r) => dateTime(r.at) },
          { label: "Customer", value: (r) => r.customer_name || (r.customer_id ? r.customer_id : "walk-in") },
          { label: "Total", num: true, value: (r) => money(r.total) },
          { label: "Due", num: true, value: (r) => (r.remaining > 0 ? money(r.remaining) : r.remaining < 0 ? h("span", { class: "muted" }, `credit ${money(-r.remaining)}`) : "") },
          { label: "Status", value: (r) => badge(r.status) },
        ],
        async (after) => {
          const page = await ctx.q({ query: "invoices_by_branch_day", branch_id: ctx.branchId, from: f, to: t, after, limit: 50 });
          for (const r of page.rows) {
            count++;
            if (r.status !== "void") sum += r.total;
          }
          foot.textContent = `${count} invoice${count === 1 ? "" : "s"} shown, ${money(sum)} not void${page.next ? " (more below)" : ""}.`;
          return page;
        },
        { onRow: (r) => showInvoice(r.id), empty: "No invoices on these days." },
      ),
      foot,
    );
  }
  from.addEventListener("change", showList);
  to.addEventListener("change", showList);

  async function openBill(no) {
    if (!no) return;
    try {
      const id = await ctx.q({ query: "invoice_id_by_bill_no", bill_no: no });
      if (!id) return toast(`No invoice ${no} on this terminal.`, "error");
      showInvoice(id);
    } catch (err) {
      toast(errorMessage(err), "error");
    }
  }

  async function showInvoice(id) {
    mount(detail, h("p", { class: "muted" }, "Loading…"));
    let inv;
    try {
      inv = await ctx.q({ query: "invoice", invoice_id: id });
    } catch (err) {
      return mount(detail, h("p", { class: "form-error" }, errorMessage(err)));
    }
    if (!inv) return mount(detail, h("p", { class: "form-error" }, "This invoice is not on this terminal."));
    const hd = inv.header;
    const voided = hd.status === "void";
    const credit = voided ? hd.paid : hd.paid + hd.returned - hd.total;
    const returnable = inv.lines.filter((l) => l.kind === "product" && l.qty > l.returned_qty);
    const customer = hd.customer_id ? { id: hd.customer_id, name: hd.customer_name || hd.customer_id } : null;
    const actions = [
      button("Receipt", () => showReceipt(ctx, hd.id)),
      !voided && hd.remaining > 0
        ? button("Take payment", async () => {
            if (await paymentDialog(ctx, customer ? await withBalance(customer) : null, { id: hd.id, bill_no: hd.bill_no, remaining: hd.remaining })) showInvoice(id);
          }, { kind: "primary" })
        : null,
      credit > 0
        ? button(`Refund ${money(credit)}`, () => refund(inv, credit).then((ok) => ok && showInvoice(id)))
        : null,
      !voided && returnable.length ? button("Return items", () => returnItems(inv).then((ok) => ok && showInvoice(id))) : null,
      !voided && hd.returned === 0 ? button("Void", () => voidInvoice(inv).then((ok) => ok && (showInvoice(id), showList())), { kind: "danger" }) : null,
    ];
    mount(
      detail,
      h("div", { class: "detail-head" }, h("h2", {}, `Bill ${hd.bill_no}`, " ", badge(hd.status), hd.bill_no_conflict ? badge("duplicate number", "warn") : null), h("div", { class: "row-inline" }, actions)),
      facts([
        ["Time", dateTime(hd.at)],
        ["Customer", customer ? h("a", { href: `#/customers?id=${encodeURIComponent(customer.id)}&name=${encodeURIComponent(customer.name)}` }, customer.name) : "walk-in"],
        ["Cashier", `${hd.user_id} on ${hd.terminal_id}`],
        hd.service_order_id ? ["Service order", hd.service_order_id] : null,
        ["Subtotal", money(hd.subtotal)],
        hd.discount ? ["Discount", money(hd.discount)] : null,
        hd.tax ? ["Tax", money(hd.tax)] : null,
        ["Total", h("strong", {}, money(hd.total))],
        ["Paid", money(hd.paid)],
        hd.returned ? ["Returned", money(hd.returned)] : null,
        ["Remaining", h("strong", { class: hd.remaining > 0 ? "neg" : "" }, money(hd.remaining))],
      ]),
      h("h3", {}, "Lines"),
      table(
        [
          { label: "#", value: (l) => String(l.line_no + 1) },
          { label: "Item", value: (l) => h("span", {}, l.description, l.kind !== "product" ? badge(l.kind) : null) },
          { label: "Qty", num: true, value: (l) => qty(l.qty) },
          { label: "Price", num: true, value: (l) => money(l.unit_price) },
          { label: "Discount", num: true, value: (l) => (l.discount ? money(l.discount) : "") },
          { label: "Tax", num: true, value: (l) => (l.tax ? money(l.tax) : "") },
          { label: "Total", num: true, value: (l) => money(l.total) },
          { label: "Returned", num: true, value: (l) => (l.returned_qty ? qty(l.returned_qty) : "") },
        ],
        inv.lines,
      ),
      h("h3", {}, "Payments, returns and voids"),
      table(
        [
          { label: "When", value: (s) => dateTime(s.at) },
          { label: "What", value: (s) => label(s.kind) },
          { label: "Channel", value: (s) => s.channel || "" },
          { label: "Amount", num: true, value: (s) => money(s.amount) },
          { label: "By", value: (s) => s.user_id },
          { label: "Reason", value: (s) => s.reason || "" },
        ],
        inv.settlements,
        { empty: "Nothing yet." },
      ),
    );
  }

  async function withBalance(c) {
    try {
      const page = await ctx.q({ query: "search_customers", text: c.name, limit: 50 });
      const hit = page.rows.find((r) => r.id === c.id);
      if (hit) return { ...c, ...hit };
    } catch {
      /* keep */
    }
    return { ...c, balance: 0, credit_limit: 0 };
  }

  async function refund(inv, credit) {
    const hd = inv.header;
    const customer = hd.customer_id ? await withBalance({ id: hd.customer_id, name: hd.customer_name || hd.customer_id }) : null;
    const channels = (await ctx.channels()).filter((c) => c.active);
    const r = await formDialog({
      title: `Refund on ${hd.bill_no}`,
      ok: "Refund",
      kind: "danger",
      build: (f) => {
        const amount = input("amount", { value: moneyText(credit), inputmode: "decimal", class: "num" });
        const ch = h("select", { name: "channel", dataset: { field: "channel" } }, channels.map((c) => h("option", { value: c.code }, c.name)));
        f.append(h("p", {}, `Up to ${money(credit)} is due back to the customer.`), field("Amount", amount), field("Channel", ch));
      },
      submit: async (f) => {
        const amount = parseMoney(f.elements.amount.value);
        if (amount === null || amount <= 0) throw invalid("amount", "Enter an amount above 0.");
        const cmd = { type: "take_payment", invoice_id: hd.id, amount, channel: f.elements.channel.value, kind: "refund" };
        if (customer) cmd.customer_id = customer.id;
        await ctx.run(cmd);
        toast(`Refunded ${money(amount)}.`, "ok");
        return true;
      },
    });
    return !!r;
  }

  async function returnItems(inv) {
    const hd = inv.header;
    const lines = inv.lines.filter((l) => l.kind === "product" && l.qty > l.returned_qty);
    const r = await formDialog({
      title: `Return items of ${hd.bill_no}`,
      ok: "Record return",
      wide: true,
      build: (f) => {
        f.append(
          h("p", {}, "Enter the quantity coming back on each line. The goods return to stock and the customer is credited."),
          table(
            [
              { label: "Item", value: (l) => l.description },
              { label: "Sold", num: true, value: (l) => qty(l.qty) },
              { label: "Returned", num: true, value: (l) => qty(l.returned_qty) },
              {
                label: "Return now",
                num: true,
                value: (l) => {
                  const i = qtyInput(`ret_${l.line_no}`, { "aria-label": `Quantity of ${l.description} to return`, field: `line_${l.line_no}` });
                  const all = h("button", { type: "button", class: "btn ghost small" }, "All");
                  all.addEventListener("click", () => (i.value = qtyText(l.qty - l.returned_qty)));
                  return h("span", { class: "row-inline" }, i, all);
                },
              },
            ],
            lines,
          ),
          field("Reason", input("reason", { maxlength: 1000, placeholder: "Damaged, wrong size…" })),
        );
      },
      submit: async (f) => {
        const out = [];
        for (const l of lines) {
          const text = f.elements[`ret_${l.line_no}`].value.trim();
          if (!text) continue;
          const q = parseQty(text);
          if (q === null || q <= 0) throw invalid(`line_${l.line_no}`, `${l.description}: enter a quantity above 0.`);
          if (q > l.qty - l.returned_qty) throw invalid(`line_${l.line_no}`, `${l.description}: at most ${qty(l.qty - l.returned_qty)} can come back.`);
          out.push({ line_no: l.line_no, qty: q });
        }
        if (!out.length) throw invalid(`line_${lines[0].line_no}`, "Enter a quantity on at least one line.");
        await ctx.run({ type: "return_items", invoice_id: hd.id, lines: out, reason: f.elements.reason.value.trim() });
        toast("Return recorded.", "ok");
        return true;
      },
    });
    return !!r;
  }

  async function voidInvoice(inv) {
    const hd = inv.header;
    const reason = await ask(`Void ${hd.bill_no}?`, "Reason (required)", { ok: "Void invoice", kind: "danger" });
    if (!reason) return false;
    if (hd.paid > 0 && !(await confirm("Money was paid", `${money(hd.paid)} was paid on this invoice; it becomes due back to the customer (use Refund after voiding).`, { ok: "Void anyway", kind: "danger" }))) return false;
    await ctx.run({ type: "void_invoice", invoice_id: hd.id, reason });
    toast(`${hd.bill_no} voided.`, "ok");
    return true;
  }

  showList();
  if (params.get("id")) showInvoice(params.get("id"));
  else if (params.get("bill")) openBill(params.get("bill"));
}
