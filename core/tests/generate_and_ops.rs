//! The generator produces realistic, deterministic data through the real
//! write path; backups are verified copies.

use store_core::generate::{DatasetSize, generate_file};
use store_core::{OpenOptions, Replica, ReplicaIdentity, SeededEnv};

fn me() -> ReplicaIdentity {
    ReplicaIdentity {
        replica_id: "SRV".into(),
        branch_id: "B1".into(),
        branch_code: "B1".into(),
        terminal_code: "S".into(),
    }
}

const SMALL: DatasetSize = DatasetSize {
    products: 60,
    customers: 30,
    sales: 300,
    max_sale_lines: 5,
    delivery_lines: 120,
    service_orders: 20,
    days: 10,
};

fn open(path: &std::path::Path) -> Replica {
    Replica::open(
        path,
        me(),
        Box::new(SeededEnv::new(1, 1_800_000_000_000, 1000)),
        &OpenOptions::default(),
    )
    .unwrap()
}

#[test]
fn generated_data_is_deterministic_and_has_every_shape() {
    let dir = tempfile::tempdir().unwrap();
    let end = 1_795_000_000_000;
    let a = generate_file(&dir.path().join("a.sqlite"), me(), &SMALL, 42, end).unwrap();
    let b = generate_file(&dir.path().join("b.sqlite"), me(), &SMALL, 42, end).unwrap();
    assert_eq!(a, b);
    let ra = open(&dir.path().join("a.sqlite"));
    let rb = open(&dir.path().join("b.sqlite"));
    assert_eq!(ra.projection_dump().unwrap(), rb.projection_dump().unwrap());

    // A different seed gives different data.
    generate_file(&dir.path().join("c.sqlite"), me(), &SMALL, 43, end).unwrap();
    let rc = open(&dir.path().join("c.sqlite"));
    assert_ne!(ra.projection_dump().unwrap(), rc.projection_dump().unwrap());

    let c = ra.connection();
    let count = |sql: &str| -> i64 { c.query_row(sql, [], |r| r.get(0)).unwrap() };
    assert!(a.invoices >= SMALL.sales * 9 / 10, "{a:?}");
    // The generator keeps credit sales within limits and returns or voids a
    // sale at most once: the engine refuses nothing.
    assert_eq!(a.refused, 0, "{a:?}");
    // Commands were batched: far fewer batches than commands.
    assert!(a.batches * 5 < a.commands, "{a:?}");
    assert_eq!(
        count("SELECT count(*) FROM products"),
        SMALL.products as i64
    );
    assert!(
        count("SELECT count(*) FROM invoices WHERE status = 'unpaid' OR status = 'partial'") > 0
    );
    assert!(count("SELECT count(*) FROM invoices WHERE customer_id IS NULL") > 0);
    assert!(
        count("SELECT count(*) FROM payments WHERE kind = 'invoice' AND channel <> 'cash'") > 0
    );
    assert!(count("SELECT count(*) FROM service_orders WHERE status = 'invoiced'") > 0);
    assert!(count("SELECT count(DISTINCT status) FROM service_orders") >= 3);
    assert!(count("SELECT count(*) FROM shifts WHERE closed_at IS NOT NULL") > 0);
    assert!(count("SELECT count(DISTINCT day) FROM invoices") >= 5);
    // Returns and voids of earlier sales, supplier deliveries after the
    // opening stock, credit invoices paid back later.
    assert!(count("SELECT count(*) FROM returns") > 0);
    assert!(count("SELECT count(*) FROM invoice_voids") > 0);
    assert!(count("SELECT count(*) FROM stock_records WHERE note = 'supplier delivery'") > 0);
    assert!(
        count(
            "SELECT count(*) FROM payments p JOIN invoices i ON i.id = p.invoice_id WHERE p.at > i.at"
        ) > 0
    );
    // A shift a day, each opened before the day's sales and closed later.
    assert!(count("SELECT count(*) FROM shifts") >= SMALL.days - 1);
    assert!(
        count("SELECT count(*) FROM payments WHERE shift_id IS NULL AND kind = 'invoice'") == 0
    );
    // Skewed popularity: the most sold product sells far more than the median one.
    let top =
        count("SELECT max(n) FROM (SELECT count(*) n FROM invoice_lines GROUP BY product_id)");
    let distinct = count("SELECT count(DISTINCT product_id) FROM invoice_lines");
    assert!(
        top * distinct > 3 * count("SELECT count(*) FROM invoice_lines"),
        "no skew"
    );
}

#[test]
fn backup_is_a_verified_copy_that_opens_as_the_same_replica() {
    let dir = tempfile::tempdir().unwrap();
    generate_file(
        &dir.path().join("live.sqlite"),
        me(),
        &SMALL,
        7,
        1_795_000_000_000,
    )
    .unwrap();
    let live = open(&dir.path().join("live.sqlite"));
    live.integrity_check().unwrap();
    live.optimize().unwrap();
    let dest = dir.path().join("backup.sqlite");
    let report = live.backup_to(&dest).unwrap();
    assert!(report.pages > 0 && report.changes > 0);
    // One self-contained file: no WAL or shared-memory file beside it.
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("backup"))
        .collect();
    assert_eq!(names, ["backup.sqlite"]);
    // Refuses to overwrite.
    assert!(matches!(
        live.backup_to(&dest),
        Err(store_core::OpsError::DestinationExists(_))
    ));
    let restored = open(&dest);
    assert_eq!(
        live.projection_dump().unwrap(),
        restored.projection_dump().unwrap()
    );
    let max_seq: i64 = live
        .connection()
        .query_row("SELECT max(seq) FROM doc_changes", [], |r| r.get(0))
        .unwrap();
    assert_eq!(report.last_change_seq, max_seq);
}
