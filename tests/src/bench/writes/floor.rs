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
            Command::ReceiveStock { lines, note } => self.stock("receipt", None, lines, note, now),
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
            Command::SetOrderStatus { order_id, status } => {
                self.move_order(order_id, *status, now)?;
                self.history("service_order", order_id, "status", status.as_str(), now)?;
                Ok(order_id.clone())
            }
            other => Err(err(format!("the floor does not model {other:?}"))),
        }
    }
}
