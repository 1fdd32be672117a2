//! Group commit in the server's store: frames queued while the writer is
//! busy are merged in one transaction, each caller gets its own report, and
//! a bad frame among them is rejected alone.

use std::time::Duration;

use store_core::*;
use sync_server::store::{Store, StoreOptions};

fn terminal(dir: &std::path::Path, n: usize) -> Replica {
    let me = ReplicaIdentity {
        replica_id: format!("B1-T{n}"),
        branch_id: "B1".into(),
        branch_code: "B1".into(),
        terminal_code: format!("T{n}"),
    };
    Replica::open(
        dir.join(format!("t{n}.sqlite")),
        me,
        Box::new(SeededEnv::new(n as u64, 1_795_000_000_000, 1000)),
        &OpenOptions::default(),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_frames_share_one_commit_and_keep_their_own_reports() {
    let dir = tempfile::tempdir().unwrap();
    let store =
        Store::open_with(&dir.path().join("server.sqlite"), &StoreOptions::default()).unwrap();
    // One terminal sets up the catalogue; the others receive it and each
    // makes one sale in its own journal.
    let mut first = terminal(dir.path(), 0);
    first
        .execute(
            "u",
            &Command::SetPaymentChannel {
                code: "cash".into(),
                name: "Cash".into(),
                is_cash: true,
                active: true,
            },
        )
        .unwrap();
    let p = first
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
    let catalog = first.changes_since(&DocId::Catalog, &[]).unwrap();
    const N: usize = 12;
    let mut frames = Vec::new();
    for n in 1..=N {
        let mut t = terminal(dir.path(), n);
        t.apply_changes(&DocId::Catalog, catalog.clone()).unwrap();
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
                allow_negative_stock: true,
                allow_over_credit_limit: false,
            },
        )
        .unwrap();
        let journal = t
            .doc_ids()
            .unwrap()
            .into_iter()
            .find(|d| matches!(d, DocId::Journal { .. }))
            .unwrap();
        frames.push((journal.clone(), t.changes_since(&journal, &[]).unwrap()));
    }
    // A frame with a malformed change before a valid one.
    frames[3].1.insert(0, b"garbage".to_vec());
    store.merge(DocId::Catalog, catalog).await.unwrap().unwrap();

    // Hold the writer so that every frame is queued before it looks.
    let (release, held) = std::sync::mpsc::channel::<()>();
    let (started, running) = tokio::sync::oneshot::channel::<()>();
    let blocker = {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .write(move |_| {
                    let _ = started.send(());
                    held.recv().ok()
                })
                .await
        })
    };
    // The writer is inside the blocker before any frame is queued.
    running.await.unwrap();
    let mut calls = Vec::new();
    for (doc, changes) in frames {
        let store = store.clone();
        calls.push(tokio::spawn(async move { store.merge(doc, changes).await }));
    }
    // Bounded wait (not a timed assertion): every frame is in the queue
    // behind the blocker.
    for _ in 0..500 {
        if store.queued() >= N {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(store.queued() >= N, "queued: {}", store.queued());
    release.send(()).unwrap();
    blocker.await.unwrap().unwrap();
    for (i, call) in calls.into_iter().enumerate() {
        let merged = call.await.unwrap().unwrap().unwrap();
        assert_eq!(
            merged.group, N,
            "frame {i} merged in a group of {}",
            merged.group
        );
        // The sale, and the journal's genesis stored with the new document.
        assert_eq!(merged.report.stored, 2, "frame {i}: {:?}", merged.report);
        assert_eq!(merged.stored.len(), 2, "frame {i}: published");
        assert!(!merged.heads.is_empty());
        if i == 3 {
            assert_eq!(merged.report.rejected.len(), 1, "{:?}", merged.report);
            assert_eq!(merged.report.rejected[0].0, 0);
        } else {
            assert!(merged.report.rejected.is_empty(), "{:?}", merged.report);
        }
    }
    let invoices: i64 = store
        .write(|r| {
            r.connection()
                .query_row("SELECT count(*) FROM invoices", [], |x| x.get(0))
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(invoices, N as i64);
}
