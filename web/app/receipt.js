// The printable receipt of an invoice: shown in a dialog, printed with
// window.print() through the print stylesheet (only #print-root prints).

import { h, dialog, errorMessage, toast } from "./ui.js";
import { money, qty, dateTime, label } from "./format.js";

/** The receipt of an `InvoiceDetail` as a node. */
export function receiptNode(ctx, inv, { change = 0 } = {}) {
  const hd = inv.header;
  const s = ctx.settings();
  const id = ctx.identity;
  const payments = inv.settlements.filter((x) => x.kind === "payment" || x.kind === "refund");
  return h(
    "article",
    { class: "receipt" },
    h("header", {}, s.shopName ? h("h3", {}, s.shopName) : null, h("div", {}, `Branch ${id.branch_code} · Terminal ${id.terminal_code}`)),
    h("div", { class: "r-head" },
      h("div", {}, h("strong", {}, `Bill ${hd.bill_no}`)),
      h("div", {}, dateTime(hd.at)),
      h("div", {}, `Cashier: ${hd.user_id}`),
      hd.customer_id ? h("div", {}, `Customer: ${hd.customer_name || hd.customer_id}`) : h("div", {}, "Walk-in customer"),
      hd.status === "void" ? h("div", { class: "r-void" }, "*** VOID ***") : null,
    ),
    h(
      "table",
      { class: "r-lines" },
      h("thead", {}, h("tr", {}, h("th", {}, "Item"), h("th", { class: "num" }, "Qty"), h("th", { class: "num" }, "Price"), h("th", { class: "num" }, "Total"))),
      h(
        "tbody",
        {},
        inv.lines.map((l) => [
          h("tr", {}, h("td", {}, l.description), h("td", { class: "num" }, qty(l.qty)), h("td", { class: "num" }, money(l.unit_price)), h("td", { class: "num" }, money(l.total))),
          l.discount || l.tax
            ? h("tr", { class: "r-sub" }, h("td", { colspan: 4 }, [l.discount ? `discount -${money(l.discount)}` : "", l.tax ? ` tax ${money(l.tax)}` : ""].join(" ").trim()))
            : null,
          l.returned_qty ? h("tr", { class: "r-sub" }, h("td", { colspan: 4 }, `returned ${qty(l.returned_qty)}`)) : null,
        ]),
      ),
    ),
    h(
      "dl",
      { class: "r-totals" },
      h("dt", {}, "Subtotal"), h("dd", {}, money(hd.subtotal)),
      hd.discount ? [h("dt", {}, "Discount"), h("dd", {}, `-${money(hd.discount)}`)] : null,
      hd.tax ? [h("dt", {}, "Tax"), h("dd", {}, money(hd.tax))] : null,
      h("dt", { class: "grand" }, "TOTAL"), h("dd", { class: "grand" }, money(hd.total)),
      payments.map((p) => [h("dt", {}, `${p.kind === "refund" ? "Refund" : "Paid"} ${label(p.channel || "")}`), h("dd", {}, money(p.kind === "refund" ? -p.amount : p.amount))]),
      change > 0 ? [h("dt", {}, "Change"), h("dd", {}, money(change))] : null,
      hd.returned ? [h("dt", {}, "Returned"), h("dd", {}, `-${money(hd.returned)}`)] : null,
      hd.remaining ? [h("dt", {}, "On account"), h("dd", {}, money(hd.remaining))] : null,
    ),
    h("footer", {}, "Thank you!"),
  );
}

/** Puts `node` in the print root and prints it. */
export function printNode(node) {
  let root = document.getElementById("print-root");
  if (!root) {
    root = h("div", { id: "print-root" });
    document.body.appendChild(root);
  }
  root.replaceChildren(node.cloneNode(true));
  window.print();
}

/** Shows the receipt of invoice `invoiceId` with Print and Close. */
export async function showReceipt(ctx, invoiceId, opts = {}) {
  let inv;
  try {
    inv = await ctx.q({ query: "invoice", invoice_id: invoiceId });
  } catch (err) {
    toast(errorMessage(err), "error");
    return;
  }
  if (!inv) {
    toast("Invoice not found on this terminal.", "error");
    return;
  }
  const node = receiptNode(ctx, inv, opts);
  const v = await dialog({
    title: `Receipt ${inv.header.bill_no}`,
    body: h("div", { class: "receipt-preview" }, node),
    actions: [
      { label: "Close", value: null },
      { label: "Print", value: "print", kind: "primary" },
    ],
  });
  if (v === "print") printNode(node);
}
