// Workshop: the day's schedule of service orders, booking a customer's
// vehicle (registering it if new), moving an order through its statuses,
// assigning technicians, adding labour and parts, invoicing a finished
// order with its payments, and the technicians' workload.

import { h, mount, button, field, input, select, moneyInput, qtyInput, formDialog, invalid, pagedTable, table, facts, badge, card, tabs, toast, confirm, errorMessage } from "./ui.js";
import { money, qty, localDay, parseMoney, parseQty, label, moneyInput as moneyText } from "./format.js";
import { customerPicker, productPicker, activeChannels } from "./pickers.js";
import { tenderPanel } from "./payment.js";
import { showReceipt } from "./receipt.js";

/** Moves a user may make (mirror of `OrderStatus::can_move_to`). */
const MOVES = {
  booked: ["in_progress", "cancelled"],
  in_progress: ["waiting_parts", "done", "cancelled"],
  waiting_parts: ["in_progress", "cancelled"],
  done: ["in_progress"],
  invoiced: [],
  cancelled: [],
};
const MOVE_LABEL = { in_progress: "Start work", waiting_parts: "Waiting for parts", done: "Work done", cancelled: "Cancel order" };

function addDays(day, n) {
  const d = new Date(`${day}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + n);
  return d.toISOString().slice(0, 10);
}

export async function render(root, ctx, params) {
  let techs = [];
  let services = [];
  try {
    [techs, services] = await Promise.all([ctx.q({ query: "technicians", branch_id: ctx.branchId }), ctx.q({ query: "services" })]);
  } catch (err) {
    toast(errorMessage(err), "error");
  }
  const techName = (id) => (techs.find((t) => t.id === id) || {}).name || id || "—";

  const day = input("day", { type: "date", value: params.get("day") || localDay() });
  const content = h("div", { class: "tab-content" });
  const newBtn = button("New service order", () => newOrder(), { kind: "primary" });
  let tab = 0;
  let drawScheduleList = () => {};
  const bar = tabs([["Schedule", schedule], ["Technician workload", workload]], content);
  mount(root, h("div", { class: "stack" },
    h("div", { class: "row-inline toolbar" },
      field("Day", day),
      button("◀", () => shift(-1), { kind: "ghost", "aria-label": "Previous day", title: "Previous day" }),
      button("Today", () => ((day.value = localDay()), redraw()), { kind: "ghost" }),
      button("▶", () => shift(1), { kind: "ghost", "aria-label": "Next day", title: "Next day" }),
      newBtn,
    ),
    bar,
    content,
  ));
  day.addEventListener("change", redraw);
  function shift(n) {
    day.value = addDays(day.value || localDay(), n);
    redraw();
  }
  function redraw() {
    bar.select(tab);
  }

  function schedule(el) {
    tab = 0;
    const d = day.value || localDay();
    const detail = h("div", { class: "detail" }, h("p", { class: "empty" }, "Choose an order."));
    const listHost = h("div");
    drawScheduleList = () =>
      mount(listHost, pagedTable(
        [
          { label: "Order", value: (o) => h("span", {}, h("div", {}, o.number), badge(o.status)) },
          { label: "Vehicle", value: (o) => h("span", {}, h("strong", {}, o.plate || ""), h("div", { class: "muted small" }, `${o.make || ""} ${o.model || ""}`)) },
          { label: "Customer", value: (o) => o.customer_name || o.customer_id },
          { label: "Technician", value: (o) => h("span", {}, o.technician_name || "—", o.planned_minutes ? h("div", { class: "muted small" }, `${o.planned_minutes} min planned`) : null) },
        ],
        (after) => ctx.q({ query: "day_schedule", branch_id: ctx.branchId, day: d, after, limit: 50 }),
        { onRow: (o) => showOrder(detail, { ...o, scheduled_date: d }), empty: "No service order on this day." },
      ));
    drawScheduleList();
    el.append(h("div", { class: "split" },
      h("section", { class: "card list-pane", "aria-label": "Schedule" }, h("h2", {}, `Schedule of ${d}`), listHost),
      h("section", { class: "card detail-pane", "aria-label": "Service order" }, detail),
    ));
  }

  function workload(el) {
    tab = 1;
    const d = day.value || localDay();
    const to = addDays(d, 6);
    ctx.q({ query: "technician_workload", branch_id: ctx.branchId, from: d, to }).then(
      (rows) =>
        el.append(card(`Workload ${d} to ${to}`,
          table(
            [
              { label: "Technician", value: (r) => r.name },
              { label: "Status", value: (r) => badge(r.status) },
              { label: "Orders", num: true, value: (r) => String(r.orders) },
              { label: "Planned", num: true, value: (r) => `${Math.floor(r.planned_minutes / 60)} h ${r.planned_minutes % 60} min` },
              { label: "Labour", num: true, value: (r) => money(r.labour_total) },
            ],
            rows,
            { empty: "No orders for the technicians in these days." },
          ),
        )),
      (err) => el.append(h("p", { class: "form-error" }, errorMessage(err))),
    );
  }

  /** The order's totals from the vehicle's history (labour and parts). */
  async function orderTotals(o) {
    let after = null;
    for (let i = 0; i < 5; i++) {
      const page = await ctx.q({ query: "vehicle_history", vehicle_id: o.vehicle_id, after, limit: 50 });
      const hit = page.rows.find((r) => r.order_id === o.order_id);
      if (hit) return hit;
      if (!page.next) break;
      after = page.next;
    }
    return null;
  }

  async function reload(o) {
    const page = await ctx.q({ query: "day_schedule", branch_id: ctx.branchId, day: o.scheduled_date || day.value, limit: 500 });
    const fresh = page.rows.find((r) => r.order_id === o.order_id);
    return fresh ? { ...fresh, scheduled_date: o.scheduled_date } : o;
  }

  async function showOrder(detail, o0) {
    const o = { ...o0 };
    mount(detail, h("p", { class: "muted" }, "Loading…"));
    const totals = await orderTotals(o).catch(() => null);
    const closed = o.status === "invoiced" || o.status === "cancelled";
    const refresh = async () => {
      redrawList();
      showOrder(detail, await reload(o));
    };
    const moves = (MOVES[o.status] || []).map((s) =>
      button(MOVE_LABEL[s] || label(s), async () => {
        if (s === "cancelled" && !(await confirm("Cancel this order?", `${o.number} will be cancelled.`, { ok: "Cancel order", kind: "danger" }))) return;
        await ctx.run({ type: "set_order_status", order_id: o.order_id, status: s });
        toast(`${o.number}: ${label(s)}.`, "ok");
        await refresh();
      }, { kind: s === "cancelled" ? "danger" : s === "done" || s === "in_progress" ? "primary" : "" }),
    );
    const canParts = o.status === "in_progress" || o.status === "waiting_parts";
    mount(
      detail,
      h("div", { class: "detail-head" }, h("h2", {}, o.number, " ", badge(o.status))),
      facts([
        ["Customer", o.customer_name || o.customer_id],
        ["Vehicle", `${o.plate || ""} · ${o.make || ""} ${o.model || ""}`],
        ["Scheduled", o.scheduled_date],
        ["Technician", o.technician_name || "not assigned"],
        ["Complaint", o.complaint || "—"],
        o.odometer !== null && o.odometer !== undefined ? ["Odometer", `${o.odometer} km`] : null,
        ["Labour", totals ? `${totals.labour_lines} line(s), ${totals.labour_minutes} min, ${money(totals.labour_total)}` : money(o.labour_total)],
        ["Parts", totals ? `${totals.part_lines} line(s), ${money(totals.parts_total)}` : "—"],
        totals && totals.invoice_id ? ["Invoice", h("a", { href: `#/invoices?id=${encodeURIComponent(totals.invoice_id)}` }, `${money(totals.invoice_total)}, ${money(totals.invoice_remaining)} due`)] : null,
      ]),
      h("div", { class: "row-inline wrap" }, moves),
      closed ? null : h("div", { class: "row-inline wrap" },
        button("Assign technician", () => assign(o).then((ok) => ok && refresh())),
        button("Add labour", () => addLabour(o).then((ok) => ok && refresh())),
        button("Use part", () => usePart(o).then((ok) => ok && refresh()), { disabled: !canParts, title: canParts ? "Take a part from stock" : "Parts are used while the order is in progress" }),
        o.status === "done" ? button("Invoice", () => invoiceOrder(o, totals).then((ok) => ok && refresh()), { kind: "primary" }) : null,
      ),
      totals && totals.invoice_id ? button("Receipt", () => showReceipt(ctx, totals.invoice_id)) : null,
      h("h3", {}, "Vehicle history"),
      pagedTable(
        [
          { label: "Order", value: (r) => r.number },
          { label: "Day", value: (r) => r.scheduled_date },
          { label: "Status", value: (r) => badge(r.status) },
          { label: "Complaint", value: (r) => r.complaint },
          { label: "Labour", num: true, value: (r) => money(r.labour_total) },
          { label: "Parts", num: true, value: (r) => money(r.parts_total) },
        ],
        (after) => ctx.q({ query: "vehicle_history", vehicle_id: o.vehicle_id, after, limit: 20 }),
        { empty: "No history." },
      ),
    );
  }

  function redrawList() {
    if (tab === 0) drawScheduleList();
  }

  function techOptions(withNone = true) {
    return [...(withNone ? [["", "—"]] : []), ...techs.map((t) => [t.id, `${t.name}${t.skills && t.skills.length ? " (" + t.skills.join(", ") + ")" : ""}`])];
  }

  async function assign(o) {
    if (!techs.length) return toast("No technician at this branch.", "error"), false;
    return !!(await formDialog({
      title: `Assign ${o.number}`,
      build: (f) => f.append(field("Technician", select("technician_id", techOptions(false), { value: o.technician_id || undefined }))),
      submit: async (f) => {
        await ctx.run({ type: "assign_technician", order_id: o.order_id, technician_id: f.elements.technician_id.value });
        toast(`${o.number} assigned to ${techName(f.elements.technician_id.value)}.`, "ok");
        return true;
      },
    }));
  }

  async function addLabour(o) {
    if (!services.length) return toast("The service catalogue is empty.", "error"), false;
    return !!(await formDialog({
      title: `Labour on ${o.number}`,
      ok: "Add labour",
      build: (f) => {
        const svc = select("service_id", services.map((s) => [s.id, `${s.code} · ${s.name} · ${money(s.labour_price)} · ${s.duration_min} min`]));
        const price = moneyInput("price", { placeholder: "catalogue price" });
        const sync = () => {
          const s = services.find((x) => x.id === svc.value);
          price.placeholder = s ? moneyText(s.labour_price) : "catalogue price";
        };
        svc.addEventListener("change", sync);
        sync();
        f.append(field("Service", svc), field("Technician", select("technician_id", techOptions(true), { value: o.technician_id || "" })), field("Price", price, "Empty: the catalogue price."));
      },
      submit: async (f) => {
        const cmd = { type: "add_labour", order_id: o.order_id, service_id: f.elements.service_id.value };
        if (f.elements.technician_id.value) cmd.technician_id = f.elements.technician_id.value;
        if (f.elements.price.value.trim()) {
          const p = parseMoney(f.elements.price.value);
          if (p === null) throw invalid("price", "Enter the price like 60.00.");
          cmd.price = p;
        }
        await ctx.run(cmd);
        toast("Labour added.", "ok");
        return true;
      },
    }));
  }

  async function usePart(o) {
    let product = null;
    return !!(await formDialog({
      title: `Part for ${o.number}`,
      ok: "Use part",
      build: (f) => {
        const chosen = h("p", { class: "muted" }, "No product chosen.");
        const q = qtyInput("qty", { value: "1" });
        f.append(
          productPicker(ctx, (p) => {
            product = p;
            chosen.textContent = `${p.name} · ${money(p.price)} per ${p.unit} · ${qty(p.on_hand)} on hand`;
            chosen.className = "";
            q.focus();
            q.select();
          }, { label: "Part (scan or search)" }),
          chosen,
          field("Quantity", q),
        );
      },
      submit: async (f) => {
        if (!product) throw invalid("product_search", "Choose the part.");
        const n = parseQty(f.elements.qty.value);
        if (n === null || n <= 0) throw invalid("qty", "Enter a quantity above 0.");
        const cmd = { type: "use_part", order_id: o.order_id, product_id: product.id, qty: n, allow_negative_stock: false };
        try {
          await ctx.run(cmd);
        } catch (err) {
          if (err.code !== "insufficient_stock") throw err;
          if (!(await confirm("Not enough stock", `${product.name}: ${errorMessage(err)} Use it anyway? The stock goes negative and is reported.`, { ok: "Use anyway", kind: "danger" }))) return undefined;
          await ctx.run({ ...cmd, allow_negative_stock: true }, { names: { [product.id]: product.name } });
        }
        toast(`${qty(n)} ${product.unit} of ${product.name} used.`, "ok");
        return true;
      },
    }));
  }

  async function invoiceOrder(o, totals) {
    const channels = await activeChannels(ctx);
    const total = totals ? totals.labour_total + totals.parts_total : o.labour_total;
    let customer = { id: o.customer_id, name: o.customer_name || o.customer_id, balance: 0, credit_limit: 0 };
    try {
      const page = await ctx.q({ query: "search_customers", text: customer.name, limit: 50 });
      const hit = page.rows.find((r) => r.id === o.customer_id);
      if (hit) customer = hit;
    } catch {
      /* credit shown as unknown */
    }
    const panel = tenderPanel(channels, { idPrefix: "so" });
    panel.update({ total, customer });
    let flags = { allow_over_credit_limit: false };
    const out = await formDialog({
      title: `Invoice ${o.number}`,
      ok: "Invoice",
      build: (f) => f.append(h("p", {}, `${customer.name}: labour ${money(totals ? totals.labour_total : o.labour_total)}${totals ? `, parts ${money(totals.parts_total)}` : ""}. What is not paid now goes on the customer's account.`), panel),
      submit: async () => {
        const s = panel.state();
        if (s.error && s.remaining === undefined) throw invalid(s.errorField || "payments", s.error);
        const cmd = { type: "invoice_service_order", order_id: o.order_id, payments: s.payments, allow_over_credit_limit: flags.allow_over_credit_limit };
        try {
          return { out: await ctx.run(cmd), change: s.change };
        } catch (err) {
          if (err.code !== "credit_limit_exceeded") throw err;
          if (!(await confirm("Credit limit", `${errorMessage(err)} Invoice over the limit? It is flagged for the back office.`, { ok: "Allow over limit", kind: "danger" }))) return undefined;
          flags = { allow_over_credit_limit: true };
          return { out: await ctx.run({ ...cmd, allow_over_credit_limit: true }), change: s.change };
        }
      },
    });
    if (!out) return false;
    toast(`${o.number} invoiced: bill ${out.out.number}.`, "ok");
    await showReceipt(ctx, out.out.id, { change: out.change });
    return true;
  }

  async function newOrder() {
    let customer = null;
    let vehicles = [];
    const r = await formDialog({
      title: "New service order",
      ok: "Book",
      wide: true,
      build: (f) => {
        const custBox = h("div");
        const vehSel = select("vehicle_id", [], { required: true });
        const vehField = field("Vehicle", vehSel);
        const regBtn = h("button", { type: "button", class: "btn ghost" }, "Register a vehicle");
        const vehRow = h("div", { class: "row-inline" }, vehField, regBtn);
        vehRow.hidden = true;
        const loadVehicles = async (selectId) => {
          vehicles = await ctx.q({ query: "vehicles_of_customer", customer_id: customer.id });
          vehSel.replaceChildren(...vehicles.map((v) => h("option", { value: v.id }, `${v.plate} · ${v.make} ${v.model}${v.year ? " " + v.year : ""}`)));
          if (!vehicles.length) vehSel.appendChild(h("option", { value: "" }, "No vehicle yet: register one"));
          if (selectId) vehSel.value = selectId;
          syncOdo();
        };
        regBtn.addEventListener("click", async () => {
          const id = await registerVehicle(customer);
          if (id) await loadVehicles(id);
        });
        const picker = customerPicker(ctx, async (c) => {
          customer = c;
          mount(custBox, h("p", {}, h("strong", {}, c.name), c.phone ? ` · ${c.phone}` : "", " ", h("button", { type: "button", class: "btn ghost small", onclick: () => {
            customer = null;
            vehRow.hidden = true;
            mount(custBox, picker);
          } }, "Change")));
          vehRow.hidden = false;
          await loadVehicles();
        });
        mount(custBox, picker);
        const odo = input("odometer", { inputmode: "numeric", class: "num", placeholder: "km" });
        const syncOdo = () => {
          const v = vehicles.find((x) => x.id === vehSel.value);
          odo.placeholder = v ? `last ${v.odometer} km` : "km";
        };
        vehSel.addEventListener("change", syncOdo);
        f.append(
          custBox,
          vehRow,
          h("div", { class: "form-grid" },
            field("Day", input("scheduled_date", { type: "date", value: day.value || localDay(), required: true })),
            field("Technician", select("technician_id", techOptions(true))),
            field("Odometer at intake", odo),
          ),
          field("Complaint", h("textarea", { name: "complaint", rows: 2, maxlength: 1000, dataset: { field: "complaint" }, id: "so-complaint" })),
        );
      },
      submit: async (f) => {
        if (!customer) throw invalid("customer_search", "Choose or create the customer.");
        const vehicle_id = f.elements.vehicle_id.value;
        if (!vehicle_id) throw invalid("vehicle_id", "Register the vehicle first.");
        const cmd = { type: "create_service_order", customer_id: customer.id, vehicle_id, scheduled_date: f.elements.scheduled_date.value, complaint: f.elements.complaint.value.trim() };
        if (!cmd.scheduled_date) throw invalid("scheduled_date", "Choose the day.");
        if (f.elements.technician_id.value) cmd.technician_id = f.elements.technician_id.value;
        const odoText = f.elements.odometer.value.trim();
        if (odoText) {
          if (!/^\d{1,9}$/.test(odoText)) throw invalid("odometer", "Enter the odometer in whole km.");
          cmd.odometer = Number(odoText);
        }
        const out = await ctx.run(cmd);
        return { out, day: cmd.scheduled_date };
      },
    });
    if (r) {
      toast(`Order ${r.out.number} booked for ${r.day}.`, "ok");
      day.value = r.day;
      bar.select(0);
    }
  }

  function registerVehicle(customer) {
    return formDialog({
      title: `Register a vehicle of ${customer.name}`,
      ok: "Register",
      build: (f) =>
        f.append(h("div", { class: "form-grid" },
          field("Plate", input("plate", { required: true, maxlength: 200, autofocus: true })),
          field("Make", input("make", { required: true, maxlength: 200 })),
          field("Model", input("model", { required: true, maxlength: 200 })),
          field("Year", input("year", { inputmode: "numeric", class: "num", maxlength: 4 })),
          field("VIN", input("vin", { maxlength: 200 })),
          field("Odometer (km)", input("odometer", { inputmode: "numeric", class: "num" })),
        )),
      submit: async (f) => {
        const v = (n) => f.elements[n].value.trim();
        if (!v("plate")) throw invalid("plate", "The plate is required.");
        if (!v("make")) throw invalid("make", "The make is required.");
        if (!v("model")) throw invalid("model", "The model is required.");
        const cmd = { type: "register_vehicle", customer_id: customer.id, plate: v("plate"), make: v("make"), model: v("model"), odometer: 0 };
        if (v("year")) {
          if (!/^\d{4}$/.test(v("year"))) throw invalid("year", "Enter a 4-digit year.");
          cmd.year = Number(v("year"));
        }
        if (v("vin")) cmd.vin = v("vin");
        if (v("odometer")) {
          if (!/^\d{1,9}$/.test(v("odometer"))) throw invalid("odometer", "Enter whole km.");
          cmd.odometer = Number(v("odometer"));
        }
        const out = await ctx.run(cmd);
        toast(`${cmd.plate} registered.`, "ok");
        return out.id;
      },
    });
  }
}
