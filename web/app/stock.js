// Stock: low-stock alerts, a product's stock at every branch and its stock
// card, receiving goods, counted-stock adjustments, and creating and
// editing products.

import { h, mount, button, field, input, select, moneyInput, qtyInput, formDialog, formError, clearFormError, invalid, pagedTable, facts, badge, card, tabs, toast } from "./ui.js";
import { money, qty, dateTime, parseMoney, parseQty, label, moneyInput as moneyText, qtyInput as qtyText } from "./format.js";
import { productPicker } from "./pickers.js";

export async function render(root, ctx, params) {
  const content = h("div", { class: "tab-content" });
  let current = null; // the product shown in the Product tab
  const bar = tabs(
    [
      ["Low stock", lowStock],
      ["Product", productTab],
      ["Receive", (el) => stockForm(el, "receive")],
      ["Adjust", (el) => stockForm(el, "adjust")],
      ["New product", (el) => el.append(card("New product", productForm(null)))],
    ],
    content,
    params.get("tab") === "receive" ? 2 : 0,
  );
  mount(root, h("div", { class: "stack" }, bar, content));

  function lowStock(el) {
    el.append(
      card(
        "At or below minimum stock",
        h("p", { class: "muted" }, "Active products of this branch at or below their alert level, negative stock included."),
        pagedTable(
          [
            { label: "Product", value: (r) => r.name },
            { label: "SKU", value: (r) => r.sku },
            { label: "Category", value: (r) => r.category },
            { label: "On hand", num: true, value: (r) => h("span", { class: r.on_hand < 0 ? "neg" : "" }, `${qty(r.on_hand)} ${r.unit}`) },
            { label: "Minimum", num: true, value: (r) => qty(r.min_stock) },
          ],
          (after) => ctx.q({ query: "low_stock", branch_id: ctx.branchId, after, limit: 50 }),
          {
            onRow: async (r) => {
              const page = await ctx.q({ query: "search_products", text: r.sku, branch_id: ctx.branchId, limit: 20 });
              const hit = page.rows.find((p) => p.id === r.product_id);
              if (hit) {
                current = { ...hit, min_stock: r.min_stock };
                bar.select(1);
              }
            },
            empty: "No product is low on stock.",
          },
        ),
      ),
    );
  }

  function productTab(el) {
    const panel = h("div", { class: "stack" });
    const picker = productPicker(ctx, (p) => {
      current = p;
      showProduct(panel);
    }, { label: "Find a product", showInactive: true });
    el.append(card(null, picker), panel);
    if (current) showProduct(panel);
    else picker.focus();
  }

  async function showProduct(panel) {
    const p = current;
    mount(
      panel,
      card(
        null,
        h("div", { class: "detail-head" },
          h("h2", {}, p.name, " ", p.status !== "active" ? badge("inactive") : null, p.key_conflict ? badge("duplicate SKU/barcode", "warn") : null),
          h("div", { class: "row-inline" },
            button("Edit", async () => {
              const r = await formDialog({ title: `Edit ${p.name}`, build: (f) => fillProductForm(f, p), submit: (f) => submitProduct(f, p) });
              if (r) {
                current = { ...p, ...r };
                showProduct(panel);
              }
            }),
            button("Receive", () => quickStock("receive", p, panel), { kind: "primary" }),
            button("Adjust", () => quickStock("adjust", p, panel)),
          ),
        ),
        facts([
          ["SKU", p.sku],
          ["Barcode", p.barcode || "—"],
          ["Category", `${p.category}${p.grade ? " · grade " + p.grade : ""}`],
          ["Price", `${money(p.price)} per ${p.unit}`],
          ["On hand here", h("strong", { class: p.on_hand < 0 ? "neg" : "" }, `${qty(p.on_hand)} ${p.unit}`)],
        ]),
        h("h3", {}, "Stock at every branch"),
        pagedTable(
          [
            { label: "Branch", value: (r) => r.branch_name || r.branch_id },
            { label: "On hand", num: true, value: (r) => h("span", { class: r.qty < 0 ? "neg" : "" }, `${qty(r.qty)} ${p.unit}`) },
          ],
          (after) => ctx.q({ query: "stock_of_product", product_id: p.id, after, limit: 50 }),
          { empty: "No stock anywhere yet." },
        ),
        h("h3", {}, "Stock card (this branch, newest first)"),
        pagedTable(
          [
            { label: "When", value: (r) => dateTime(r.at) },
            { label: "Movement", value: (r) => label(r.kind) },
            { label: "Reference", value: (r) => r.reference || "" },
            { label: "Qty", num: true, value: (r) => h("span", { class: r.qty < 0 ? "neg" : "pos" }, (r.qty > 0 ? "+" : "") + qty(r.qty)) },
            { label: "Balance", num: true, value: (r) => qty(r.balance) },
            { label: "Unit cost", num: true, value: (r) => money(r.unit_cost) },
            { label: "By", value: (r) => r.user_id },
          ],
          (after) => ctx.q({ query: "stock_card", product_id: p.id, branch_id: ctx.branchId, after, limit: 50 }),
          { empty: "No movement at this branch yet." },
        ),
      ),
    );
  }

  /** Receive or adjust one product from its panel. */
  async function quickStock(kind, p, panel) {
    const r = await formDialog({
      title: `${kind === "receive" ? "Receive" : "Adjust"} ${p.name}`,
      ok: kind === "receive" ? "Receive" : "Adjust",
      build: (f) =>
        f.append(
          field(kind === "receive" ? `Quantity received (${p.unit})` : `Change in ${p.unit} (negative to remove)`, qtyInput("qty", { field: "lines[0].qty", autofocus: true })),
          kind === "receive" ? field("Unit cost", moneyInput("cost", { field: "lines[0].unit_cost", placeholder: "catalogue cost" }), "Empty: the product's current cost.") : null,
          field(kind === "receive" ? "Supplier / delivery note" : "Reason (required)", input("note", { maxlength: 1000 })),
        ),
      submit: async (f) => {
        const q = parseQty(f.elements.qty.value, { allowNegative: kind === "adjust" });
        if (q === null || q === 0 || (kind === "receive" && q < 0)) throw invalid("lines[0].qty", "Enter a quantity (up to 3 decimals).");
        const line = { product_id: p.id, qty: q };
        if (kind === "receive" && f.elements.cost.value.trim()) {
          const c = parseMoney(f.elements.cost.value);
          if (c === null) throw invalid("lines[0].unit_cost", "Enter the cost like 12.50.");
          line.unit_cost = c;
        }
        const note = f.elements.note.value.trim();
        if (kind === "adjust" && !note) throw invalid("note", "Say why the stock is adjusted.");
        await ctx.run({ type: kind === "receive" ? "receive_stock" : "adjust_stock", lines: [line], note });
        toast(`${p.name}: ${q > 0 ? "+" : ""}${qty(q)} ${p.unit}.`, "ok");
        return q;
      },
    });
    if (r) {
      current = { ...p, on_hand: p.on_hand + r };
      showProduct(panel);
    }
  }

  /** A multi-line receipt or adjustment. */
  function stockForm(el, kind) {
    const lines = [];
    const body = h("tbody");
    const note = input("note", { maxlength: 1000, placeholder: kind === "receive" ? "Supplier, delivery note number…" : "Stock count, damage, theft…" });
    const form = h("form", { class: "form", novalidate: true });
    const picker = productPicker(ctx, (p) => {
      lines.push({ p, qty: "", cost: "" });
      draw();
      const inputs = body.querySelectorAll("input[name^=qty]");
      if (inputs.length) inputs[inputs.length - 1].focus();
    }, { label: "Add a product (scan or search)" });
    function draw() {
      body.replaceChildren(
        ...lines.map((l, i) => {
          const q = qtyInput(`qty_${i}`, { value: l.qty, field: `lines[${i}].qty`, "aria-label": `Quantity of ${l.p.name}` });
          q.addEventListener("input", () => (l.qty = q.value));
          q.addEventListener("keydown", (e) => {
            if (e.key === "Enter") {
              e.preventDefault();
              picker.focus();
            }
          });
          const c = moneyInput(`cost_${i}`, { value: l.cost, field: `lines[${i}].unit_cost`, placeholder: "catalogue", "aria-label": `Unit cost of ${l.p.name}` });
          c.addEventListener("input", () => (l.cost = c.value));
          const rm = h("button", { type: "button", class: "icon-btn danger", "aria-label": `Remove ${l.p.name}` }, "×");
          rm.addEventListener("click", () => {
            lines.splice(i, 1);
            draw();
          });
          return h("tr", {},
            h("td", { "data-label": "Product" }, l.p.name, h("div", { class: "muted small" }, `${l.p.sku} · ${qty(l.p.on_hand)} ${l.p.unit} on hand`)),
            h("td", { class: "num", "data-label": "Qty" }, q, h("span", { class: "unit" }, l.p.unit)),
            kind === "receive" ? h("td", { class: "num", "data-label": "Unit cost" }, c) : null,
            h("td", {}, rm),
          );
        }),
      );
      empty.hidden = lines.length > 0;
    }
    const empty = h("p", { class: "empty" }, "No lines yet.");
    form.append(
      h("p", { class: "form-error", role: "alert", hidden: true }),
      h("p", { class: "muted" }, kind === "receive" ? "Goods arriving at this branch. Quantities in the product's unit (up to 3 decimals)." : "Correct the stock after a count: positive adds, negative removes. A reason is required."),
      picker,
      h("div", { class: "table-wrap" },
        h("table", { class: "grid" },
          h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Product"), h("th", { scope: "col", class: "num" }, kind === "receive" ? "Qty received" : "Change (+/−)"), kind === "receive" ? h("th", { scope: "col", class: "num" }, "Unit cost") : null, h("th", { scope: "col" }, h("span", { class: "sr-only" }, "Remove")))),
          body,
        ),
        empty,
      ),
      field(kind === "receive" ? "Note" : "Reason", note),
      h("button", { type: "submit", class: "btn primary big" }, kind === "receive" ? "Receive stock" : "Adjust stock"),
    );
    note.dataset.field = "note";
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      clearFormError(form);
      try {
        if (!lines.length) throw invalid("product_search", "Add at least one product.");
        const out = lines.map((l, i) => {
          const q = parseQty(l.qty, { allowNegative: kind === "adjust" });
          if (q === null || q === 0 || (kind === "receive" && q < 0)) throw invalid(`lines[${i}].qty`, `${l.p.name}: enter a quantity${kind === "receive" ? " above 0" : " other than 0"}.`);
          const line = { product_id: l.p.id, qty: q };
          if (kind === "receive" && l.cost.trim()) {
            const c = parseMoney(l.cost);
            if (c === null) throw invalid(`lines[${i}].unit_cost`, `${l.p.name}: enter the cost like 12.50.`);
            line.unit_cost = c;
          }
          return line;
        });
        const n = note.value.trim();
        if (kind === "adjust" && !n) throw invalid("note", "Say why the stock is adjusted.");
        await ctx.run({ type: kind === "receive" ? "receive_stock" : "adjust_stock", lines: out, note: n });
        toast(`${kind === "receive" ? "Received" : "Adjusted"} ${out.length} product${out.length === 1 ? "" : "s"}.`, "ok");
        lines.length = 0;
        note.value = "";
        draw();
        picker.focus();
      } catch (err) {
        formError(form, err);
      }
    });
    el.append(card(kind === "receive" ? "Receive stock" : "Adjust stock", form));
    draw();
    picker.focus();
  }

  function productForm(p) {
    const form = h("form", { class: "form", novalidate: true });
    form.append(h("p", { class: "form-error", role: "alert", hidden: true }));
    fillProductForm(form, p);
    form.append(h("button", { type: "submit", class: "btn primary big" }, p ? "Save" : "Create product"));
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      clearFormError(form);
      try {
        const r = await submitProduct(form, p);
        if (r && !p) {
          form.reset();
          current = r;
          bar.select(1);
        }
      } catch (err) {
        formError(form, err);
      }
    });
    return form;
  }

  function fillProductForm(f, p) {
    const v = p || {};
    f.append(
      h("div", { class: "form-grid" },
        p ? null : field("SKU", input("sku", { required: true, maxlength: 200 })),
        field("Barcode", input("barcode", { value: v.barcode || "", maxlength: 200 }), p ? "Empty clears it." : "Optional; scan it here."),
        field("Name", input("name", { value: v.name || "", required: true, maxlength: 200 })),
        field("Category", input("category", { value: v.category || "", required: true, maxlength: 200, placeholder: "rebar, sheet, pipe, filter…" })),
        p ? null : field("Grade", input("grade", { maxlength: 200 })),
        p ? null : field("Unit", input("unit", { required: true, maxlength: 200, placeholder: "piece, kg, metre, sheet…", list: "units" }), null),
        field("Price", moneyInput("price", { value: v.price !== undefined ? moneyText(v.price) : "" })),
        field("Cost", moneyInput("cost", { value: v.cost !== undefined ? moneyText(v.cost) : "", placeholder: p ? "unchanged" : "0.00" })),
        field("Minimum stock (alert)", qtyInput("min_stock", { value: v.min_stock !== undefined ? qtyText(v.min_stock) : "", placeholder: p ? "unchanged" : "0" })),
        p ? field("Status", select("status", [["active", "Active (sellable)"], ["inactive", "Inactive"]], { value: v.status || "active" })) : null,
      ),
      h("datalist", { id: "units" }, ["piece", "kg", "metre", "sheet", "tonne", "litre", "box", "set"].map((u) => h("option", { value: u }))),
    );
  }

  async function submitProduct(f, p) {
    const e = f.elements;
    const val = (n) => (e[n] ? e[n].value.trim() : "");
    const name = val("name");
    if (!name) throw invalid("name", "A name is required.");
    const category = val("category");
    if (!category) throw invalid("category", "A category is required.");
    const price = parseMoney(val("price"));
    if (price === null) throw invalid("price", "Enter the price like 12.50.");
    const cost = val("cost") ? parseMoney(val("cost")) : p ? undefined : 0;
    if (cost === null) throw invalid("cost", "Enter the cost like 9.80.");
    const min = val("min_stock") ? parseQty(val("min_stock")) : p ? undefined : 0;
    if (min === null) throw invalid("min_stock", "Enter a quantity like 10 or 2.5.");
    const barcode = val("barcode");
    if (p) {
      const cmd = { type: "update_product", product_id: p.id };
      if (name !== p.name) cmd.name = name;
      if (category !== p.category) cmd.category = category;
      if (price !== p.price) cmd.price = price;
      if (cost !== undefined && cost !== p.cost) cmd.cost = cost;
      if (min !== undefined && min !== p.min_stock) cmd.min_stock = min;
      if (val("status") !== p.status) cmd.status = val("status");
      if (barcode !== (p.barcode || "")) cmd.barcode = barcode;
      if (Object.keys(cmd).length === 2) return { ...p };
      await ctx.run(cmd);
      toast(`${name} saved.`, "ok");
      return { ...p, name, category, price, barcode: barcode || null, status: val("status"), ...(cost !== undefined ? { cost } : {}), ...(min !== undefined ? { min_stock: min } : {}) };
    }
    const sku = val("sku");
    if (!sku) throw invalid("sku", "A SKU is required.");
    const unit = val("unit");
    if (!unit) throw invalid("unit", "A unit is required.");
    const cmd = { type: "create_product", sku, name, category, unit, price, cost, min_stock: min };
    if (barcode) cmd.barcode = barcode;
    if (val("grade")) cmd.grade = val("grade");
    const out = await ctx.run(cmd);
    toast(`${name} created.`, "ok");
    return { id: out.id, sku, barcode: barcode || null, name, category, grade: val("grade") || null, unit, price, cost, min_stock: min, status: "active", on_hand: 0, key_conflict: false };
  }
}

