//! Versioned migrations (DESIGN.md section 8): forward from an old step, an
//! edited past step is detected, and a tested rollback.

use rusqlite::Connection;
use store_core::schema::{self, MIGRATIONS, MigrationError};
use store_core::{OpenError, OpenOptions, Replica, ReplicaIdentity, SeededEnv};
use store_tests::fixtures;

const NOW: i64 = 1_790_000_000_000;

fn identity() -> ReplicaIdentity {
    ReplicaIdentity {
        replica_id: "T1".into(),
        branch_id: "B1".into(),
        branch_code: "B1".into(),
        terminal_code: "T1".into(),
    }
}

fn open(path: &std::path::Path, seed: u64) -> Result<Replica, OpenError> {
    Replica::open(
        path,
        identity(),
        Box::new(SeededEnv::new(seed, NOW, 1000)),
        &OpenOptions::default(),
    )
}

/// Every schema object (tables, indexes, triggers, views) with its SQL.
fn schema_objects(conn: &Connection) -> Vec<(String, String, Option<String>)> {
    conn.prepare(
        "SELECT type, name, sql FROM sqlite_schema
         WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name",
    )
    .unwrap()
    .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

fn has_table(conn: &Connection, name: &str) -> bool {
    conn.query_row(
        "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = ?1",
        [name],
        |r| r.get::<_, i64>(0),
    )
    .unwrap()
        == 1
}

fn latest_schema() -> Vec<(String, String, Option<String>)> {
    let mut conn = Connection::open_in_memory().unwrap();
    schema::migrate(&mut conn, NOW).unwrap();
    schema_objects(&conn)
}

#[test]
fn a_step_one_database_upgrades_to_the_latest() {
    assert!(MIGRATIONS.len() >= 2, "there is something to upgrade to");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.sqlite");
    let mut conn = Connection::open(&path).unwrap();
    assert_eq!(schema::migrate_to(&mut conn, 1, NOW).unwrap(), 1);
    assert_eq!(schema::current_version(&conn).unwrap(), 1);
    assert!(has_table(&conn, "documents"));
    assert!(
        !has_table(&conn, "settings"),
        "step 2 is not applied at step 1"
    );
    // Data written by the old version: a bill counter.
    conn.execute(
        "INSERT INTO replica_counters(name, value) VALUES ('bill', 41)",
        [],
    )
    .unwrap();

    assert_eq!(schema::migrate(&mut conn, NOW).unwrap(), MIGRATIONS.len());
    assert_eq!(schema::current_version(&conn).unwrap(), MIGRATIONS.len());
    assert_eq!(
        schema_objects(&conn),
        latest_schema(),
        "same as a new database"
    );
    // Running it again is a no-op.
    assert_eq!(
        schema::migrate(&mut conn, NOW + 1).unwrap(),
        MIGRATIONS.len()
    );
    let applied: Vec<(i64, String)> = conn
        .prepare("SELECT version, name FROM schema_migrations ORDER BY version")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let expected: Vec<(i64, String)> = MIGRATIONS
        .iter()
        .enumerate()
        .map(|(i, m)| (i as i64 + 1, m.name.to_string()))
        .collect();
    assert_eq!(applied, expected);
    drop(conn);

    // The upgraded file opens as a replica and keeps the old data.
    let mut r = open(&path, 1).unwrap();
    r.execute("u", &fixtures::channel("cash", true)).unwrap();
    let p = r.execute("u", &fixtures::product("A", 100, 50)).unwrap().id;
    r.execute("u", &fixtures::receive(&p, 1000)).unwrap();
    let sale = r.execute("u", &fixtures::cash_sale(&p, 1000, 100)).unwrap();
    assert_eq!(sale.number.as_deref(), Some("B1-T1-000042"));
}

#[test]
fn an_edited_past_step_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.sqlite");
    drop(open(&path, 1).unwrap());
    let mut conn = Connection::open(&path).unwrap();

    let original: String = conn
        .query_row(
            "SELECT checksum FROM schema_migrations WHERE version = 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    conn.execute(
        "UPDATE schema_migrations SET checksum = 'feedface' WHERE version = 1",
        [],
    )
    .unwrap();
    match schema::migrate(&mut conn, NOW) {
        Err(MigrationError::EditedStep { version: 1, name }) => {
            assert_eq!(name, MIGRATIONS[0].name)
        }
        other => panic!("expected EditedStep, got {other:?}"),
    }
    // A replica refuses to open the file.
    match open(&path, 2) {
        Err(OpenError::Migration(MigrationError::EditedStep { version: 1, .. })) => {}
        other => panic!("expected EditedStep, got {other:?}"),
    }

    // A renamed step is an edit too.
    conn.execute(
        "UPDATE schema_migrations SET checksum = ?1, name = 'renamed' WHERE version = 1",
        [&original],
    )
    .unwrap();
    assert!(matches!(
        schema::migrate(&mut conn, NOW),
        Err(MigrationError::EditedStep { version: 1, .. })
    ));

    // Restored, it opens again.
    conn.execute(
        "UPDATE schema_migrations SET name = ?1 WHERE version = 1",
        [MIGRATIONS[0].name],
    )
    .unwrap();
    assert_eq!(schema::migrate(&mut conn, NOW).unwrap(), MIGRATIONS.len());

    // A database from a newer build is refused, not downgraded.
    conn.execute(
        "INSERT INTO schema_migrations(version, name, checksum, applied_at) VALUES (99, 'future', 'x', 0)",
        [],
    )
    .unwrap();
    assert!(matches!(
        schema::migrate(&mut conn, NOW),
        Err(MigrationError::TooNew { found: 99, .. })
    ));
    assert!(matches!(
        schema::rollback_to(&mut conn, 1),
        Err(MigrationError::TooNew { .. })
    ));
}

#[test]
fn rollback_then_migrate_again() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.sqlite");
    let dump = {
        let mut r = open(&path, 1).unwrap();
        r.execute("u", &fixtures::channel("cash", true)).unwrap();
        let p = r.execute("u", &fixtures::product("A", 100, 50)).unwrap().id;
        r.execute("u", &fixtures::receive(&p, 5000)).unwrap();
        r.execute("u", &fixtures::cash_sale(&p, 1000, 100)).unwrap();
        // Never stocked: low at B1, a pair step 10 finds again from the
        // rows when it is applied to existing data.
        r.execute("u", &fixtures::product("B", 100, 50)).unwrap();
        let low: i64 = r
            .connection()
            .query_row("SELECT count(*) FROM low_stock", [], |x| x.get(0))
            .unwrap();
        assert_eq!(low, 1);
        r.projection_dump().unwrap()
    };
    let mut conn = Connection::open(&path).unwrap();
    let latest = schema_objects(&conn);
    assert_eq!(latest, latest_schema());

    assert_eq!(schema::rollback_to(&mut conn, 1).unwrap(), 1);
    assert_eq!(schema::current_version(&conn).unwrap(), 1);
    assert!(!has_table(&conn, "settings"));
    assert!(!has_table(&conn, "slow_queries"));
    assert!(has_table(&conn, "invoices"), "step 1 stays");
    let mut step1 = Connection::open_in_memory().unwrap();
    schema::migrate_to(&mut step1, 1, NOW).unwrap();
    assert_eq!(
        schema_objects(&conn),
        schema_objects(&step1),
        "exactly the step 1 schema"
    );

    assert_eq!(schema::migrate(&mut conn, NOW).unwrap(), MIGRATIONS.len());
    assert_eq!(schema_objects(&conn), latest);
    drop(conn);
    // Step 1 data survived the round trip; the identity (a step 2 setting)
    // is stored again on open.
    let r = open(&path, 2).unwrap();
    assert_eq!(r.projection_dump().unwrap(), dump);
    drop(r);

    // All the way down, and up again.
    let mut conn = Connection::open(&path).unwrap();
    assert_eq!(schema::rollback_to(&mut conn, 0).unwrap(), 0);
    let left: Vec<String> = schema_objects(&conn).into_iter().map(|o| o.1).collect();
    assert_eq!(left, ["schema_migrations"]);
    assert_eq!(schema::migrate(&mut conn, NOW).unwrap(), MIGRATIONS.len());
    assert_eq!(schema_objects(&conn), latest);
}

/// The tables' CHECK constraints are evaluated in place: no INSERT into any
/// table of the latest schema builds a temporary b-tree (`OpenEphemeral`),
/// which SQLite does on every execution for `x IN (...)` with more than two
/// constants. And they still refuse what step 1's lists refused.
#[test]
fn checks_are_evaluated_without_a_temporary_table() {
    let mut conn = Connection::open_in_memory().unwrap();
    schema::migrate(&mut conn, NOW).unwrap();
    // EXPLAIN lists the programs of the triggers an insert fires after its
    // own; some of those use temporary tables for good reasons (INSERT ...
    // SELECT, IN (SELECT ...)). Only the table's own program is looked at.
    let triggers: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'trigger'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for name in triggers {
        conn.execute_batch(&format!("DROP TRIGGER {name}")).unwrap();
    }
    let tables: Vec<String> = conn
        .prepare(
            "SELECT name FROM sqlite_schema
             WHERE type = 'table' AND sql LIKE 'CREATE TABLE%' AND sql LIKE '%CHECK%'",
        )
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(tables.iter().any(|t| t == "stock_movements"));
    for table in &tables {
        let ops: Vec<String> = conn
            .prepare(&format!("EXPLAIN INSERT INTO {table} DEFAULT VALUES"))
            .unwrap()
            .query_map([], |r| r.get(1))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(
            !ops.iter().any(|op| op == "OpenEphemeral"),
            "an insert into {table} builds a temporary table: {ops:?}"
        );
    }

    conn.execute_batch("PRAGMA foreign_keys = OFF").unwrap();
    let movement = |kind: &str| {
        conn.execute(
            "INSERT INTO stock_movements(id, product_id, branch_id, qty, kind, ref_kind, ref_id,
                 unit_cost, at, terminal_id, user_id)
             VALUES (?1, 'P', 'B', 1, ?1, 'r', 'x', 0, 0, 'T', 'U')",
            [kind],
        )
    };
    for kind in ["receipt", "part_use", "transfer_in"] {
        movement(kind).unwrap();
    }
    for kind in ["bogus", "Sale", "sale "] {
        let err = movement(kind).unwrap_err().to_string();
        assert!(err.contains("CHECK constraint failed"), "{kind}: {err}");
    }
    let ledger = |category: &str| {
        conn.execute(
            "INSERT INTO ledger_entries(id, customer_id, at, debit, credit, category, ref_kind, ref_id)
             VALUES (?1, 'C', 0, 1, 0, ?1, 'r', 'x')",
            [category],
        )
    };
    ledger("void").unwrap();
    assert!(ledger("credit").is_err());
}

/// Step 7 moves snapshots out of the `documents` rows into `doc_snapshots`
/// (a key search in the WITHOUT ROWID `documents` read every snapshot it
/// passed): a snapshot written before the step is moved, loads back to the
/// same document, and its rollback puts it back where step 6 kept it.
#[test]
fn snapshots_move_to_their_own_table_and_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.sqlite");
    let snapshot_step = MIGRATIONS
        .iter()
        .position(|m| m.name == "doc_snapshots")
        .expect("the step exists")
        + 1;
    let (journal, heads, dump) = {
        let mut r = open(&path, 1).unwrap();
        r.execute("u", &fixtures::channel("cash", true)).unwrap();
        let p = r.execute("u", &fixtures::product("A", 100, 50)).unwrap().id;
        // More than the snapshot interval (512 changes) in the journal.
        for n in 0..520 {
            r.execute("u", &fixtures::receive(&p, 1000 + n)).unwrap();
        }
        let journal = r
            .doc_ids()
            .unwrap()
            .into_iter()
            .find(|d| matches!(d, store_core::DocId::Journal { .. }))
            .unwrap();
        let heads = r.heads(&journal).unwrap();
        (journal, heads, r.projection_dump().unwrap())
    };
    let key = journal.to_string();
    let where_is = |conn: &Connection| -> (bool, bool) {
        conn.query_row(
            "SELECT snapshot IS NOT NULL FROM documents WHERE doc_id = ?1",
            [&key],
            |r| r.get(0),
        )
        .map(|in_row| {
            let apart = has_table(conn, "doc_snapshots")
                && conn
                    .query_row(
                        "SELECT count(*) FROM doc_snapshots WHERE doc_id = ?1",
                        [&key],
                        |r| r.get::<_, i64>(0),
                    )
                    .unwrap()
                    == 1;
            (in_row, apart)
        })
        .unwrap()
    };
    let mut conn = Connection::open(&path).unwrap();
    assert_eq!(
        where_is(&conn),
        (false, true),
        "kept apart at the latest step"
    );
    let snapshot: Vec<u8> = conn
        .query_row(
            "SELECT bytes FROM doc_snapshots WHERE doc_id = ?1",
            [&key],
            |r| r.get(0),
        )
        .unwrap();

    schema::rollback_to(&mut conn, snapshot_step - 1).unwrap();
    assert_eq!(where_is(&conn), (true, false), "back in the row at step 6");
    let back: Vec<u8> = conn
        .query_row(
            "SELECT snapshot FROM documents WHERE doc_id = ?1",
            [&key],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(back, snapshot);

    schema::migrate(&mut conn, NOW).unwrap();
    assert_eq!(where_is(&conn), (false, true), "moved by the step");
    drop(conn);
    // Loaded from the moved snapshot: the same document and projection.
    let mut r = Replica::open(
        &path,
        identity(),
        Box::new(SeededEnv::new(3, NOW, 1000)),
        &OpenOptions {
            cache_docs: 1,
            ..OpenOptions::default()
        },
    )
    .unwrap();
    assert_eq!(r.heads(&journal).unwrap(), heads);
    assert_eq!(r.projection_dump().unwrap(), dump);
    r.rebuild_projection().unwrap();
    assert_eq!(
        r.projection_dump().unwrap(),
        dump,
        "rebuilt from the documents"
    );
}

/// Step 8: an edit that leaves a product's or a customer's indexed text as
/// it was (a reprice, a new credit limit) writes nothing to the full-text
/// index; an edit of the text still re-indexes it.
#[test]
fn the_full_text_index_is_rewritten_only_when_its_text_changes() {
    let dir = tempfile::tempdir().unwrap();
    let mut r = open(&dir.path().join("db.sqlite"), 1).unwrap();
    let p = r
        .execute("u", &fixtures::product("BOLT", 100, 50))
        .unwrap()
        .id;
    let c = r
        .execute(
            "u",
            &fixtures::customer("Hudson Steel", Some("0501110001"), 10_000),
        )
        .unwrap()
        .id;
    let data = |r: &Replica, table: &str| -> Vec<(i64, Vec<u8>)> {
        r.connection()
            .prepare(&format!("SELECT id, block FROM {table} ORDER BY id"))
            .unwrap()
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    let found = |r: &Replica, fts: &str, term: &str| -> i64 {
        r.connection()
            .query_row(
                &format!("SELECT count(*) FROM {fts} WHERE {fts} MATCH ?1"),
                [term],
                |row| row.get(0),
            )
            .unwrap()
    };
    let reprice = |price: i64, name: Option<&str>| fixtures::edit_product(&p, name, Some(price));
    let (products, customers) = (data(&r, "product_fts_data"), data(&r, "customer_fts_data"));
    r.execute("u", &reprice(120, None)).unwrap();
    r.execute(
        "u",
        &store_core::Command::UpdateCustomer {
            customer_id: c.clone(),
            name: None,
            phone: None,
            address: None,
            credit_limit: Some(20_000),
            tags: None,
        },
    )
    .unwrap();
    assert_eq!(data(&r, "product_fts_data"), products, "a reprice");
    assert_eq!(data(&r, "customer_fts_data"), customers, "a credit limit");

    r.execute("u", &reprice(130, Some("Anchor bolt"))).unwrap();
    assert_ne!(data(&r, "product_fts_data"), products, "a rename");
    assert_eq!(found(&r, "product_fts", "anchor"), 1);
    assert_eq!(found(&r, "product_fts", "BOLT"), 1, "the SKU");
    assert_eq!(found(&r, "product_fts", "\"Product\""), 0, "the old name");
}
