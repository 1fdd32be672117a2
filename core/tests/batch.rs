//! `execute_batch`: many commands, one transaction, one change per document.

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

fn count(r: &Replica, sql: &str) -> i64 {
    r.connection().query_row(sql, [], |row| row.get(0)).unwrap()
}

fn product(sku: &str) -> Command {
    Command::CreateProduct {
        sku: sku.into(),
        barcode: None,
        name: format!("Item {sku}"),
        category: "pipe".into(),
        grade: None,
        unit: "metre".into(),
        price: 1234,
        cost: 800,
        min_stock: 0,
    }
}

fn sale(p: &str, qty: Qty, pay: Money) -> Command {
    Command::Sell {
        customer_id: None,
        lines: vec![SaleLine {
            product_id: p.into(),
            qty,
            unit_price: None,
            discount: 0,
            tax_rate_bp: 0,
        }],
        payments: vec![Tender {
            channel: "cash".into(),
            amount: pay,
        }],
        allow_negative_stock: false,
        allow_over_credit_limit: false,
    }
}

#[test]
fn a_batch_validates_each_command_against_the_ones_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = replica(dir.path(), "T1", 1);
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
    let p = a.execute("u", &product("P-1")).unwrap().id;
    const WRITTEN: &str = "SELECT count(*) FROM doc_changes WHERE actor <> CAST('genesis' AS BLOB)";
    let changes_before = count(&a, WRITTEN);
    let results = a
        .execute_batch(
            "u",
            &[
                // Refused: nothing on hand yet.
                sale(&p, 1000, 1234),
                Command::ReceiveStock {
                    lines: vec![StockLineInput {
                        product_id: p.clone(),
                        qty: 2000,
                        unit_cost: None,
                    }],
                    note: String::new(),
                },
                // Accepted: the receipt above is visible to it.
                sale(&p, 1000, 1234),
                sale(&p, 1000, 1234),
                // Refused: the two sales above took the stock.
                sale(&p, 1000, 1234),
                // Refused: duplicate SKU of a product created in this batch.
                product("P-2"),
                product("P-2"),
            ],
        )
        .unwrap();
    let codes: Vec<&str> = results
        .iter()
        .map(|r| r.as_ref().map(|_| "ok").unwrap_or_else(|e| e.code()))
        .collect();
    assert_eq!(
        codes,
        [
            "insufficient_stock",
            "ok",
            "ok",
            "ok",
            "insufficient_stock",
            "ok",
            "duplicate"
        ]
    );
    let bills: Vec<String> = results
        .iter()
        .filter_map(|r| r.as_ref().ok()?.number.clone())
        .collect();
    assert_eq!(bills, ["B1-T1-000001", "B1-T1-000002"]);
    assert_eq!(
        query::Queries::new(a.connection())
            .stock_on_hand(&p, "B1")
            .unwrap(),
        0
    );
    // One change per document touched, the journal and the catalog (the new
    // journal's genesis aside).
    assert_eq!(count(&a, WRITTEN) - changes_before, 2);
    let msg: String = a
        .connection()
        .query_row(
            "SELECT message FROM doc_changes ORDER BY seq DESC LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(
        msg.contains("\"batch\"") && msg.contains("\"sell\":2"),
        "{msg}"
    );

    // Another replica merges the batch's changes to the same tables.
    let mut b = replica(dir.path(), "T2", 2);
    for d in a.doc_ids().unwrap() {
        let ch = a.changes_since(&d, &[]).unwrap();
        assert!(b.apply_changes(&d, ch).unwrap().rejected.is_empty());
    }
    assert_eq!(a.projection_dump().unwrap(), b.projection_dump().unwrap());
    a.rebuild_projection().unwrap();
    assert_eq!(a.projection_dump().unwrap(), b.projection_dump().unwrap());
}

#[test]
fn a_batch_of_only_refused_commands_writes_nothing_and_too_large_batches_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = replica(dir.path(), "T1", 1);
    let before = a.projection_dump().unwrap();
    let results = a
        .execute_batch(
            "u",
            &[
                sale("nope", 1000, 1),
                Command::OpenShift { opening_float: -1 },
            ],
        )
        .unwrap();
    assert!(results.iter().all(|r| r.is_err()));
    assert_eq!(a.projection_dump().unwrap(), before);
    assert_eq!(count(&a, "SELECT count(*) FROM doc_changes"), 0);
    let too_many = vec![Command::OpenShift { opening_float: 0 }; MAX_BATCH + 1];
    assert_eq!(
        a.execute_batch("u", &too_many).unwrap_err().code(),
        "invalid"
    );
}

#[test]
fn the_largest_batch_of_sales_fits_in_one_change_other_replicas_accept() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = replica(dir.path(), "T1", 1);
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
    let products: Vec<String> = (0..5)
        .map(|i| a.execute("u", &product(&format!("P-{i}"))).unwrap().id)
        .collect();
    a.execute(
        "u",
        &Command::ReceiveStock {
            lines: products
                .iter()
                .map(|p| StockLineInput {
                    product_id: p.clone(),
                    qty: 10_000_000,
                    unit_cost: None,
                })
                .collect(),
            note: String::new(),
        },
    )
    .unwrap();
    let five_lines = Command::Sell {
        customer_id: None,
        lines: products
            .iter()
            .map(|p| SaleLine {
                product_id: p.clone(),
                qty: 1500,
                unit_price: None,
                discount: 10,
                tax_rate_bp: 1500,
            })
            .collect(),
        payments: vec![Tender {
            channel: "cash".into(),
            amount: 5 * (1851 - 10 + 276),
        }],
        allow_negative_stock: false,
        allow_over_credit_limit: false,
    };
    let results = a.execute_batch("u", &vec![five_lines; MAX_BATCH]).unwrap();
    assert!(
        results.iter().all(|r| r.is_ok()),
        "{:?}",
        results.iter().find(|r| r.is_err())
    );
    let largest: i64 = count(&a, "SELECT max(length(bytes)) FROM doc_changes");
    assert!(largest < MAX_CHANGE_BYTES as i64, "{largest} bytes");
    let mut b = replica(dir.path(), "T2", 2);
    for d in a.doc_ids().unwrap() {
        let ch = a.changes_since(&d, &[]).unwrap();
        assert!(b.apply_changes(&d, ch).unwrap().rejected.is_empty());
    }
    assert_eq!(count(&b, "SELECT count(*) FROM invoices"), MAX_BATCH as i64);
}

/// New record ids are 24 hex digits that start with the command's time in
/// seconds, so ids made later sort after earlier ones (they land at the end
/// of every index keyed by id).
#[test]
fn new_ids_start_with_their_time_and_sort_by_it() {
    let dir = tempfile::tempdir().unwrap();
    // The seeded clock starts at 1_790_000_000_000 ms and steps 1 s per read.
    let mut r = replica(dir.path(), "T1", 3);
    let mut ids = Vec::new();
    for i in 0..20 {
        ids.push(
            r.execute(
                "u",
                &Command::CreateCustomer {
                    name: format!("Customer {i}"),
                    phone: None,
                    address: None,
                    credit_limit: 0,
                    tags: Vec::new(),
                },
            )
            .unwrap()
            .id,
        );
    }
    for id in &ids {
        assert_eq!(id.len(), 24, "{id}");
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
        let secs = u32::from_str_radix(&id[..8], 16).unwrap() as i64;
        assert!((1_790_000_000..1_790_000_100).contains(&secs), "{id}");
    }
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(sorted, ids, "ids made later sort after earlier ones");
}
