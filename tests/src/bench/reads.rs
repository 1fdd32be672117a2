//! Reads: every query of the catalogue on the engine, the floor (the
//! engine's own statements on plain SQLite) and the naive design (one query
//! per row, whole lists).
//!
//! Each row calls the `Queries` method its `Request` variant dispatches to
//! (`covers` names the variant), the floor runs the statements that method
//! runs, by name, with the same arguments, and the naive design does what
//! the seed's schema allows: stock and balances from the columns stored on
//! products and customers (one branch), or summed from the movements and the
//! ledger where the list needs it. Where the engine reports something only
//! merging replicas produce (field conflicts, rejected records, duplicate
//! keys), the naive row measures the check the seed's design needs for the
//! same problem, and its name says so.

use super::*;

/// One of the engine's statements, by its name in
/// [`store_core::query::statements`].
fn statement(name: &str) -> Result<&'static str> {
    store_core::query::statements()
        .into_iter()
        .find(|(n, _)| *n == name)
        .map(|(_, s)| s)
        .ok_or_else(|| err(format!("no statement {name}")))
}

/// Runs one of the engine's statements (by name) on the floor, reading
/// every column.
fn floor_sql(c: &Connection, name: &str, args: &[Value]) -> Result<Vec<Vec<Value>>> {
    all_rows(c, statement(name)?, args)
}

/// Runs `sql`, reading every column of every row.
fn all_rows(c: &Connection, sql: &str, args: &[Value]) -> Result<Vec<Vec<Value>>> {
    let mut st = c.prepare_cached(sql)?;
    let cols = st.column_count();
    let rows = st
        .query_map(params_from_iter(args.iter()), |r| {
            (0..cols).map(|i| r.get::<_, Value>(i)).collect()
        })?
        .collect::<rusqlite::Result<Vec<Vec<Value>>>>()?;
    Ok(rows)
}

fn first_int(rows: &[Vec<Value>]) -> i64 {
    match rows.first().and_then(|r| r.first()) {
        Some(Value::Integer(i)) => *i,
        _ => 0,
    }
}

fn t(s: &str) -> Value {
    Value::Text(s.to_string())
}

fn i(v: i64) -> Value {
    Value::Integer(v)
}

const PAGE: u32 = 50;

/// The columns a naive invoice list reads, its customer first.
macro_rules! naive_invoice_columns {
    () => {
        "customer_id, id, bill_number, branch_id, date, day, total, paid_amount,
         returned_amount, remaining_balance, status"
    };
}

type NaiveFn<'a> = Box<dyn FnMut(&Deadline) -> Result<Progress> + 'a>;
type PlainFn<'a> = Box<dyn FnMut() -> Result<()> + 'a>;

/// The engine side of a row: a [`Queries`] call, its answer dropped.
fn engine_call<'a, T>(mut f: impl FnMut() -> rusqlite::Result<T> + 'a) -> PlainFn<'a> {
    Box::new(move || {
        f()?;
        Ok(())
    })
}

/// The floor side of a row whose statements do not depend on each other:
/// the engine's statements `runs` (name, arguments), in order. The names
/// are looked up once, here, not in the timed runs.
fn floor_runs<'a>(c: &'a Connection, runs: &[(&str, Vec<Value>)]) -> Result<PlainFn<'a>> {
    let runs = runs
        .iter()
        .map(|(name, args)| Ok((statement(name)?, args.clone())))
        .collect::<Result<Vec<_>>>()?;
    Ok(Box::new(move || {
        for (sql, args) in &runs {
            all_rows(c, sql, args)?;
        }
        Ok(())
    }))
}

/// The naive side of a row that is one statement, every row of it read.
fn naive_query<'a>(c: &'a Connection, sql: &'static str, args: Vec<Value>) -> NaiveFn<'a> {
    Box::new(move |_| {
        all_rows(c, sql, &args)?;
        Ok(Progress::Done)
    })
}

/// One query per row: `f` on each of `rows` in turn, until the deadline
/// passes.
fn per_row<T>(rows: &[T], d: &Deadline, mut f: impl FnMut(&T) -> Result<()>) -> Result<Progress> {
    for (k, row) in rows.iter().enumerate() {
        if d.passed() {
            return Ok(Progress::Partial {
                done: k,
                total: rows.len(),
            });
        }
        f(row)?;
    }
    Ok(Progress::Done)
}

struct ReadOp<'a> {
    name: String,
    covers: &'static str,
    iters: usize,
    engine: PlainFn<'a>,
    floor: PlainFn<'a>,
    naive: NaiveFn<'a>,
    budgets: Vec<Budget>,
}

fn catalogue_budget() -> Vec<Budget> {
    vec![Budget::Ms {
        limit: 1.0,
        what: "native catalogue query",
    }]
}

pub(super) fn measure_reads(
    opts: &Options,
    engine: &Replica,
    floor: &Connection,
    naive: &Connection,
    p: &Picks,
) -> Result<Vec<Row>> {
    let q = Queries::new(engine.connection());
    let fast = n(opts, 500);
    let slow = n(opts, 40);
    let page = i(PAGE as i64);
    let month = &p.month_from[..7];
    let mut ops: Vec<ReadOp<'_>> = Vec::new();

    // Product search by name prefix.
    let fts = store_core::query::fts_query(&p.search).unwrap_or_default();
    ops.push(ReadOp {
        covers: "search_products",
        name: format!(
            "product search by name prefix (\"{}\", first page of 20)",
            p.search
        ),
        iters: fast,
        engine: engine_call(|| q.search_products(&p.search, &p.branch, None, 20)),
        floor: floor_runs(
            floor,
            &[(
                "product_search",
                vec![t(&fts), t(&p.branch), i(i64::MIN), i(20)],
            )],
        )?,
        // LIKE is case-insensitive, as the search is; every match, no page.
        naive: naive_query(
            naive,
            "SELECT id, sku, barcode, name, category, grade, unit, price, current_stock, status
             FROM products WHERE name LIKE ?1 || '%' ORDER BY name",
            vec![t(&p.search)],
        ),
        budgets: catalogue_budget(),
    });

    ops.push(ReadOp {
        covers: "product_by_barcode",
        name: "product by barcode".into(),
        iters: fast,
        engine: Box::new(|| {
            q.product_by_barcode(&p.barcode, &p.branch)?
                .ok_or_else(|| err("barcode not found"))?;
            Ok(())
        }),
        floor: floor_runs(
            floor,
            &[("product_by_barcode", vec![t(&p.barcode), t(&p.branch)])],
        )?,
        naive: Box::new(|_| {
            naive
                .prepare_cached(
                    "SELECT id, sku, barcode, name, price, current_stock FROM products WHERE barcode = ?1",
                )?
                .query_row([&p.barcode], |r| r.get::<_, String>(0))?;
            Ok(Progress::Done)
        }),
        budgets: catalogue_budget(),
    });

    ops.push(ReadOp {
        covers: "low_stock",
        name: format!("low-stock alerts (page of {PAGE})"),
        iters: fast,
        engine: engine_call(|| q.low_stock(&p.branch, None, PAGE)),
        floor: floor_runs(
            floor,
            &[
                ("stock_branch", vec![t(&p.branch)]),
                ("low_stock", vec![t(&p.branch), t(""), t(""), page.clone()]),
            ],
        )?,
        naive: naive_query(
            naive,
            "SELECT id, sku, name, category, unit, min_stock_alert, current_stock FROM products
             WHERE status = 'active' AND current_stock <= min_stock_alert ORDER BY name",
            vec![],
        ),
        budgets: catalogue_budget(),
    });

    ops.push(ReadOp {
        covers: "customer_statement",
        name: format!("customer statement, first page of {PAGE} (busiest customer)"),
        iters: fast,
        engine: engine_call(|| q.customer_statement(&p.statement_customer, None, PAGE)),
        floor: Box::new(|| {
            let c = t(&p.statement_customer);
            let opening = floor_sql(floor, "statement_opening", &[c.clone(), i(i64::MIN), t("")])?;
            floor_sql(
                floor,
                "statement_page",
                &[
                    c,
                    i(i64::MIN),
                    t(""),
                    i(first_int(&opening)),
                    i(PAGE as i64),
                ],
            )?;
            Ok(())
        }),
        naive: Box::new(|d| naive_statement(naive, &p.statement_customer, d)),
        budgets: vec![Budget::Ms {
            limit: 2.0,
            what: "(browser budget)",
        }],
    });

    ops.push(ReadOp {
        covers: "invoice",
        name: "invoice with lines and payments".into(),
        iters: fast,
        engine: Box::new(|| {
            q.invoice(&p.invoice)?
                .ok_or_else(|| err("invoice not found"))?;
            Ok(())
        }),
        floor: floor_runs(
            floor,
            &["invoice_header", "invoice_lines", "invoice_settlements"]
                .map(|s| (s, vec![t(&p.invoice)])),
        )?,
        naive: Box::new(|d| naive_invoice(naive, &p.invoice, d)),
        budgets: vec![Budget::Ms {
            limit: 1.0,
            what: "(browser budget)",
        }],
    });

    ops.push(ReadOp {
        covers: "invoices_by_status",
        name: format!(
            "invoices by status and date ('{}', {month}, page of {PAGE})",
            p.status
        ),
        iters: fast,
        engine: engine_call(|| {
            q.invoices_by_status(&p.status, &p.month_from, &p.month_to, None, PAGE)
        }),
        floor: floor_runs(
            floor,
            &[(
                "invoices_by_status",
                vec![
                    t(&p.status),
                    t(&p.month_from),
                    t(""),
                    t(&p.month_to),
                    page.clone(),
                ],
            )],
        )?,
        naive: Box::new(|d| {
            naive_invoice_list(
                naive,
                concat!(
                    "SELECT ",
                    naive_invoice_columns!(),
                    " FROM invoices WHERE status = ?1 AND day BETWEEN ?2 AND ?3 ORDER BY day, id"
                ),
                &[t(&p.status), t(&p.month_from), t(&p.month_to)],
                d,
            )
        }),
        budgets: vec![],
    });

    let month_args = || vec![t(&p.month_from), t(&p.month_to), i(7)];
    ops.push(ReadOp {
        covers: "sales_report",
        name: format!("month sales report ({month})"),
        iters: slow,
        engine: engine_call(|| q.sales_report(Period::Month, &p.month_from, &p.month_to)),
        floor: floor_runs(
            floor,
            &[
                "sales_by_branch",
                "returns_by_branch",
                "sales_by_channel",
                "sales_by_category",
            ]
            .map(|s| (s, month_args())),
        )?,
        naive: Box::new(|d| naive_month_report(naive, p, d)),
        budgets: vec![Budget::Ms {
            limit: 50.0,
            what: "(browser budget)",
        }],
    });

    ops.push(ReadOp {
        covers: "top_products",
        name: format!("top 20 products by revenue ({month})"),
        iters: slow,
        engine: engine_call(|| {
            q.top_products(None, &p.month_from, &p.month_to, TopBy::Revenue, 20)
        }),
        floor: floor_runs(
            floor,
            &[(
                "top_products",
                vec![t(&p.month_from), t(&p.month_to), i(1), i(20)],
            )],
        )?,
        naive: Box::new(|d| naive_top_products(naive, p, d)),
        budgets: vec![],
    });

    ops.push(ReadOp {
        covers: "receivables_aging",
        name: "receivables aging (whole book)".into(),
        iters: slow,
        engine: engine_call(|| q.receivables_aging(p.as_of)),
        floor: floor_runs(floor, &[("aging_totals", vec![i(p.as_of)])])?,
        naive: Box::new(|d| naive_aging(naive, p.as_of, false, d)),
        budgets: vec![],
    });

    ops.push(ReadOp {
        covers: "customers_with_balance",
        name: format!("customers with a balance (page of {PAGE})"),
        iters: fast,
        engine: engine_call(|| q.customers_with_balance(None, PAGE)),
        floor: floor_runs(
            floor,
            &[(
                "customers_with_balance",
                vec![i(i64::MAX), t(""), page.clone()],
            )],
        )?,
        naive: Box::new(|d| naive_balances(naive, d, |ledger, _, _| ledger != 0)),
        budgets: vec![],
    });

    ops.push(ReadOp {
        covers: "stock_card",
        name: format!("stock card, first page of {PAGE} (most moved product)"),
        iters: fast,
        engine: engine_call(|| q.stock_card(&p.top_product, &p.branch, None, PAGE)),
        floor: Box::new(|| {
            let (pr, b) = (t(&p.top_product), t(&p.branch));
            let start = floor_sql(
                floor,
                "stock_card_start",
                &[pr.clone(), b.clone(), i(i64::MAX), t("")],
            )?;
            floor_sql(
                floor,
                "stock_card_page",
                &[
                    pr,
                    b,
                    i(i64::MAX),
                    t(""),
                    i(first_int(&start)),
                    i(PAGE as i64),
                ],
            )?;
            Ok(())
        }),
        naive: Box::new(|d| naive_stock_card(naive, &p.top_product, d)),
        budgets: vec![],
    });

    ops.push(ReadOp {
        covers: "day_schedule",
        name: "workshop day schedule (busiest day)".into(),
        iters: fast,
        engine: engine_call(|| q.day_schedule(&p.branch, &p.schedule_day, None, PAGE)),
        floor: floor_runs(
            floor,
            &[(
                "day_schedule",
                vec![t(&p.branch), t(&p.schedule_day), t(""), t(""), page.clone()],
            )],
        )?,
        naive: Box::new(|d| naive_schedule(naive, p, d)),
        budgets: vec![],
    });

    ops.push(ReadOp {
        covers: "shift_summary",
        name: "shift summary (expected against counted)".into(),
        iters: fast,
        engine: Box::new(|| {
            q.shift_summary(&p.shift)?
                .ok_or_else(|| err("shift not found"))?;
            Ok(())
        }),
        floor: floor_runs(
            floor,
            &["shift_header", "shift_channels"].map(|s| (s, vec![t(&p.shift)])),
        )?,
        naive: Box::new(|d| naive_shift(naive, &p.shift, d)),
        budgets: vec![],
    });

    // ---- The rest of the catalogue, in the order of `Request`.

    let customer_fts = store_core::query::fts_query(&p.customer_text).unwrap_or_default();
    ops.push(ReadOp {
        covers: "search_customers",
        name: format!(
            "customer search by name prefix (\"{}\", first page of 20)",
            p.customer_text
        ),
        iters: fast,
        engine: engine_call(|| q.search_customers(&p.customer_text, None, 20)),
        floor: floor_runs(
            floor,
            &[(
                "customer_search",
                vec![t(&customer_fts), i(i64::MIN), i(20)],
            )],
        )?,
        naive: naive_query(
            naive,
            "SELECT id, name, phone, address, credit_limit, balance FROM customers
             WHERE name LIKE ?1 || '%' OR phone LIKE ?1 || '%' ORDER BY name",
            vec![t(&p.customer_text)],
        ),
        budgets: catalogue_budget(),
    });

    ops.push(ReadOp {
        covers: "customers_over_credit",
        name: format!("customers over their credit limit (page of {PAGE})"),
        iters: fast,
        engine: engine_call(|| q.customers_over_credit(None, PAGE)),
        floor: floor_runs(
            floor,
            &[(
                "customers_over_credit",
                vec![i(i64::MAX), t(""), page.clone()],
            )],
        )?,
        naive: Box::new(|d| {
            naive_balances(naive, d, |ledger, _, limit| ledger > 0 && ledger > limit)
        }),
        budgets: catalogue_budget(),
    });

    ops.push(ReadOp {
        covers: "receivables_aging_by_customer",
        name: format!("receivables aging by customer (page of {PAGE})"),
        iters: fast,
        engine: engine_call(|| q.receivables_aging_by_customer(p.as_of, None, PAGE)),
        floor: floor_runs(
            floor,
            &[("aging_by_customer", vec![i(p.as_of), t(""), page.clone()])],
        )?,
        naive: Box::new(|d| naive_aging(naive, p.as_of, true, d)),
        budgets: catalogue_budget(),
    });

    // The naive design keeps one branch's stock on the product.
    ops.push(ReadOp {
        covers: "stock_on_hand",
        name: "stock on hand (most moved product)".into(),
        iters: fast,
        engine: engine_call(|| q.stock_on_hand(&p.top_product, &p.branch)),
        floor: floor_runs(
            floor,
            &[("stock_on_hand", vec![t(&p.top_product), t(&p.branch)])],
        )?,
        naive: naive_query(
            naive,
            "SELECT current_stock FROM products WHERE id = ?1",
            vec![t(&p.top_product)],
        ),
        budgets: catalogue_budget(),
    });

    ops.push(ReadOp {
        covers: "invoices_by_branch_day",
        name: format!("invoices of the branch by day ({month}, page of {PAGE})"),
        iters: fast,
        engine: engine_call(|| {
            q.invoices_by_branch_day(&p.branch, &p.month_from, &p.month_to, None, PAGE)
        }),
        floor: floor_runs(
            floor,
            &[(
                "invoices_by_branch_day",
                vec![
                    t(&p.branch),
                    t(&p.month_from),
                    t(""),
                    t(&p.month_to),
                    page.clone(),
                ],
            )],
        )?,
        naive: Box::new(|d| {
            naive_invoice_list(
                naive,
                concat!(
                    "SELECT ",
                    naive_invoice_columns!(),
                    " FROM invoices WHERE branch_id = ?1 AND day BETWEEN ?2 AND ?3 ORDER BY day, id"
                ),
                &[t(&p.branch), t(&p.month_from), t(&p.month_to)],
                d,
            )
        }),
        budgets: catalogue_budget(),
    });

    ops.push(ReadOp {
        covers: "invoices_of_customer",
        name: format!("invoices of a customer, newest first (busiest customer, page of {PAGE})"),
        iters: fast,
        engine: engine_call(|| q.invoices_of_customer(&p.statement_customer, None, PAGE)),
        floor: floor_runs(
            floor,
            &[(
                "invoices_of_customer",
                vec![t(&p.statement_customer), i(i64::MAX), t(""), page.clone()],
            )],
        )?,
        // The naive list renders each row with its customer's name, as its
        // other invoice lists do.
        naive: Box::new(|d| {
            naive_invoice_list(
                naive,
                concat!(
                    "SELECT ",
                    naive_invoice_columns!(),
                    " FROM invoices WHERE customer_id = ?1 ORDER BY date DESC, id DESC"
                ),
                &[t(&p.statement_customer)],
                d,
            )
        }),
        budgets: catalogue_budget(),
    });

    ops.push(ReadOp {
        covers: "invoice_id_by_bill_no",
        name: "invoice id by bill number".into(),
        iters: fast,
        engine: Box::new(|| {
            q.invoice_id_by_bill_no(&p.bill_no)?
                .ok_or_else(|| err("bill number not found"))?;
            Ok(())
        }),
        floor: floor_runs(floor, &[("invoice_id_by_bill_no", vec![t(&p.bill_no)])])?,
        naive: naive_query(
            naive,
            "SELECT id FROM invoices WHERE bill_number = ?1",
            vec![t(&p.bill_no)],
        ),
        budgets: catalogue_budget(),
    });

    ops.push(ReadOp {
        covers: "stock_by_branch",
        name: format!("stock of the branch, lowest first (page of {PAGE})"),
        iters: fast,
        engine: engine_call(|| q.stock_by_branch(&p.branch, None, PAGE)),
        floor: floor_runs(
            floor,
            &[(
                "stock_by_branch",
                vec![t(&p.branch), i(i64::MIN), t(""), page.clone()],
            )],
        )?,
        naive: naive_query(
            naive,
            "SELECT id, sku, name, category, unit, current_stock, cost, min_stock_alert
             FROM products ORDER BY current_stock, id",
            vec![],
        ),
        budgets: catalogue_budget(),
    });

    // The naive design has no stock per branch: the product's movements,
    // all of them, summed.
    ops.push(ReadOp {
        covers: "stock_of_product",
        name:
            "stock of a product in every branch (most moved product; naive: sum of its movements)"
                .into(),
        iters: fast,
        engine: engine_call(|| q.stock_of_product(&p.top_product, None, PAGE)),
        floor: floor_runs(
            floor,
            &[(
                "stock_of_product",
                vec![t(&p.top_product), t(""), page.clone()],
            )],
        )?,
        naive: naive_query(
            naive,
            "SELECT coalesce(sum(quantity), 0) FROM stock_movements WHERE product_id = ?1",
            vec![t(&p.top_product)],
        ),
        budgets: catalogue_budget(),
    });

    ops.push(ReadOp {
        covers: "stock_valuation",
        name: "stock valuation of the branch, by category".into(),
        iters: slow,
        engine: engine_call(|| q.stock_valuation(&p.branch)),
        floor: floor_runs(floor, &[("stock_valuation", vec![t(&p.branch)])])?,
        naive: naive_query(
            naive,
            "SELECT category, count(*), sum(current_stock), sum(current_stock * cost)
             FROM products WHERE current_stock <> 0 GROUP BY category ORDER BY category",
            vec![],
        ),
        budgets: catalogue_budget(),
    });

    ops.push(ReadOp {
        covers: "vehicle_history",
        name: format!("vehicle service history (busiest vehicle, page of {PAGE})"),
        iters: fast,
        engine: engine_call(|| q.vehicle_history(&p.vehicle, None, PAGE)),
        floor: floor_runs(
            floor,
            &[(
                "vehicle_history",
                vec![t(&p.vehicle), t("~"), t(""), page.clone()],
            )],
        )?,
        naive: Box::new(|d| naive_vehicle_history(naive, &p.vehicle, d)),
        budgets: catalogue_budget(),
    });

    ops.push(ReadOp {
        covers: "technician_workload",
        name: format!("technician workload ({month})"),
        iters: slow,
        engine: engine_call(|| q.technician_workload(&p.branch, &p.month_from, &p.month_to)),
        floor: floor_runs(
            floor,
            &[(
                "technician_workload",
                vec![t(&p.branch), t(&p.month_from), t(&p.month_to)],
            )],
        )?,
        naive: Box::new(|d| naive_workload(naive, p, d)),
        budgets: catalogue_budget(),
    });

    // Field conflicts, rejected records and duplicate keys come from merging
    // replicas; the naive design has one database and none of them. Each
    // naive row measures the check that design needs for the problem the
    // engine's list reports (the seed's "race conditions", "foreign key
    // violations" and "duplicate data").
    let text3 = || vec![t(""), t(""), t(""), page.clone()];
    ops.push(ReadOp {
        covers: "field_conflicts",
        name: format!(
            "field conflicts (page of {PAGE}; naive: balances stored on customers checked against the ledger)"
        ),
        iters: fast,
        engine: engine_call(|| q.field_conflicts(None, PAGE)),
        floor: floor_runs(floor, &[("field_conflicts", text3())])?,
        naive: Box::new(|d| naive_balances(naive, d, |ledger, stored, _| ledger != stored)),
        budgets: catalogue_budget(),
    });

    ops.push(ReadOp {
        covers: "rejected_records",
        name: format!(
            "rejected records (page of {PAGE}; naive: references to missing invoices and products)"
        ),
        iters: fast,
        engine: engine_call(|| q.rejected_records(None, PAGE)),
        floor: floor_runs(floor, &[("rejected_records", text3())])?,
        naive: Box::new(|d| naive_orphans(naive, d)),
        budgets: catalogue_budget(),
    });

    ops.push(ReadOp {
        covers: "duplicate_keys",
        name: format!("duplicate keys (page of {PAGE}; naive: GROUP BY over each keyed table)"),
        iters: fast,
        engine: engine_call(|| q.duplicate_keys(None, PAGE)),
        floor: floor_runs(floor, &[("duplicate_keys", text3())])?,
        naive: Box::new(|_| {
            for sql in NAIVE_DUPLICATES {
                all_rows(naive, sql, &[])?;
            }
            Ok(Progress::Done)
        }),
        budgets: catalogue_budget(),
    });

    ops.push(ReadOp {
        covers: "negative_stock",
        name: format!("negative stock (page of {PAGE})"),
        iters: fast,
        engine: engine_call(|| q.negative_stock(None, PAGE)),
        floor: floor_runs(
            floor,
            &[("negative_stock", vec![t(""), t(""), page.clone()])],
        )?,
        naive: naive_query(
            naive,
            "SELECT id, sku, name, unit, current_stock FROM products
             WHERE current_stock < 0 ORDER BY id",
            vec![],
        ),
        budgets: catalogue_budget(),
    });

    // The naive dashboard counts what its schema holds: duplicate keys,
    // customers over their limit (stored balance), negative stock.
    ops.push(ReadOp {
        covers: "alerts_summary",
        name: "alerts summary (counts of every kind)".into(),
        iters: slow,
        engine: engine_call(|| q.alerts_summary()),
        floor: floor_runs(floor, &[("alerts_summary", vec![])])?,
        naive: Box::new(|_| {
            for sql in NAIVE_DUPLICATES.iter().chain(&[
                "SELECT count(*) FROM customers WHERE balance > 0 AND balance > credit_limit",
                "SELECT count(*) FROM products WHERE current_stock < 0",
            ]) {
                all_rows(naive, sql, &[])?;
            }
            Ok(Progress::Done)
        }),
        budgets: catalogue_budget(),
    });

    // The short reference lists: the naive design reads them whole, as the
    // engine does, without an index on the branch or the customer.
    let lists: [(&'static str, &str, PlainFn<'_>, Vec<Value>, &'static str); 5] = [
        (
            "payment_channels",
            "payment channels",
            engine_call(|| q.payment_channels()),
            vec![],
            "SELECT id, name, is_cash FROM payment_channels ORDER BY id",
        ),
        (
            "services",
            "services (active, by code)",
            engine_call(|| q.services()),
            vec![],
            "SELECT id, code, name, labour_price, duration_min FROM services
             WHERE active = 1 ORDER BY code, id",
        ),
        (
            "technicians",
            "technicians of the branch",
            engine_call(|| q.technicians(&p.branch)),
            vec![t(&p.branch)],
            "SELECT id, name FROM technicians WHERE branch_id = ?1 ORDER BY name, id",
        ),
        (
            "vehicles_of_customer",
            "vehicles of a customer (owner of the busiest vehicle)",
            engine_call(|| q.vehicles_of_customer(&p.vehicle_owner)),
            vec![t(&p.vehicle_owner)],
            "SELECT id, plate, make, model, year FROM vehicles WHERE customer_id = ?1
             ORDER BY plate, id",
        ),
        (
            "open_shift",
            "open shift of the terminal",
            engine_call(|| q.open_shift(&p.terminal)),
            vec![t(&p.terminal)],
            "SELECT id, user_id, opened_at, opening_float FROM shifts
             WHERE terminal_id = ?1 AND closed_at IS NULL ORDER BY opened_at DESC LIMIT 1",
        ),
    ];
    for (covers, name, engine, args, naive_sql) in lists {
        ops.push(ReadOp {
            covers,
            name: name.into(),
            iters: fast,
            engine,
            floor: floor_runs(floor, &[(covers, args.clone())])?,
            naive: naive_query(naive, naive_sql, args),
            budgets: catalogue_budget(),
        });
    }

    let mut rows = Vec::new();
    for mut op in ops {
        let warm = (op.iters / 10).max(1);
        // Engine and floor alternate in rounds, so that a disturbance of the
        // machine hits both alike.
        let mut engine = Stats::default();
        let mut floor = Stats::default();
        let rounds = 4.min(op.iters);
        for r in 0..rounds {
            let k = op.iters / rounds + usize::from(r < op.iters % rounds);
            let w = if r == 0 { warm } else { 0 };
            engine
                .samples
                .extend(measure(w, k, |_| (op.engine)())?.samples);
            floor
                .samples
                .extend(measure(w, k, |_| (op.floor)())?.samples);
        }
        let naive = measure_naive(1, op.iters, NAIVE_BUDGET, |_, d| (op.naive)(d))?;
        eprintln!("bench: read {}", op.name);
        rows.push(Row {
            name: op.name,
            engine,
            floor,
            naive,
            covers: op.covers,
            budgets: op.budgets,
        });
    }
    Ok(rows)
}

/// A customer's name, as the naive design looks it up for each row.
const NAIVE_CUSTOMER_NAME: &str = "SELECT name FROM customers WHERE id = ?1";

/// Planned minutes and labour value of one service order.
const NAIVE_ORDER_LABOUR: &str =
    "SELECT count(*), coalesce(sum(duration_min), 0), coalesce(sum(price), 0)
     FROM service_order_labour WHERE order_id = ?1";

fn naive_statement(c: &Connection, customer: &str, d: &Deadline) -> Result<Progress> {
    let entries: Vec<(String, i64, String, String)> = c
        .prepare_cached(
            "SELECT id, date, type, category, amount, reference_type, reference_id
             FROM ledger_entries WHERE customer_id = ?1 ORDER BY date, id",
        )?
        .query_map([customer], |r| {
            Ok((r.get(2)?, r.get(4)?, r.get(5)?, r.get(6)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    let mut balance = 0i64;
    per_row(&entries, d, |(ty, amount, ref_kind, ref_id)| {
        balance += if ty == "debit" { *amount } else { -amount };
        // The bill number of the invoice behind the entry, one query each.
        let invoice: Option<String> = match ref_kind.as_str() {
            "invoice" => Some(ref_id.clone()),
            "payment" => c
                .prepare_cached("SELECT reference_invoice_id FROM payments WHERE id = ?1")?
                .query_row([ref_id], |r| r.get(0))
                .optional()?
                .flatten(),
            "return" => c
                .prepare_cached("SELECT invoice_id FROM returns WHERE id = ?1")?
                .query_row([ref_id], |r| r.get(0))
                .optional()?,
            _ => None,
        };
        if let Some(inv) = invoice {
            all_rows(
                c,
                "SELECT bill_number FROM invoices WHERE id = ?1",
                &[t(&inv)],
            )?;
        }
        Ok(())
    })
}

fn naive_invoice(c: &Connection, id: &str, _d: &Deadline) -> Result<Progress> {
    let customer: Option<String> = c
        .prepare_cached("SELECT customer_id FROM invoices WHERE id = ?1")?
        .query_row([id], |r| r.get(0))?;
    if let Some(cu) = customer {
        c.prepare_cached(NAIVE_CUSTOMER_NAME)?
            .query_row([cu], |r| r.get::<_, String>(0))?;
    }
    let items: Vec<i64> = c
        .prepare_cached("SELECT id FROM invoice_items WHERE invoice_id = ?1 ORDER BY line_no")?
        .query_map([id], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for item in items {
        let product: Option<String> = c
            .prepare_cached("SELECT product_id FROM invoice_items WHERE id = ?1")?
            .query_row([item], |r| r.get(0))?;
        if let Some(pr) = product {
            c.prepare_cached("SELECT sku, name FROM products WHERE id = ?1")?
                .query_row([pr], |r| r.get::<_, String>(0))?;
        }
    }
    c.prepare_cached(
        "SELECT id, amount, payment_channel_id, payment_type, date FROM payments
         WHERE reference_invoice_id = ?1 ORDER BY date",
    )?
    .query_map([id], |r| r.get::<_, String>(0))?
    .count();
    c.prepare_cached("SELECT id, total, date FROM returns WHERE invoice_id = ?1")?
        .query_map([id], |r| r.get::<_, String>(0))?
        .count();
    Ok(Progress::Done)
}

/// An invoice list (`sql` selects `naive_invoice_columns!`, customer
/// first): every invoice it selects, no page, then each one's customer
/// name, one query per invoice.
fn naive_invoice_list(c: &Connection, sql: &str, args: &[Value], d: &Deadline) -> Result<Progress> {
    let customers: Vec<Option<String>> = c
        .prepare_cached(sql)?
        .query_map(params_from_iter(args), |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    per_row(&customers, d, |cu| {
        if let Some(cu) = cu {
            all_rows(c, NAIVE_CUSTOMER_NAME, &[t(cu)])?;
        }
        Ok(())
    })
}

/// Sales of the month per category: the invoices, then each one's items,
/// then each item's product.
fn naive_lines_by_product(
    c: &Connection,
    p: &Picks,
    d: &Deadline,
    mut each: impl FnMut(&str, i64, i64, Option<(String, String)>),
) -> Result<Progress> {
    let invoices: Vec<String> = c
        .prepare_cached(
            "SELECT id FROM invoices WHERE day BETWEEN ?1 AND ?2 AND status <> 'void' ORDER BY date",
        )?
        .query_map([&p.month_from, &p.month_to], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    per_row(&invoices, d, |inv| {
        let items: Vec<(Option<String>, i64, i64)> = c
            .prepare_cached(
                "SELECT product_id, quantity, total FROM invoice_items WHERE invoice_id = ?1",
            )?
            .query_map([inv], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<rusqlite::Result<_>>()?;
        for (product, qty, total) in items {
            let info = match &product {
                Some(pr) => c
                    .prepare_cached("SELECT category, name FROM products WHERE id = ?1")?
                    .query_row([pr], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()?,
                None => None,
            };
            each(product.as_deref().unwrap_or(""), qty, total, info);
        }
        Ok(())
    })
}

fn naive_month_report(c: &Connection, p: &Picks, d: &Deadline) -> Result<Progress> {
    let mut totals: BTreeMap<String, i64> = BTreeMap::new();
    c.prepare_cached(
        "SELECT count(*), sum(total), sum(paid_amount) FROM invoices WHERE day BETWEEN ?1 AND ?2",
    )?
    .query_row([&p.month_from, &p.month_to], |_| Ok(()))?;
    let mut by_channel: BTreeMap<String, i64> = BTreeMap::new();
    let pays: Vec<(String, i64)> = c
        .prepare_cached(
            "SELECT payment_channel_id, amount FROM payments WHERE day BETWEEN ?1 AND ?2",
        )?
        .query_map([&p.month_from, &p.month_to], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (ch, amount) in pays {
        *by_channel.entry(ch).or_default() += amount;
    }
    for ch in by_channel.keys() {
        c.prepare_cached("SELECT name FROM payment_channels WHERE id = ?1")?
            .query_row([ch], |r| r.get::<_, String>(0))?;
    }
    c.prepare_cached("SELECT count(*), sum(total) FROM returns WHERE day BETWEEN ?1 AND ?2")?
        .query_row([&p.month_from, &p.month_to], |_| Ok(()))?;
    naive_lines_by_product(c, p, d, |_, _, total, info| {
        let cat = info.map(|(c, _)| c).unwrap_or_else(|| "labour".into());
        *totals.entry(cat).or_default() += total;
    })
}

fn naive_top_products(c: &Connection, p: &Picks, d: &Deadline) -> Result<Progress> {
    let mut revenue: BTreeMap<String, i64> = BTreeMap::new();
    let progress = naive_lines_by_product(c, p, d, |product, _, total, _| {
        if !product.is_empty() {
            *revenue.entry(product.to_string()).or_default() += total;
        }
    })?;
    let mut top: Vec<(i64, String)> = revenue.into_iter().map(|(k, v)| (v, k)).collect();
    top.sort_by(|a, b| b.cmp(a));
    top.truncate(20);
    Ok(progress)
}

/// The customers, then one ledger sum per customer (the seed's balance), and
/// the customers `keep` accepts given (balance from the ledger, balance
/// stored on the customer, credit limit), largest balance first.
fn naive_balances(
    c: &Connection,
    d: &Deadline,
    keep: impl Fn(i64, i64, i64) -> bool,
) -> Result<Progress> {
    let customers: Vec<(String, i64, i64)> = c
        .prepare_cached("SELECT id, name, phone, credit_limit, balance FROM customers")?
        .query_map([], |r| Ok((r.get(0)?, r.get(3)?, r.get(4)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut kept = Vec::new();
    let progress = per_row(&customers, d, |(cu, limit, stored)| {
        let balance: i64 = c
            .prepare_cached(
                "SELECT coalesce(sum(CASE type WHEN 'debit' THEN amount ELSE -amount END), 0)
                 FROM ledger_entries WHERE customer_id = ?1",
            )?
            .query_row([cu], |r| r.get(0))?;
        if keep(balance, *stored, *limit) {
            kept.push((balance, cu.clone()));
        }
        Ok(())
    })?;
    kept.sort_by(|a, b| b.cmp(a));
    Ok(progress)
}

/// Open invoices of the whole book, bucketed by age as they are read; by
/// customer, each customer's name and limit is then looked up, one query
/// per customer.
fn naive_aging(c: &Connection, as_of: i64, by_customer: bool, d: &Deadline) -> Result<Progress> {
    let mut buckets: BTreeMap<Option<String>, [i64; 4]> = BTreeMap::new();
    let mut st = c.prepare_cached(
        "SELECT customer_id, date, remaining_balance FROM invoices
         WHERE remaining_balance > 0 AND status <> 'void'",
    )?;
    let mut rows = st.query([])?;
    while let Some(r) = rows.next()? {
        let customer: Option<String> = if by_customer { r.get(0)? } else { None };
        let at: i64 = r.get(1)?;
        let rem: i64 = r.get(2)?;
        let days = (as_of - at) / 86_400_000;
        buckets.entry(customer).or_default()[match days {
            ..=30 => 0,
            31..=60 => 1,
            61..=90 => 2,
            _ => 3,
        }] += rem;
    }
    let customers: Vec<String> = buckets.into_keys().flatten().collect();
    per_row(&customers, d, |cu| {
        all_rows(
            c,
            "SELECT name, credit_limit FROM customers WHERE id = ?1",
            &[t(cu)],
        )?;
        Ok(())
    })
}

fn naive_stock_card(c: &Connection, product: &str, d: &Deadline) -> Result<Progress> {
    let on_hand: i64 = c
        .prepare_cached("SELECT current_stock FROM products WHERE id = ?1")?
        .query_row([product], |r| r.get(0))?;
    let moves: Vec<(i64, String, String)> = c
        .prepare_cached(
            "SELECT quantity, reference_type, reference_id FROM stock_movements
             WHERE product_id = ?1 ORDER BY date DESC, id DESC",
        )?
        .query_map([product], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut balance = on_hand;
    per_row(&moves, d, |(qty, ref_kind, ref_id)| {
        balance -= qty;
        if ref_kind == "invoice" {
            all_rows(
                c,
                "SELECT bill_number FROM invoices WHERE id = ?1",
                &[t(ref_id)],
            )?;
        } else if ref_kind == "order" {
            all_rows(
                c,
                "SELECT number FROM service_orders WHERE id = ?1",
                &[t(ref_id)],
            )?;
        }
        Ok(())
    })
}

/// A technician's name, when the order has one.
fn naive_technician(c: &Connection, tech: &Option<String>) -> Result<()> {
    if let Some(tech) = tech {
        all_rows(c, "SELECT name FROM technicians WHERE id = ?1", &[t(tech)])?;
    }
    Ok(())
}

fn naive_schedule(c: &Connection, p: &Picks, d: &Deadline) -> Result<Progress> {
    type OrderRow = (String, String, String, Option<String>);
    let orders: Vec<OrderRow> = c
        .prepare_cached(
            "SELECT id, customer_id, vehicle_id, technician_assigned FROM service_orders
             WHERE branch_id = ?1 AND service_date = ?2 ORDER BY number",
        )?
        .query_map([&p.branch, &p.schedule_day], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    per_row(&orders, d, |(id, cu, v, tech)| {
        all_rows(c, NAIVE_CUSTOMER_NAME, &[t(cu)])?;
        all_rows(
            c,
            "SELECT plate, make, model FROM vehicles WHERE id = ?1",
            &[t(v)],
        )?;
        naive_technician(c, tech)?;
        all_rows(c, NAIVE_ORDER_LABOUR, &[t(id)])?;
        Ok(())
    })
}

fn naive_shift(c: &Connection, shift: &str, _d: &Deadline) -> Result<Progress> {
    c.prepare_cached("SELECT opened_at, opening_float, closed_at FROM shifts WHERE id = ?1")?
        .query_row([shift], |_| Ok(()))?;
    let mut by_channel: BTreeMap<String, i64> = BTreeMap::new();
    let pays: Vec<(String, String, i64)> = c
        .prepare_cached(
            "SELECT payment_channel_id, payment_type, amount FROM payments WHERE shift_id = ?1",
        )?
        .query_map([shift], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (ch, kind, amount) in pays {
        *by_channel.entry(ch).or_default() += if kind == "refund" { -amount } else { amount };
    }
    c.prepare_cached("SELECT channel, counted FROM shift_counts WHERE shift_id = ?1")?
        .query_map([shift], |r| r.get::<_, String>(0))?
        .count();
    for ch in by_channel.keys() {
        c.prepare_cached("SELECT name, is_cash FROM payment_channels WHERE id = ?1")?
            .query_row([ch], |r| r.get::<_, String>(0))?;
    }
    Ok(Progress::Done)
}

/// A vehicle's orders (every one, no page), then for each its technician,
/// its invoice, its labour and its parts, one query each.
fn naive_vehicle_history(c: &Connection, vehicle: &str, d: &Deadline) -> Result<Progress> {
    type OrderRow = (String, Option<String>, Option<String>);
    let orders: Vec<OrderRow> = c
        .prepare_cached(
            "SELECT id, technician_assigned, invoice_id, number, status, service_date, complaint,
                    odometer
             FROM service_orders WHERE vehicle_id = ?1 ORDER BY service_date DESC, id DESC",
        )?
        .query_map([vehicle], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    per_row(&orders, d, |(id, tech, invoice)| {
        naive_technician(c, tech)?;
        if let Some(inv) = invoice {
            all_rows(
                c,
                "SELECT total, remaining_balance FROM invoices WHERE id = ?1",
                &[t(inv)],
            )?;
        }
        all_rows(c, NAIVE_ORDER_LABOUR, &[t(id)])?;
        all_rows(
            c,
            "SELECT count(*), coalesce(sum((quantity * unit_price + 500) / 1000), 0)
             FROM service_order_parts WHERE order_id = ?1",
            &[t(id)],
        )?;
        Ok(())
    })
}

/// The branch's technicians, then each one's orders of the month, then
/// each order's labour.
fn naive_workload(c: &Connection, p: &Picks, d: &Deadline) -> Result<Progress> {
    let techs: Vec<String> = c
        .prepare_cached("SELECT id, name FROM technicians WHERE branch_id = ?1 ORDER BY name, id")?
        .query_map([&p.branch], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    per_row(&techs, d, |tech| {
        let orders: Vec<String> = c
            .prepare_cached(
                "SELECT id, status FROM service_orders
                 WHERE technician_assigned = ?1 AND service_date BETWEEN ?2 AND ?3",
            )?
            .query_map([tech, &p.month_from, &p.month_to], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        for order in orders {
            all_rows(c, NAIVE_ORDER_LABOUR, &[t(&order)])?;
        }
        Ok(())
    })
}

/// Records whose reference points nowhere: without foreign keys, each
/// payment's invoice and each invoice line's product is looked up, one
/// query per row.
fn naive_orphans(c: &Connection, d: &Deadline) -> Result<Progress> {
    let mut refs: Vec<(&str, String)> = Vec::new();
    for (list, lookup) in [
        (
            "SELECT reference_invoice_id FROM payments WHERE reference_invoice_id IS NOT NULL",
            "SELECT id FROM invoices WHERE id = ?1",
        ),
        (
            "SELECT product_id FROM invoice_items WHERE product_id IS NOT NULL",
            "SELECT id FROM products WHERE id = ?1",
        ),
    ] {
        let ids = c
            .prepare_cached(list)?
            .query_map([], |r| r.get::<_, String>(0))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        refs.extend(ids.into_iter().map(|id| (lookup, id)));
    }
    per_row(&refs, d, |(lookup, id)| {
        all_rows(c, lookup, &[t(id)])?;
        Ok(())
    })
}

/// The seed has no unique constraint on its business keys (its "duplicate
/// data"): duplicates are found by a GROUP BY over each whole table, every
/// one listed (no page).
const NAIVE_DUPLICATES: [&str; 4] = [
    "SELECT sku, count(*), group_concat(id) FROM products GROUP BY sku HAVING count(*) > 1",
    "SELECT barcode, count(*), group_concat(id) FROM products WHERE barcode IS NOT NULL
     GROUP BY barcode HAVING count(*) > 1",
    "SELECT phone, count(*), group_concat(id) FROM customers WHERE phone IS NOT NULL
     GROUP BY phone HAVING count(*) > 1",
    "SELECT bill_number, count(*), group_concat(id) FROM invoices
     GROUP BY bill_number HAVING count(*) > 1",
];
