// Shared pickers and forms: product search (typing or scanning), customer
// search with inline creation, the customer form.

import { h, input, field, debounce, errorMessage, formDialog, invalid, moneyInput, badge } from "./ui.js";
import { money, qty, parseMoney, moneyInput as moneyText } from "./format.js";

/**
 * A product search box with a result list. Typing searches (debounced);
 * Enter on a barcode adds the product with that exact barcode, otherwise
 * the highlighted result. Arrow keys move through the results.
 * `onPick(product)` receives a `ProductHit`.
 */
export function productPicker(ctx, onPick, { placeholder = "Search product by name, SKU or scan a barcode", label = "Product", showInactive = false } = {}) {
  const listId = `pp-${Math.random().toString(36).slice(2)}`;
  const box = input("product_search", {
    type: "search",
    placeholder,
    role: "combobox",
    "aria-expanded": "false",
    "aria-controls": listId,
    "aria-autocomplete": "list",
    enterkeyhint: "search",
  });
  const list = h("ul", { id: listId, class: "results", role: "listbox", hidden: true });
  const msg = h("p", { class: "picker-msg muted", "aria-live": "polite" });
  let rows = [];
  let active = -1;
  let seq = 0;

  const close = () => {
    list.hidden = true;
    box.setAttribute("aria-expanded", "false");
    active = -1;
  };

  function render() {
    list.replaceChildren();
    rows.forEach((p, i) => {
      const li = h(
        "li",
        { role: "option", id: `${listId}-${i}`, "aria-selected": String(i === active), class: p.status !== "active" ? "inactive" : "" },
        h("span", { class: "r-name" }, p.name, p.status !== "active" ? badge("inactive") : null),
        h("span", { class: "r-meta" }, `${p.sku}${p.barcode ? " · " + p.barcode : ""}`),
        h("span", { class: "r-stock" + (p.on_hand <= 0 ? " neg" : "") }, `${qty(p.on_hand)} ${p.unit}`),
        h("span", { class: "r-price num" }, money(p.price)),
      );
      li.addEventListener("mousedown", (e) => e.preventDefault());
      li.addEventListener("click", () => pick(p));
      list.appendChild(li);
    });
    list.hidden = rows.length === 0;
    box.setAttribute("aria-expanded", String(!list.hidden));
    if (active >= 0) box.setAttribute("aria-activedescendant", `${listId}-${active}`);
    else box.removeAttribute("aria-activedescendant");
  }

  function pick(p) {
    if (p.status !== "active" && !showInactive) {
      msg.textContent = `${p.name} is inactive and cannot be sold.`;
      return;
    }
    box.value = "";
    rows = [];
    close();
    msg.textContent = "";
    onPick(p);
  }

  const search = debounce(async () => {
    const text = box.value.trim();
    const mine = ++seq;
    if (!text) {
      rows = [];
      msg.textContent = "";
      render();
      return;
    }
    try {
      const page = await ctx.q({ query: "search_products", text, branch_id: ctx.branchId, limit: 20 });
      if (mine !== seq) return;
      rows = page.rows;
      active = rows.length ? 0 : -1;
      msg.textContent = rows.length ? "" : `No product matches “${text}”.`;
      render();
    } catch (err) {
      if (mine === seq) msg.textContent = errorMessage(err);
    }
  }, 120);

  box.addEventListener("input", search);
  box.addEventListener("blur", () => setTimeout(close, 150));
  box.addEventListener("focus", () => rows.length && render());
  box.addEventListener("keydown", async (e) => {
    if (e.key === "ArrowDown" && rows.length) {
      e.preventDefault();
      active = (active + 1) % rows.length;
      render();
    } else if (e.key === "ArrowUp" && rows.length) {
      e.preventDefault();
      active = (active - 1 + rows.length) % rows.length;
      render();
    } else if (e.key === "Escape") {
      box.value = "";
      rows = [];
      close();
    } else if (e.key === "Enter") {
      e.preventDefault();
      const text = box.value.trim();
      if (!text) return;
      search.cancel();
      seq++;
      // A scanner types the code and Enter: an exact barcode wins.
      if (!/\s/.test(text)) {
        try {
          const p = await ctx.q({ query: "product_by_barcode", barcode: text, branch_id: ctx.branchId });
          if (p) return pick(p);
        } catch (err) {
          msg.textContent = errorMessage(err);
          return;
        }
      }
      if (active >= 0 && rows[active] && box.value.trim() === text && rows.length) return pick(rows[active]);
      try {
        const page = await ctx.q({ query: "search_products", text, branch_id: ctx.branchId, limit: 20 });
        rows = page.rows;
        if (rows.length === 1) return pick(rows[0]);
        active = rows.length ? 0 : -1;
        msg.textContent = rows.length ? "Several products match: choose one." : `No product with barcode or name “${text}”.`;
        render();
        if (!rows.length) box.select();
      } catch (err) {
        msg.textContent = errorMessage(err);
      }
    }
  });

  const wrap = h("div", { class: "picker" }, field(label, box), list, msg);
  wrap.focus = () => box.focus();
  wrap.input = box;
  return wrap;
}

/**
 * A customer search box. `onPick(customer)` gets a `CustomerHit`-like
 * object `{id, name, phone, credit_limit, balance}`; a "New customer"
 * button creates one inline and picks it.
 */
export function customerPicker(ctx, onPick, { label = "Customer", placeholder = "Search customer by name or phone" } = {}) {
  const listId = `cp-${Math.random().toString(36).slice(2)}`;
  const box = input("customer_search", {
    type: "search",
    placeholder,
    role: "combobox",
    "aria-expanded": "false",
    "aria-controls": listId,
    "aria-autocomplete": "list",
  });
  const list = h("ul", { id: listId, class: "results", role: "listbox", hidden: true });
  const msg = h("p", { class: "picker-msg muted", "aria-live": "polite" });
  let rows = [];
  let active = -1;
  let seq = 0;

  function render() {
    list.replaceChildren();
    rows.forEach((c, i) => {
      const li = h(
        "li",
        { role: "option", id: `${listId}-${i}`, "aria-selected": String(i === active) },
        h("span", { class: "r-name" }, c.name),
        h("span", { class: "r-meta" }, c.phone || ""),
        h("span", { class: "r-stock" }, c.credit_limit ? `limit ${money(c.credit_limit)}` : "cash only"),
        h("span", { class: "r-price num" + (c.balance > 0 ? " neg" : "") }, money(c.balance)),
      );
      li.addEventListener("mousedown", (e) => e.preventDefault());
      li.addEventListener("click", () => pick(c));
      list.appendChild(li);
    });
    list.hidden = rows.length === 0;
    box.setAttribute("aria-expanded", String(!list.hidden));
    if (active >= 0) box.setAttribute("aria-activedescendant", `${listId}-${active}`);
  }
  function pick(c) {
    box.value = "";
    rows = [];
    render();
    msg.textContent = "";
    onPick(c);
  }
  const search = debounce(async () => {
    const text = box.value.trim();
    const mine = ++seq;
    if (!text) {
      rows = [];
      msg.textContent = "";
      return render();
    }
    try {
      const page = await ctx.q({ query: "search_customers", text, limit: 20 });
      if (mine !== seq) return;
      rows = page.rows;
      active = rows.length ? 0 : -1;
      msg.textContent = rows.length ? "" : `No customer matches “${text}”.`;
      render();
    } catch (err) {
      msg.textContent = errorMessage(err);
    }
  }, 150);
  box.addEventListener("input", search);
  box.addEventListener("blur", () => setTimeout(() => (list.hidden = true), 150));
  box.addEventListener("keydown", (e) => {
    if (e.key === "ArrowDown" && rows.length) {
      e.preventDefault();
      active = (active + 1) % rows.length;
      render();
    } else if (e.key === "ArrowUp" && rows.length) {
      e.preventDefault();
      active = (active - 1 + rows.length) % rows.length;
      render();
    } else if (e.key === "Enter") {
      e.preventDefault();
      if (active >= 0 && rows[active]) pick(rows[active]);
    } else if (e.key === "Escape") {
      box.value = "";
      rows = [];
      render();
    }
  });
  const create = h("button", { type: "button", class: "btn ghost" }, "New customer");
  create.addEventListener("click", async () => {
    const c = await customerForm(ctx, null, { name: box.value.trim() });
    if (c) pick(c);
  });
  const wrap = h("div", { class: "picker" }, h("div", { class: "row-inline" }, field(label, box), create), list, msg);
  wrap.focus = () => box.focus();
  return wrap;
}

/**
 * Create (`customer` null) or edit a customer in a dialog. Resolves with
 * `{id, name, phone, address, credit_limit, balance}` or null.
 */
export function customerForm(ctx, customer, prefill = {}) {
  const c = customer || {};
  return formDialog({
    title: customer ? `Edit ${c.name}` : "New customer",
    ok: customer ? "Save" : "Create customer",
    build: (f) => {
      f.append(
        field("Name", input("name", { value: c.name ?? prefill.name ?? "", required: true, autofocus: true, maxlength: 200 })),
        field("Phone", input("phone", { type: "tel", value: c.phone ?? "", maxlength: 40 }), customer ? "Empty clears the phone." : "Optional; unique per customer."),
        field("Address", input("address", { value: c.address ?? "", maxlength: 200 })),
        field("Credit limit", moneyInput("credit_limit", { value: c.credit_limit ? moneyText(c.credit_limit) : "" }), "0 or empty: cash only."),
        field("Tags", input("tags", { value: (c.tags || []).join(", "), placeholder: "contractor, wholesale" }), "Comma separated."),
      );
    },
    submit: async (f) => {
      const name = f.elements.name.value.trim();
      if (!name) throw invalid("name", "A name is required.");
      const phone = f.elements.phone.value.trim();
      const address = f.elements.address.value.trim();
      const limitText = f.elements.credit_limit.value.trim();
      const credit_limit = limitText ? parseMoney(limitText) : 0;
      if (credit_limit === null) throw invalid("credit_limit", "Enter the credit limit as an amount, e.g. 500.00.");
      const tagsText = f.elements.tags.value.trim();
      const tags = tagsText ? tagsText.split(",").map((t) => t.trim()).filter(Boolean) : [];
      if (customer) {
        const cmd = { type: "update_customer", customer_id: c.id };
        if (name !== c.name) cmd.name = name;
        if (phone !== (c.phone || "")) cmd.phone = phone;
        if (address !== (c.address || "")) cmd.address = address;
        if (credit_limit !== c.credit_limit) cmd.credit_limit = credit_limit;
        if (tagsText !== (c.tags || []).join(", ")) cmd.tags = tags;
        if (Object.keys(cmd).length === 2) return { ...c };
        await ctx.run(cmd);
        return { ...c, name, phone: phone || null, address: address || null, credit_limit };
      }
      const cmd = { type: "create_customer", name, credit_limit, tags };
      if (phone) cmd.phone = phone;
      if (address) cmd.address = address;
      const out = await ctx.run(cmd);
      ctx.toast(`Customer ${name} created.`, "ok");
      return { id: out.id, name, phone: phone || null, address: address || null, credit_limit, balance: 0 };
    },
  });
}

/** Active payment channels, `[{code, name, is_cash}]`. */
export async function activeChannels(ctx) {
  const all = await ctx.channels();
  return all.filter((c) => c.active);
}
