//! The harness checks itself: its schedules really re-order, duplicate and
//! split deliveries, and its checks really fail when replicas differ or an
//! invariant is broken (so a passing suite means something).

use store_core::Command;
use store_tests::{Cluster, DeliveryMode, DetRng, fixtures, invariants};

const U: &str = "u";

/// Three replicas in two branches with sales on credit and in cash, a
/// payment, a return and a void, fully synced.
fn busy() -> (Cluster, String, String) {
    let mut c = Cluster::new(3, 2);
    c.exec_ok(0, U, &fixtures::channel("cash", true));
    let p = c.exec_ok(0, U, &fixtures::product("PIPE", 2000, 1500)).id;
    let cust = c
        .exec_ok(0, U, &fixtures::customer("Ann", Some("555-1234"), 100_000))
        .id;
    c.sync_all();
    for i in 0..c.len() {
        c.exec_ok(i, U, &fixtures::receive(&p, 10_000));
        let inv = c.exec_ok(i, U, &fixtures::credit_sale(&cust, &p, 2000)).id;
        c.exec_ok(
            i,
            U,
            &Command::TakePayment {
                customer_id: None,
                invoice_id: Some(inv.clone()),
                amount: 1000,
                channel: "cash".into(),
                kind: store_core::PaymentKind::Invoice,
            },
        );
        c.exec_ok(
            i,
            U,
            &Command::ReturnItems {
                invoice_id: inv,
                lines: vec![store_core::ReturnLineInput {
                    line_no: 0,
                    qty: 500,
                }],
                reason: String::new(),
            },
        );
        let cash = c.exec_ok(i, U, &fixtures::cash_sale(&p, 1000, 2000)).id;
        c.exec_ok(
            i,
            U,
            &Command::VoidInvoice {
                invoice_id: cash,
                reason: "test".into(),
            },
        );
    }
    c.sync_all();
    (c, p, cust)
}

#[test]
fn random_delivery_reorders_duplicates_and_splits() {
    let mut c = Cluster::new(4, 2);
    c.exec_ok(0, U, &fixtures::channel("cash", true));
    let p = c.exec_ok(0, U, &fixtures::product("BAR", 100, 50)).id;
    for i in 0..c.len() {
        c.broadcast(i);
    }
    let mut rng = DetRng::new(3);
    c.deliver_all_random(&mut rng, 0.0);
    for round in 0..6 {
        for i in 0..c.len() {
            c.exec_ok(i, U, &fixtures::receive(&p, 1000 * (round + 1)));
        }
        for i in 0..c.len() {
            c.broadcast(i);
        }
    }
    let mut waited = false;
    while let Some(report) = c.deliver_random(&mut rng, 0.3) {
        waited |= report.waiting > 0;
    }
    let s = c.stats().clone();
    assert!(
        waited,
        "no change ever arrived before its dependency: {s:?}"
    );
    assert!(s.duplicated_messages > 0 && s.duplicates > 0, "{s:?}");
    assert!(s.split_messages > 0, "{s:?}");
    assert!(s.rejected.is_empty(), "{s:?}");
    // Messages alone (no full sync) were enough here: nothing was lost.
    c.assert_converged();
    c.check_invariants_all().unwrap();
}

#[test]
fn one_change_mode_delivers_a_single_change_and_keeps_the_rest() {
    let mut c = Cluster::new(2, 1);
    let p = c.exec_ok(0, U, &fixtures::product("X", 1, 1)).id;
    c.exec_ok(0, U, &fixtures::receive(&p, 1000));
    c.exec_ok(0, U, &fixtures::receive(&p, 1000));
    assert_eq!(c.post(0, 1), 2, "catalogue and journal");
    let mut rng = DetRng::new(1);
    let before = c.outbox().len();
    let idx = c.outbox().iter().position(|d| d.changes.len() > 1).unwrap();
    let n = c.outbox()[idx].changes.len();
    c.deliver(idx, DeliveryMode::OneChange, &mut rng);
    assert_eq!(c.stats().changes_sent, 1);
    assert_eq!(c.outbox().len(), before, "the rest went back");
    let rest: usize = c.outbox().iter().map(|d| d.changes.len()).sum();
    assert!(rest >= n - 1);
    c.deliver_all_random(&mut rng, 0.0);
    c.assert_converged();
}

#[test]
fn convergence_check_sees_differences() {
    let mut c = Cluster::new(2, 1);
    c.exec_ok(0, U, &fixtures::channel("cash", true));
    let err = c.check_converged().unwrap_err();
    assert!(err.contains("heads of catalog differ"), "{err}");
    assert!(err.contains("payment_channels"), "{err}");
    c.sync_all();
    c.assert_converged();
    // A projection row changed behind the documents' back is a difference.
    c.conn(1)
        .execute("UPDATE payment_channels SET name = 'Kash'", [])
        .unwrap();
    let err = c.check_converged().unwrap_err();
    assert!(err.contains("projection of T2 differs"), "{err}");
    assert!(c.check_rebuild(1).is_err(), "the rebuild notices it too");
    // The rebuild repaired it.
    c.assert_converged();
}

#[test]
fn fingerprint_sees_any_change() {
    let (mut c, p, _) = busy();
    let before = c.fingerprint(0);
    assert_eq!(c.fingerprint(0), before, "stable");
    c.conn(0)
        .execute(
            "UPDATE doc_changes SET stored_at = stored_at + 1 WHERE seq = 1",
            [],
        )
        .unwrap();
    assert_ne!(c.fingerprint(0), before);
    let before = c.fingerprint(0);
    c.exec_ok(0, U, &fixtures::receive(&p, 1));
    assert_ne!(c.fingerprint(0), before);
}

#[test]
fn invariant_checks_catch_each_kind_of_corruption() {
    let (c, p, cust) = busy();
    c.check_invariants_all().unwrap();
    let conn = c.conn(0);
    // Ids are hex, safe to splice into SQL.
    let first_invoice = "(SELECT min(id) FROM invoices WHERE voided = 0)";
    let corruptions = [
        (
            format!("UPDATE stock_levels SET qty = qty + 1 WHERE product_id = '{p}'"),
            "stock level differs",
        ),
        (
            format!(
                "UPDATE customer_balances SET balance = balance - 1 WHERE customer_id = '{cust}'"
            ),
            "balance differs",
        ),
        (
            format!(
                "UPDATE customer_balances SET entries = entries + 1 WHERE customer_id = '{cust}'"
            ),
            "balance differs",
        ),
        (
            format!("UPDATE invoices SET paid = paid + 1 WHERE id = {first_invoice}"),
            "invoice derived",
        ),
        (
            format!("UPDATE invoices SET returned = returned + 5 WHERE id = {first_invoice}"),
            "invoice derived",
        ),
        (
            format!("UPDATE invoices SET voided = 1 WHERE id = {first_invoice}"),
            "invoice derived",
        ),
        (
            format!("UPDATE invoices SET bill_no = NULL WHERE id = {first_invoice}"),
            "without a bill number",
        ),
        (
            format!("UPDATE customers SET phone = NULL WHERE id = '{cust}'"),
            "customers.phone",
        ),
        (
            format!(
                "DELETE FROM stock_movements WHERE kind = 'sale' AND product_id = '{p}' AND rowid = (SELECT min(rowid) FROM stock_movements WHERE kind = 'sale')"
            ),
            "sale movement",
        ),
        (
            // Without the trigger that keeps the balance, a lost ledger
            // entry shows in the balance and as a missing sale debit.
            format!(
                "DROP TRIGGER ledger_entries_ad; DELETE FROM ledger_entries WHERE category = 'sale' AND customer_id = '{cust}'"
            ),
            "lacks its ledger debit",
        ),
        (
            format!(
                "UPDATE invoices SET bill_no = NULL, bill_no_wanted = (SELECT max(bill_no_wanted) FROM invoices) WHERE id = {first_invoice}"
            ),
            "share a bill number",
        ),
        (
            "UPDATE invoices SET seq = 2 WHERE terminal_id = 'T1' AND seq = 1".to_string(),
            "reused a sequence number",
        ),
    ];
    for (break_it, expect) in &corruptions {
        let tx = conn.unchecked_transaction().unwrap();
        tx.execute_batch(break_it).unwrap();
        let err = match invariants::check(&tx) {
            Err(e) => e,
            Ok(()) => panic!("not caught: {break_it}"),
        };
        assert!(err.contains(expect), "{break_it}: {err}");
        drop(tx); // rolls back
        invariants::check(conn).unwrap();
    }
}
