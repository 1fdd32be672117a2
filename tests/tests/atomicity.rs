//! Write path step 3: a change and its projection are stored in one SQLite
//! transaction, so a failure between the two leaves neither.
//!
//! A trigger created from a second, raw connection makes the projection of
//! an invoice fail after the change has been written in the same
//! transaction. The sale must fail with a storage error and leave the
//! stored changes, the documents (checked after reopening the database, so
//! nothing can hide in memory) and the projection as they were. Without the
//! trigger the same sale then succeeds, with the bill number that the
//! failed attempt did not consume.

use rusqlite::Connection;
use store_core::{CommandError, DocId, Replica};
use store_tests::{Cluster, fixtures};

fn counts(r: &Replica) -> (i64, Option<i64>) {
    r.connection()
        .query_row("SELECT count(*), max(seq) FROM doc_changes", [], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })
        .unwrap()
}

#[test]
fn a_failed_projection_leaves_no_change_behind() {
    let mut c = Cluster::new(1, 1);
    c.exec_ok(0, "u", &fixtures::channel("cash", true));
    let p = c.exec_ok(0, "u", &fixtures::product("BOLT-8", 250, 100)).id;
    c.exec_ok(0, "u", &fixtures::receive(&p, 100_000));
    let first = c.exec_ok(0, "u", &fixtures::cash_sale(&p, 2000, 500));
    assert_eq!(first.number.as_deref(), Some("B1-T1-000001"));

    let path = c.path(0).to_path_buf();
    let before = c.fingerprint(0);
    let dump = c.dump(0);
    let n_before = counts(c.replica(0));

    let raw = Connection::open(&path).unwrap();
    raw.execute_batch(
        "CREATE TRIGGER boom BEFORE INSERT ON invoice_lines BEGIN SELECT RAISE(ABORT, 'injected'); END;",
    )
    .unwrap();

    let sale = fixtures::cash_sale(&p, 3000, 750);
    let err = c.exec(0, "u", &sale).unwrap_err();
    assert!(
        matches!(&err, CommandError::Storage(m) if m.contains("injected")),
        "{err:?}"
    );
    assert_eq!(err.code(), "storage");
    assert_eq!(counts(c.replica(0)), n_before, "no change row was stored");
    assert_eq!(c.dump(0), dump, "the projection did not move");

    // Reopen (close the database, open the file again): what is on disk is
    // what counts. (The trigger lives in the schema, not in a table, so it
    // is not part of the fingerprint.)
    c.reopen(0);
    assert_eq!(counts(c.replica(0)), n_before);
    assert_eq!(c.dump(0), dump);
    assert_eq!(
        c.fingerprint(0),
        before,
        "documents, changes, counters and every table unchanged"
    );
    let journal = c
        .replica(0)
        .doc_ids()
        .unwrap()
        .into_iter()
        .find(|d| matches!(d, DocId::Journal { .. }))
        .unwrap();
    assert_eq!(
        c.heads(0, &journal).len(),
        1,
        "the journal still ends at the first sale"
    );

    // The same sale fails again on the reopened replica, then succeeds once
    // the trigger is gone, with the bill number the failures did not use.
    let err = c.exec(0, "u", &sale).unwrap_err();
    assert_eq!(err.code(), "storage");
    assert_eq!(counts(c.replica(0)), n_before);
    raw.execute_batch("DROP TRIGGER boom").unwrap();
    drop(raw);
    let ok = c.exec_ok(0, "u", &sale);
    assert_eq!(ok.number.as_deref(), Some("B1-T1-000002"));
    assert_eq!(
        counts(c.replica(0)).0,
        n_before.0 + 1,
        "exactly one new change"
    );
    c.check_rebuild(0).unwrap();
    c.check_invariants(0).unwrap();
    let on_hand = store_core::query::Queries::new(c.conn(0))
        .stock_on_hand(&p, c.branch_of(0))
        .unwrap();
    assert_eq!(on_hand, 100_000 - 2000 - 3000);
}

/// Two replicas; T1 made a sale T2 has not seen. Returns the journal id and
/// T1's changes that T2 lacks.
fn unseen_sale(c: &mut Cluster) -> (DocId, Vec<Vec<u8>>) {
    c.exec_ok(0, "u", &fixtures::channel("cash", true));
    let p = c.exec_ok(0, "u", &fixtures::product("NUT-8", 40, 10)).id;
    c.exec_ok(0, "u", &fixtures::receive(&p, 10_000));
    c.sync_all();
    c.exec_ok(0, "u", &fixtures::cash_sale(&p, 1000, 40));
    let journal = c
        .replica(0)
        .doc_ids()
        .unwrap()
        .into_iter()
        .find(|d| matches!(d, DocId::Journal { .. }))
        .unwrap();
    let changes = c.missing_changes(0, 1, &journal);
    assert_eq!(changes.len(), 1);
    (journal, changes)
}

#[test]
fn a_failed_apply_leaves_no_change_behind() {
    // Received changes too: if storing fails, neither the change rows nor
    // the projection move, and the document in memory is not ahead of disk.
    let mut c = Cluster::new(2, 1);
    let (journal, changes) = unseen_sale(&mut c);
    let before = c.fingerprint(1);
    let raw = Connection::open(c.path(1)).unwrap();
    raw.execute_batch(
        "CREATE TRIGGER boom BEFORE INSERT ON doc_changes BEGIN SELECT RAISE(ABORT, 'injected'); END;",
    )
    .unwrap();
    let err = c
        .replica_mut(1)
        .apply_changes(&journal, changes.clone())
        .unwrap_err();
    assert!(err.to_string().contains("injected"), "{err}");
    assert_eq!(c.fingerprint(1), before, "nothing stored, heads unchanged");
    c.reopen(1);
    assert_eq!(c.fingerprint(1), before, "nor on disk");

    raw.execute_batch("DROP TRIGGER boom").unwrap();
    let report = c.replica_mut(1).apply_changes(&journal, changes).unwrap();
    assert_eq!(report.stored, 1, "the sale: {report:?}");
    c.assert_converged();
    c.check_invariants_all().unwrap();
}

#[test]
fn a_received_record_the_projection_refuses_is_kept_visible_not_lost() {
    // A record from another replica that the projection cannot take (here: a
    // constraint raised by a trigger) does not block the change: the change
    // is stored, the record is listed in `rejected_records` with the reason,
    // and once the cause is gone a rebuild projects it like everywhere else.
    let mut c = Cluster::new(2, 1);
    let (journal, changes) = unseen_sale(&mut c);
    let raw = Connection::open(c.path(1)).unwrap();
    raw.execute_batch(
        "CREATE TRIGGER boom BEFORE INSERT ON invoice_lines BEGIN SELECT RAISE(ABORT, 'injected'); END;",
    )
    .unwrap();
    let report = c.replica_mut(1).apply_changes(&journal, changes).unwrap();
    assert_eq!(report.stored, 1);
    let rejected: Vec<(String, String)> = c
        .conn(1)
        .prepare("SELECT collection, reason FROM rejected_records")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(rejected.len(), 1, "{rejected:?}");
    assert_eq!(rejected[0].0, "invoices");
    assert!(rejected[0].1.contains("injected"), "{rejected:?}");
    // Half an invoice never shows: no invoice row, no movement, no payment
    // effect on it.
    let invoices: i64 = c
        .conn(1)
        .query_row("SELECT count(*) FROM invoices", [], |r| r.get(0))
        .unwrap();
    assert_eq!(invoices, 0);
    c.check_invariants(1).unwrap();

    raw.execute_batch("DROP TRIGGER boom").unwrap();
    c.replica_mut(1).rebuild_projection().unwrap();
    c.assert_converged();
    c.check_invariants_all().unwrap();
}

#[test]
fn a_storage_fault_while_projecting_fails_the_apply_instead_of_rejecting_the_record() {
    // Not the record's fault (here the table is missing, as it would be on a
    // damaged file): the apply fails as a whole, nothing is stored, nothing
    // is listed as rejected, and the same changes apply once it is repaired.
    let mut c = Cluster::new(2, 1);
    let (journal, changes) = unseen_sale(&mut c);
    let before = c.fingerprint(1);
    let raw = Connection::open(c.path(1)).unwrap();
    raw.execute_batch("ALTER TABLE invoice_lines RENAME TO invoice_lines_away")
        .unwrap();
    let err = c
        .replica_mut(1)
        .apply_changes(&journal, changes.clone())
        .unwrap_err();
    assert!(err.to_string().contains("invoice_lines"), "{err}");
    raw.execute_batch("ALTER TABLE invoice_lines_away RENAME TO invoice_lines")
        .unwrap();
    c.reopen(1);
    assert_eq!(c.fingerprint(1), before, "nothing stored, nothing rejected");
    let report = c.replica_mut(1).apply_changes(&journal, changes).unwrap();
    assert_eq!(report.stored, 1, "{report:?}");
    c.assert_converged();
    c.check_invariants_all().unwrap();
}
