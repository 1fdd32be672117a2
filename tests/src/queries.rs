//! The query catalogue as a benchmark asks it: one request per query, with
//! parameters picked from the data (the busiest customer, the most moved
//! product, the last whole month...), shared by the browser benchmark and the
//! server dataset's.

use std::collections::BTreeSet;

use rusqlite::Connection;
use serde_json::{Value, json};
use store_core::query::Request;

type Result<T> = std::result::Result<T, String>;

/// One request of the catalogue, with a label for the report.
#[derive(Debug, Clone)]
pub struct Query {
    /// What it asks, for a reader ("customer statement, first page of 50 ...").
    pub label: String,
    /// The request, as the browser and the back office send it.
    pub request: Value,
}

/// Whose point of view the requests take.
#[derive(Debug, Clone)]
pub enum Scope {
    /// The database's own identity: a terminal and its branch.
    Stored,
    /// A server holding many branches: the requests that name a branch or
    /// a terminal name these ones.
    Branch {
        /// The branch.
        branch: String,
        /// A terminal of it.
        terminal: String,
    },
}

/// The first column of the one row of `sql`.
pub fn one<T: rusqlite::types::FromSql>(c: &Connection, sql: &str) -> Result<T> {
    c.query_row(sql, [], |r| r.get(0))
        .map_err(|e| format!("{e}: {sql}"))
}

/// Every query variant of `Request`, from serde's own list.
pub fn request_variants() -> BTreeSet<String> {
    let e = serde_json::from_value::<Request>(json!({"query": "__nope__"}))
        .expect_err("an unknown query")
        .to_string();
    e.split('`')
        .skip(1)
        .step_by(2)
        .filter(|s| *s != "__nope__")
        .map(str::to_string)
        .collect()
}

/// The parameters picked from the data, the same for every benchmark that
/// asks the catalogue: the busiest customer, the most moved product, the
/// last whole month, the busiest closed shift...
#[derive(Debug, Clone)]
pub struct Choices {
    /// The branch the requests name.
    pub branch: String,
    /// A terminal of it.
    pub terminal: String,
    /// A product name prefix.
    pub search: String,
    /// A barcode from the middle of the catalogue.
    pub barcode: String,
    /// The first three letters of the middle customer's name.
    pub customer_text: String,
    /// The customer with the most ledger entries.
    pub customer: String,
    /// The invoice with the most payments (then lines), and its bill number.
    pub invoice: String,
    /// Its bill number.
    pub bill_no: String,
    /// The last whole month (`YYYY-MM`), else the last month, and its first
    /// and last days.
    pub month: String,
    /// First day of `month`.
    pub from: String,
    /// Last day of `month` (the 31st: days are compared as text).
    pub to: String,
    /// The product with the most movements.
    pub product: String,
    /// The day with the most service orders.
    pub day: String,
    /// The closed shift with the most payments.
    pub shift: String,
    /// The time of the newest invoice.
    pub as_of: i64,
    /// The vehicle with the most service orders, and its owner.
    pub vehicle: String,
    /// Its owner.
    pub vehicle_owner: String,
}

/// Picks [`Choices`] from the data of `c`, from `scope`'s point of view.
pub fn choose(c: &Connection, scope: &Scope) -> Result<Choices> {
    let identity: store_core::ReplicaIdentity = serde_json::from_str(&one::<String>(
        c,
        "SELECT value FROM settings WHERE key = 'identity'",
    )?)
    .map_err(|e| e.to_string())?;
    let (branch, terminal) = match scope {
        Scope::Stored => (identity.branch_id.clone(), identity.replica_id.clone()),
        Scope::Branch { branch, terminal } => (branch.clone(), terminal.clone()),
    };
    let grade: String = one(
        c,
        "SELECT coalesce((SELECT grade FROM products WHERE category = 'sheet' ORDER BY rid LIMIT 1), '')",
    )?;
    let search = if grade.is_empty() {
        let name: String = one(c, "SELECT name FROM products ORDER BY rid LIMIT 1")?;
        name.chars().take(4).collect()
    } else {
        format!("Sheet {grade} 1")
    };
    let barcode: String = one(
        c,
        "SELECT barcode FROM products WHERE barcode IS NOT NULL ORDER BY rid
         LIMIT 1 OFFSET (SELECT count(*) / 2 FROM products WHERE barcode IS NOT NULL)",
    )?;
    let customer_text: String = one(
        c,
        "SELECT substr(name, 1, 3) FROM customers ORDER BY rid LIMIT 1 OFFSET (SELECT count(*) / 2 FROM customers)",
    )?;
    let customer: String = one(
        c,
        "SELECT customer_id FROM customer_balances ORDER BY entries DESC, customer_id LIMIT 1",
    )?;
    let (invoice, bill_no): (String, String) = c
        .query_row(
            "SELECT i.id, i.bill_no FROM invoices i JOIN payments p ON p.invoice_id = i.id
             WHERE i.bill_no IS NOT NULL
             GROUP BY i.id ORDER BY count(*) DESC, (SELECT count(*) FROM invoice_lines l
                                                   WHERE l.invoice_id = i.id) DESC, i.id LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .map_err(|e| e.to_string())?;
    let last_day: String = one(c, "SELECT max(day) FROM invoices")?;
    let first_day: String = one(c, "SELECT min(day) FROM invoices")?;
    let mut month = last_day[..7].to_string();
    let prev = prev_month(&month);
    if first_day[..7] <= *prev.as_str() {
        month = prev;
    }
    let (from, to) = (format!("{month}-01"), format!("{month}-31"));
    let product: String = one(
        c,
        "SELECT product_id FROM stock_movements GROUP BY product_id ORDER BY count(*) DESC, product_id LIMIT 1",
    )?;
    let day: String = one(
        c,
        "SELECT coalesce((SELECT scheduled_date FROM service_orders GROUP BY scheduled_date
         ORDER BY count(*) DESC, scheduled_date DESC LIMIT 1), (SELECT max(day) FROM invoices))",
    )?;
    let shift: String = one(
        c,
        "SELECT s.id FROM shifts s WHERE s.closed_at IS NOT NULL
         ORDER BY (SELECT count(*) FROM payments p WHERE p.shift_id = s.id) DESC, s.id LIMIT 1",
    )?;
    let as_of: i64 = one(c, "SELECT max(at) FROM invoices")?;
    let vehicle: Option<(String, String)> = c
        .query_row(
            "SELECT v.id, v.customer_id FROM vehicles v
             LEFT JOIN service_orders o ON o.vehicle_id = v.id
             GROUP BY v.id ORDER BY count(o.id) DESC, v.id LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .ok();
    let (vehicle, vehicle_owner) = vehicle.unwrap_or_else(|| ("none".into(), customer.clone()));
    Ok(Choices {
        branch,
        terminal,
        search,
        barcode,
        customer_text,
        customer,
        invoice,
        bill_no,
        month,
        from,
        to,
        product,
        day,
        shift,
        as_of,
        vehicle,
        vehicle_owner,
    })
}

/// A request per query of the catalogue, with the parameters [`choose`]
/// picks.
pub fn plan(c: &Connection, scope: &Scope) -> Result<Vec<Query>> {
    let Choices {
        branch,
        terminal,
        search,
        barcode,
        customer_text,
        customer,
        invoice,
        bill_no,
        month,
        from,
        to,
        product,
        day,
        shift,
        as_of,
        vehicle,
        vehicle_owner,
    } = choose(c, scope)?;

    let q = |label: &str, request: Value| Query {
        label: label.to_string(),
        request,
    };
    let m = &month;
    Ok(vec![
        q(
            &format!("product search by name prefix (\"{search}\", 20)"),
            json!({"query": "search_products", "text": search, "branch_id": branch, "limit": 20}),
        ),
        q(
            "product by barcode",
            json!({"query": "product_by_barcode", "barcode": barcode, "branch_id": branch}),
        ),
        q(
            &format!("customer search (\"{customer_text}\", 20)"),
            json!({"query": "search_customers", "text": customer_text, "limit": 20}),
        ),
        q(
            "low-stock alerts (page of 50)",
            json!({"query": "low_stock", "branch_id": branch, "limit": 50}),
        ),
        q(
            "customers with a balance (page of 50)",
            json!({"query": "customers_with_balance", "limit": 50}),
        ),
        q(
            "customers over their credit limit (page of 50)",
            json!({"query": "customers_over_credit", "limit": 50}),
        ),
        q(
            "customer statement, first page of 50 (busiest customer)",
            json!({"query": "customer_statement", "customer_id": customer, "limit": 50}),
        ),
        q(
            "receivables aging (whole book)",
            json!({"query": "receivables_aging", "as_of": as_of}),
        ),
        q(
            "receivables aging by customer (page of 50)",
            json!({"query": "receivables_aging_by_customer", "as_of": as_of, "limit": 50}),
        ),
        q(
            "stock on hand (most moved product)",
            json!({"query": "stock_on_hand", "product_id": product, "branch_id": branch}),
        ),
        q(
            &format!("invoices by status ('paid', {m}, page of 50)"),
            json!({"query": "invoices_by_status", "status": "paid", "from": from, "to": to, "limit": 50}),
        ),
        q(
            &format!("invoices of the branch by day ({m}, page of 50)"),
            json!({"query": "invoices_by_branch_day", "branch_id": branch, "from": from, "to": to, "limit": 50}),
        ),
        q(
            "invoices of a customer (page of 50)",
            json!({"query": "invoices_of_customer", "customer_id": customer, "limit": 50}),
        ),
        q(
            "invoice id by bill number",
            json!({"query": "invoice_id_by_bill_no", "bill_no": bill_no}),
        ),
        q(
            "invoice with lines and payments",
            json!({"query": "invoice", "invoice_id": invoice}),
        ),
        q(
            &format!("month sales report ({m})"),
            json!({"query": "sales_report", "period": "month", "from": from, "to": to}),
        ),
        q(
            &format!("top 20 products by revenue ({m})"),
            json!({"query": "top_products", "from": from, "to": to, "by": "revenue", "limit": 20}),
        ),
        q(
            "shift summary (busiest closed shift)",
            json!({"query": "shift_summary", "shift_id": shift}),
        ),
        q(
            "stock of the branch (page of 50)",
            json!({"query": "stock_by_branch", "branch_id": branch, "limit": 50}),
        ),
        q(
            "stock of a product in every branch",
            json!({"query": "stock_of_product", "product_id": product, "limit": 50}),
        ),
        q(
            "stock valuation of the branch",
            json!({"query": "stock_valuation", "branch_id": branch}),
        ),
        q(
            "stock card, first page of 50 (most moved product)",
            json!({"query": "stock_card", "product_id": product, "branch_id": branch, "limit": 50}),
        ),
        q(
            "vehicle service history (busiest vehicle)",
            json!({"query": "vehicle_history", "vehicle_id": vehicle, "limit": 50}),
        ),
        q(
            &format!("technician workload ({m})"),
            json!({"query": "technician_workload", "branch_id": branch, "from": from, "to": to}),
        ),
        q(
            "workshop day schedule (busiest day)",
            json!({"query": "day_schedule", "branch_id": branch, "day": day, "limit": 50}),
        ),
        q(
            "field conflicts (page of 50)",
            json!({"query": "field_conflicts", "limit": 50}),
        ),
        q(
            "rejected records (page of 50)",
            json!({"query": "rejected_records", "limit": 50}),
        ),
        q(
            "duplicate keys (page of 50)",
            json!({"query": "duplicate_keys", "limit": 50}),
        ),
        q(
            "negative stock (page of 50)",
            json!({"query": "negative_stock", "limit": 50}),
        ),
        q("alerts summary", json!({"query": "alerts_summary"})),
        q("payment channels", json!({"query": "payment_channels"})),
        q("services", json!({"query": "services"})),
        q(
            "technicians of the branch",
            json!({"query": "technicians", "branch_id": branch}),
        ),
        q(
            "vehicles of a customer",
            json!({"query": "vehicles_of_customer", "customer_id": vehicle_owner}),
        ),
        q(
            "open shift of the terminal",
            json!({"query": "open_shift", "terminal_id": terminal}),
        ),
    ])
}

/// The month before `m` (`YYYY-MM`).
pub fn prev_month(m: &str) -> String {
    let y: i32 = m[..4].parse().unwrap_or(2000);
    let mo: i32 = m[5..7].parse().unwrap_or(1);
    if mo == 1 {
        format!("{:04}-12", y - 1)
    } else {
        format!("{y:04}-{:02}", mo - 1)
    }
}
