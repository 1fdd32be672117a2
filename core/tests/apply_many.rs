//! `Replica::apply_changes_many`: several terminals' frames merged in one
//! transaction give the same result as merging them one by one, a bad
//! change is rejected alone, and a storage fault stores nothing at all.

use store_core::*;

fn replica(dir: &std::path::Path, id: &str, seed: u64) -> Replica {
    let me = ReplicaIdentity {
        replica_id: id.into(),
        branch_id: "B1".into(),
        branch_code: "B1".into(),
        terminal_code: id.into(),
    };
    Replica::open(
        dir.join(format!("{id}.sqlite")),
        me,
        Box::new(SeededEnv::new(seed, 1_790_000_000_000, 1000)),
        &OpenOptions::default(),
    )
    .unwrap()
}

fn all_changes(r: &mut Replica) -> Vec<(DocId, Vec<Vec<u8>>)> {
    r.doc_ids()
        .unwrap()
        .into_iter()
        .map(|d| {
            let ch = r.changes_since(&d, &[]).unwrap();
            (d, ch)
        })
        .collect()
}

fn sell(r: &mut Replica, product: &str) {
    r.execute(
        "u",
        &Command::Sell {
            customer_id: None,
            lines: vec![SaleLine {
                product_id: product.into(),
                qty: 1000,
                unit_price: None,
                discount: 0,
                tax_rate_bp: 0,
            }],
            payments: vec![Tender {
                channel: "cash".into(),
                amount: 1000,
            }],
            allow_negative_stock: true,
            allow_over_credit_limit: false,
        },
    )
    .unwrap();
}

/// Two terminals that share a catalogue and each made two sales.
fn two_terminals(dir: &std::path::Path) -> (Replica, Replica) {
    let mut a = replica(dir, "T1", 1);
    let mut b = replica(dir, "T2", 2);
    a.execute(
        "u",
        &Command::SetPaymentChannel {
            code: "cash".into(),
            name: "Cash".into(),
            is_cash: true,
            active: true,
        },
    )
    .unwrap();
    let p = a
        .execute(
            "u",
            &Command::CreateProduct {
                sku: "S1".into(),
                barcode: None,
                name: "Sheet".into(),
                category: "sheet".into(),
                grade: None,
                unit: "piece".into(),
                price: 1000,
                cost: 600,
                min_stock: 0,
            },
        )
        .unwrap()
        .id;
    for (d, ch) in all_changes(&mut a) {
        if d == DocId::Catalog {
            assert!(b.apply_changes(&d, ch).unwrap().rejected.is_empty());
        }
    }
    for r in [&mut a, &mut b] {
        sell(r, &p);
        sell(r, &p);
    }
    (a, b)
}

#[test]
fn a_batch_equals_the_same_frames_applied_one_by_one() {
    let dir = tempfile::tempdir().unwrap();
    let (mut a, mut b) = two_terminals(dir.path());
    let mut frames = all_changes(&mut a);
    frames.extend(all_changes(&mut b));
    // Split each journal in two frames so one document appears twice in the
    // batch, the second entry depending on the first.
    let mut batch = Vec::new();
    for (d, mut ch) in frames {
        if matches!(d, DocId::Journal { .. }) && ch.len() > 1 {
            let tail = ch.split_off(ch.len() - 1);
            batch.push((d.clone(), ch));
            batch.push((d, tail));
        } else {
            batch.push((d, ch));
        }
    }
    // A malformed change in the middle of one entry.
    let bad = batch
        .iter()
        .position(|(d, _)| matches!(d, DocId::Journal { .. }))
        .unwrap();
    batch[bad].1.insert(0, b"not a change".to_vec());

    let mut one_by_one = replica(dir.path(), "S1", 3);
    for (d, ch) in batch.clone() {
        one_by_one.apply_changes(&d, ch).unwrap();
    }
    let mut grouped = replica(dir.path(), "S2", 4);
    let reports = grouped.apply_changes_many(batch.clone()).unwrap();
    assert_eq!(reports.len(), batch.len());
    for (i, r) in reports.iter().enumerate() {
        assert_eq!(r.waiting, 0, "entry {i}: {r:?}");
        if i == bad {
            assert_eq!(r.rejected.len(), 1, "{r:?}");
            assert_eq!(r.rejected[0].0, 0);
            assert!(r.rejected[0].1.contains("malformed"), "{r:?}");
        } else {
            assert!(r.rejected.is_empty(), "entry {i}: {r:?}");
        }
    }
    assert!(reports.iter().map(|r| r.stored).sum::<usize>() > 0);
    let dump = grouped.projection_dump().unwrap();
    assert_eq!(dump, one_by_one.projection_dump().unwrap());
    for d in grouped.doc_ids().unwrap() {
        assert_eq!(grouped.heads(&d).unwrap(), one_by_one.heads(&d).unwrap());
    }
    // Applying the batch again only finds duplicates.
    let again = grouped.apply_changes_many(batch).unwrap();
    assert!(again.iter().all(|r| r.stored == 0), "{again:?}");
    // And it is all on disk: a rebuild from the stored documents agrees.
    grouped.rebuild_projection().unwrap();
    assert_eq!(grouped.projection_dump().unwrap(), dump);
}

#[test]
fn a_storage_fault_fails_the_whole_batch_and_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (mut a, mut b) = two_terminals(dir.path());
    let mut batch = all_changes(&mut a);
    batch.extend(all_changes(&mut b));
    let mut server = replica(dir.path(), "S1", 3);
    let before = server.projection_dump().unwrap();
    let docs_before = server.doc_ids().unwrap();
    let raw = rusqlite::Connection::open(dir.path().join("S1.sqlite")).unwrap();
    // Fails on the last journal's changes only: the entries before it were
    // fine, and must be rolled back with it.
    let (last, _) = batch.last().unwrap().clone();
    raw.execute_batch(&format!(
        "CREATE TRIGGER boom BEFORE INSERT ON doc_changes WHEN NEW.doc_id = '{last}'
         BEGIN SELECT RAISE(ABORT, 'injected'); END;"
    ))
    .unwrap();
    let err = server.apply_changes_many(batch.clone()).unwrap_err();
    assert!(err.to_string().contains("injected"), "{err}");
    assert_eq!(server.projection_dump().unwrap(), before);
    assert_eq!(server.doc_ids().unwrap(), docs_before);
    for (d, _) in &batch {
        if !docs_before.contains(d) {
            assert!(server.heads(d).unwrap().is_empty(), "{d} stored");
        }
    }

    raw.execute_batch("DROP TRIGGER boom").unwrap();
    let reports = server.apply_changes_many(batch).unwrap();
    assert!(reports.iter().all(|r| r.rejected.is_empty()), "{reports:?}");
    let mut expected = replica(dir.path(), "S2", 4);
    for (d, ch) in all_changes(&mut a).into_iter().chain(all_changes(&mut b)) {
        expected.apply_changes(&d, ch).unwrap();
    }
    assert_eq!(
        server.projection_dump().unwrap(),
        expected.projection_dump().unwrap()
    );
}
