//! The server process is killed with SIGKILL while a terminal streams sales
//! to it. Everything it acknowledged is on disk; after a restart the
//! terminal resumes and converges, and nothing is counted twice.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command as Process, Stdio};
use std::time::Duration;

use store_core::*;
use sync_server::client::{Session, sync_once};
use sync_server::terminals::Registration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const ADMIN: &str = "kill9-admin";

/// The server process; killed when dropped, so a failing test leaves no
/// server behind.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the real server binary on a free loopback port.
fn spawn(data: &std::path::Path) -> (Server, SocketAddr) {
    let mut child = Process::new(env!("CARGO_BIN_EXE_sync-server"))
        .args([
            "--data-dir",
            data.to_str().unwrap(),
            "--log",
            "warn",
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--no-demo",
            "--admin-token",
            ADMIN,
            "--rate",
            "10000",
        ])
        .stdout(Stdio::piped())
        .stderr(
            std::fs::File::create(data.with_extension("log"))
                .map(Stdio::from)
                .unwrap_or(Stdio::null()),
        )
        .spawn()
        .expect("start sync-server");
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .rsplit("http://")
        .next()
        .unwrap()
        .parse()
        .expect(&line);
    (Server(child), addr)
}

async fn post(addr: SocketAddr, path: &str, body: &str) -> serde_json::Value {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {ADMIN}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    let (a, b) = (out.find('{').unwrap(), out.rfind('}').unwrap());
    serde_json::from_str(&out[a..=b]).unwrap()
}

fn server_db(data: &std::path::Path) -> rusqlite::Connection {
    rusqlite::Connection::open(data.join("server.sqlite")).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_sales_survive_kill_9_and_the_terminal_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("server");
    let (mut child, addr) = spawn(&data);
    let url = format!("ws://{addr}/sync");
    let branch = post(addr, "/api/branches", r#"{"code":"B1","name":"Main"}"#).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let reg: Registration = serde_json::from_value(
        post(
            addr,
            "/api/terminals",
            &format!(r#"{{"branch_id":"{branch}"}}"#),
        )
        .await,
    )
    .unwrap();
    let mut t = Replica::open(
        dir.path().join("t1.sqlite"),
        reg.identity.clone(),
        Box::new(SeededEnv::new(5, 1_795_000_000_000, 1000)),
        &OpenOptions::default(),
    )
    .unwrap();
    t.execute(
        "u",
        &Command::SetPaymentChannel {
            code: "cash".into(),
            name: "Cash".into(),
            is_cash: true,
            active: true,
        },
    )
    .unwrap();
    let p = t
        .execute(
            "u",
            &Command::CreateProduct {
                sku: "NUT".into(),
                barcode: None,
                name: "Nut".into(),
                category: "fasteners".into(),
                grade: None,
                unit: "piece".into(),
                price: 40,
                cost: 20,
                min_stock: 0,
            },
        )
        .unwrap()
        .id;
    t.execute(
        "u",
        &Command::ReceiveStock {
            lines: vec![StockLineInput {
                product_id: p.clone(),
                qty: 1_000_000,
                unit_cost: None,
            }],
            note: String::new(),
        },
    )
    .unwrap();

    // Stream sales, one frame each, and kill the server once some are acknowledged.
    let mut session = Session::open(&mut t, &url, &reg.token).await.unwrap();
    const SALES: usize = 120;
    for _ in 0..SALES {
        t.execute(
            "u",
            &Command::Sell {
                customer_id: None,
                lines: vec![SaleLine {
                    product_id: p.clone(),
                    qty: 1000,
                    unit_price: None,
                    discount: 0,
                    tax_rate_bp: 0,
                }],
                payments: vec![Tender {
                    channel: "cash".into(),
                    amount: 40,
                }],
                allow_negative_stock: false,
                allow_over_credit_limit: false,
            },
        )
        .unwrap();
        session.push_local(&mut t).await.unwrap();
    }
    // The frames are in flight; once 40 are acknowledged, kill the server
    // while it is still working through the rest.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while session.stats().acks < 40 && std::time::Instant::now() < deadline {
        session
            .step(&mut t, Duration::from_millis(50))
            .await
            .unwrap();
    }
    let acks_before_kill = session.stats().acks;
    if acks_before_kill < 40 {
        let log = std::fs::read_to_string(data.with_extension("log")).unwrap_or_default();
        eprintln!("SERVER LOG:\n{}", &log[log.len().saturating_sub(4000)..]);
    }
    assert!(
        acks_before_kill >= 40,
        "the server acknowledged {acks_before_kill} frames"
    );
    // SIGKILL: no shutdown, no flush.
    child.0.kill().unwrap();
    child.0.wait().unwrap();
    drop(session);

    // Every acknowledged change is in the server's file.
    let journal = t
        .doc_ids()
        .unwrap()
        .into_iter()
        .find(|d| matches!(d, DocId::Journal { .. }))
        .unwrap();
    let synced = t.synced_heads(&url).unwrap()[&journal.to_string()].clone();
    assert!(!synced.is_empty());
    {
        let db = server_db(&data);
        for h in &synced {
            let n: i64 = db
                .query_row(
                    "SELECT count(*) FROM doc_changes WHERE hash = ?1",
                    [&h.0[..]],
                    |r| r.get(0),
                )
                .unwrap();
            assert_eq!(n, 1, "acknowledged change {h} lost");
        }
        let acked_invoices: i64 = db
            .query_row("SELECT count(*) FROM invoices", [], |r| r.get(0))
            .unwrap();
        assert!(acked_invoices >= 40, "{acked_invoices}");
    }

    // Restart on the same files; the terminal resumes and sends the rest.
    let (child, addr) = spawn(&data);
    let url2 = format!("ws://{addr}/sync");
    let sold: i64 = t
        .connection()
        .query_row("SELECT count(*) FROM invoices", [], |r| r.get(0))
        .unwrap();
    let stats = sync_once(&mut t, &url2, &reg.token).await.unwrap();
    assert!(stats.refused.is_empty(), "{stats:?}");
    sync_once(&mut t, &url2, &reg.token).await.unwrap();
    drop(child);
    let db = server_db(&data);
    let (invoices, distinct, stock): (i64, i64, i64) = db
        .query_row(
            "SELECT count(*), count(DISTINCT bill_no), (SELECT qty FROM stock_levels WHERE product_id = ?1)
             FROM invoices",
            [&p],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(invoices, sold, "every sale counted once on the server");
    assert_eq!(distinct, sold);
    assert_eq!(stock, 1_000_000 - sold * 1000);
    let mut heads = t.heads(&journal).unwrap();
    heads.sort();
    let mut server: Vec<Vec<u8>> = Vec::new();
    let stored: Vec<u8> = db
        .query_row(
            "SELECT heads FROM documents WHERE doc_id = ?1",
            [journal.to_string()],
            |r| r.get(0),
        )
        .unwrap();
    server.extend(stored.chunks(32).map(|c| c.to_vec()));
    server.sort();
    assert_eq!(
        heads.iter().map(|h| h.0.to_vec()).collect::<Vec<_>>(),
        server
    );
}
