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
            Command::ReceiveStock { lines, .. } => self.stock("receipt", None, lines, now),
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
            Command::SetOrderStatus { order_id, status } => {
                self.move_order(order_id, *status, now)?;
                Ok(order_id.clone())
            }
            other => Err(err(format!("the naive design does not model {other:?}"))),
        }
    }
}
