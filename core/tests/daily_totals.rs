//! The sales reports read daily sums kept by triggers (schema step 4), the
//! stock valuation and the low-stock list tables kept the same way (steps 9
//! and 10). They must give exactly what the invoices, lines, payments, stock
//! levels and products give when read directly: after returns, voids and payments on a terminal, on a server
//! that received two terminals' documents in either order (each document's
//! changes even in reverse, sales before their products), and after a
//! rebuild of the projection.

use rusqlite::Connection;
use store_core::query::{
    CategorySales, ChannelSales, Page, Period, Queries, SalesReport, SalesTotals, TopBy, TopProduct,
};
use store_core::*;

/// 2026-05-28T20:26:40Z.
const T0: i64 = 1_780_000_000_000;

fn replica(dir: &std::path::Path, id: &str, branch: &str, seed: u64) -> Replica {
    let me = ReplicaIdentity {
        replica_id: id.into(),
        branch_id: branch.into(),
        branch_code: branch.into(),
        terminal_code: id.into(),
    };
    // Seven hours a command: the sales spread over several days.
    Replica::open(
        dir.join(format!("{id}.sqlite")),
        me,
        Box::new(SeededEnv::new(seed, T0, 7 * 3_600_000)),
        &OpenOptions::default(),
    )
    .unwrap()
}

fn run(r: &mut Replica, cmd: Command) -> String {
    r.execute("u", &cmd).unwrap().id
}

fn sale(product: &str, qty: Qty) -> SaleLine {
    SaleLine {
        product_id: product.into(),
        qty,
        unit_price: None,
        discount: 0,
        tax_rate_bp: 1500,
    }
}

fn total_of(r: &Replica, invoice: &str) -> Money {
    r.connection()
        .query_row("SELECT total FROM invoices WHERE id = ?1", [invoice], |x| {
            x.get(0)
        })
        .unwrap()
}

/// A terminal's day: cash and credit sales (one with the same product on
/// two lines), payments, a return, and voids of a paid and of an unpaid
/// invoice.
fn trade(r: &mut Replica, products: &[String], customer: &str) {
    let mut invoices = Vec::new();
    for (n, p) in products.iter().cycle().take(7).enumerate() {
        let lines = vec![
            sale(p, (1 + n as i64) * 1000),
            sale(&products[0], 2000),
            sale(p, 500),
        ];
        let cmd = if n % 2 == 0 {
            Command::Sell {
                customer_id: Some(customer.into()),
                lines: lines.clone(),
                payments: Vec::new(),
                allow_negative_stock: true,
                allow_over_credit_limit: true,
            }
        } else {
            Command::Sell {
                customer_id: None,
                lines: lines.clone(),
                payments: Vec::new(),
                allow_negative_stock: true,
                allow_over_credit_limit: true,
            }
        };
        let id = match r.execute("u", &cmd) {
            Ok(o) => o.id,
            // A walk-in pays at the counter: tender the exact total.
            Err(CommandError::FullPaymentRequired { total, .. }) => run(
                r,
                Command::Sell {
                    customer_id: None,
                    lines,
                    payments: vec![Tender {
                        channel: if n % 3 == 0 { "card" } else { "cash" }.into(),
                        amount: total,
                    }],
                    allow_negative_stock: true,
                    allow_over_credit_limit: true,
                },
            ),
            Err(e) => panic!("{e}"),
        };
        invoices.push(id);
    }
    // Part of a credit invoice paid, another paid in full.
    for (i, part) in [(0usize, 2), (2, 1)] {
        let due = total_of(r, &invoices[i]);
        run(
            r,
            Command::TakePayment {
                customer_id: Some(customer.into()),
                invoice_id: Some(invoices[i].clone()),
                amount: due / part,
                channel: "bank".into(),
                kind: PaymentKind::Invoice,
            },
        );
    }
    run(
        r,
        Command::TakePayment {
            customer_id: Some(customer.into()),
            invoice_id: None,
            amount: 777,
            channel: "cash".into(),
            kind: PaymentKind::Advance,
        },
    );
    run(
        r,
        Command::ReturnItems {
            invoice_id: invoices[1].clone(),
            lines: vec![ReturnLineInput {
                line_no: 0,
                qty: 1000,
            }],
            reason: "damaged".into(),
        },
    );
    for i in [3usize, 4] {
        run(
            r,
            Command::VoidInvoice {
                invoice_id: invoices[i].clone(),
                reason: "mistake".into(),
            },
        );
    }
}

/// The report as the invoices, lines and payments give it directly (the
/// statements the engine ran before the daily sums existed).
fn raw_report(c: &Connection, period: Period, from: &str, to: &str) -> SalesReport {
    let len = match period {
        Period::Day => 10,
        Period::Month => 7,
    };
    let p = rusqlite::params![from, to, len];
    let sales = c
        .prepare(
            "SELECT substr(day, 1, ?3) AS period, branch_id, count(*) - sum(voided),
                coalesce(sum(CASE WHEN voided = 0 THEN subtotal END), 0),
                coalesce(sum(CASE WHEN voided = 0 THEN discount END), 0),
                coalesce(sum(CASE WHEN voided = 0 THEN tax END), 0),
                coalesce(sum(CASE WHEN voided = 0 THEN total END), 0),
                coalesce(sum(CASE WHEN voided = 0 THEN paid END), 0),
                sum(voided), coalesce(sum(CASE WHEN voided = 1 THEN total END), 0)
             FROM invoices WHERE day >= ?1 AND day <= ?2
             GROUP BY period, branch_id ORDER BY period, branch_id",
        )
        .unwrap()
        .query_map(p, |r| {
            Ok(SalesTotals {
                period: r.get(0)?,
                branch_id: r.get(1)?,
                invoices: r.get(2)?,
                subtotal: r.get(3)?,
                discount: r.get(4)?,
                tax: r.get(5)?,
                total: r.get(6)?,
                paid: r.get(7)?,
                voided: r.get(8)?,
                voided_total: r.get(9)?,
            })
        })
        .unwrap()
        .collect::<rusqlite::Result<Vec<_>>>()
        .unwrap();
    let channels = c
        .prepare(
            "SELECT substr(pay.day, 1, ?3) AS period, pay.branch_id, pay.channel, pc.name,
                coalesce(pc.is_cash, 0), count(*),
                sum(CASE WHEN pay.kind = 'invoice' THEN pay.amount ELSE 0 END),
                sum(CASE WHEN pay.kind = 'advance' THEN pay.amount ELSE 0 END),
                sum(CASE WHEN pay.kind = 'refund' THEN pay.amount ELSE 0 END)
             FROM payments pay LEFT JOIN payment_channels pc ON pc.code = pay.channel
             WHERE pay.day >= ?1 AND pay.day <= ?2
             GROUP BY period, pay.branch_id, pay.channel
             ORDER BY period, pay.branch_id, pay.channel",
        )
        .unwrap()
        .query_map(p, |r| {
            let (i, a, f): (Money, Money, Money) = (r.get(6)?, r.get(7)?, r.get(8)?);
            Ok(ChannelSales {
                period: r.get(0)?,
                branch_id: r.get(1)?,
                channel: r.get(2)?,
                channel_name: r.get(3)?,
                is_cash: r.get(4)?,
                payments: r.get(5)?,
                invoice_payments: i,
                advances: a,
                refunds: f,
                net: i + a - f,
            })
        })
        .unwrap()
        .collect::<rusqlite::Result<Vec<_>>>()
        .unwrap();
    let categories = c
        .prepare(
            "SELECT substr(i.day, 1, ?3) AS period, i.branch_id,
                coalesce(p.category, l.kind) AS category, count(*), sum(l.qty), sum(l.discount),
                sum(l.tax), sum(l.total), sum(l.qty * l.cost)
             FROM invoices i JOIN invoice_lines l ON l.invoice_id = i.id
             LEFT JOIN products p ON p.id = l.product_id
             WHERE i.day >= ?1 AND i.day <= ?2 AND i.voided = 0
             GROUP BY period, i.branch_id, category ORDER BY period, i.branch_id, category",
        )
        .unwrap()
        .query_map(p, |r| {
            Ok(CategorySales {
                period: r.get(0)?,
                branch_id: r.get(1)?,
                category: r.get(2)?,
                lines: r.get(3)?,
                qty: r.get(4)?,
                discount: r.get(5)?,
                tax: r.get(6)?,
                total: r.get(7)?,
                // Thousandths of money, rounded half up as the engine does.
                cost: (r.get::<_, i64>(8)? + 500).div_euclid(1000),
            })
        })
        .unwrap()
        .collect::<rusqlite::Result<Vec<_>>>()
        .unwrap();
    // Returns are read from the returns table by the engine too.
    let returns = Queries::new(c)
        .sales_report(period, from, to)
        .unwrap()
        .returns;
    SalesReport {
        sales,
        returns,
        channels,
        categories,
    }
}

fn raw_top(c: &Connection, branch: Option<&str>, by: TopBy, limit: i64) -> Vec<TopProduct> {
    let order = match by {
        TopBy::Revenue => "sum(l.total)",
        TopBy::Quantity => "sum(l.qty)",
    };
    c.prepare(&format!(
        "SELECT l.product_id, p.sku_wanted, p.name, p.category, p.unit, sum(l.qty), sum(l.total),
            count(DISTINCT l.invoice_id)
         FROM invoices i JOIN invoice_lines l ON l.invoice_id = i.id
         LEFT JOIN products p ON p.id = l.product_id
         WHERE i.voided = 0 AND l.product_id IS NOT NULL AND (?1 IS NULL OR i.branch_id = ?1)
         GROUP BY l.product_id ORDER BY {order} DESC, l.product_id LIMIT ?2"
    ))
    .unwrap()
    .query_map(rusqlite::params![branch, limit], |r| {
        Ok(TopProduct {
            product_id: r.get(0)?,
            sku: r.get(1)?,
            name: r.get(2)?,
            category: r.get(3)?,
            unit: r.get(4)?,
            qty: r.get(5)?,
            revenue: r.get(6)?,
            invoices: r.get(7)?,
        })
    })
    .unwrap()
    .collect::<rusqlite::Result<Vec<_>>>()
    .unwrap()
}

/// The aggregated reports equal the raw ones, per day and per month, and
/// the rankings too, at every branch and overall.
fn check(r: &Replica, what: &str) {
    let c = r.connection();
    let q = Queries::new(c);
    let (from, to) = ("2000-01-01", "2999-12-31");
    for period in [Period::Day, Period::Month] {
        let got = q.sales_report(period, from, to).unwrap();
        assert_eq!(got, raw_report(c, period, from, to), "{what} {period:?}");
        assert!(
            !got.sales.is_empty() && !got.categories.is_empty(),
            "{what}"
        );
    }
    for branch in [None, Some("B1"), Some("B2")] {
        for by in [TopBy::Revenue, TopBy::Quantity] {
            assert_eq!(
                q.top_products(branch, from, to, by, 50).unwrap(),
                raw_top(c, branch, by, 50),
                "{what} {branch:?} {by:?}"
            );
        }
    }
    // The kept stock values (schema step 9) are what the stock levels
    // joined to their products sum to, products not yet arrived included.
    for branch in ["B1", "B2", "HQ"] {
        let raw: Vec<(Option<String>, i64, i64, i64)> = c
            .prepare(
                "SELECT p.category, count(*), sum(s.qty), sum(s.qty * coalesce(p.cost, 0))
                 FROM stock_levels s LEFT JOIN products p ON p.id = s.product_id
                 WHERE s.branch_id = ?1 AND s.qty <> 0
                 GROUP BY p.category ORDER BY p.category",
            )
            .unwrap()
            .query_map([branch], |x| {
                let milli: i64 = x.get(3)?;
                Ok((
                    x.get(0)?,
                    x.get(1)?,
                    x.get(2)?,
                    (milli + 500).div_euclid(1000),
                ))
            })
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let kept: Vec<(Option<String>, i64, i64, i64)> = q
            .stock_valuation(branch)
            .unwrap()
            .categories
            .into_iter()
            .map(|v| (v.category, v.products, v.qty, v.value))
            .collect();
        assert_eq!(kept, raw, "{what}: stock values of {branch}");
    }
    // The kept low-stock pairs (schema step 10) list what a walk of every
    // product finds: at branches with stock, and at ones without (HQ on a
    // terminal, B9 everywhere), page by page.
    for branch in ["B1", "B2", "HQ", "B9"] {
        let raw = id_amounts(
            c,
            "SELECT p.id, coalesce(s.qty, 0) FROM products p
             LEFT JOIN stock_levels s ON s.product_id = p.id AND s.branch_id = ?1
             WHERE p.status = 'active' AND coalesce(s.qty, 0) <= p.min_stock
             ORDER BY p.name COLLATE NOCASE, p.id",
            [branch],
        );
        let kept: Vec<(String, i64)> = all_pages(|a| q.low_stock(branch, a, 2).unwrap())
            .into_iter()
            .map(|l| (l.product_id, l.on_hand))
            .collect();
        assert_eq!(kept, raw, "{what}: low stock at {branch}");
    }
    // The kept customers over their limit (schema step 11) are those whose
    // balance is over it, in the list and in the alerts' count.
    let raw = id_amounts(
        c,
        "SELECT b.customer_id, b.balance FROM customer_balances b
         JOIN customers c ON c.id = b.customer_id
         WHERE b.balance > c.credit_limit
         ORDER BY b.balance DESC, b.customer_id",
        [],
    );
    let kept: Vec<(String, i64)> = all_pages(|a| q.customers_over_credit(a, 1).unwrap())
        .into_iter()
        .map(|b| (b.customer_id, b.balance))
        .collect();
    assert_eq!(kept, raw, "{what}: customers over their credit limit");
    assert_eq!(
        q.alerts_summary().unwrap().customers_over_credit,
        raw.len() as i64,
        "{what}"
    );
    // A narrower range cuts on the day, as the raw rows do.
    let day: String = c
        .query_row("SELECT min(day) FROM invoices", [], |x| x.get(0))
        .unwrap();
    assert_eq!(
        q.sales_report(Period::Day, &day, &day).unwrap(),
        raw_report(c, Period::Day, &day, &day),
        "{what} one day"
    );
}

/// Every row of a keyset-paginated list, page after page.
fn all_pages<T, C>(mut page: impl FnMut(Option<&C>) -> Page<T, C>) -> Vec<T> {
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let p = page(after.as_ref());
        out.extend(p.rows);
        match p.next {
            Some(next) => after = Some(next),
            None => return out,
        }
    }
}

/// The `(id, amount)` rows of a query, in its order.
fn id_amounts(c: &Connection, sql: &str, params: impl rusqlite::Params) -> Vec<(String, i64)> {
    c.prepare(sql)
        .unwrap()
        .query_map(params, |x| Ok((x.get(0)?, x.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// Applies every document of `from` to `to`, in the given document order,
/// each document's changes in order or reversed (a change whose parent has
/// not arrived waits for it).
fn send(from: &mut Replica, to: &mut Replica, docs: &[DocId], reversed: bool) {
    for d in docs {
        let mut changes = from.changes_since(d, &[]).unwrap();
        if reversed {
            changes.reverse();
            for c in changes {
                let rep = to.apply_changes(d, vec![c]).unwrap();
                assert!(rep.rejected.is_empty(), "{rep:?}");
            }
        } else {
            let rep = to.apply_changes(d, changes).unwrap();
            assert!(rep.rejected.is_empty(), "{rep:?}");
        }
    }
}

#[test]
fn daily_totals_equal_the_raw_sums_after_returns_voids_and_merges_in_any_order() {
    let dir = tempfile::tempdir().unwrap();
    let mut t1 = replica(dir.path(), "T1", "B1", 1);
    let mut t2 = replica(dir.path(), "T2", "B2", 2);
    for (code, cash) in [("cash", true), ("card", false), ("bank", false)] {
        run(
            &mut t1,
            Command::SetPaymentChannel {
                code: code.into(),
                name: code.to_uppercase(),
                is_cash: cash,
                active: true,
            },
        );
    }
    let products: Vec<String> = (0..3)
        .map(|i| {
            run(
                &mut t1,
                Command::CreateProduct {
                    sku: format!("S{i}"),
                    barcode: None,
                    name: format!("Product {i}"),
                    category: ["sheet", "pipe", "sheet"][i].into(),
                    grade: None,
                    unit: "piece".into(),
                    price: 1000 + 250 * i as i64,
                    cost: 600 + 7 * i as i64,
                    min_stock: [0, 8000, 20_000][i],
                },
            )
        })
        .collect();
    let [customer, builder] =
        [("Contractor", 100_000_000), ("Builder", 2_000)].map(|(name, limit)| {
            run(
                &mut t1,
                Command::CreateCustomer {
                    name: name.into(),
                    phone: None,
                    address: None,
                    credit_limit: limit,
                    tags: Vec::new(),
                },
            )
        });
    let shared = t1.doc_ids().unwrap();
    send(&mut t1, &mut t2, &shared, false);
    // Stock on hand at B1 above, near and below the minimums: the sales
    // take some of them across.
    run(
        &mut t1,
        Command::ReceiveStock {
            lines: [(0, 60_000), (1, 30_000), (2, 21_000)]
                .map(|(i, qty)| StockLineInput {
                    product_id: products[i].clone(),
                    qty,
                    unit_cost: None,
                })
                .to_vec(),
            note: "opening stock".into(),
        },
    );
    trade(&mut t1, &products, &customer);
    // The builder's credit sales take it over its small limit; a payment
    // down to the limit exactly brings it back, a sale over again.
    trade(&mut t2, &products, &builder);
    check(&t2, "terminal 2, the builder over its limit");
    let owed: i64 = t2
        .connection()
        .query_row(
            "SELECT balance FROM customer_balances WHERE customer_id = ?1",
            [&builder],
            |x| x.get(0),
        )
        .unwrap();
    assert!(owed > 2_000, "the builder owes {owed}");
    run(
        &mut t2,
        Command::TakePayment {
            customer_id: Some(builder.clone()),
            invoice_id: None,
            amount: owed - 2_000,
            channel: "cash".into(),
            kind: PaymentKind::Advance,
        },
    );
    check(&t2, "terminal 2, the builder at its limit");
    // A new customer with no credit: its first entry puts it over.
    let farmer = run(
        &mut t2,
        Command::CreateCustomer {
            name: "Farmer".into(),
            phone: None,
            address: None,
            credit_limit: 0,
            tags: Vec::new(),
        },
    );
    for who in [&builder, &farmer] {
        run(
            &mut t2,
            Command::Sell {
                customer_id: Some(who.clone()),
                lines: vec![sale(&products[0], 1000)],
                payments: Vec::new(),
                allow_negative_stock: true,
                allow_over_credit_limit: true,
            },
        );
    }
    // A product never stocked anywhere, created once B1 has stock: low at
    // every branch with stock.
    run(
        &mut t1,
        Command::CreateProduct {
            sku: "S9".into(),
            barcode: None,
            name: "a late product".into(),
            category: "pipe".into(),
            grade: None,
            unit: "piece".into(),
            price: 100,
            cost: 60,
            min_stock: 1000,
        },
    );
    check(&t1, "terminal 1");
    // A new minimum puts a product over or under it; a deactivated one
    // leaves the list; a renamed one moves in it.
    for (i, min_stock, status, name) in [
        (0, Some(200_000), None, None),
        (1, None, Some(ProductStatus::Inactive), None),
        (2, None, None, Some("Aardvark sheet".to_string())),
    ] {
        run(
            &mut t1,
            Command::UpdateProduct {
                product_id: products[i].clone(),
                name,
                category: None,
                price: None,
                cost: None,
                min_stock,
                status,
                barcode: None,
            },
        );
    }
    check(&t1, "terminal 1, new minimum, deactivation and name");
    // A lower limit puts the contractor over it.
    run(
        &mut t1,
        Command::UpdateCustomer {
            customer_id: customer.clone(),
            name: None,
            phone: None,
            address: None,
            credit_limit: Some(1_000),
            tags: None,
        },
    );
    check(&t1, "terminal 1, lower credit limit");
    // A product changes category after its sales: its sums move with it.
    run(
        &mut t1,
        Command::UpdateProduct {
            product_id: products[2].clone(),
            name: None,
            category: Some("plate".into()),
            price: None,
            cost: Some(655),
            min_stock: None,
            status: None,
            barcode: None,
        },
    );
    check(&t2, "terminal 2");

    // One server hears T1 first, documents in order; the other hears T2
    // first, documents in reverse order (journals before the catalogue, so
    // sales arrive before their products) and each one's changes reversed.
    let mut s1 = replica(dir.path(), "S1", "HQ", 3);
    let mut s2 = replica(dir.path(), "S2", "HQ", 4);
    let d1 = t1.doc_ids().unwrap();
    let d2 = t2.doc_ids().unwrap();
    send(&mut t1, &mut s1, &d1, false);
    send(&mut t2, &mut s1, &d2, false);
    let mut r2 = d2.clone();
    r2.reverse();
    let mut r1 = d1.clone();
    r1.reverse();
    send(&mut t2, &mut s2, &r2, true);
    // Halfway: T2's sales without their products are consistent too.
    check(&s2, "server 2, half merged");
    send(&mut t1, &mut s2, &r1, true);
    check(&s1, "server 1");
    check(&s2, "server 2");
    assert_eq!(s1.projection_dump().unwrap(), s2.projection_dump().unwrap());
    let sums: i64 = s1
        .connection()
        .query_row("SELECT count(*) FROM daily_product_sales", [], |x| x.get(0))
        .unwrap();
    assert!(sums > 0);
    // The three customers end over their limits, in one list.
    let over = Queries::new(s1.connection())
        .customers_over_credit(None, 10)
        .unwrap()
        .rows;
    assert_eq!(over.len(), 3, "{over:?}");

    // A rebuild gives the same sums as the triggers kept incrementally.
    let before = s1.projection_dump().unwrap();
    s1.rebuild_projection().unwrap();
    assert_eq!(s1.projection_dump().unwrap(), before);
    check(&s1, "server 1 rebuilt");
}
