//! The floor: each command's rows written as the engine's projection
//! writes them, directly, after the lookups the command needs.

use super::*;

impl Db<'_, Floor> {
    /// An entry of a record's audit trail, after its last one.
    fn history(&self, kind: &str, id: &str, field: &str, value: &str, at: i64) -> Result<()> {
        self.exec(
            "INSERT INTO record_history(record_kind, record_id, pos, field, value, user_id, replica, at)
             VALUES (?1, ?2, (SELECT coalesce(max(pos), -1) + 1 FROM record_history
                              WHERE record_kind = ?1 AND record_id = ?2),
                     ?3, ?4, 'bench', ?5, ?6)",
            params![kind, id, field, value, self.me.replica_id, at],
        )
    }
    /// The audit trail of the fields an edit sets.
    fn edits(
        &self,
        kind: &str,
        id: &str,
        fields: &[(&str, Option<String>)],
        at: i64,
    ) -> Result<()> {
        for (field, value) in fields {
            if let Some(v) = value {
                self.history(kind, id, field, v, at)?;
            }
        }
        Ok(())
    }
    fn movement(&self, s: &Src, id: &str, product: &str, qty: i64, cost: i64) -> Result<()> {
        self.exec(
            "INSERT INTO stock_movements(id, product_id, branch_id, qty, kind, ref_kind, ref_id,
                 customer_id, unit_cost, at, terminal_id, user_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, 'bench')",
            params![
                id,
                product,
                s.branch,
                qty,
                s.kind,
                s.ref_kind,
                s.ref_id,
                s.customer,
                cost,
                s.at,
                self.me.replica_id
            ],
        )
    }
    /// A ledger entry: a debit when `amount` > 0, a credit when < 0.
    fn ledger(
        &self,
        customer: &str,
        at: i64,
        amount: i64,
        category: &str,
        ref_kind: &str,
        ref_id: &str,
    ) -> Result<()> {
        if amount == 0 {
            return Ok(());
        }
        self.exec(
            "INSERT INTO ledger_entries(id, customer_id, at, debit, credit, category, ref_kind, ref_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                format!("{ref_kind}:{ref_id}"),
                customer,
                at,
                amount.max(0),
                (-amount).max(0),
                category,
                ref_kind,
                ref_id
            ],
        )
    }
    /// A payment of an invoice, in this terminal's open shift if any.
    fn payment(
        &mut self,
        customer: Option<&str>,
        invoice: &str,
        t: &Tender,
        now: i64,
    ) -> Result<String> {
        self.need(
            "SELECT 1 FROM payment_channels WHERE code = ?1 AND active = 1",
            &t.channel,
        )?;
        let shift: Option<String> = self.opt(OPEN_SHIFT, [&self.me.replica_id])?;
        let id = self.id();
        self.exec(
            "INSERT INTO payments(id, doc_id, customer_id, invoice_id, branch_id, terminal_id, user_id,
                 shift_id, at, day, amount, channel, kind)
             VALUES (?1, 'floor', ?2, ?3, ?4, ?5, 'bench', ?6, ?7, ?8, ?9, ?10, 'invoice')",
            params![
                id,
                customer,
                invoice,
                self.me.branch_id,
                self.me.replica_id,
                shift,
                now,
                day_of(now),
                t.amount,
                t.channel
            ],
        )?;
        if let Some(c) = customer {
            self.ledger(c, now, -t.amount, "payment", "payment", &id)?;
        }
        Ok(id)
    }
    /// An invoice numbered after this terminal's last, its lines, the
    /// movements of its product lines, the customer's debit and the payments.
    fn invoice(
        &mut self,
        customer: Option<&str>,
        lines: &[Line],
        tenders: &[Tender],
        order: Option<&str>,
        now: i64,
    ) -> Result<String> {
        let seq: i64 = self.one(
            "SELECT coalesce(max(seq), 0) + 1 FROM invoices WHERE terminal_id = ?1",
            [&self.me.replica_id],
        )?;
        let (subtotal, discount, tax, total) = totals(lines);
        let id = self.id();
        let me = &self.me;
        self.exec(
            "INSERT INTO invoices(id, doc_id, bill_no, bill_no_wanted, seq, customer_id, branch_id,
                 terminal_id, user_id, at, day, subtotal, discount, tax, total, service_order_id)
             VALUES (?1, 'floor', ?2, ?2, ?3, ?4, ?5, ?6, 'bench', ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
            params![
                id,
                format!("{}-{}-{seq:06}", me.branch_code, me.terminal_code),
                seq,
                customer,
                me.branch_id,
                me.replica_id,
                now,
                day_of(now),
                subtotal,
                discount,
                tax,
                total,
                order
            ],
        )?;
        let src = Src {
            kind: "sale",
            ref_kind: "invoice",
            ref_id: &id,
            branch: &me.branch_id,
            customer,
            at: now,
        };
        for (n, l) in lines.iter().enumerate() {
            self.exec(
                "INSERT INTO invoice_lines(invoice_id, line_no, kind, product_id, description, qty,
                     unit_price, discount, tax, total, cost)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                params![
                    id,
                    n as i64,
                    l.kind,
                    l.product,
                    l.description,
                    l.qty,
                    l.price,
                    l.discount,
                    l.tax,
                    l.total,
                    l.cost
                ],
            )?;
            if let (Some(p), "product") = (&l.product, l.kind) {
                self.movement(&src, &format!("{id}:{n}"), p, -l.qty, l.cost)?;
            }
        }
        if let Some(c) = customer {
            self.ledger(c, now, total, "sale", "invoice", &id)?;
        }
        for t in tenders {
            self.payment(customer, &id, t, now)?;
        }
        Ok(id)
    }
    /// A stock record and its movements; a transfer moves out of this
    /// branch and into `to`.
    fn stock(
        &mut self,
        kind: &str,
        to: Option<&str>,
        lines: &[StockLineInput],
        note: &str,
        now: i64,
    ) -> Result<String> {
        if let Some(b) = to {
            self.need("SELECT 1 FROM branches WHERE id = ?1", b)?;
        }
        let costs = self.costs(lines)?;
        let id = self.id();
        let me = &self.me;
        self.exec(
            "INSERT INTO stock_records(id, doc_id, kind, branch_id, to_branch, terminal_id, user_id, at, note)
             VALUES (?1, 'floor', ?2, ?3, ?4, ?5, 'bench', ?6, ?7)",
            params![id, kind, me.branch_id, to, me.replica_id, now, note],
        )?;
        let out = Src {
            kind: if to.is_some() { "transfer_out" } else { kind },
            ref_kind: "stock",
            ref_id: &id,
            branch: &me.branch_id,
            customer: None,
            at: now,
        };
        for (n, (l, cost)) in lines.iter().zip(costs).enumerate() {
            let sign = if to.is_some() { -1 } else { 1 };
            self.movement(
                &out,
                &format!("{id}:{n}"),
                &l.product_id,
                sign * l.qty,
                cost,
            )?;
            if let Some(b) = to {
                let into = Src {
                    kind: "transfer_in",
                    ref_kind: "transfer",
                    branch: b,
                    ..out
                };
                self.movement(&into, &format!("{id}:{n}:in"), &l.product_id, l.qty, cost)?;
            }
        }
        Ok(id)
    }
}

impl Apply for Db<'_, Floor> {
    fn apply(&mut self, cmd: &Command, now: i64) -> Result<String> {
        match cmd {
            Command::CreateBranch { code, name } => {
                self.unique("branches", "code_wanted", code, None)?;
                let id = self.id();
                self.exec(
                    "INSERT INTO branches(id, code, code_wanted, name) VALUES (?1, ?2, ?2, ?3)",
                    params![id, code, name],
                )?;
                Ok(id)
            }
            Command::SetPaymentChannel {
                code,
                name,
                is_cash,
                active,
            } => {
                self.exec(
                    "INSERT INTO payment_channels(code, name, active, is_cash) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT(code) DO UPDATE SET name = excluded.name, active = excluded.active,
                         is_cash = excluded.is_cash",
                    params![code, name, active, is_cash],
                )?;
                Ok(code.clone())
            }
            Command::CreateProduct {
                sku,
                barcode,
                name,
                category,
                grade,
                unit,
                price,
                cost,
                min_stock,
            } => {
                self.unique("products", "sku_wanted", sku, None)?;
                if let Some(b) = barcode {
                    self.unique("products", "barcode_wanted", b, None)?;
                }
                let id = self.id();
                self.exec(
                    "INSERT INTO products(id, sku, sku_wanted, barcode, barcode_wanted, name, category,
                         grade, unit, price, cost, min_stock, status, updated_at)
                     VALUES (?1, ?2, ?2, ?3, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 'active', ?11)",
                    params![id, sku, barcode, name, category, grade, unit, price, cost, min_stock, now],
                )?;
                self.history("product", &id, "created", &format!("price={price}"), now)?;
                Ok(id)
            }
            Command::UpdateProduct {
                product_id: id,
                name,
                category,
                price,
                cost,
                min_stock,
                status: None,
                barcode: None,
            } => {
                self.need("SELECT 1 FROM products WHERE id = ?1", id)?;
                self.exec(
                    "UPDATE products SET name = coalesce(?2, name), category = coalesce(?3, category),
                         price = coalesce(?4, price), cost = coalesce(?5, cost),
                         min_stock = coalesce(?6, min_stock), updated_at = ?7
                     WHERE id = ?1",
                    params![id, name, category, price, cost, min_stock, now],
                )?;
                let num = |v: &Option<i64>| v.map(|v| v.to_string());
                self.edits(
                    "product",
                    id,
                    &[
                        ("name", name.clone()),
                        ("category", category.clone()),
                        ("price", num(price)),
                        ("cost", num(cost)),
                        ("min_stock", num(min_stock)),
                    ],
                    now,
                )?;
                Ok(id.clone())
            }
            Command::CreateService {
                code,
                name,
                labour_price,
                duration_min,
            } => {
                let id = self.id();
                self.exec(
                    "INSERT INTO services(id, code, name, labour_price, duration_min, active)
                     VALUES (?1, ?2, ?3, ?4, ?5, 1)",
                    params![id, code, name, labour_price, duration_min],
                )?;
                Ok(id)
            }
            Command::CreateTechnician {
                branch_id,
                name,
                skills,
            } => {
                let id = self.id();
                self.exec(
                    "INSERT INTO technicians(id, branch_id, name, skills, active) VALUES (?1, ?2, ?3, ?4, 1)",
                    params![
                        id,
                        branch_id.as_ref().unwrap_or(&self.me.branch_id),
                        name,
                        skills.join(",")
                    ],
                )?;
                Ok(id)
            }
            Command::CreateCustomer {
                name,
                phone,
                address,
                credit_limit,
                tags,
            } => {
                if let Some(ph) = phone {
                    self.unique("customers", "phone_wanted", ph, None)?;
                }
                let id = self.id();
                self.exec(
                    "INSERT INTO customers(id, name, phone, phone_wanted, address, credit_limit, tags,
                         created_at, updated_at)
                     VALUES (?1, ?2, ?3, ?3, ?4, ?5, ?6, ?7, ?7)",
                    params![id, name, phone, address, credit_limit, tags.join(","), now],
                )?;
                self.history("customer", &id, "created", name, now)?;
                Ok(id)
            }
            Command::UpdateCustomer {
                customer_id: id,
                name,
                phone,
                address,
                credit_limit,
                tags: None,
            } if phone.as_deref() != Some("") => {
                self.need("SELECT 1 FROM customers WHERE id = ?1", id)?;
                if let Some(ph) = phone {
                    self.unique("customers", "phone_wanted", ph, Some(id))?;
                }
                self.exec(
                    "UPDATE customers SET name = coalesce(?2, name), phone = coalesce(?3, phone),
                         phone_wanted = coalesce(?3, phone_wanted), address = coalesce(?4, address),
                         credit_limit = coalesce(?5, credit_limit), updated_at = ?6
                     WHERE id = ?1",
                    params![id, name, phone, address, credit_limit, now],
                )?;
                self.edits(
                    "customer",
                    id,
                    &[
                        ("name", name.clone()),
                        ("phone", phone.clone()),
                        ("address", address.clone()),
                        ("credit_limit", credit_limit.map(|v| v.to_string())),
                    ],
                    now,
                )?;
                Ok(id.clone())
            }
            Command::RegisterVehicle {
                customer_id,
                plate,
                vin,
                make,
                model,
                year,
                odometer,
            } => {
                self.need("SELECT 1 FROM customers WHERE id = ?1", customer_id)?;
                let id = self.id();
                self.exec(
                    "INSERT INTO vehicles(id, customer_id, plate, vin, make, model, year, odometer, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                    params![id, customer_id, plate, vin, make, model, year, odometer, now],
                )?;
                Ok(id)
            }
            Command::ReceiveStock { lines, note } => self.stock("receipt", None, lines, note, now),
            Command::AdjustStock { lines, note } => {
                self.stock("adjustment", None, lines, note, now)
            }
            Command::TransferStock {
                to_branch,
                lines,
                note,
                ..
            } => self.stock("transfer", Some(to_branch), lines, note, now),
            Command::Sell {
                customer_id,
                lines,
                payments,
                ..
            } => {
                let lines = self.sale(customer_id.as_deref(), lines)?;
                self.invoice(customer_id.as_deref(), &lines, payments, None, now)
            }
            Command::TakePayment {
                customer_id: None,
                invoice_id: Some(invoice),
                amount,
                channel,
                kind: PaymentKind::Invoice,
            } => {
                let (customer, remaining, voided): (Option<String>, i64, bool) = self.get(
                    "SELECT customer_id, remaining, voided FROM invoices WHERE id = ?1",
                    [invoice],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )?;
                if voided || *amount > remaining {
                    return Err(refused(format!("{amount} on {invoice}")));
                }
                let t = Tender {
                    channel: channel.clone(),
                    amount: *amount,
                };
                self.payment(customer.as_deref(), invoice, &t, now)
            }
            Command::ReturnItems {
                invoice_id,
                lines,
                reason,
            } => {
                let (customer, voided): (Option<String>, bool) = self.get(
                    "SELECT customer_id, voided FROM invoices WHERE id = ?1",
                    [invoice_id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )?;
                if voided {
                    return Err(refused(format!("{invoice_id} is void")));
                }
                let back = self.back(
                    invoice_id,
                    lines,
                    "SELECT kind, product_id, qty, total, cost FROM invoice_lines
                     WHERE invoice_id = ?1 AND line_no = ?2",
                    "SELECT coalesce(sum(rl.qty), 0) FROM returns r
                     JOIN return_lines rl ON rl.return_id = r.id
                     WHERE r.invoice_id = ?1 AND rl.invoice_line_no = ?2",
                )?;
                let total: i64 = back.iter().map(|b| b.3).sum();
                let id = self.id();
                let me = &self.me;
                self.exec(
                    "INSERT INTO returns(id, doc_id, invoice_id, customer_id, branch_id, terminal_id,
                         user_id, at, day, total, reason)
                     VALUES (?1, 'floor', ?2, ?3, ?4, ?5, 'bench', ?6, ?7, ?8, ?9)",
                    params![
                        id,
                        invoice_id,
                        customer,
                        me.branch_id,
                        me.replica_id,
                        now,
                        day_of(now),
                        total,
                        reason
                    ],
                )?;
                let src = Src {
                    kind: "return",
                    ref_kind: "return",
                    ref_id: &id,
                    branch: &me.branch_id,
                    customer: customer.as_deref(),
                    at: now,
                };
                for (n, (line_no, product, qty, amount, cost)) in back.iter().enumerate() {
                    self.exec(
                        "INSERT INTO return_lines(return_id, line_no, invoice_line_no, product_id, qty, amount)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                        params![id, n as i64, line_no, product, qty, amount],
                    )?;
                    if let Some(p) = product {
                        self.movement(&src, &format!("{id}:{n}"), p, *qty, *cost)?;
                    }
                }
                if let Some(c) = &customer {
                    self.ledger(c, now, -total, "return", "return", &id)?;
                }
                Ok(id)
            }
            Command::VoidInvoice { invoice_id, reason } => {
                let (customer, branch, total, returned, voided): (Option<String>, String, i64, i64, bool) =
                    self.get(
                        "SELECT customer_id, branch_id, total, returned, voided FROM invoices WHERE id = ?1",
                        [invoice_id],
                        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
                    )?;
                if voided || returned > 0 {
                    return Err(refused(format!("{invoice_id} is void or has returns")));
                }
                let id = self.id();
                self.exec(
                    "INSERT INTO invoice_voids(id, doc_id, invoice_id, customer_id, amount, user_id,
                         terminal_id, at, reason, effective)
                     VALUES (?1, 'floor', ?2, ?3, ?4, 'bench', ?5, ?6, ?7, 1)",
                    params![id, invoice_id, customer, total, self.me.replica_id, now, reason],
                )?;
                // Its product lines back on the shelf.
                self.exec(
                    "INSERT INTO stock_movements(id, product_id, branch_id, qty, kind, ref_kind, ref_id,
                         customer_id, unit_cost, at, terminal_id, user_id)
                     SELECT ?2 || ':' || line_no, product_id, ?3, qty, 'void', 'void', ?2, ?4, cost, ?5,
                            ?6, 'bench'
                     FROM invoice_lines
                     WHERE invoice_id = ?1 AND kind = 'product' AND product_id IS NOT NULL",
                    params![invoice_id, id, branch, customer, now, self.me.replica_id],
                )?;
                if let Some(c) = &customer {
                    self.ledger(c, now, returned - total, "void", "void", &id)?;
                }
                Ok(id)
            }
            Command::OpenShift { opening_float } => {
                self.no_open_shift()?;
                let id = self.id();
                self.exec(
                    "INSERT INTO shifts(id, doc_id, terminal_id, branch_id, user_id, opened_at, opening_float)
                     VALUES (?1, 'floor', ?2, ?3, 'bench', ?4, ?5)",
                    params![id, self.me.replica_id, self.me.branch_id, now, opening_float],
                )?;
                Ok(id)
            }
            Command::CloseShift { shift_id, counted } => {
                self.closable(
                    shift_id,
                    counted,
                    "SELECT 1 FROM payment_channels WHERE code = ?1",
                )?;
                self.exec(
                    "UPDATE shifts SET closed_at = ?2, closed_by = 'bench' WHERE id = ?1",
                    params![shift_id, now],
                )?;
                for (channel, amount) in counted {
                    self.exec(
                        "INSERT INTO shift_counts(shift_id, channel, counted) VALUES (?1, ?2, ?3)",
                        params![shift_id, channel, amount],
                    )?;
                }
                Ok(shift_id.clone())
            }
            Command::CreateServiceOrder {
                customer_id,
                vehicle_id,
                scheduled_date,
                technician_id,
                complaint,
                odometer,
            } => {
                let number = self.book(customer_id, vehicle_id, technician_id.as_deref())?;
                let id = self.id();
                self.exec(
                    "INSERT INTO service_orders(id, doc_id, number, customer_id, vehicle_id, branch_id,
                         status, scheduled_date, technician_id, complaint, odometer, invoice_id,
                         created_at, updated_at)
                     VALUES (?1, 'floor', ?2, ?3, ?4, ?5, 'booked', ?6, ?7, ?8, ?9, NULL, ?10, ?10)",
                    params![
                        id,
                        number,
                        customer_id,
                        vehicle_id,
                        self.me.branch_id,
                        scheduled_date,
                        technician_id,
                        complaint,
                        odometer,
                        now
                    ],
                )?;
                self.history("service_order", &id, "status", "booked", now)?;
                Ok(id)
            }
            Command::AssignTechnician {
                order_id,
                technician_id,
            } => {
                self.order(order_id, open)?;
                self.need("SELECT 1 FROM technicians WHERE id = ?1", technician_id)?;
                self.exec(
                    "UPDATE service_orders SET technician_id = ?2, updated_at = ?3 WHERE id = ?1",
                    params![order_id, technician_id, now],
                )?;
                self.history(
                    "service_order",
                    order_id,
                    "technician_id",
                    technician_id,
                    now,
                )?;
                Ok(order_id.clone())
            }
            Command::AddLabour {
                order_id,
                service_id,
                technician_id,
                price,
            } => {
                self.order(order_id, open)?;
                let (name, list, minutes): (String, i64, i64) = self.get(
                    "SELECT name, labour_price, duration_min FROM services WHERE id = ?1 AND active = 1",
                    [service_id],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )?;
                if let Some(t) = technician_id {
                    self.need("SELECT 1 FROM technicians WHERE id = ?1", t)?;
                }
                let line = self.id();
                self.exec(
                    "INSERT INTO service_order_labour(order_id, line_id, service_id, description,
                         technician_id, price, duration_min)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    params![
                        order_id,
                        line,
                        service_id,
                        name,
                        technician_id,
                        price.unwrap_or(list),
                        minutes
                    ],
                )?;
                self.touch_order(order_id, now)?;
                Ok(line)
            }
            Command::UsePart {
                order_id,
                product_id,
                qty,
                ..
            } => {
                let customer = self.order(order_id, working)?;
                let (_, price, cost) = self.product(product_id)?;
                let line = self.id();
                self.exec(
                    "INSERT INTO service_order_parts(order_id, line_id, product_id, qty, unit_price, at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![order_id, line, product_id, qty, price, now],
                )?;
                let src = Src {
                    kind: "part_use",
                    ref_kind: "order",
                    ref_id: order_id,
                    branch: &self.me.branch_id,
                    customer: Some(customer.as_str()),
                    at: now,
                };
                self.movement(&src, &format!("{order_id}:{line}"), product_id, -qty, cost)?;
                self.touch_order(order_id, now)?;
                Ok(line)
            }
            Command::SetOrderStatus { order_id, status } => {
                self.move_order(order_id, *status, now)?;
                self.history("service_order", order_id, "status", status.as_str(), now)?;
                Ok(order_id.clone())
            }
            Command::InvoiceServiceOrder {
                order_id, payments, ..
            } => {
                let customer = self.order(order_id, |s| s == OrderStatus::Done)?;
                let mut lines = self.rows(
                    "SELECT description, price FROM service_order_labour WHERE order_id = ?1 ORDER BY line_id",
                    [order_id],
                    |r| Ok(Line::work("labour", None, r.get(0)?, ONE, r.get(1)?, 0)),
                )?;
                lines.extend(self.rows(
                    "SELECT p.product_id, coalesce(pr.name, p.product_id), p.qty, p.unit_price,
                            coalesce(pr.cost, 0)
                     FROM service_order_parts p LEFT JOIN products pr ON pr.id = p.product_id
                     WHERE p.order_id = ?1 ORDER BY p.line_id",
                    [order_id],
                    |r| {
                        Ok(Line::work(
                            "part",
                            r.get(0)?,
                            r.get(1)?,
                            r.get(2)?,
                            r.get(3)?,
                            r.get(4)?,
                        ))
                    },
                )?);
                let id = self.invoice(Some(&customer), &lines, payments, Some(order_id), now)?;
                self.exec(
                    "UPDATE service_orders SET status = 'invoiced', invoice_id = ?2, updated_at = ?3
                     WHERE id = ?1",
                    params![order_id, id, now],
                )?;
                self.edits(
                    "service_order",
                    order_id,
                    &[
                        ("status", Some("invoiced".into())),
                        ("invoice_id", Some(id.clone())),
                    ],
                    now,
                )?;
                Ok(id)
            }
            other => Err(err(format!("the floor does not model {other:?}"))),
        }
    }
}
