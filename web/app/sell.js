// Sell: scan or search products into the cart, edit quantities, prices,
// discounts and tax, pick a customer (or sell to a walk-in), take split
// tenders with change for cash, put the rest on a customer's account, and
// print the receipt. The cart survives navigation and reloads (session).

import { h, mount, button, confirm, dialog, errorMessage, invalid, formError, clearFormError, badge, warningMessage } from "./ui.js";
import { money, qty, parseMoney, parseQty, parsePercentBp, percent, lineGross, taxOn, moneyInput as moneyText, qtyInput as qtyText } from "./format.js";
import { productPicker, customerPicker, activeChannels } from "./pickers.js";
import { tenderPanel } from "./payment.js";
import { showReceipt } from "./receipt.js";

const KEY = "pos.cart";

/** The cart: lines keep what the cashier typed, parsed at checkout. */
let cart = load();

function load() {
  try {
    const v = JSON.parse(sessionStorage.getItem(KEY) || "null");
    if (v && Array.isArray(v.lines)) return v;
  } catch {
    /* a fresh cart */
  }
  return { lines: [], customer: null };
}
const save = () => sessionStorage.setItem(KEY, JSON.stringify(cart));

/** Starts (or continues) a sale for customer `c` (from the customer screen). */
export function sellTo(c) {
  cart.customer = { id: c.id, name: c.name, phone: c.phone, credit_limit: c.credit_limit ?? 0, balance: c.balance ?? 0 };
  save();
}

/** Parses one line; returns `{qty, unit_price, discount, tax_rate_bp, gross, tax, total}` or `{error, field}`. */
function parseLine(l, i) {
  const q = parseQty(l.qty);
  if (q === null || q <= 0) return { error: `Line ${i + 1}: enter a quantity above 0 (up to 3 decimals).`, field: `lines[${i}].qty` };
  const price = parseMoney(l.price);
  if (price === null) return { error: `Line ${i + 1}: enter a price like 12.50.`, field: `lines[${i}].unit_price` };
  const discount = l.discount.trim() ? parseMoney(l.discount) : 0;
  if (discount === null) return { error: `Line ${i + 1}: enter the discount as an amount like 1.00.`, field: `lines[${i}].discount` };
  const bp = l.tax.trim() ? parsePercentBp(l.tax) : 0;
  if (bp === null || bp > 10000) return { error: `Line ${i + 1}: tax must be a percentage from 0 to 100.`, field: `lines[${i}].tax_rate_bp` };
  const gross = lineGross(q, price);
  if (discount > gross) return { error: `Line ${i + 1}: the discount is larger than the line amount ${money(gross)}.`, field: `lines[${i}].discount` };
  const tax = taxOn(gross - discount, bp);
  return { qty: q, unit_price: price, discount, tax_rate_bp: bp, gross, tax, total: gross - discount + tax };
}

export async function render(root, ctx) {
  let channels = await activeChannels(ctx).catch(() => []);
  const shiftNote = h("div", { class: "notice", hidden: true });
  ctx.q({ query: "open_shift", terminal_id: ctx.terminalId }).then((s) => {
    if (!s) {
      shiftNote.hidden = false;
      mount(shiftNote, "No shift is open on this terminal: sales are still recorded, but not counted in a shift. ", h("a", { href: "#/shift" }, "Open a shift"));
    }
  }, () => {});

  const picker = productPicker(ctx, addProduct, { label: "Scan or search a product" });
  const cartBody = h("tbody");
  const cartTable = h(
    "table",
    { class: "grid cart" },
    h("caption", { class: "sr-only" }, "Cart"),
    h("thead", {}, h("tr", {},
      h("th", { scope: "col" }, "Item"),
      h("th", { scope: "col", class: "num" }, "Qty"),
      h("th", { scope: "col", class: "num" }, "Price"),
      h("th", { scope: "col", class: "num" }, "Discount"),
      h("th", { scope: "col", class: "num" }, "Tax %"),
      h("th", { scope: "col", class: "num" }, "Total"),
      h("th", { scope: "col" }, h("span", { class: "sr-only" }, "Remove")),
    )),
    cartBody,
  );
  const emptyCart = h("p", { class: "empty" }, "The cart is empty. Scan a barcode or type a product name.");
  const clearBtn = button("Clear cart", async () => {
    if (cart.lines.length && !(await confirm("Clear the cart?", "Every line of this sale will be removed.", { ok: "Clear", kind: "danger" }))) return;
    reset();
  }, { kind: "ghost" });

  const custBox = h("div", { class: "cust-box" });
  const custPicker = customerPicker(ctx, (c) => {
    cart.customer = { id: c.id, name: c.name, phone: c.phone, credit_limit: c.credit_limit, balance: c.balance };
    save();
    renderCustomer();
    refreshTotals();
  }, { label: "Customer (optional)" });

  const totalsBox = h("div", { class: "totals" });
  let tenders = tenderPanel(channels, { onChange: () => clearFormError(payForm) });
  const checkoutBtn = h("button", { type: "submit", class: "btn primary big checkout", title: "Checkout (F9 or Ctrl+Enter)" }, "Checkout");
  const payForm = h("form", { class: "form pay", novalidate: true, "aria-label": "Payment" },
    h("p", { class: "form-error", role: "alert", hidden: true }),
    tenders,
    checkoutBtn,
  );
  payForm.addEventListener("submit", (e) => {
    e.preventDefault();
    checkout({});
  });

  mount(
    root,
    h("div", { class: "sell" },
      h("section", { class: "sell-left card", "aria-label": "Cart" },
        shiftNote,
        picker,
        h("div", { class: "table-wrap" }, cartTable, emptyCart),
        h("div", { class: "row-inline end" }, clearBtn),
      ),
      h("section", { class: "sell-right card", "aria-label": "Customer and payment" },
        h("h2", {}, "Customer"),
        custBox,
        h("h2", {}, "Payment"),
        totalsBox,
        payForm,
      ),
    ),
  );

  function addProduct(p) {
    const existing = cart.lines.find((l) => l.product.id === p.id && parseMoney(l.price) === p.price);
    if (existing) {
      const q = parseQty(existing.qty);
      existing.qty = qtyText((q ?? 0) + 1000);
    } else {
      cart.lines.push({
        product: { id: p.id, name: p.name, sku: p.sku, unit: p.unit, price: p.price, on_hand: p.on_hand },
        qty: "1",
        price: moneyText(p.price),
        discount: "",
        tax: ctx.settings().taxBp ? percent(ctx.settings().taxBp) : "",
      });
    }
    save();
    renderCart();
    const idx = cart.lines.indexOf(existing || cart.lines[cart.lines.length - 1]);
    const row = cartBody.children[idx];
    if (row) row.classList.add("flash");
    picker.focus();
  }

  function renderCart() {
    cartBody.replaceChildren();
    cart.lines.forEach((l, i) => {
      const p = l.product;
      const mk = (key, fieldName, cls, lab) => {
        const inp = h("input", { class: `num ${cls}`, value: l[key], inputmode: "decimal", "aria-label": `${lab} of ${p.name}`, dataset: { field: `lines[${i}].${fieldName}` } });
        inp.addEventListener("input", () => {
          l[key] = inp.value;
          save();
          refreshTotals();
          totalCell.textContent = lineTotal(l, i);
          if (key === "qty") lowBadge.hidden = !(parseQty(l.qty) > p.on_hand);
        });
        inp.addEventListener("focus", () => inp.select());
        inp.addEventListener("keydown", (e) => {
          if (e.key === "Enter") {
            e.preventDefault();
            picker.focus();
          }
        });
        return inp;
      };
      const totalCell = h("td", { class: "num line-total", "data-label": "Total" }, lineTotal(l, i));
      const rm = h("button", { type: "button", class: "icon-btn danger", "aria-label": `Remove ${p.name}`, title: "Remove line" }, "×");
      rm.addEventListener("click", () => {
        cart.lines.splice(i, 1);
        save();
        renderCart();
        picker.focus();
      });
      const lowBadge = badge("more than on hand", "warn");
      lowBadge.hidden = !(parseQty(l.qty) > p.on_hand);
      cartBody.appendChild(
        h("tr", {},
          h("td", { "data-label": "Item" }, h("div", { class: "item-name" }, p.name), h("div", { class: "muted small" }, `${p.sku} · ${qty(p.on_hand)} ${p.unit} on hand`, lowBadge)),
          h("td", { class: "num", "data-label": "Qty" }, mk("qty", "qty", "w-qty", "Quantity"), h("span", { class: "unit" }, p.unit)),
          h("td", { class: "num", "data-label": "Price" }, mk("price", "unit_price", "w-money", "Unit price")),
          h("td", { class: "num", "data-label": "Discount" }, mk("discount", "discount", "w-money", "Discount")),
          h("td", { class: "num", "data-label": "Tax %" }, mk("tax", "tax_rate_bp", "w-pct", "Tax percent")),
          totalCell,
          h("td", {}, rm),
        ),
      );
    });
    emptyCart.hidden = cart.lines.length > 0;
    cartTable.hidden = cart.lines.length === 0;
    refreshTotals();
  }

  function lineTotal(l, i) {
    const r = parseLine(l, i);
    return r.error ? "—" : money(r.total);
  }

  function totals() {
    let subtotal = 0, discount = 0, tax = 0, total = 0, items = 0;
    for (let i = 0; i < cart.lines.length; i++) {
      const r = parseLine(cart.lines[i], i);
      if (r.error) return { error: r.error, field: r.field };
      subtotal += r.gross;
      discount += r.discount;
      tax += r.tax;
      total += r.total;
      items++;
    }
    return { subtotal, discount, tax, total, items };
  }

  function refreshTotals() {
    const t = totals();
    if (t.error) {
      mount(totalsBox, h("p", { class: "form-error" }, t.error));
      tenders.update({ total: 0, customer: cart.customer });
      return;
    }
    mount(
      totalsBox,
      h("div", { class: "sum-row" }, h("span", {}, `${t.items} line${t.items === 1 ? "" : "s"}, subtotal`), h("span", { class: "num" }, money(t.subtotal))),
      t.discount ? h("div", { class: "sum-row" }, h("span", {}, "Discount"), h("span", { class: "num" }, `-${money(t.discount)}`)) : null,
      t.tax ? h("div", { class: "sum-row" }, h("span", {}, "Tax"), h("span", { class: "num" }, money(t.tax))) : null,
      h("div", { class: "big-total", "aria-live": "polite" }, h("span", {}, "To pay"), h("strong", { class: "num" }, money(t.total))),
    );
    tenders.update({ total: t.total, customer: cart.customer });
  }

  function renderCustomer() {
    const c = cart.customer;
    if (!c) {
      mount(custBox, h("p", { class: "muted" }, "Walk-in sale (paid in full)."), custPicker);
      return;
    }
    const rm = button("Remove", () => {
      cart.customer = null;
      save();
      renderCustomer();
      refreshTotals();
    }, { kind: "ghost small", "aria-label": `Remove customer ${c.name}` });
    mount(
      custBox,
      h("div", { class: "cust-chip" },
        h("div", {}, h("strong", {}, c.name), c.phone ? h("span", { class: "muted" }, ` · ${c.phone}`) : null),
        h("div", { class: "small" }, `Balance ${money(c.balance)} · credit limit ${money(c.credit_limit)}`, c.balance > c.credit_limit ? badge("over limit", "warn") : null),
        rm,
      ),
    );
  }

  function reset() {
    cart = { lines: [], customer: null };
    save();
    tenders.clear();
    renderCart();
    renderCustomer();
    clearFormError(payForm);
    picker.focus();
  }

  function buildCommand(flags) {
    if (!cart.lines.length) throw invalid("product_search", "The cart is empty.");
    const t = totals();
    if (t.error) throw invalid(t.field, t.error);
    const lines = cart.lines.map((l, i) => {
      const r = parseLine(l, i);
      const line = { product_id: l.product.id, qty: r.qty, discount: r.discount, tax_rate_bp: r.tax_rate_bp };
      if (r.unit_price !== l.product.price) line.unit_price = r.unit_price;
      return line;
    });
    const s = tenders.state();
    if (s.error) throw invalid(s.errorField || "payments", s.error);
    const cmd = {
      type: "sell",
      lines,
      payments: s.payments,
      allow_negative_stock: !!flags.allow_negative_stock,
      allow_over_credit_limit: !!flags.allow_over_credit_limit,
    };
    if (cart.customer) cmd.customer_id = cart.customer.id;
    return { cmd, total: t.total, change: s.change };
  }

  let running = false;
  async function checkout(flags) {
    if (running) return;
    clearFormError(payForm);
    let built;
    try {
      built = buildCommand(flags);
    } catch (err) {
      formError(payForm, err);
      if (err.field && err.field.startsWith("lines")) {
        const el = cartBody.querySelector(`[data-field="${err.field}"]`);
        if (el) el.focus();
      }
      return;
    }
    running = true;
    checkoutBtn.disabled = true;
    checkoutBtn.textContent = "Saving…";
    try {
      const names = Object.fromEntries(cart.lines.map((l) => [l.product.id, l.product.name]));
      const out = await ctx.run(built.cmd, { names });
      const change = built.change;
      const soldTo = cart.customer ? cart.customer.name : "walk-in";
      reset();
      done(out, built.total, change, soldTo, names);
    } catch (err) {
      if (err.code === "insufficient_stock" && !flags.allow_negative_stock) {
        const m = /of (\S+):/.exec(err.message || "");
        const line = m && cart.lines.find((l) => l.product.id === m[1]);
        const ok = await confirm(
          "Not enough stock",
          `${line ? line.product.name + ": " : ""}${errorMessage(err)} Sell anyway? The stock goes negative and is reported as an alert.`,
          { ok: "Sell anyway", kind: "danger" },
        );
        if (ok) {
          running = false;
          return checkout({ ...flags, allow_negative_stock: true });
        }
        formError(payForm, err);
      } else if (err.code === "credit_limit_exceeded" && !flags.allow_over_credit_limit) {
        const ok = await confirm("Credit limit", `${errorMessage(err)} Allow this sale over the limit? It is flagged for the back office.`, { ok: "Allow over limit", kind: "danger" });
        if (ok) {
          running = false;
          return checkout({ ...flags, allow_over_credit_limit: true });
        }
        formError(payForm, err);
      } else {
        formError(payForm, err);
      }
    } finally {
      running = false;
      checkoutBtn.disabled = false;
      checkoutBtn.textContent = "Checkout";
    }
  }

  async function done(out, total, change, soldTo, names) {
    const body = h("div", { class: "sale-done" },
      h("p", { class: "bill" }, "Bill ", h("strong", {}, out.number || out.id)),
      h("p", {}, `Total ${money(total)} · ${soldTo}`),
      change > 0 ? h("p", { class: "change" }, "Change: ", h("strong", {}, money(change))) : null,
      (out.warnings || []).map((w) => h("p", { class: "warn" }, warningMessage(w, names))),
    );
    const v = await dialog({
      title: "Sale complete",
      body,
      actions: [
        { label: "Receipt", value: "print" },
        { label: "New sale", value: null, kind: "primary" },
      ],
    });
    if (v === "print") await showReceipt(ctx, out.id, { change });
    picker.focus();
  }

  // Keyboard: F9 / Ctrl+Enter checks out; F2 or "/" goes to the search;
  // characters typed (or scanned) with nothing focused go to the search.
  function keys(e) {
    if (document.querySelector("dialog[open]")) return;
    if (e.key === "F9" || (e.key === "Enter" && (e.ctrlKey || e.metaKey))) {
      e.preventDefault();
      checkout({});
      return;
    }
    const t = e.target;
    const typing = t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT" || t.isContentEditable);
    if (e.key === "F2" || (e.key === "/" && !typing)) {
      e.preventDefault();
      picker.focus();
      return;
    }
    if (!typing && e.key.length === 1 && !e.ctrlKey && !e.metaKey && !e.altKey) {
      picker.input.focus();
    }
  }
  document.addEventListener("keydown", keys);

  renderCart();
  renderCustomer();
  picker.focus();
  // A new terminal gets its payment channels with its first sync.
  const off = ctx.on("synced", async () => {
    if (channels.length) return;
    channels = await activeChannels(ctx).catch(() => []);
    if (!channels.length) return;
    const fresh = tenderPanel(channels, { onChange: () => clearFormError(payForm) });
    tenders.replaceWith(fresh);
    tenders = fresh;
    refreshTotals();
  });
  return () => {
    document.removeEventListener("keydown", keys);
    off();
  };
}
