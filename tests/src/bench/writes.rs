//! Writes: every command on the engine, the floor (the same rows written
//! directly in one durable transaction) and the naive design.

use super::*;

/// Deterministic ids and choices for the writes, the same for every design.
struct Ids(u64);

impl Ids {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E3779B97F4A7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58476D1CE4E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D049BB133111EB);
        z ^ (z >> 31)
    }
    fn id(&mut self) -> String {
        format!("{:016x}{:04x}", self.next(), self.next() & 0xffff)
    }
}

/// One checkout: five lines (product index, quantity).
fn checkout_lines(k: usize, products: usize) -> Vec<(usize, i64)> {
    let mut ids = Ids(k as u64 * 7919 + 1);
    (0..5)
        .map(|_| {
            (
                (ids.next() % products as u64) as usize,
                (1 + ids.next() % 5) as i64 * 1000,
            )
        })
        .collect()
}

pub(super) fn line_amounts(qty: i64, price: i64) -> (i64, i64, i64) {
    let gross = store_core::domain::gross(qty, price).unwrap_or(0);
    let tax = store_core::domain::tax_on(gross, 1500).unwrap_or(0);
    (gross, tax, gross + tax)
}

pub(super) fn measure_writes(
    opts: &Options,
    engine: &mut Replica,
    engine_path: &Path,
    floor: &Connection,
    naive: &Connection,
    p: &Picks,
) -> Result<Vec<Row>> {
    let iters = n(opts, 200);
    let warm = (iters / 10).max(1);
    let me = identity();
    let mut rows = Vec::new();

    // Durable checkout: five lines and the cash that pays them.
    let checkout_engine = |r: &mut Replica, k: usize| -> Result<()> {
        let lines = checkout_lines(k, p.products.len());
        let total: i64 = lines
            .iter()
            .map(|(pi, q)| line_amounts(*q, p.products[*pi].1).2)
            .sum();
        r.execute(
            "bench",
            &Command::Sell {
                customer_id: None,
                lines: lines
                    .iter()
                    .map(|(pi, q)| SaleLine {
                        product_id: p.products[*pi].0.clone(),
                        qty: *q,
                        unit_price: None,
                        discount: 0,
                        tax_rate_bp: 1500,
                    })
                    .collect(),
                payments: vec![Tender {
                    channel: "cash".into(),
                    amount: total,
                }],
                allow_negative_stock: true,
                allow_over_credit_limit: false,
            },
        )?;
        Ok(())
    };
    let mut floor_ids = Ids(1);
    let mut checkout_floor = |k: usize| -> Result<()> {
        let lines = checkout_lines(k, p.products.len());
        let tx = floor.unchecked_transaction()?;
        let seq: i64 = tx
            .prepare_cached(
                "SELECT coalesce(max(seq), 0) + 1 FROM invoices WHERE terminal_id = ?1",
            )?
            .query_row([&me.replica_id], |r| r.get(0))?;
        let now = END_MS + k as i64 * 1000;
        let day = store_core::domain::day_of(now);
        let mut rows = Vec::new();
        for (pi, q) in &lines {
            let (name, price, cost): (String, i64, i64) = tx
                .prepare_cached("SELECT name, price, cost FROM products WHERE id = ?1")?
                .query_row([&p.products[*pi].0], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })?;
            rows.push((p.products[*pi].0.clone(), *q, name, price, cost));
        }
        let amounts: Vec<(i64, i64, i64)> = rows.iter().map(|r| line_amounts(r.1, r.3)).collect();
        let subtotal: i64 = amounts.iter().map(|a| a.0).sum();
        let tax: i64 = amounts.iter().map(|a| a.1).sum();
        let total: i64 = amounts.iter().map(|a| a.2).sum();
        let id = floor_ids.id();
        let bill = format!("{}-{}-{seq:06}", me.branch_code, me.terminal_code);
        tx.prepare_cached(
            "INSERT INTO invoices(id, doc_id, bill_no, bill_no_wanted, seq, customer_id, branch_id,
                 terminal_id, user_id, at, day, subtotal, discount, tax, total)
             VALUES (?1, 'floor', ?2, ?2, ?3, NULL, ?4, ?5, 'bench', ?6, ?7, ?8, 0, ?9, ?10)",
        )?
        .execute(params![
            id,
            bill,
            seq,
            me.branch_id,
            me.replica_id,
            now,
            day,
            subtotal,
            tax,
            total
        ])?;
        for (n, (r, a)) in rows.iter().zip(&amounts).enumerate() {
            tx.prepare_cached(
                "INSERT INTO invoice_lines(invoice_id, line_no, kind, product_id, description, qty,
                     unit_price, discount, tax, total, cost)
                 VALUES (?1, ?2, 'product', ?3, ?4, ?5, ?6, 0, ?7, ?8, ?9)",
            )?
            .execute(params![id, n as i64, r.0, r.2, r.1, r.3, a.1, a.2, r.4])?;
            tx.prepare_cached(
                "INSERT INTO stock_movements(id, product_id, branch_id, qty, kind, ref_kind, ref_id,
                     customer_id, unit_cost, at, terminal_id, user_id)
                 VALUES (?1, ?2, ?3, ?4, 'sale', 'invoice', ?5, NULL, ?6, ?7, ?8, 'bench')",
            )?
            .execute(params![
                format!("{id}:{n}"),
                r.0,
                me.branch_id,
                -r.1,
                id,
                r.4,
                now,
                me.replica_id
            ])?;
        }
        tx.prepare_cached(
            "INSERT INTO payments(id, doc_id, customer_id, invoice_id, branch_id, terminal_id, user_id,
                 shift_id, at, day, amount, channel, kind)
             VALUES (?1, 'floor', NULL, ?2, ?3, ?4, 'bench', NULL, ?5, ?6, ?7, 'cash', 'invoice')",
        )?
        .execute(params![floor_ids.id(), id, me.branch_id, me.replica_id, now, day, total])?;
        tx.commit()?;
        Ok(())
    };
    let mut naive_ids = Ids(2);
    let mut checkout_naive = |k: usize| -> Result<Progress> {
        let lines = checkout_lines(k, p.products.len());
        let tx = naive.unchecked_transaction()?;
        let last: Option<String> = tx
            .prepare_cached("SELECT max(bill_number) FROM invoices WHERE branch_id = ?1")?
            .query_row([&me.branch_id], |r| r.get(0))?;
        let seq = last
            .and_then(|b| b.rsplit('-').next().and_then(|s| s.parse::<i64>().ok()))
            .unwrap_or(0)
            + 1;
        let now = END_MS + k as i64 * 1000;
        let day = store_core::domain::day_of(now);
        let id = naive_ids.id();
        tx.prepare_cached(
            "INSERT INTO invoices VALUES (?1, ?2, NULL, ?3, ?4, ?5, 0, 0, 0, 0, 0, 0, 0, 'unpaid')",
        )?
        .execute(params![
            id,
            format!("{}-{}-{seq:06}", me.branch_code, me.terminal_code),
            me.branch_id,
            now,
            day
        ])?;
        let (mut subtotal, mut tax, mut total) = (0, 0, 0);
        for (n, (pi, q)) in lines.iter().enumerate() {
            let pid = &p.products[*pi].0;
            let (name, price, cost): (String, i64, i64) = tx
                .prepare_cached("SELECT name, price, cost FROM products WHERE id = ?1")?
                .query_row([pid], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
            let (g, t, tot) = line_amounts(*q, price);
            subtotal += g;
            tax += t;
            total += tot;
            tx.prepare_cached(
                "INSERT INTO invoice_items(invoice_id, line_no, product_id, description, quantity,
                     unit_price, discount, tax, total, cost)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0, ?7, ?8, ?9)",
            )?
            .execute(params![id, n as i64, pid, name, q, price, t, tot, cost])?;
            tx.prepare_cached(
                "INSERT INTO stock_movements VALUES (?1, ?2, ?3, 'sale', 'invoice', ?4, NULL, ?5)",
            )?
            .execute(params![format!("{id}:{n}"), pid, -q, id, now])?;
            tx.prepare_cached(
                "UPDATE products SET current_stock = current_stock - ?2 WHERE id = ?1",
            )?
            .execute(params![pid, q])?;
        }
        tx.prepare_cached(
            "INSERT INTO payments VALUES (?1, NULL, ?2, NULL, ?3, 'cash', 'invoice', ?4, ?5)",
        )?
        .execute(params![naive_ids.id(), id, total, now, day])?;
        tx.prepare_cached(
            "UPDATE invoices SET subtotal = ?2, tax = ?3, total = ?4, paid_amount = ?4,
                 remaining_balance = 0, status = 'paid' WHERE id = ?1",
        )?
        .execute(params![id, subtotal, tax, total])?;
        tx.commit()?;
        Ok(Progress::Done)
    };
    let engine_stats = measure(warm, iters, |k| checkout_engine(engine, k))?;
    let floor_stats = measure(warm, iters, &mut checkout_floor)?;
    let naive_stats = measure_naive(warm, iters, NAIVE_BUDGET, |k, _| checkout_naive(k))?;
    rows.push(Row {
        covers: "sell",
        name: "durable checkout: 5 lines + cash payment".into(),
        engine: engine_stats,
        floor: floor_stats,
        naive: naive_stats,
        budgets: vec![
            Budget::FloorRatio { limit: 2.0 },
            Budget::Ms {
                limit: 5.0,
                what: "(browser budget)",
            },
        ],
    });
    eprintln!("bench: write checkout");

    // The same checkout without a disk flush per commit (synchronous =
    // NORMAL): the CPU cost of each design.
    {
        let mut relaxed = open_engine(engine_path, false, opts.seed ^ 0x5A)?;
        // Separate Replica on the same file: the first one's cached
        // documents would be stale after this, so it is reopened below.
        let off = 100_000;
        floor.execute_batch("PRAGMA synchronous = NORMAL")?;
        naive.execute_batch("PRAGMA synchronous = NORMAL")?;
        let e = measure(warm, iters, |k| checkout_engine(&mut relaxed, off + k))?;
        let f = measure(warm, iters, |k| checkout_floor(off + k))?;
        let nv = measure_naive(warm, iters, NAIVE_BUDGET, |k, _| checkout_naive(off + k))?;
        floor.execute_batch("PRAGMA synchronous = FULL")?;
        naive.execute_batch("PRAGMA synchronous = FULL")?;
        rows.push(Row {
            covers: "sell",
            name: "checkout, no flush per commit (synchronous = NORMAL)".into(),
            engine: e,
            floor: f,
            naive: nv,
            budgets: vec![Budget::FloorRatio { limit: 2.0 }],
        });
        drop(relaxed);
        *engine = open_engine(engine_path, true, opts.seed ^ 0xBE7D)?;
    }
    eprintln!("bench: write relaxed checkout");

    // Receive a delivery of 20 lines.
    let receive_lines = |k: usize| -> Vec<(usize, i64)> {
        let mut ids = Ids(k as u64 * 31 + 7);
        (0..20)
            .map(|_| {
                (
                    (ids.next() % p.products.len() as u64) as usize,
                    (20 + ids.next() % 100) as i64 * 1000,
                )
            })
            .collect()
    };
    let e = measure(warm, iters, |k| {
        engine.execute(
            "bench",
            &Command::ReceiveStock {
                lines: receive_lines(k)
                    .into_iter()
                    .map(|(pi, q)| StockLineInput {
                        product_id: p.products[pi].0.clone(),
                        qty: q,
                        unit_cost: None,
                    })
                    .collect(),
                note: "supplier delivery".into(),
            },
        )?;
        Ok(())
    })?;
    let mut fid = Ids(3);
    let f = measure(warm, iters, |k| {
        let tx = floor.unchecked_transaction()?;
        let id = fid.id();
        let now = END_MS + k as i64 * 1000;
        tx.prepare_cached(
            "INSERT INTO stock_records(id, doc_id, kind, branch_id, to_branch, terminal_id, user_id, at, note)
             VALUES (?1, 'floor', 'receipt', ?2, NULL, ?3, 'bench', ?4, 'supplier delivery')",
        )?
        .execute(params![id, me.branch_id, me.replica_id, now])?;
        for (n, (pi, q)) in receive_lines(k).into_iter().enumerate() {
            let pid = &p.products[pi].0;
            let cost: i64 = tx
                .prepare_cached("SELECT cost FROM products WHERE id = ?1")?
                .query_row([pid], |r| r.get(0))?;
            tx.prepare_cached(
                "INSERT INTO stock_movements(id, product_id, branch_id, qty, kind, ref_kind, ref_id,
                     customer_id, unit_cost, at, terminal_id, user_id)
                 VALUES (?1, ?2, ?3, ?4, 'receipt', 'stock', ?5, NULL, ?6, ?7, ?8, 'bench')",
            )?
            .execute(params![format!("{id}:{n}"), pid, me.branch_id, q, id, cost, now, me.replica_id])?;
        }
        tx.commit()?;
        Ok(())
    })?;
    let mut nid = Ids(4);
    let nv = measure_naive(warm, iters, NAIVE_BUDGET, |k, _| {
        let tx = naive.unchecked_transaction()?;
        let id = nid.id();
        let now = END_MS + k as i64 * 1000;
        for (n, (pi, q)) in receive_lines(k).into_iter().enumerate() {
            let pid = &p.products[pi].0;
            tx.prepare_cached("SELECT cost, current_stock FROM products WHERE id = ?1")?
                .query_row([pid], |_| Ok(()))?;
            tx.prepare_cached(
                "INSERT INTO stock_movements VALUES (?1, ?2, ?3, 'receipt', 'stock', ?4, NULL, ?5)",
            )?
            .execute(params![format!("{id}:{n}"), pid, q, id, now])?;
            tx.prepare_cached(
                "UPDATE products SET current_stock = current_stock + ?2 WHERE id = ?1",
            )?
            .execute(params![pid, q])?;
        }
        tx.commit()?;
        Ok(Progress::Done)
    })?;
    rows.push(Row {
        covers: "receive_stock",
        name: "receive stock: a delivery of 20 lines".into(),
        engine: e,
        floor: f,
        naive: nv,
        budgets: vec![Budget::FloorRatio { limit: 2.0 }],
    });
    eprintln!("bench: write receive");

    // A payment against an open credit invoice.
    let invoice_of = |k: usize| &p.open_invoices[k % p.open_invoices.len()];
    let e = measure(warm, iters, |k| {
        let (inv, _) = invoice_of(k);
        engine.execute(
            "bench",
            &Command::TakePayment {
                customer_id: None,
                invoice_id: Some(inv.clone()),
                amount: 100,
                channel: "bank".into(),
                kind: PaymentKind::Invoice,
            },
        )?;
        Ok(())
    })?;
    let mut fid = Ids(5);
    let f = measure(warm, iters, |k| {
        let (inv, _) = invoice_of(k);
        let tx = floor.unchecked_transaction()?;
        let (customer, remaining): (Option<String>, i64) = tx
            .prepare_cached("SELECT customer_id, remaining FROM invoices WHERE id = ?1")?
            .query_row([inv], |r| Ok((r.get(0)?, r.get(1)?)))?;
        if remaining < 100 {
            return Err(err("invoice paid off"));
        }
        let id = fid.id();
        let now = END_MS + k as i64 * 1000;
        tx.prepare_cached(
            "INSERT INTO payments(id, doc_id, customer_id, invoice_id, branch_id, terminal_id, user_id,
                 shift_id, at, day, amount, channel, kind)
             VALUES (?1, 'floor', ?2, ?3, ?4, ?5, 'bench', NULL, ?6, ?7, 100, 'bank', 'invoice')",
        )?
        .execute(params![id, customer, inv, me.branch_id, me.replica_id, now, store_core::domain::day_of(now)])?;
        if let Some(c) = &customer {
            tx.prepare_cached(
                "INSERT INTO ledger_entries(id, customer_id, at, debit, credit, category, ref_kind, ref_id)
                 VALUES (?1, ?2, ?3, 0, 100, 'payment', 'payment', ?4)",
            )?
            .execute(params![format!("payment:{id}"), c, now, id])?;
        }
        tx.commit()?;
        Ok(())
    })?;
    let mut nid = Ids(6);
    let nv = measure_naive(warm, iters, NAIVE_BUDGET, |k, _| {
        let (inv, _) = invoice_of(k);
        let tx = naive.unchecked_transaction()?;
        let (customer, remaining): (Option<String>, i64) = tx
            .prepare_cached("SELECT customer_id, remaining_balance FROM invoices WHERE id = ?1")?
            .query_row([inv], |r| Ok((r.get(0)?, r.get(1)?)))?;
        if remaining < 100 {
            return Err(err("invoice paid off"));
        }
        let id = nid.id();
        let now = END_MS + k as i64 * 1000;
        tx.prepare_cached(
            "INSERT INTO payments VALUES (?1, ?2, ?3, NULL, 100, 'bank', 'invoice', ?4, ?5)",
        )?
        .execute(params![
            id,
            customer,
            inv,
            now,
            store_core::domain::day_of(now)
        ])?;
        tx.prepare_cached(
            "UPDATE invoices SET paid_amount = paid_amount + 100,
                 remaining_balance = remaining_balance - 100,
                 status = CASE WHEN remaining_balance - 100 <= 0 THEN 'paid' ELSE 'partial' END
             WHERE id = ?1",
        )?
        .execute([inv])?;
        if let Some(c) = &customer {
            tx.prepare_cached(
                "INSERT INTO ledger_entries VALUES (?1, ?2, ?3, 'credit', 'payment', 100, 'payment', ?4)",
            )?
            .execute(params![format!("payment:{id}"), c, now, id])?;
            tx.prepare_cached("UPDATE customers SET balance = balance - 100 WHERE id = ?1")?
                .execute([c])?;
        }
        tx.commit()?;
        Ok(Progress::Done)
    })?;
    rows.push(Row {
        covers: "take_payment",
        name: "take a payment against a credit invoice".into(),
        engine: e,
        floor: f,
        naive: nv,
        budgets: vec![Budget::FloorRatio { limit: 2.0 }],
    });
    eprintln!("bench: write payment");

    // A service order moves between in progress and waiting for parts.
    let status_at = |k: usize| -> (&str, OrderStatus) {
        let (id, start) = &p.orders[k % p.orders.len()];
        let round = k / p.orders.len();
        let other = if *start == OrderStatus::InProgress {
            OrderStatus::WaitingParts
        } else {
            OrderStatus::InProgress
        };
        (
            id,
            if round.is_multiple_of(2) {
                other
            } else {
                *start
            },
        )
    };
    let e = measure(warm, iters, |k| {
        let (id, status) = status_at(k);
        engine.execute(
            "bench",
            &Command::SetOrderStatus {
                order_id: id.to_string(),
                status,
            },
        )?;
        Ok(())
    })?;
    let f = measure(warm, iters, |k| {
        let (id, status) = status_at(k);
        let now = END_MS + k as i64 * 1000;
        let tx = floor.unchecked_transaction()?;
        tx.prepare_cached("SELECT status FROM service_orders WHERE id = ?1")?
            .query_row([id], |r| r.get::<_, String>(0))?;
        tx.prepare_cached("UPDATE service_orders SET status = ?2, updated_at = ?3 WHERE id = ?1")?
            .execute(params![id, status.as_str(), now])?;
        tx.prepare_cached(
            "INSERT INTO record_history(record_kind, record_id, pos, field, value, user_id, replica, at)
             VALUES ('service_order', ?1,
                     (SELECT coalesce(max(pos), -1) + 1 FROM record_history
                      WHERE record_kind = 'service_order' AND record_id = ?1),
                     'status', ?2, 'bench', ?3, ?4)",
        )?
        .execute(params![id, status.as_str(), me.replica_id, now])?;
        tx.commit()?;
        Ok(())
    })?;
    let nv = measure_naive(warm, iters, NAIVE_BUDGET, |k, _| {
        let (id, status) = status_at(k);
        let now = END_MS + k as i64 * 1000;
        let tx = naive.unchecked_transaction()?;
        tx.prepare_cached("SELECT status FROM service_orders WHERE id = ?1")?
            .query_row([id], |r| r.get::<_, String>(0))?;
        tx.prepare_cached("UPDATE service_orders SET status = ?2, updated_at = ?3 WHERE id = ?1")?
            .execute(params![id, status.as_str(), now])?;
        tx.commit()?;
        Ok(Progress::Done)
    })?;
    rows.push(Row {
        covers: "set_order_status",
        name: "service order status change".into(),
        engine: e,
        floor: f,
        naive: nv,
        budgets: vec![Budget::FloorRatio { limit: 2.0 }],
    });
    eprintln!("bench: write order status");
    Ok(rows)
}
