//! Two replicas exchange changes in both directions and end identical.

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

fn sync(a: &mut Replica, b: &mut Replica) {
    for d in a.doc_ids().unwrap() {
        let ch = a.changes_since(&d, &[]).unwrap();
        let rep = b.apply_changes(&d, ch).unwrap();
        assert!(rep.rejected.is_empty(), "{rep:?}");
    }
}

#[test]
fn two_replicas_converge_after_offline_sales() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = replica(dir.path(), "T1", 1);
    let mut b = replica(dir.path(), "T2", 2);
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
    a.execute(
        "u",
        &Command::ReceiveStock {
            lines: vec![StockLineInput {
                product_id: p.clone(),
                qty: 1000,
                unit_cost: None,
            }],
            note: String::new(),
        },
    )
    .unwrap();
    sync(&mut a, &mut b);
    assert_eq!(a.projection_dump().unwrap(), b.projection_dump().unwrap());
    // Both sell the last unit offline.
    for r in [&mut a, &mut b] {
        r.execute(
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
                    amount: 1000,
                }],
                allow_negative_stock: false,
                allow_over_credit_limit: false,
            },
        )
        .unwrap();
    }
    sync(&mut a, &mut b);
    sync(&mut b, &mut a);
    let da = a.projection_dump().unwrap();
    assert_eq!(da, b.projection_dump().unwrap());
    assert_eq!(
        query::Queries::new(a.connection())
            .stock_on_hand(&p, "B1")
            .unwrap(),
        -1000
    );
    a.rebuild_projection().unwrap();
    assert_eq!(da, a.projection_dump().unwrap());
}

#[test]
fn a_phone_is_found_as_typed_and_as_bare_digits() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = replica(dir.path(), "T1", 3);
    let c = a
        .execute(
            "u",
            &Command::CreateCustomer {
                name: "Rania Saleh".into(),
                phone: Some("+971 50-111 0001".into()),
                address: None,
                credit_limit: 0,
                tags: vec![],
            },
        )
        .unwrap()
        .id;
    let q = query::Queries::new(a.connection());
    for typed in ["971501110001", "9715011", "50 111", "rania", "Sal"] {
        let hits = q.search_customers(typed, None, 10).unwrap();
        assert_eq!(
            hits.rows.iter().map(|h| h.id.clone()).collect::<Vec<_>>(),
            vec![c.clone()],
            "{typed}"
        );
    }
    assert!(
        q.search_customers("9715022", None, 10)
            .unwrap()
            .rows
            .is_empty()
    );
}

fn product(sku: &str) -> Command {
    Command::CreateProduct {
        sku: sku.into(),
        barcode: None,
        name: format!("Sheet {sku}"),
        category: "sheet".into(),
        grade: None,
        unit: "piece".into(),
        price: 1000,
        cost: 600,
        min_stock: 0,
    }
}

/// The server publishes only the hashes `known_heads` confirms, and a
/// terminal's `have` may name changes the other side never got: both
/// lookups must answer for the changes the replica holds, and only those.
#[test]
fn known_heads_and_changes_since_answer_only_for_held_changes() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = replica(dir.path(), "T1", 1);
    let mut b = replica(dir.path(), "T2", 2);
    a.execute("u", &product("S1")).unwrap();
    sync(&mut a, &mut b);
    let first = a.heads(&DocId::Catalog).unwrap();
    a.execute("u", &product("S2")).unwrap();
    let second = a.heads(&DocId::Catalog).unwrap();
    assert_ne!(first, second);
    let forged = ChangeHash([7; 32]);

    let asked: Vec<ChangeHash> = first
        .iter()
        .chain(&second)
        .copied()
        .chain([forged])
        .collect();
    let mut known = b.known_heads(&DocId::Catalog, &asked).unwrap();
    known.sort();
    let mut want = first.clone();
    want.sort();
    assert_eq!(known, want, "b holds the first heads only");
    assert_eq!(a.known_heads(&DocId::Catalog, &[forged]).unwrap(), vec![]);

    // Unknown hashes in `have` are ignored: b has nothing past `first`.
    assert!(b.changes_since(&DocId::Catalog, &asked).unwrap().is_empty());
    // a sends exactly what b lacks, and b then holds the second heads.
    let missing = a.changes_since(&DocId::Catalog, &first).unwrap();
    assert!(!missing.is_empty());
    let all = a.changes_since(&DocId::Catalog, &[]).unwrap();
    assert!(missing.len() < all.len());
    b.apply_changes(&DocId::Catalog, missing).unwrap();
    assert_eq!(
        b.known_heads(&DocId::Catalog, &second).unwrap().len(),
        second.len()
    );
}
