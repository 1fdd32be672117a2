//! Terminals sync through a real server on a loopback port, over real
//! WebSockets, each on its own SQLite file.

use std::net::SocketAddr;
use std::path::Path;

use futures_util::{SinkExt, StreamExt};
use store_core::sync::{self, DocSummary, Frame};
use store_core::*;
use sync_server::client::{ClientError, sync_once};
use sync_server::terminals::Registration;
use sync_server::{Config, Limits, Running};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;

const ADMIN: &str = "admin-secret";

async fn start(dir: &Path, limits: Limits) -> Running {
    sync_server::serve(Config {
        bind: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.join("server"),
        admin_token: Some(ADMIN.into()),
        limits,
        maintenance: Default::default(),
        web_dir: None,
    })
    .await
    .unwrap()
}

/// A plain HTTP/1.1 request over a TCP socket; returns status and JSON body.
async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: &str,
    body: &str,
) -> (u16, serde_json::Value) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8_lossy(&out).to_string();
    let status: u16 = text[9..12].parse().unwrap();
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("");
    // Chunked or not, the JSON object is the part between the outer braces.
    let json = match (body.find('{'), body.rfind('}')) {
        (Some(a), Some(b)) => serde_json::from_str(&body[a..=b]).unwrap_or(serde_json::Value::Null),
        _ => serde_json::Value::Null,
    };
    (status, json)
}

async fn branch(addr: SocketAddr, code: &str) -> String {
    let (status, json) = http(
        addr,
        "POST",
        "/api/branches",
        ADMIN,
        &format!(r#"{{"code":"{code}","name":"Branch {code}"}}"#),
    )
    .await;
    assert_eq!(status, 201, "{json}");
    json["id"].as_str().unwrap().to_string()
}

async fn register(addr: SocketAddr, branch_id: &str) -> Registration {
    let (status, json) = http(
        addr,
        "POST",
        "/api/terminals",
        ADMIN,
        &format!(r#"{{"branch_id":"{branch_id}"}}"#),
    )
    .await;
    assert_eq!(status, 201, "{json}");
    serde_json::from_value(json).unwrap()
}

fn terminal(dir: &Path, reg: &Registration, seed: u64) -> Replica {
    Replica::open(
        dir.join(format!("{}.sqlite", reg.identity.replica_id)),
        reg.identity.clone(),
        Box::new(SeededEnv::new(seed, 1_795_000_000_000, 1000)),
        &OpenOptions::default(),
    )
    .unwrap()
}

fn url(addr: SocketAddr) -> String {
    format!("ws://{addr}/sync")
}

fn cash_sale(p: &str, qty: Qty, pay: Money) -> Command {
    Command::Sell {
        customer_id: None,
        lines: vec![SaleLine {
            product_id: p.into(),
            qty,
            unit_price: Some(pay * 1000 / qty),
            discount: 0,
            tax_rate_bp: 0,
        }],
        payments: vec![Tender {
            channel: "cash".into(),
            amount: pay,
        }],
        allow_negative_stock: true,
        allow_over_credit_limit: false,
    }
}

async fn server_heads(running: &Running, doc: DocId) -> Vec<ChangeHash> {
    running
        .state
        .store
        .write(move |r| r.heads(&doc).unwrap())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminals_of_two_branches_converge_through_the_server_in_any_order() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path(), Limits::default()).await;
    let addr = running.addr;
    let b1 = branch(addr, "B1").await;
    let b2 = branch(addr, "B2").await;
    let regs = [
        register(addr, &b1).await,
        register(addr, &b1).await,
        register(addr, &b2).await,
    ];
    assert_eq!(regs[0].identity.replica_id, "B1-T1");
    assert_eq!(regs[1].identity.replica_id, "B1-T2");
    assert_eq!(regs[2].identity.replica_id, "B2-T1");
    let mut t: Vec<Replica> = regs
        .iter()
        .enumerate()
        .map(|(i, r)| terminal(dir.path(), r, i as u64))
        .collect();

    // T1 sets up the catalogue and receives stock; everyone syncs.
    t[0].execute(
        "u",
        &Command::SetPaymentChannel {
            code: "cash".into(),
            name: "Cash".into(),
            is_cash: true,
            active: true,
        },
    )
    .unwrap();
    let p = t[0]
        .execute(
            "u",
            &Command::CreateProduct {
                sku: "PIPE-1".into(),
                barcode: None,
                name: "Pipe".into(),
                category: "pipe".into(),
                grade: None,
                unit: "metre".into(),
                price: 500,
                cost: 300,
                min_stock: 0,
            },
        )
        .unwrap()
        .id;
    t[0].execute(
        "u",
        &Command::ReceiveStock {
            lines: vec![StockLineInput {
                product_id: p.clone(),
                qty: 10_000,
                unit_cost: None,
            }],
            note: String::new(),
        },
    )
    .unwrap();
    for i in 0..3 {
        let stats = sync_once(&mut t[i], &url(addr), &regs[i].token)
            .await
            .unwrap();
        assert!(stats.refused.is_empty(), "{stats:?}");
    }
    // Offline work everywhere, including a customer and a price edit.
    for round in 0..3 {
        for terminal in t.iter_mut() {
            terminal.execute("u", &cash_sale(&p, 1000, 500)).unwrap();
        }
        t[1].execute(
            "u",
            &Command::CreateCustomer {
                name: format!("Cust {round}"),
                phone: None,
                address: None,
                credit_limit: 0,
                tags: vec![],
            },
        )
        .unwrap();
        t[2].execute(
            "u",
            &Command::UpdateProduct {
                product_id: p.clone(),
                name: None,
                category: None,
                price: Some(600 + round),
                cost: None,
                min_stock: None,
                status: None,
                barcode: None,
            },
        )
        .unwrap();
        // Reconnect in a different order each round.
        let order: Vec<usize> = match round {
            0 => vec![2, 0, 1],
            1 => vec![1, 2, 0],
            _ => vec![0, 1, 2],
        };
        for i in order {
            sync_once(&mut t[i], &url(addr), &regs[i].token)
                .await
                .unwrap();
        }
    }
    // A final round lets everyone receive what the others sent last.
    for _ in 0..2 {
        for i in 0..3 {
            sync_once(&mut t[i], &url(addr), &regs[i].token)
                .await
                .unwrap();
        }
    }
    // Same branch: identical documents and identical tables.
    assert_eq!(
        t[0].projection_dump().unwrap(),
        t[1].projection_dump().unwrap()
    );
    for (i, terminal) in t.iter_mut().enumerate() {
        for doc in terminal.doc_ids().unwrap() {
            let mine = terminal.heads(&doc).unwrap();
            let mut theirs = server_heads(&running, doc.clone()).await;
            let mut mine_sorted = mine.clone();
            mine_sorted.sort();
            theirs.sort();
            assert_eq!(mine_sorted, theirs, "terminal {i} document {doc}");
        }
    }
    // The other branch holds the shared documents and its own, nothing of B1's journals.
    let b2_docs = t[2].doc_ids().unwrap();
    assert!(
        b2_docs.iter().all(|d| match d {
            DocId::Journal { terminal, .. } => terminal == "B2-T1",
            DocId::Workshop { branch, .. } => *branch == b2,
            _ => true,
        }),
        "{b2_docs:?}"
    );
    assert!(b2_docs.contains(&DocId::Catalog));
    // Stock at B1 counts both B1 terminals' sales on both B1 terminals and the server.
    let q = |r: &Replica| {
        query::Queries::new(r.connection())
            .stock_on_hand(&p, &b1)
            .unwrap()
    };
    assert_eq!(q(&t[0]), 10_000 - 6 * 1000);
    assert_eq!(q(&t[1]), q(&t[0]));
    let server_stock: i64 = running
        .state
        .store
        .read({
            let p = p.clone();
            let b1 = b1.clone();
            move |c| query::Queries::new(c).stock_on_hand(&p, &b1)
        })
        .await
        .unwrap();
    assert_eq!(server_stock, q(&t[0]));
    // Bill numbers stay unique across the chain.
    let bills: i64 = running
        .state
        .store
        .read(|c| {
            c.query_row(
                "SELECT count(DISTINCT bill_no) - count(*) FROM invoices",
                [],
                |r| r.get(0),
            )
        })
        .await
        .unwrap();
    assert_eq!(bills, 0);
    let invoices: i64 = running
        .state
        .store
        .read(|c| c.query_row("SELECT count(*) FROM invoices", [], |r| r.get(0)))
        .await
        .unwrap();
    assert_eq!(invoices, 9);
}

/// Opens a raw WebSocket and sends a Hello with `token`.
async fn raw(
    addr: SocketAddr,
    token: &str,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    let (mut ws, _) = tokio_tungstenite::connect_async(url(addr)).await.unwrap();
    let hello = Frame::Hello {
        token: token.into(),
        docs: Vec::<DocSummary>::new(),
    };
    ws.send(Message::Binary(sync::encode(&hello).into()))
        .await
        .unwrap();
    ws
}

/// Reads until the server closes; returns the close code.
async fn close_code(
    ws: &mut tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
) -> Option<u16> {
    loop {
        match tokio::time::timeout(std::time::Duration::from_secs(10), ws.next())
            .await
            .ok()?
        {
            Some(Ok(Message::Close(f))) => return f.map(|f| u16::from(f.code)),
            Some(Ok(_)) => continue,
            Some(Err(_)) | None => return None,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_with_a_close_code_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(
        dir.path(),
        Limits {
            max_frame_bytes: 64 * 1024,
            ..Limits::default()
        },
    )
    .await;
    let addr = running.addr;
    let b1 = branch(addr, "B1").await;
    let b2 = branch(addr, "B2").await;
    let reg1 = register(addr, &b1).await;
    let reg2 = register(addr, &b2).await;
    let mut t1 = terminal(dir.path(), &reg1, 1);
    t1.execute(
        "u",
        &Command::SetPaymentChannel {
            code: "cash".into(),
            name: "Cash".into(),
            is_cash: true,
            active: true,
        },
    )
    .unwrap();
    sync_once(&mut t1, &url(addr), &reg1.token).await.unwrap();
    let docs_before: i64 = running
        .state
        .store
        .read(|c| c.query_row("SELECT count(*) FROM doc_changes", [], |r| r.get(0)))
        .await
        .unwrap();

    // Wrong token.
    let mut ws = raw(addr, "not-a-token").await;
    assert_eq!(close_code(&mut ws).await, Some(4401));
    // Random bytes instead of a Hello.
    let (mut ws, _) = tokio_tungstenite::connect_async(url(addr)).await.unwrap();
    ws.send(Message::Binary(vec![1, 2, 3, 4].into()))
        .await
        .unwrap();
    assert_eq!(close_code(&mut ws).await, Some(4400));
    // A truncated frame after a good Hello.
    let mut ws = raw(addr, &reg1.token).await;
    let frame = sync::encode(&Frame::Changes {
        seq: 1,
        doc: "catalog".into(),
        changes: vec![vec![0; 10]],
        heads: vec![],
    });
    ws.send(Message::Binary(frame[..frame.len() - 3].to_vec().into()))
        .await
        .unwrap();
    assert_eq!(close_code(&mut ws).await, Some(4400));
    // Writing another branch's journal.
    let mut ws = raw(addr, &reg1.token).await;
    let frame = sync::encode(&Frame::Changes {
        seq: 1,
        doc: format!("journal/{}/202611", reg2.identity.replica_id),
        changes: vec![],
        heads: vec![],
    });
    ws.send(Message::Binary(frame.into())).await.unwrap();
    assert_eq!(close_code(&mut ws).await, Some(4403));
    // An oversized frame.
    let mut ws = raw(addr, &reg1.token).await;
    let frame = sync::encode(&Frame::Changes {
        seq: 1,
        doc: "catalog".into(),
        changes: vec![vec![7; 100 * 1024]],
        heads: vec![],
    });
    let _ = ws.send(Message::Binary(frame.into())).await;
    let code = close_code(&mut ws).await;
    assert!(
        code.is_none() || code == Some(1009) || code == Some(4413),
        "{code:?}"
    );

    // A forged actor: T1 sends a change made by B2-T1's actor; it is refused
    // in the Ack while T1's genuine change in the same frame is stored.
    let mut t2 = terminal(dir.path(), &reg2, 2);
    t2.execute(
        "u",
        &Command::CreateCustomer {
            name: "Forged".into(),
            phone: None,
            address: None,
            credit_limit: 0,
            tags: vec![],
        },
    )
    .unwrap();
    let forged_doc = t2
        .doc_ids()
        .unwrap()
        .into_iter()
        .find(|d| matches!(d, DocId::Customers(_)))
        .unwrap();
    let forged = t2.changes_since(&forged_doc, &[]).unwrap();
    let mut ws = raw(addr, &reg1.token).await;
    let frame = sync::encode(&Frame::Changes {
        seq: 9,
        doc: forged_doc.to_string(),
        changes: forged.clone(),
        heads: vec![],
    });
    ws.send(Message::Binary(frame.into())).await.unwrap();
    let ack = loop {
        match ws.next().await.unwrap().unwrap() {
            Message::Binary(b) => match sync::decode(&b).unwrap() {
                a @ Frame::Ack { .. } => break a,
                _ => continue,
            },
            _ => continue,
        }
    };
    let Frame::Ack {
        seq,
        stored,
        rejected,
        ..
    } = ack
    else {
        unreachable!()
    };
    assert_eq!(seq, 9);
    assert_eq!(stored, 0, "only the shared genesis, already known");
    assert_eq!(rejected.len(), 1, "{rejected:?}");
    assert!(rejected[0].1.contains("is not terminal"), "{rejected:?}");
    drop(ws);

    // Nothing changed on the server, and T1 still syncs normally.
    let docs_after: i64 = running
        .state
        .store
        .read(|c| c.query_row("SELECT count(*) FROM doc_changes", [], |r| r.get(0)))
        .await
        .unwrap();
    assert_eq!(docs_after, docs_before);
    t1.execute(
        "u",
        &Command::CreateCustomer {
            name: "Real".into(),
            phone: None,
            address: None,
            credit_limit: 0,
            tags: vec![],
        },
    )
    .unwrap();
    let stats = sync_once(&mut t1, &url(addr), &reg1.token).await.unwrap();
    assert!(stats.refused.is_empty() && stats.sent > 0, "{stats:?}");

    // A revoked token stops working at once.
    let (status, _) = http(
        addr,
        "DELETE",
        &format!("/api/terminals/{}", reg1.identity.replica_id),
        ADMIN,
        "",
    )
    .await;
    assert_eq!(status, 204);
    match sync_once(&mut t1, &url(addr), &reg1.token).await {
        Err(ClientError::Refused { code, .. }) => assert_eq!(code, sync::ErrorCode::Unauthorized),
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn goods_transferred_to_another_branch_reach_its_terminals() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path(), Limits::default()).await;
    let addr = running.addr;
    let b1 = branch(addr, "B1").await;
    let b2 = branch(addr, "B2").await;
    let (r1, r2) = (register(addr, &b1).await, register(addr, &b2).await);
    let (mut t1, mut t2) = (terminal(dir.path(), &r1, 1), terminal(dir.path(), &r2, 2));
    // The branches exist in the catalogue each terminal receives.
    sync_once(&mut t1, &url(addr), &r1.token).await.unwrap();
    t1.execute(
        "u",
        &Command::SetPaymentChannel {
            code: "cash".into(),
            name: "Cash".into(),
            is_cash: true,
            active: true,
        },
    )
    .unwrap();
    let p = t1
        .execute(
            "u",
            &Command::CreateProduct {
                sku: "BEAM".into(),
                barcode: None,
                name: "Beam".into(),
                category: "beam".into(),
                grade: None,
                unit: "piece".into(),
                price: 9000,
                cost: 7000,
                min_stock: 0,
            },
        )
        .unwrap()
        .id;
    t1.execute(
        "u",
        &Command::ReceiveStock {
            lines: vec![StockLineInput {
                product_id: p.clone(),
                qty: 10_000,
                unit_cost: None,
            }],
            note: String::new(),
        },
    )
    .unwrap();
    t1.execute(
        "u",
        &Command::TransferStock {
            to_branch: b2.clone(),
            lines: vec![StockLineInput {
                product_id: p.clone(),
                qty: 4000,
                unit_cost: None,
            }],
            note: "weekly".into(),
            allow_negative_stock: false,
        },
    )
    .unwrap();
    sync_once(&mut t1, &url(addr), &r1.token).await.unwrap();
    sync_once(&mut t2, &url(addr), &r2.token).await.unwrap();
    let stock = |r: &Replica, b: &str| {
        query::Queries::new(r.connection())
            .stock_on_hand(&p, b)
            .unwrap()
    };
    assert_eq!(stock(&t1, &b1), 6000);
    assert_eq!(stock(&t2, &b2), 4000, "the receiving branch sees the goods");
    assert!(t2.doc_ids().unwrap().iter().all(
        |d| !matches!(d, DocId::Journal { terminal, .. } if *terminal == r1.identity.replica_id)
    ));
    // B2 sells from them.
    t2.execute("u", &cash_sale(&p, 1000, 9000)).unwrap();
    sync_once(&mut t2, &url(addr), &r2.token).await.unwrap();
    let (p2, b1c, b2c) = (p.clone(), b1.clone(), b2.clone());
    let (s1, s2) = running
        .state
        .store
        .read(move |c| {
            let q = query::Queries::new(c);
            Ok((q.stock_on_hand(&p2, &b1c)?, q.stock_on_hand(&p2, &b2c)?))
        })
        .await
        .unwrap();
    assert_eq!((s1, s2), (6000, 3000));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_malformed_change_among_valid_ones_does_not_block_them() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path(), Limits::default()).await;
    let addr = running.addr;
    let b1 = branch(addr, "B1").await;
    let reg = register(addr, &b1).await;
    let mut t = terminal(dir.path(), &reg, 3);
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
    sync_once(&mut t, &url(addr), &reg.token).await.unwrap();
    // Two new changes in the catalogue, sent with garbage between them.
    let before = t.heads(&DocId::Catalog).unwrap();
    for code in ["card", "bank"] {
        t.execute(
            "u",
            &Command::SetPaymentChannel {
                code: code.into(),
                name: code.into(),
                is_cash: false,
                active: true,
            },
        )
        .unwrap();
    }
    let new = t.changes_since(&DocId::Catalog, &before).unwrap();
    assert_eq!(new.len(), 2);
    let mut ws = raw(addr, &reg.token).await;
    let frame = Frame::Changes {
        seq: 5,
        doc: "catalog".into(),
        changes: vec![new[0].clone(), b"not a change".to_vec(), new[1].clone()],
        heads: vec![],
    };
    ws.send(Message::Binary(sync::encode(&frame).into()))
        .await
        .unwrap();
    let ack = loop {
        if let Message::Binary(b) = ws.next().await.unwrap().unwrap()
            && let a @ Frame::Ack { .. } = sync::decode(&b).unwrap()
        {
            break a;
        }
    };
    let Frame::Ack {
        stored,
        rejected,
        heads,
        ..
    } = ack
    else {
        unreachable!()
    };
    assert_eq!(stored, 2);
    assert_eq!(rejected.iter().map(|r| r.0).collect::<Vec<_>>(), vec![1]);
    let mut mine = t.heads(&DocId::Catalog).unwrap();
    mine.sort();
    let mut theirs = sync::from_wire(&heads);
    theirs.sort();
    assert_eq!(mine, theirs, "both valid changes are on the server");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backups_are_verified_copies_and_only_the_newest_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path(), Limits::default()).await;
    branch(running.addr, "B1").await;
    let backups = dir.path().join("server").join("backups");
    let mut made = Vec::new();
    for _ in 0..4 {
        made.push(
            sync_server::backup(&running.state.store, &backups, 2)
                .await
                .unwrap()
                .unwrap(),
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let left: Vec<_> = std::fs::read_dir(&backups)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(left.len(), 2, "{left:?}");
    assert!(left.contains(&made[3]) && left.contains(&made[2]));
    let copy = rusqlite::Connection::open(&made[3]).unwrap();
    let branches: i64 = copy
        .query_row("SELECT count(*) FROM branches", [], |r| r.get(0))
        .unwrap();
    assert_eq!(branches, 1);
}
