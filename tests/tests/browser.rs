//! The browser terminal in real headless Chromium (Debian's `chromium` and
//! `chromedriver`), against the real `sync-server` binary serving `web/`
//! and the wasm bundle in `web/pkg`.
//!
//! Each test opens a page of the server's origin and drives the engine
//! through the same `Engine` client the terminal's UI uses
//! (`web/engine/client.js`): a dedicated worker, OPFS, Web Locks, the
//! WebSocket sync client.
//!
//! They need the bundle, the server binary and Chromium, so plain
//! `cargo test` skips them; `cargo xtask test` builds all three and runs
//! them with `--ignored`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command as Process, Stdio};
use std::time::{Duration, Instant};

use fantoccini::Client;
use serde_json::{Value, json};
use store_core::query::Queries;
use store_core::{Command, OpenOptions, Replica, ReplicaIdentity, SaleLine, SystemEnv, Tender};

const ADMIN: &str = "browser-test-admin";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is in the workspace")
        .to_path_buf()
}

fn server_bin() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"));
    let bin = target.join("debug").join("sync-server");
    assert!(
        bin.exists(),
        "{} is missing: `cargo build -p sync-server` (cargo xtask test does it)",
        bin.display()
    );
    assert!(
        root().join("web/pkg/store_wasm_bg.wasm").exists(),
        "web/pkg is missing: `cargo xtask wasm` builds it"
    );
    bin
}

/// A child process killed when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the server binary on `bind`, serving `web/`.
fn start_server(data: &Path, bind: &str) -> (Proc, SocketAddr) {
    let mut child = Process::new(server_bin())
        .args([
            "--data-dir",
            data.to_str().unwrap(),
            "--log",
            "warn",
            "serve",
        ])
        .args(["--bind", bind, "--no-demo", "--admin-token", ADMIN])
        .args(["--rate", "10000", "--web-dir"])
        .arg(root().join("web"))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start sync-server");
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    let addr = loop {
        line.clear();
        assert!(out.read_line(&mut line).unwrap() > 0, "server exited");
        if let Some(a) = line
            .trim()
            .strip_prefix("store server listening on http://")
        {
            break a.parse().unwrap();
        }
    };
    // Keep draining its output so it never blocks on a full pipe.
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    (Proc(child), addr)
}

/// A JSON request to the admin API; returns the body of a 2xx answer.
fn admin(addr: SocketAddr, path: &str, body: Value) -> Value {
    let mut s = TcpStream::connect(addr).unwrap();
    let body = body.to_string();
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {ADMIN}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 2"), "{path}: {head}\n{body}");
    serde_json::from_str(body).unwrap()
}

/// A store with branch B1, a browser terminal and a native terminal.
struct Store {
    _dir: tempfile::TempDir,
    data: PathBuf,
    server: Option<Proc>,
    addr: SocketAddr,
    browser_token: String,
    native: Replica,
    native_token: String,
}

impl Store {
    fn new() -> Store {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("server");
        let (server, addr) = start_server(&data, "127.0.0.1:0");
        let branch = admin(addr, "/api/branches", json!({"code": "B1", "name": "Main"}));
        let branch_id = branch["id"].as_str().unwrap().to_string();
        let reg = |code: &str| {
            admin(
                addr,
                "/api/terminals",
                json!({"branch_id": branch_id, "code": code}),
            )
        };
        let web = reg("W1");
        let native = reg("T1");
        let identity: ReplicaIdentity = serde_json::from_value(native["identity"].clone()).unwrap();
        let native_replica = Replica::open(
            dir.path().join("native.sqlite"),
            identity,
            Box::new(SystemEnv),
            &OpenOptions::default(),
        )
        .unwrap();
        Store {
            data,
            server: Some(server),
            addr,
            browser_token: web["token"].as_str().unwrap().into(),
            native: native_replica,
            native_token: native["token"].as_str().unwrap().into(),
            _dir: dir,
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn sync_url(&self) -> String {
        format!("ws://{}/sync", self.addr)
    }

    async fn native_sync(&mut self) {
        let url = self.sync_url();
        let stats = sync_server::client::sync_once(&mut self.native, &url, &self.native_token)
            .await
            .expect("native terminal syncs");
        assert!(stats.refused.is_empty(), "{stats:?}");
    }

    fn stop_server(&mut self) {
        self.server = None;
    }

    fn restart_server(&mut self) {
        let (p, addr) = start_server(&self.data, &self.addr.to_string());
        assert_eq!(addr, self.addr);
        self.server = Some(p);
    }
}

/// Headless Chromium through chromedriver, with a fresh profile.
struct Browser {
    client: Client,
    _driver: Proc,
    _profile: tempfile::TempDir,
}

impl Browser {
    async fn start() -> Browser {
        let store_tests::chromium::Session {
            client,
            driver,
            profile,
        } = store_tests::chromium::start(Duration::from_secs(120), Duration::from_secs(60))
            .await
            .expect("headless Chromium");
        let driver = Proc(driver);
        Browser {
            client,
            _driver: driver,
            _profile: profile,
        }
    }

    /// Runs `body` (an async function body; `args` holds the arguments) in
    /// the page; `Ok` with what it returns, `Err` with what it throws
    /// (`{code, message, field}` for engine errors).
    async fn js(&self, body: &str, args: Vec<Value>) -> Result<Value, Value> {
        let script = format!(
            "const done = arguments[arguments.length - 1];
             const args = Array.from(arguments).slice(0, -1);
             (async (args) => {{ {body} }})(args).then(
               (v) => done({{ ok: v === undefined ? null : v }}),
               (e) => done({{ err: {{ code: e && e.code, message: String(e && e.message || e), field: e && e.field }} }}));"
        );
        let v = self
            .client
            .execute_async(&script, args)
            .await
            .expect("script ran");
        match v.get("err") {
            Some(e) => Err(e.clone()),
            None => Ok(v["ok"].clone()),
        }
    }

    async fn ok(&self, body: &str, args: Vec<Value>) -> Value {
        match self.js(body, args).await {
            Ok(v) => v,
            Err(e) => panic!("page script failed: {e}\n{body}"),
        }
    }

    /// Opens a page of the server's origin and starts an engine there;
    /// with `wait`, until it owns the database.
    async fn open(&self, url: &str, wait: bool) {
        self.client.goto(&format!("{url}/health")).await.unwrap();
        self.ok(
            "const { Engine } = await import('/engine/client.js');
             window.__states = [];
             const e = Engine.start({ db: 'terminal' });
             e.onStatus((s) => { window.__states.push(s.state); window.__status = s; });
             window.__engine = e;
             if (args[0]) await e.ready;",
            vec![json!(wait)],
        )
        .await;
    }

    async fn call(&self, method: &str, args: Vec<Value>) -> Result<Value, Value> {
        self.js(
            "return await window.__engine[args[0]](...args[1]);",
            vec![json!(method), Value::Array(args)],
        )
        .await
    }

    async fn execute(&self, command: Value) -> Result<Value, Value> {
        self.call("execute", vec![json!("cashier"), command]).await
    }

    async fn query(&self, request: Value) -> Value {
        self.call("query", vec![request.clone()])
            .await
            .unwrap_or_else(|e| panic!("query {request} failed: {e}"))
    }

    async fn status(&self) -> Value {
        self.call("status", vec![]).await.unwrap()
    }

    /// Waits until the terminal is online and the server holds everything.
    async fn wait_synced(&self) -> Value {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let s = self.status().await;
            if s["connection"] == "online" && s["pending"] == 0 && s["unacknowledged"] == 0 {
                return s;
            }
            assert!(Instant::now() < deadline, "never synced: {s}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Pairs the page's terminal and gives it a product in stock.
async fn paired_with_stock(b: &Browser, store: &Store) -> (Value, String) {
    let identity = b
        .call(
            "pair",
            vec![json!(store.sync_url()), json!(store.browser_token)],
        )
        .await
        .expect("pairing");
    b.wait_synced().await;
    b.execute(json!({"type": "set_payment_channel", "code": "cash", "name": "Cash", "is_cash": true, "active": true}))
        .await
        .unwrap();
    let product = b
        .execute(json!({"type": "create_product", "sku": "RB-12", "name": "Rebar 12mm", "category": "rebar", "unit": "kg", "price": 95, "cost": 70}))
        .await
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    b.execute(json!({"type": "receive_stock", "lines": [{"product_id": product, "qty": 100_000}]}))
        .await
        .unwrap();
    (identity, product)
}

fn sale(product: &str, qty: i64) -> Value {
    json!({"type": "sell", "lines": [{"product_id": product, "qty": qty, "discount": 0, "tax_rate_bp": 0}],
           "payments": [{"channel": "cash", "amount": qty * 95 / 1000}]})
}

async fn invoice_count(b: &Browser, branch: &str) -> usize {
    b.query(json!({"query": "invoices_by_branch_day", "branch_id": branch, "limit": 500}))
        .await["rows"]
        .as_array()
        .unwrap()
        .len()
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs web/pkg, the sync-server binary and Chromium: run by `cargo xtask test`"]
async fn data_survives_worker_restart_and_page_reload() {
    let store = Store::new();
    let b = Browser::start().await;
    b.open(&store.url(), true).await;
    let (identity, product) = paired_with_stock(&b, &store).await;
    let branch = identity["branch_id"].as_str().unwrap().to_string();
    let sold = b.execute(sale(&product, 2_000)).await.unwrap();
    let bill = sold["number"].as_str().unwrap().to_string();
    assert_eq!(bill, "B1-W1-000001");

    let check = || async {
        let st = b.status().await;
        assert_eq!(st["paired"], true, "{st}");
        assert_eq!(st["identity"], identity);
        let id = b
            .query(json!({"query": "invoice_id_by_bill_no", "bill_no": bill}))
            .await;
        assert_eq!(id, sold["id"], "the sale is still there");
        let on_hand = b
            .query(json!({"query": "stock_on_hand", "product_id": product, "branch_id": branch}))
            .await;
        assert_eq!(on_hand, 98_000);
    };

    // The worker ends (as when the browser kills it) and starts again.
    b.ok("window.__engine.terminate();", vec![]).await;
    b.open(&store.url(), true).await;
    check().await;

    // The whole page reloads.
    b.client.refresh().await.unwrap();
    b.open(&store.url(), true).await;
    check().await;
    // Bill numbers go on from the stored counter.
    let next = b.execute(sale(&product, 1_000)).await.unwrap();
    assert_eq!(next["number"], "B1-W1-000002");
    b.client.clone().close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs web/pkg, the sync-server binary and Chromium: run by `cargo xtask test`"]
async fn a_resolved_checkout_survives_closing_the_tab() {
    let store = Store::new();
    let b = Browser::start().await;
    b.open(&store.url(), true).await;
    let (identity, product) = paired_with_stock(&b, &store).await;
    let first = b.client.window().await.unwrap();
    let other = b.client.new_window(true).await.unwrap().handle;

    // Checkout (5 lines and a payment) in the first tab, which is closed as
    // soon as the promise resolved.
    b.client.switch_to_window(first).await.unwrap();
    let lines: Vec<Value> = (0..5)
        .map(|_| json!({"product_id": product, "qty": 1_000, "discount": 0, "tax_rate_bp": 0}))
        .collect();
    let sold = b
        .execute(json!({"type": "sell", "lines": lines, "payments": [{"channel": "cash", "amount": 475}]}))
        .await
        .unwrap();
    b.client.close_window().await.unwrap();

    // The other tab takes the terminal over once the first one is gone.
    b.client.switch_to_window(other).await.unwrap();
    b.open(&store.url(), true).await;
    let detail = b
        .query(json!({"query": "invoice", "invoice_id": sold["id"]}))
        .await;
    assert_eq!(detail["header"]["bill_no"], sold["number"], "{detail}");
    assert_eq!(detail["lines"].as_array().unwrap().len(), 5);
    let on_hand = b
        .query(json!({"query": "stock_on_hand", "product_id": product, "branch_id": identity["branch_id"]}))
        .await;
    assert_eq!(on_hand, 95_000);
    b.client.clone().close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs web/pkg, the sync-server binary and Chromium: run by `cargo xtask test`"]
async fn syncs_and_converges_with_a_native_terminal_after_both_worked_offline() {
    let mut store = Store::new();
    let b = Browser::start().await;
    b.open(&store.url(), true).await;
    let (identity, product) = paired_with_stock(&b, &store).await;
    let branch = identity["branch_id"].as_str().unwrap().to_string();

    // The native terminal gets the catalogue and the browser's stock.
    store.native_sync().await;
    let native_has = Queries::new(store.native.connection())
        .stock_on_hand(&product, &branch)
        .unwrap();
    assert_eq!(native_has, 100_000);

    // The server goes away: both sides sell offline.
    store.stop_server();
    for _ in 0..3 {
        b.execute(sale(&product, 1_000)).await.unwrap();
    }
    let offline = b.status().await;
    assert_ne!(offline["connection"], "online", "{offline}");
    assert_eq!(
        offline["pending"], 3,
        "three sales wait for the server: {offline}"
    );
    for _ in 0..2 {
        store
            .native
            .execute(
                "native",
                &Command::Sell {
                    customer_id: None,
                    lines: vec![SaleLine {
                        product_id: product.clone(),
                        qty: 2_000,
                        unit_price: None,
                        discount: 0,
                        tax_rate_bp: 0,
                    }],
                    payments: vec![Tender {
                        channel: "cash".into(),
                        amount: 190,
                    }],
                    allow_negative_stock: false,
                    allow_over_credit_limit: false,
                },
            )
            .unwrap();
    }

    // The server comes back on the same address; the browser reconnects by
    // itself (backoff), the native terminal syncs, then the browser gets
    // the native sales live.
    store.restart_server();
    b.wait_synced().await;
    store.native_sync().await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while invoice_count(&b, &branch).await < 5 {
        assert!(Instant::now() < deadline, "the native sales never arrived");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    store.native_sync().await;

    // Converged: same invoices, same stock, on both terminals.
    let q = Queries::new(store.native.connection());
    let native_bills: std::collections::BTreeSet<String> = q
        .invoices_by_branch_day(&branch, "0000-01-01", "9999-12-31", None, 500)
        .unwrap()
        .rows
        .into_iter()
        .map(|r| r.bill_no)
        .collect();
    let browser_bills: std::collections::BTreeSet<String> = b
        .query(json!({"query": "invoices_by_branch_day", "branch_id": branch, "limit": 500}))
        .await["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["bill_no"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(native_bills.len(), 5, "{native_bills:?}");
    assert_eq!(native_bills, browser_bills);
    let browser_stock = b
        .query(json!({"query": "stock_on_hand", "product_id": product, "branch_id": branch}))
        .await;
    let native_stock = q.stock_on_hand(&product, &branch).unwrap();
    assert_eq!(native_stock, 100_000 - 3_000 - 4_000);
    assert_eq!(browser_stock, native_stock);
    let s = b.status().await;
    assert!(
        s["last_sync"].as_f64().is_some() && s["received"].as_u64() > Some(0),
        "{s}"
    );
    b.client.clone().close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs web/pkg, the sync-server binary and Chromium: run by `cargo xtask test`"]
async fn bad_input_from_javascript_is_refused_with_typed_errors_and_writes_nothing() {
    let store = Store::new();
    let b = Browser::start().await;
    b.open(&store.url(), true).await;
    // Before pairing: a clear code, nothing to write to.
    let e = b
        .execute(json!({"type": "open_shift", "opening_float": 0}))
        .await
        .unwrap_err();
    assert_eq!(e["code"], "not_paired", "{e}");
    let e = b
        .call("pair", vec![json!("http://nope"), json!("x")])
        .await
        .unwrap_err();
    assert_eq!(
        (e["code"].as_str(), e["field"].as_str()),
        (Some("invalid_input"), Some("server_url"))
    );
    let e = b
        .call("pair", vec![json!(store.sync_url()), json!("not-a-token")])
        .await
        .unwrap_err();
    assert_eq!(e["code"], "sync_refused", "{e}");
    assert_eq!(
        b.status().await["paired"],
        false,
        "a refused pairing leaves no terminal"
    );
    // Restoring something that is not an SQLite database.
    let e = b
        .js(
            "return await window.__engine.importDatabase(new Uint8Array(8192));",
            vec![],
        )
        .await
        .unwrap_err();
    assert_eq!(
        (e["code"].as_str(), e["field"].as_str()),
        (Some("invalid_input"), Some("data")),
        "{e}"
    );
    assert_eq!(
        b.status().await["paired"],
        false,
        "a refused restore leaves no terminal"
    );

    let (identity, product) = paired_with_stock(&b, &store).await;
    let branch = identity["branch_id"].as_str().unwrap().to_string();
    let e = b
        .js("const db = await window.__engine.exportDatabase(); return await window.__engine.importDatabase(db);", vec![])
        .await
        .unwrap_err();
    assert_eq!(
        e["code"], "already_paired",
        "a restore never overwrites a terminal's data: {e}"
    );
    let before = b.status().await;
    let invoices = invoice_count(&b, &branch).await;

    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "missing field",
            json!({"type": "sell", "payments": []}),
            "invalid_input",
        ),
        (
            "unknown command",
            json!({"type": "teleport"}),
            "invalid_input",
        ),
        ("not an object", json!("sell"), "invalid_input"),
        (
            "wrong type",
            json!({"type": "create_product", "sku": 12, "name": "x", "category": "c", "unit": "kg", "price": 1, "cost": 1}),
            "invalid_input",
        ),
        (
            "fractional money",
            json!({"type": "create_product", "sku": "S", "name": "x", "category": "c", "unit": "kg", "price": 1.5, "cost": 1}),
            "invalid_input",
        ),
        (
            "unknown product",
            sale("no-such-product", 1_000),
            "not_found",
        ),
        (
            "empty sale",
            json!({"type": "sell", "lines": []}),
            "invalid",
        ),
        ("negative quantity", sale(&product, -1_000), "invalid"),
        (
            "more than in stock",
            sale(&product, 1_000_000),
            "insufficient_stock",
        ),
        (
            "unknown invoice",
            json!({"type": "void_invoice", "invoice_id": "nope", "reason": "x"}),
            "not_found",
        ),
    ];
    for (what, command, code) in &cases {
        let e = b.execute(command.clone()).await.expect_err(what);
        assert_eq!(e["code"], *code, "{what}: {e}");
        assert!(!e["message"].as_str().unwrap().is_empty(), "{what}: {e}");
    }
    let e = b
        .call("execute", vec![json!(""), sale(&product, 1_000)])
        .await
        .unwrap_err();
    assert_eq!(
        (e["code"].as_str(), e["field"].as_str()),
        (Some("invalid_input"), Some("user"))
    );
    let bad_queries: Vec<(Value, &str)> = vec![
        (json!({"query": "nope"}), "invalid_input"),
        (
            json!({"query": "search_products", "text": "r", "branch_id": branch, "limit": 0}),
            "invalid",
        ),
        (
            json!({"query": "sales_report", "period": "day", "from": "2026-02-30"}),
            "invalid",
        ),
        (
            json!({"query": "invoice", "invoice_id": "x", "extra": 1}),
            "invalid_input",
        ),
    ];
    for (q, code) in &bad_queries {
        let e = b
            .call("query", vec![q.clone()])
            .await
            .expect_err("bad query");
        assert_eq!(e["code"], *code, "{q}: {e}");
    }

    // Nothing was written: no invoice, no change waiting for the server,
    // the stock untouched.
    assert_eq!(invoice_count(&b, &branch).await, invoices);
    let after = b.wait_synced().await;
    assert_eq!(
        after["sent"], before["sent"],
        "no change was made: {before} {after}"
    );
    let on_hand = b
        .query(json!({"query": "stock_on_hand", "product_id": product, "branch_id": branch}))
        .await;
    assert_eq!(on_hand, 100_000);
    b.client.clone().close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs web/pkg, the sync-server binary and Chromium: run by `cargo xtask test`"]
async fn a_second_tab_waits_for_the_owner_and_never_forks_the_terminal() {
    let store = Store::new();
    let b = Browser::start().await;
    b.open(&store.url(), true).await;
    let (identity, product) = paired_with_stock(&b, &store).await;
    let branch = identity["branch_id"].as_str().unwrap().to_string();
    b.execute(sale(&product, 1_000)).await.unwrap();
    let owner = b.client.window().await.unwrap();

    // A second tab of the same terminal: told that another tab holds it.
    let second = b.client.new_window(true).await.unwrap().handle;
    b.client.switch_to_window(second.clone()).await.unwrap();
    b.open(&store.url(), false).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let states = b.ok("return window.__states;", vec![]).await;
        if states.as_array().unwrap().iter().any(|s| s == "locked") {
            break;
        }
        assert!(Instant::now() < deadline, "never reported locked: {states}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A call made now waits for the terminal rather than opening a second
    // copy of the database.
    b.ok(
        "window.__pending = window.__engine.query({query: 'invoices_by_branch_day', branch_id: args[0], limit: 500});",
        vec![json!(branch)],
    )
    .await;

    // The owner keeps selling, then its tab closes.
    b.client.switch_to_window(owner).await.unwrap();
    b.execute(sale(&product, 1_000)).await.unwrap();
    b.client.close_window().await.unwrap();

    // The second tab takes over and sees everything the owner wrote; its
    // bill numbers continue the same sequence (one terminal, not two).
    b.client.switch_to_window(second).await.unwrap();
    let page = b.ok("return await window.__pending;", vec![]).await;
    assert_eq!(page["rows"].as_array().unwrap().len(), 2, "{page}");
    let third = b.execute(sale(&product, 1_000)).await.unwrap();
    assert_eq!(third["number"], "B1-W1-000003");
    assert_eq!(b.status().await["identity"], identity);
    b.client.clone().close().await.unwrap();
}
