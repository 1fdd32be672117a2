//! The back-office API over a real server on a loopback port: the server's
//! database is filled by the dataset generator, then every report is read
//! over plain HTTP and checked against SQL on the same database.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::Path;

use serde_json::Value;
use store_core::generate::{DatasetSize, generate};
use store_core::{Command, SaleLine, Tender};
use sync_server::{Config, Limits, Running};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const ADMIN: &str = "backoffice-secret";
const BRANCH: &str = "HQ";

/// A small store: the demo's shapes with fewer records.
fn small() -> DatasetSize {
    let mut s = DatasetSize::DEMO;
    s.products = 60;
    s.customers = 30;
    s.sales = 200;
    s.service_orders = 16;
    s.days = 3;
    s
}

async fn start(dir: &Path) -> Running {
    sync_server::serve(Config {
        bind: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.join("server"),
        admin_token: Some(ADMIN.into()),
        limits: Limits::default(),
        maintenance: Default::default(),
        web_dir: None,
    })
    .await
    .unwrap()
}

/// A plain HTTP/1.1 GET over a TCP socket; returns status and JSON body.
async fn get_as(addr: SocketAddr, path: &str, token: Option<&str>) -> (u16, Value) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Connection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8_lossy(&out).to_string();
    let status: u16 = text[9..12].parse().unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_string()
    };
    let json = serde_json::from_str(&body).unwrap_or(Value::Null);
    (status, json)
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        body = &rest[n + 2..];
    }
    out
}

async fn get(addr: SocketAddr, path: &str) -> Value {
    let (status, json) = get_as(addr, path, Some(ADMIN)).await;
    assert_eq!(status, 200, "GET {path}: {json}");
    json
}

/// Asserts a list answer's shape and returns its rows.
fn rows(json: &Value, path: &str) -> Vec<Value> {
    assert!(json["rows"].is_array(), "GET {path}: no rows: {json}");
    assert!(
        json.get("next")
            .is_some_and(|n| n.is_null() || n.is_string()),
        "GET {path}: bad next: {json}"
    );
    json["rows"].as_array().unwrap().clone()
}

/// Every row of a list, page by page with `limit`, checking that no page is
/// larger than asked.
async fn all_pages(addr: SocketAddr, path: &str, limit: usize) -> Vec<Value> {
    let sep = if path.contains('?') { '&' } else { '?' };
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    for _ in 0..10_000 {
        let url = match &after {
            Some(a) => format!("{path}{sep}limit={limit}&after={a}"),
            None => format!("{path}{sep}limit={limit}"),
        };
        let json = get(addr, &url).await;
        let page = rows(&json, &url);
        assert!(page.len() <= limit, "GET {url}: page larger than limit");
        out.extend(page);
        match json["next"].as_str() {
            Some(n) => after = Some(n.to_string()),
            None => return out,
        }
    }
    panic!("GET {path}: paging does not end");
}

async fn sql_i64(running: &Running, sql: &'static str, arg: String) -> i64 {
    running
        .state
        .store
        .read(move |c| {
            if sql.contains("?1") {
                c.query_row(sql, [arg], |r| r.get(0))
            } else {
                c.query_row(sql, [], |r| r.get(0))
            }
        })
        .await
        .unwrap()
}

async fn sql_str(running: &Running, sql: &'static str) -> String {
    running
        .state
        .store
        .read(move |c| c.query_row(sql, [], |r| r.get(0)))
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

async fn sql_strs(running: &Running, sql: &'static str, arg: String) -> Vec<String> {
    running
        .state
        .store
        .read(move |c| {
            let mut s = c.prepare(sql)?;
            let mut rows = if sql.contains("?1") {
                s.query([arg])?
            } else {
                s.query([])?
            };
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                out.push(r.get(0)?);
            }
            Ok(out)
        })
        .await
        .unwrap()
}

fn ids(rows: &[Value], key: &str) -> Vec<String> {
    rows.iter()
        .map(|r| match &r[key] {
            Value::String(s) => s.clone(),
            v => v.to_string(),
        })
        .collect()
}

/// Asserts every id is there exactly once and nothing else is.
fn exactly_once(got: Vec<String>, want: Vec<String>, what: &str) {
    let set: HashSet<&String> = got.iter().collect();
    assert_eq!(set.len(), got.len(), "{what}: a row came twice");
    let want_set: HashSet<&String> = want.iter().collect();
    assert_eq!(set, want_set, "{what}: rows differ from SQL");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backoffice_reports_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path()).await;
    let addr = running.addr;
    let report = running
        .state
        .store
        .write(|r| generate(r, &small(), 11))
        .await
        .unwrap()
        .unwrap();
    assert!(report.invoices > 0, "{report:?}");
    running
        .state
        .store
        .write(|r| {
            r.execute(
                "admin",
                &Command::CreateBranch {
                    code: "B2".into(),
                    name: "Second".into(),
                },
            )
            .map(|_| ())
        })
        .await
        .unwrap()
        .unwrap();

    // Oversell three products, so that the negative-stock alert has rows.
    running
        .state
        .store
        .write(|r| {
            let products: Vec<(String, i64)> = r
                .connection()
                .prepare(
                    "SELECT p.id, coalesce(s.qty, 0) FROM products p \
                     LEFT JOIN stock_levels s ON s.product_id = p.id AND s.branch_id = 'HQ' \
                     ORDER BY p.id LIMIT 3",
                )?
                .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?;
            let _ = r.execute("admin", &Command::OpenShift { opening_float: 0 });
            for (p, on_hand) in products {
                // Whole units, more than on hand; one minor unit per unit.
                let qty = (on_hand.max(0) / 1000 + 2) * 1000;
                r.execute(
                    "admin",
                    &Command::Sell {
                        customer_id: None,
                        lines: vec![SaleLine {
                            product_id: p,
                            qty,
                            unit_price: Some(1),
                            discount: 0,
                            tax_rate_bp: 0,
                        }],
                        payments: vec![Tender {
                            channel: "cash".into(),
                            amount: qty / 1000,
                        }],
                        allow_negative_stock: true,
                        allow_over_credit_limit: false,
                    },
                )
                .expect("oversell");
            }
            Ok::<_, rusqlite::Error>(())
        })
        .await
        .unwrap()
        .unwrap();

    // --- Ids to ask about, straight from the database.
    let product = sql_str(
        &running,
        "SELECT product_id FROM stock_levels WHERE branch_id = 'HQ' ORDER BY product_id LIMIT 1",
    )
    .await;
    let barcode = sql_str(
        &running,
        "SELECT barcode FROM products WHERE barcode IS NOT NULL ORDER BY id LIMIT 1",
    )
    .await;
    let word = sql_str(
        &running,
        "SELECT substr(name, 1, instr(name, ' ') - 1) FROM products ORDER BY id LIMIT 1",
    )
    .await;
    let customer = sql_str(
        &running,
        "SELECT customer_id FROM customer_balances WHERE balance <> 0 ORDER BY entries DESC, customer_id LIMIT 1",
    )
    .await;
    let customer_name = sql_str(
        &running,
        "SELECT c.name FROM customers c JOIN customer_balances b ON b.customer_id = c.id WHERE b.balance <> 0 ORDER BY b.entries DESC, c.id LIMIT 1",
    )
    .await;
    let invoice = sql_str(&running, "SELECT id FROM invoices ORDER BY id LIMIT 1").await;
    let bill_no = sql_str(
        &running,
        "SELECT bill_no FROM invoices WHERE bill_no IS NOT NULL ORDER BY id LIMIT 1",
    )
    .await;
    let shift = sql_str(&running, "SELECT id FROM shifts ORDER BY id LIMIT 1").await;
    let vehicle = sql_str(
        &running,
        "SELECT vehicle_id FROM service_orders ORDER BY id LIMIT 1",
    )
    .await;
    let sched_day = sql_str(
        &running,
        "SELECT scheduled_date FROM service_orders WHERE branch_id = 'HQ' GROUP BY scheduled_date ORDER BY count(*) DESC LIMIT 1",
    )
    .await;
    let first_day = sql_str(&running, "SELECT min(day) FROM invoices").await;
    let last_day = sql_str(&running, "SELECT max(day) FROM invoices").await;

    // --- Authentication: nothing without the admin token.
    for path in [
        "/api/branches",
        "/api/alerts",
        "/api/stock?branch=HQ",
        "/api/invoices?branch=HQ&limit=0",
        &format!("/api/invoices/{invoice}"),
    ] {
        let (status, json) = get_as(addr, path, None).await;
        assert_eq!(status, 401, "GET {path} without token: {json}");
        assert_eq!(json["error"]["code"], "unauthorized", "{json}");
        let (status, _) = get_as(addr, path, Some("wrong")).await;
        assert_eq!(status, 401, "GET {path} with a wrong token");
    }

    // --- Every endpoint answers 200 with its shape.
    let branches = get(addr, "/api/branches").await;
    let b = rows(&branches, "/api/branches");
    assert!(
        b.iter()
            .any(|r| r["code"] == "B2" && r["name"] == "Second" && r["id"].is_string()),
        "{branches}"
    );

    let path = format!("/api/products/search?q={word}&branch={BRANCH}");
    let hits = rows(&get(addr, &path).await, &path);
    assert!(!hits.is_empty(), "{path}");
    assert!(hits[0]["sku"].is_string() && hits[0]["on_hand"].is_i64());

    let path = format!("/api/products/by-barcode/{barcode}?branch={BRANCH}");
    let hit = get(addr, &path).await;
    assert_eq!(hit["barcode"], barcode.as_str(), "{hit}");

    let path = format!("/api/products/{product}/stock");
    let per_branch = rows(&get(addr, &path).await, &path);
    let hq_qty = sql_i64(
        &running,
        "SELECT qty FROM stock_levels WHERE branch_id = 'HQ' AND product_id = ?1",
        product.clone(),
    )
    .await;
    assert!(
        per_branch
            .iter()
            .any(|r| r["branch_id"] == BRANCH && r["qty"] == hq_qty),
        "{per_branch:?}"
    );

    // The stock card, page by page: each movement once, and the balance
    // after the newest one is the stock on hand.
    let path = format!("/api/products/{product}/stock-card?branch={BRANCH}");
    let first = get(addr, &path).await;
    assert_eq!(first["closing_balance"], hq_qty, "{first}");
    let card = all_pages(addr, &path, 3).await;
    assert_eq!(card[0]["balance"], hq_qty);
    let want = sql_strs(
        &running,
        "SELECT id FROM stock_movements WHERE product_id = ?1 AND branch_id = 'HQ'",
        product.clone(),
    )
    .await;
    exactly_once(ids(&card, "id"), want, "stock card");

    let path = format!(
        "/api/customers/search?q={}",
        customer_name.replace(' ', "+")
    );
    let hits = rows(&get(addr, &path).await, &path);
    assert!(hits.iter().any(|h| h["id"] == customer.as_str()), "{path}");

    // Balances: paging returns each customer with a balance once.
    let balances = all_pages(addr, "/api/customers/balances", 4).await;
    let want = sql_strs(
        &running,
        "SELECT customer_id FROM customer_balances WHERE balance <> 0",
        String::new(),
    )
    .await;
    assert!(!want.is_empty());
    exactly_once(ids(&balances, "customer_id"), want, "balances");
    let over = all_pages(addr, "/api/customers/over-credit", 2).await;
    for r in &over {
        assert!(r["balance"].as_i64() > r["credit_limit"].as_i64(), "{r}");
    }

    // The statement, page by page, ends at the customer's balance.
    let balance = sql_i64(
        &running,
        "SELECT balance FROM customer_balances WHERE customer_id = ?1",
        customer.clone(),
    )
    .await;
    let path = format!("/api/customers/{customer}/statement");
    let first = get(addr, &path).await;
    assert_eq!(first["opening_balance"], 0, "{first}");
    let statement = all_pages(addr, &path, 3).await;
    let entries = sql_i64(
        &running,
        "SELECT count(*) FROM ledger_entries WHERE customer_id = ?1",
        customer.clone(),
    )
    .await;
    assert_eq!(statement.len() as i64, entries);
    let mut running_balance = 0;
    for e in &statement {
        running_balance += e["debit"].as_i64().unwrap() - e["credit"].as_i64().unwrap();
        assert_eq!(e["balance"], running_balance, "{e}");
    }
    assert_eq!(statement.last().unwrap()["balance"], balance);

    let path = format!("/api/customers/{customer}/invoices");
    let invs = all_pages(addr, &path, 2).await;
    let want = sql_strs(
        &running,
        "SELECT id FROM invoices WHERE customer_id = ?1",
        customer.clone(),
    )
    .await;
    exactly_once(ids(&invs, "id"), want, "customer invoices");

    // Aging: the buckets hold every open invoice.
    let aging = get(addr, "/api/receivables/aging").await;
    let open = sql_i64(
        &running,
        "SELECT coalesce(sum(remaining), 0) FROM invoices WHERE remaining > 0",
        String::new(),
    )
    .await;
    assert_eq!(aging["total"], open, "{aging}");
    let path = format!("/api/receivables/aging?as_of={last_day}");
    assert!(get(addr, &path).await["invoices"].is_i64());
    let per_customer = all_pages(addr, "/api/receivables/aging/customers", 3).await;
    let sum: i64 = per_customer
        .iter()
        .map(|r| r["buckets"]["total"].as_i64().unwrap())
        .sum();
    assert_eq!(sum, open);

    // Invoices of the branch, page by page: each once.
    let path = format!("/api/invoices?branch={BRANCH}&from={first_day}&to={last_day}");
    let invs = all_pages(addr, &path, 7).await;
    let want = sql_strs(
        &running,
        "SELECT id FROM invoices WHERE branch_id = 'HQ'",
        String::new(),
    )
    .await;
    assert!(want.len() > 7);
    exactly_once(ids(&invs, "id"), want, "branch invoices");
    let invs = all_pages(addr, "/api/invoices?status=paid", 9).await;
    let want = sql_strs(
        &running,
        "SELECT id FROM invoices WHERE status = 'paid'",
        String::new(),
    )
    .await;
    exactly_once(ids(&invs, "id"), want, "paid invoices");

    let path = format!("/api/invoices/{invoice}");
    let detail = get(addr, &path).await;
    let total = sql_i64(
        &running,
        "SELECT total FROM invoices WHERE id = ?1",
        invoice.clone(),
    )
    .await;
    assert_eq!(detail["header"]["total"], total, "{detail}");
    assert!(detail["lines"].as_array().is_some_and(|l| !l.is_empty()));
    assert!(detail["settlements"].is_array());
    let path = format!("/api/invoices/by-bill-no/{bill_no}");
    let by_no = get(addr, &path).await;
    assert!(by_no["id"].is_string(), "{by_no}");

    // The sales report agrees with the invoices table.
    for period in ["day", "month"] {
        let path = format!("/api/reports/sales?period={period}&from={first_day}&to={last_day}");
        let report = get(addr, &path).await;
        for key in ["sales", "returns", "channels", "categories"] {
            assert!(report[key].is_array(), "{path}: {key}");
        }
        let sales = report["sales"].as_array().unwrap();
        let total: i64 = sales.iter().map(|r| r["total"].as_i64().unwrap()).sum();
        let count: i64 = sales.iter().map(|r| r["invoices"].as_i64().unwrap()).sum();
        let want_total = sql_i64(
            &running,
            "SELECT coalesce(sum(total), 0) FROM invoices WHERE voided = 0",
            String::new(),
        )
        .await;
        let want_count = sql_i64(
            &running,
            "SELECT count(*) FROM invoices WHERE voided = 0",
            String::new(),
        )
        .await;
        assert_eq!((total, count), (want_total, want_count), "{path}");
    }
    let report = get(addr, "/api/reports/sales?branch=B2").await;
    assert_eq!(report["sales"].as_array().map(Vec::len), Some(0));

    let top = get(addr, "/api/reports/top-products?by=revenue&limit=5").await;
    let top = rows(&top, "top-products");
    assert!(!top.is_empty() && top.len() <= 5);
    let revenues: Vec<i64> = top.iter().map(|r| r["revenue"].as_i64().unwrap()).collect();
    assert!(revenues.windows(2).all(|w| w[0] >= w[1]), "{revenues:?}");
    let path = format!("/api/reports/top-products?branch={BRANCH}&from={first_day}&to={last_day}");
    assert!(!rows(&get(addr, &path).await, &path).is_empty());

    // Stock of the branch, page by page: each product once.
    let stock = all_pages(addr, "/api/stock?branch=HQ", 11).await;
    let want = sql_strs(
        &running,
        "SELECT product_id FROM stock_levels WHERE branch_id = 'HQ'",
        String::new(),
    )
    .await;
    exactly_once(ids(&stock, "product_id"), want, "stock");
    let valuation = get(addr, "/api/stock/valuation?branch=HQ").await;
    let cats = valuation["categories"].as_array().unwrap();
    let sum: i64 = cats.iter().map(|c| c["value"].as_i64().unwrap()).sum();
    assert_eq!(valuation["total"], sum, "{valuation}");
    let low = all_pages(addr, "/api/low-stock?branch=HQ", 5).await;
    assert!(!low.is_empty());
    for r in &low {
        assert!(r["on_hand"].as_i64() <= r["min_stock"].as_i64(), "{r}");
    }

    let path = format!("/api/vehicles/{vehicle}/history");
    let history = all_pages(addr, &path, 1).await;
    assert!(!history.is_empty());
    let want = sql_strs(
        &running,
        "SELECT id FROM service_orders WHERE vehicle_id = ?1",
        vehicle.clone(),
    )
    .await;
    exactly_once(ids(&history, "order_id"), want, "vehicle history");

    let path = format!("/api/workshop/schedule?branch=HQ&day={sched_day}");
    let schedule = all_pages(addr, &path, 2).await;
    assert!(!schedule.is_empty());
    let want = sql_strs(
        &running,
        "SELECT id FROM service_orders WHERE branch_id = 'HQ' AND scheduled_date = ?1",
        sched_day.clone(),
    )
    .await;
    exactly_once(ids(&schedule, "order_id"), want, "schedule");
    let workload = get(addr, "/api/workshop/workload?branch=HQ").await;
    let orders: i64 = rows(&workload, "workload")
        .iter()
        .map(|r| r["orders"].as_i64().unwrap())
        .sum();
    let want = sql_i64(
        &running,
        "SELECT count(*) FROM service_orders WHERE branch_id = 'HQ' AND technician_id IS NOT NULL",
        String::new(),
    )
    .await;
    assert_eq!(orders, want, "{workload}");

    let path = format!("/api/shifts/{shift}");
    let summary = get(addr, &path).await;
    assert_eq!(summary["shift_id"], shift.as_str());
    assert!(summary["channels"].is_array() && summary["expected_cash"].is_i64());

    let alerts = get(addr, "/api/alerts").await;
    for key in [
        "field_conflicts",
        "rejected_records",
        "duplicate_keys",
        "customers_over_credit",
        "negative_stock",
    ] {
        assert!(alerts[key].is_i64(), "{alerts}");
    }
    assert_eq!(alerts["customers_over_credit"], over.len() as i64);
    for kind in ["conflicts", "rejected", "duplicates", "negative-stock"] {
        let path = format!("/api/alerts/{kind}");
        let list = all_pages(addr, &path, 2).await;
        if kind == "negative-stock" {
            assert_eq!(alerts["negative_stock"], list.len() as i64);
            let keys = list
                .iter()
                .map(|r| format!("{}/{}", r["branch_id"], r["product_id"]))
                .collect();
            let want = sql_strs(
                &running,
                "SELECT '\"' || branch_id || '\"/\"' || product_id || '\"' FROM stock_levels WHERE qty < 0",
                String::new(),
            )
            .await;
            assert!(want.len() >= 3, "{want:?}");
            exactly_once(keys, want, "negative stock");
        }
    }

    // --- Bad parameters: 400 `invalid`.
    let bad = [
        "/api/stock?branch=HQ&limit=0".to_string(),
        "/api/stock?branch=HQ&limit=501".into(),
        "/api/stock?branch=HQ&limit=ten".into(),
        "/api/stock?branch=HQ&limit=-1".into(),
        "/api/stock".into(),
        "/api/stock?branch=H%20Q".into(),
        "/api/stock?branch=HQ&after=zz".into(),
        "/api/stock?branch=HQ&after=7b7d".into(),
        "/api/stock?branch=HQ&colour=red".into(),
        "/api/stock?branch=HQ&branch=B2".into(),
        "/api/stock/valuation".into(),
        "/api/low-stock?branch=".into(),
        "/api/products/search?q=x".into(),
        "/api/products/by-barcode/123".into(),
        "/api/products/bad%20id/stock".into(),
        "/api/products/x/stock-card".into(),
        "/api/invoices".into(),
        "/api/invoices?status=paid&branch=HQ".into(),
        "/api/invoices?status=open".into(),
        "/api/invoices?branch=HQ&from=2024-13-01".into(),
        "/api/invoices?branch=HQ&from=2023-02-29".into(),
        "/api/invoices?branch=HQ&to=yesterday".into(),
        "/api/invoices?branch=HQ&from=2024-02-02&to=2024-02-01".into(),
        "/api/invoices/bad%20id".into(),
        "/api/reports/sales?period=week".into(),
        "/api/reports/sales?from=20240101".into(),
        "/api/reports/top-products?by=price".into(),
        "/api/reports/top-products?limit=1000".into(),
        "/api/receivables/aging?as_of=2024-02-30".into(),
        "/api/workshop/schedule?branch=HQ".into(),
        "/api/workshop/schedule?branch=HQ&day=2024-1-1".into(),
        "/api/workshop/workload".into(),
        "/api/alerts?x=1".into(),
        "/api/alerts/conflicts?limit=0".into(),
        format!("/api/customers/{customer}/statement?after=00"),
        format!("/api/customers/{customer}/statement?limit=9999"),
    ];
    for path in &bad {
        let (status, json) = get_as(addr, path, Some(ADMIN)).await;
        assert_eq!(status, 400, "GET {path}: {json}");
        assert_eq!(json["error"]["code"], "invalid", "GET {path}: {json}");
        assert!(json["error"]["message"].is_string(), "{json}");
    }
    // A cursor of one list is refused by a list with another cursor type.
    let page = get(addr, "/api/stock?branch=HQ&limit=1").await;
    let cursor = page["next"].as_str().unwrap();
    let path = format!("/api/alerts/conflicts?after={cursor}");
    let (status, json) = get_as(addr, &path, Some(ADMIN)).await;
    assert_eq!(status, 400, "{json}");

    // --- Unknown invoice, shift, barcode: 404.
    for path in [
        "/api/invoices/00000000000000000000",
        "/api/invoices/by-bill-no/NOPE-1",
        "/api/shifts/nope",
        "/api/products/by-barcode/0000000000000?branch=HQ",
    ] {
        let (status, json) = get_as(addr, path, Some(ADMIN)).await;
        assert_eq!(status, 404, "GET {path}: {json}");
        assert_eq!(json["error"]["code"], "not_found", "{json}");
    }

    running.abort();
}
