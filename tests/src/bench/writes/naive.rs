//! The naive design: what the seed's schema needs of each command, with
//! its read-modify-write updates of stored stock, balances and invoice
//! totals.

use super::*;

impl Db<'_, Naive> {
    /// A movement and the product's stored stock. (The receiving side of a
    /// transfer is the other branch's database, in the seed's design.)
    fn movement(&self, s: &Src, id: &str, product: &str, qty: i64) -> Result<()> {
        self.exec(
            "INSERT INTO stock_movements VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                id, product, qty, s.kind, s.ref_kind, s.ref_id, s.customer, s.at
            ],
        )?;
        self.exec(
            "UPDATE products SET current_stock = current_stock + ?2 WHERE id = ?1",
            params![product, qty],
        )
    }
    /// A ledger entry and the customer's stored balance.
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
            "INSERT INTO ledger_entries VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                format!("{ref_kind}:{ref_id}"),
                customer,
                at,
                if amount > 0 { "debit" } else { "credit" },
                category,
                amount.abs(),
                ref_kind,
                ref_id
            ],
        )?;
        self.exec(
            "UPDATE customers SET balance = balance + ?2 WHERE id = ?1",
            params![customer, amount],
        )
    }
    /// A payment of an invoice (the caller updates the invoice's totals).
    fn payment(
        &mut self,
        customer: Option<&str>,
        invoice: &str,
        t: &Tender,
        now: i64,
    ) -> Result<String> {
        self.need("SELECT 1 FROM payment_channels WHERE id = ?1", &t.channel)?;
        let shift: Option<String> = self.opt(OPEN_SHIFT, [&self.me.replica_id])?;
        let id = self.id();
        self.exec(
            "INSERT INTO payments VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'invoice', ?7, ?8)",
            params![
                id,
                customer,
                invoice,
                shift,
                t.amount,
                t.channel,
                now,
                day_of(now)
            ],
        )?;
        if let Some(c) = customer {
            self.ledger(c, now, -t.amount, "payment", "payment", &id)?;
        }
        Ok(id)
    }
    /// An invoice numbered after the branch's last bill, written empty, then
    /// its items (with the stock of product lines) and payments, then its
    /// totals, as the seed's code does; and the customer's debit.
    fn invoice(
        &mut self,
        customer: Option<&str>,
        lines: &[Line],
        tenders: &[Tender],
        now: i64,
    ) -> Result<String> {
        let last: Option<String> = self.one(
            "SELECT max(bill_number) FROM invoices WHERE branch_id = ?1",
            [&self.me.branch_id],
        )?;
        let seq = last
            .and_then(|b| b.rsplit('-').next().and_then(|s| s.parse::<i64>().ok()))
            .unwrap_or(0)
            + 1;
        let id = self.id();
        let me = &self.me;
        self.exec(
            "INSERT INTO invoices VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0, 0, 0, 0, 0, 0, 0, 'unpaid')",
            params![
                id,
                format!("{}-{}-{seq:06}", me.branch_code, me.terminal_code),
                customer,
                me.branch_id,
                now,
                day_of(now)
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
                "INSERT INTO invoice_items(invoice_id, line_no, product_id, description, quantity,
                     unit_price, discount, tax, total, cost)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                params![
                    id,
                    n as i64,
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
                self.movement(&src, &format!("{id}:{n}"), p, -l.qty)?;
            }
        }
        for t in tenders {
            self.payment(customer, &id, t, now)?;
        }
        let (subtotal, discount, tax, total) = totals(lines);
        let paid: i64 = tenders.iter().map(|t| t.amount).sum();
        self.exec(
            "UPDATE invoices SET subtotal = ?2, discount = ?3, tax = ?4, total = ?5, paid_amount = ?6,
                 remaining_balance = ?5 - ?6,
                 status = CASE WHEN ?5 - ?6 <= 0 THEN 'paid' WHEN ?6 > 0 THEN 'partial' ELSE 'unpaid' END
             WHERE id = ?1",
            params![id, subtotal, discount, tax, total, paid],
        )?;
        if let Some(c) = customer {
            self.ledger(c, now, total, "sale", "invoice", &id)?;
        }
        Ok(id)
    }
    /// Stock lines: each product read (cost, stored stock), then its
    /// movement and stored stock; a transfer moves out.
    fn stock(
        &mut self,
        kind: &str,
        to: Option<&str>,
        lines: &[StockLineInput],
        now: i64,
    ) -> Result<String> {
        if let Some(b) = to {
            self.need("SELECT 1 FROM branches WHERE id = ?1", b)?;
        }
        self.costs(lines)?;
        let id = self.id();
        let src = Src {
            kind: if to.is_some() { "transfer_out" } else { kind },
            ref_kind: "stock",
            ref_id: &id,
            branch: &self.me.branch_id,
            customer: None,
            at: now,
        };
        let sign = if to.is_some() { -1 } else { 1 };
        for (n, l) in lines.iter().enumerate() {
            self.movement(&src, &format!("{id}:{n}"), &l.product_id, sign * l.qty)?;
        }
        Ok(id)
    }
}

impl Apply for Db<'_, Naive> {
    fn apply(&mut self, cmd: &Command, now: i64) -> Result<String> {
        match cmd {
            Command::CreateBranch { code, name } => {
                self.unique("branches", "code", code, None)?;
                let id = self.id();
                self.exec(
                    "INSERT INTO branches VALUES (?1, ?2, ?3)",
                    params![id, code, name],
                )?;
                Ok(id)
            }
            // The seed's channels have no active flag.
            Command::SetPaymentChannel {
                code,
                name,
                is_cash,
                ..
            } => {
                let sql = match self
                    .opt::<i64>("SELECT 1 FROM payment_channels WHERE id = ?1", [code])?
                {
                    Some(_) => "UPDATE payment_channels SET name = ?2, is_cash = ?3 WHERE id = ?1",
                    None => "INSERT INTO payment_channels VALUES (?1, ?2, ?3)",
                };
                self.exec(sql, params![code, name, is_cash])?;
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
                self.unique("products", "sku", sku, None)?;
                if let Some(b) = barcode {
                    self.unique("products", "barcode", b, None)?;
                }
                let id = self.id();
                self.exec(
                    "INSERT INTO products VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 0, ?10, 'active')",
                    params![id, sku, barcode, name, category, grade, unit, price, cost, min_stock],
                )?;
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
                         min_stock_alert = coalesce(?6, min_stock_alert)
                     WHERE id = ?1",
                    params![id, name, category, price, cost, min_stock],
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
                    "INSERT INTO services VALUES (?1, ?2, ?3, ?4, ?5, 1)",
                    params![id, code, name, labour_price, duration_min],
                )?;
                Ok(id)
            }
            Command::CreateTechnician {
                branch_id, name, ..
            } => {
                let id = self.id();
                self.exec(
                    "INSERT INTO technicians VALUES (?1, ?2, ?3)",
                    params![id, branch_id.as_ref().unwrap_or(&self.me.branch_id), name],
                )?;
                Ok(id)
            }
            Command::CreateCustomer {
                name,
                phone,
                address,
                credit_limit,
                ..
            } => {
                if let Some(ph) = phone {
                    self.unique("customers", "phone", ph, None)?;
                }
                let id = self.id();
                self.exec(
                    "INSERT INTO customers VALUES (?1, ?2, ?3, ?4, ?5, 0, ?6)",
                    params![id, name, phone, address, credit_limit, now],
                )?;
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
                    self.unique("customers", "phone", ph, Some(id))?;
                }
                self.exec(
                    "UPDATE customers SET name = coalesce(?2, name), phone = coalesce(?3, phone),
                         address = coalesce(?4, address), credit_limit = coalesce(?5, credit_limit)
                     WHERE id = ?1",
                    params![id, name, phone, address, credit_limit],
                )?;
                Ok(id.clone())
            }
            Command::RegisterVehicle {
                customer_id,
                plate,
                make,
                model,
                year,
                ..
            } => {
                self.need("SELECT 1 FROM customers WHERE id = ?1", customer_id)?;
                let id = self.id();
                self.exec(
                    "INSERT INTO vehicles VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![id, customer_id, plate, make, model, year],
                )?;
                Ok(id)
            }
            Command::ReceiveStock { lines, .. } => self.stock("receipt", None, lines, now),
            Command::AdjustStock { lines, .. } => self.stock("adjustment", None, lines, now),
            Command::TransferStock {
                to_branch, lines, ..
            } => self.stock("transfer", Some(to_branch), lines, now),
            Command::Sell {
                customer_id,
                lines,
                payments,
                ..
            } => {
                let lines = self.sale(customer_id.as_deref(), lines)?;
                self.invoice(customer_id.as_deref(), &lines, payments, now)
            }
            Command::TakePayment {
                customer_id: None,
                invoice_id: Some(invoice),
                amount,
                channel,
                kind: PaymentKind::Invoice,
            } => {
                let (customer, remaining, status): (Option<String>, i64, String) = self.get(
                    "SELECT customer_id, remaining_balance, status FROM invoices WHERE id = ?1",
                    [invoice],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )?;
                if status == "void" || *amount > remaining {
                    return Err(refused(format!("{amount} on {invoice}")));
                }
                let t = Tender {
                    channel: channel.clone(),
                    amount: *amount,
                };
                let id = self.payment(customer.as_deref(), invoice, &t, now)?;
                self.exec(
                    "UPDATE invoices SET paid_amount = paid_amount + ?2,
                         remaining_balance = remaining_balance - ?2,
                         status = CASE WHEN remaining_balance - ?2 <= 0 THEN 'paid' ELSE 'partial' END
                     WHERE id = ?1",
                    params![invoice, amount],
                )?;
                Ok(id)
            }
            Command::ReturnItems {
                invoice_id, lines, ..
            } => {
                let (customer, status): (Option<String>, String) = self.get(
                    "SELECT customer_id, status FROM invoices WHERE id = ?1",
                    [invoice_id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )?;
                if status == "void" {
                    return Err(refused(format!("{invoice_id} is void")));
                }
                let back = self.back(
                    invoice_id,
                    lines,
                    "SELECT 'product', product_id, quantity, total, cost FROM invoice_items
                     WHERE invoice_id = ?1 AND line_no = ?2",
                    "SELECT coalesce(sum(ri.quantity), 0) FROM return_items ri
                     JOIN returns r ON r.id = ri.return_id
                     WHERE r.invoice_id = ?1 AND ri.line_no = ?2",
                )?;
                let total: i64 = back.iter().map(|b| b.3).sum();
                let id = self.id();
                self.exec(
                    "INSERT INTO returns VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    params![
                        id,
                        invoice_id,
                        customer,
                        self.me.branch_id,
                        now,
                        day_of(now),
                        total
                    ],
                )?;
                let src = Src {
                    kind: "return",
                    ref_kind: "return",
                    ref_id: &id,
                    branch: &self.me.branch_id,
                    customer: customer.as_deref(),
                    at: now,
                };
                for (n, (line_no, product, qty, amount, _)) in back.iter().enumerate() {
                    self.exec(
                        "INSERT INTO return_items(return_id, line_no, product_id, quantity, amount)
                         VALUES (?1, ?2, ?3, ?4, ?5)",
                        params![id, line_no, product, qty, amount],
                    )?;
                    if let Some(p) = product {
                        self.movement(&src, &format!("{id}:{n}"), p, *qty)?;
                    }
                }
                self.exec(
                    "UPDATE invoices SET returned_amount = returned_amount + ?2,
                         remaining_balance = remaining_balance - ?2,
                         status = CASE WHEN returned_amount + ?2 >= total THEN 'returned' ELSE status END
                     WHERE id = ?1",
                    params![invoice_id, total],
                )?;
                if let Some(c) = &customer {
                    self.ledger(c, now, -total, "return", "return", &id)?;
                }
                Ok(id)
            }
            Command::VoidInvoice { invoice_id, .. } => {
                let (customer, total, returned, status): (Option<String>, i64, i64, String) = self.get(
                    "SELECT customer_id, total, returned_amount, status FROM invoices WHERE id = ?1",
                    [invoice_id],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                )?;
                if status == "void" || returned > 0 {
                    return Err(refused(format!("{invoice_id} is void or has returns")));
                }
                let items: Vec<(i64, String, i64)> = self.rows(
                    "SELECT line_no, product_id, quantity FROM invoice_items
                     WHERE invoice_id = ?1 AND product_id IS NOT NULL",
                    [invoice_id],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )?;
                let id = self.id();
                let src = Src {
                    kind: "void",
                    ref_kind: "void",
                    ref_id: &id,
                    branch: &self.me.branch_id,
                    customer: customer.as_deref(),
                    at: now,
                };
                for (n, product, qty) in &items {
                    self.movement(&src, &format!("{id}:{n}"), product, *qty)?;
                }
                self.exec(
                    "UPDATE invoices SET status = 'void', remaining_balance = 0 WHERE id = ?1",
                    [invoice_id],
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
                    "INSERT INTO shifts VALUES (?1, ?2, ?3, 'bench', ?4, ?5, NULL)",
                    params![
                        id,
                        self.me.replica_id,
                        self.me.branch_id,
                        now,
                        opening_float
                    ],
                )?;
                Ok(id)
            }
            Command::CloseShift { shift_id, counted } => {
                self.closable(
                    shift_id,
                    counted,
                    "SELECT 1 FROM payment_channels WHERE id = ?1",
                )?;
                self.exec(
                    "UPDATE shifts SET closed_at = ?2 WHERE id = ?1",
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
                    "INSERT INTO service_orders VALUES (?1, ?2, ?3, ?4, ?5, 'booked', ?6, ?7, ?8, ?9, NULL, ?10)",
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
                Ok(id)
            }
            Command::AssignTechnician {
                order_id,
                technician_id,
            } => {
                self.order(order_id, open)?;
                self.need("SELECT 1 FROM technicians WHERE id = ?1", technician_id)?;
                self.exec(
                    "UPDATE service_orders SET technician_assigned = ?2, updated_at = ?3 WHERE id = ?1",
                    params![order_id, technician_id, now],
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
                    "SELECT name, labour_price, duration_min FROM services WHERE id = ?1",
                    [service_id],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )?;
                if let Some(t) = technician_id {
                    self.need("SELECT 1 FROM technicians WHERE id = ?1", t)?;
                }
                self.exec(
                    "INSERT INTO service_order_labour(order_id, service_id, description, technician_id,
                         price, duration_min)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![order_id, service_id, name, technician_id, price.unwrap_or(list), minutes],
                )?;
                self.touch_order(order_id, now)?;
                Ok(order_id.clone())
            }
            Command::UsePart {
                order_id,
                product_id,
                qty,
                ..
            } => {
                let customer = self.order(order_id, working)?;
                let (_, price, _) = self.product(product_id)?;
                self.exec(
                    "INSERT INTO service_order_parts(order_id, product_id, quantity, unit_price, date)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![order_id, product_id, qty, price, now],
                )?;
                let line = self.id();
                let src = Src {
                    kind: "part_use",
                    ref_kind: "order",
                    ref_id: order_id,
                    branch: &self.me.branch_id,
                    customer: Some(customer.as_str()),
                    at: now,
                };
                self.movement(&src, &format!("{order_id}:{line}"), product_id, -qty)?;
                self.touch_order(order_id, now)?;
                Ok(line)
            }
            Command::SetOrderStatus { order_id, status } => {
                self.move_order(order_id, *status, now)?;
                Ok(order_id.clone())
            }
            Command::InvoiceServiceOrder {
                order_id, payments, ..
            } => {
                let customer = self.order(order_id, |s| s == OrderStatus::Done)?;
                let mut lines = self.rows(
                    "SELECT description, price FROM service_order_labour WHERE order_id = ?1",
                    [order_id],
                    |r| Ok(Line::work("labour", None, r.get(0)?, ONE, r.get(1)?, 0)),
                )?;
                // One product lookup per part, as the seed's code does.
                let parts: Vec<(String, i64, i64)> = self.rows(
                    "SELECT product_id, quantity, unit_price FROM service_order_parts WHERE order_id = ?1",
                    [order_id],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )?;
                for (product, qty, price) in parts {
                    let (name, _, cost) = self.product(&product)?;
                    lines.push(Line::work("part", Some(product), name, qty, price, cost));
                }
                let id = self.invoice(Some(&customer), &lines, payments, now)?;
                self.exec(
                    "UPDATE service_orders SET status = 'invoiced', invoice_id = ?2, updated_at = ?3
                     WHERE id = ?1",
                    params![order_id, id, now],
                )?;
                Ok(id)
            }
            other => Err(err(format!("the naive design does not model {other:?}"))),
        }
    }
}
