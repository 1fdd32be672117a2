//! Invariant 6.5: business conflicts are surfaced, not hidden.
//!
//! Each test lets replicas do conflicting things offline, merges them, and
//! checks the documented outcome on every replica (and that all replicas
//! agree on it).

use rusqlite::OptionalExtension;
use store_core::ReturnLineInput;
use store_core::{Command, CommandError, OrderStatus};
use store_tests::{Cluster, fixtures};

const U: &str = "clerk";

fn setup_sales(c: &mut Cluster) -> String {
    c.exec_ok(0, U, &fixtures::channel("cash", true));
    c.exec_ok(0, U, &fixtures::product("SHEET-2MM", 6000, 4000))
        .id
}

fn stock(c: &Cluster, i: usize, product: &str, branch: &str) -> Option<i64> {
    c.conn(i)
        .query_row(
            "SELECT qty FROM stock_levels WHERE product_id = ?1 AND branch_id = ?2",
            [product, branch],
            |r| r.get(0),
        )
        .optional()
        .unwrap()
}

#[test]
fn last_unit_sold_twice_offline_gives_negative_stock_everywhere() {
    let mut c = Cluster::new(3, 1);
    let p = setup_sales(&mut c);
    c.exec_ok(0, U, &fixtures::receive(&p, 1000));
    c.sync_all();
    let branch = c.branch_of(0).to_string();
    // T1 and T2 both see one unit and both sell it while offline: each
    // sale is legal locally (no override needed).
    let bills: Vec<String> = [0, 1]
        .into_iter()
        .map(|i| {
            assert_eq!(stock(&c, i, &p, &branch), Some(1000));
            c.exec_ok(i, U, &fixtures::cash_sale(&p, 1000, 6000))
                .number
                .unwrap()
        })
        .collect();
    assert_eq!(bills, ["B1-T1-000001", "B1-T2-000001"]);
    c.sync_all();
    c.assert_converged();
    c.check_invariants_all().unwrap();
    for i in 0..c.len() {
        assert_eq!(stock(&c, i, &p, &branch), Some(-1000), "T{}", i + 1);
        // The negative level is what the low-stock / negative-stock alert
        // reads: it is there, on every replica.
        let negative: Vec<(String, i64)> = c
            .conn(i)
            .prepare(
                "SELECT p.sku, l.qty FROM stock_levels l JOIN products p ON p.id = l.product_id
                 WHERE l.qty < 0 OR l.qty <= p.min_stock",
            )
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(negative, [("SHEET-2MM".to_string(), -1000)]);
        let sold: i64 = c
            .conn(i)
            .query_row(
                "SELECT count(*) FROM stock_movements WHERE kind = 'sale' AND product_id = ?1",
                [&p],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(sold, 2, "both sales count, once each");
    }
    // Now that the merge is known, a third sale is refused without override.
    let err = c
        .exec(2, U, &fixtures::cash_sale(&p, 1000, 6000))
        .unwrap_err();
    assert!(
        matches!(
            err,
            CommandError::InsufficientStock {
                available: -1000,
                ..
            }
        ),
        "{err:?}"
    );
}

fn update_price(product_id: &str, price: i64) -> Command {
    fixtures::edit_product(product_id, None, Some(price))
}

fn conflict(c: &Cluster, i: usize, kind: &str, id: &str, field: &str) -> Option<(String, String)> {
    c.conn(i)
        .query_row(
            "SELECT winner, losers FROM field_conflicts
             WHERE record_kind = ?1 AND record_id = ?2 AND field = ?3",
            [kind, id, field],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .unwrap()
}

fn history(c: &Cluster, i: usize, kind: &str, id: &str, field: &str) -> Vec<(String, String)> {
    c.conn(i)
        .prepare(
            "SELECT value, replica FROM record_history
             WHERE record_kind = ?1 AND record_id = ?2 AND field = ?3 ORDER BY value",
        )
        .unwrap()
        .query_map([kind, id, field], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[test]
fn concurrent_price_edits_keep_one_winner_and_show_the_loser() {
    let mut c = Cluster::new(3, 1);
    let p = setup_sales(&mut c);
    c.sync_all();
    c.exec_ok(0, U, &update_price(&p, 6100));
    c.exec_ok(1, U, &update_price(&p, 6200));
    c.sync_all();
    c.assert_converged();
    let price = |c: &Cluster, i: usize| -> i64 {
        c.conn(i)
            .query_row("SELECT price FROM products WHERE id = ?1", [&p], |r| {
                r.get(0)
            })
            .unwrap()
    };
    let winner = price(&c, 0);
    assert!(winner == 6100 || winner == 6200, "{winner}");
    let loser = if winner == 6100 { 6200 } else { 6100 };
    for i in 0..c.len() {
        assert_eq!(price(&c, i), winner, "T{}", i + 1);
        assert_eq!(
            conflict(&c, i, "product", &p, "price"),
            Some((winner.to_string(), loser.to_string())),
            "T{}",
            i + 1
        );
        assert_eq!(
            history(&c, i, "product", &p, "price"),
            [
                ("6100".to_string(), "T1".to_string()),
                ("6200".to_string(), "T2".to_string())
            ],
            "both edits are in the product's history on T{}",
            i + 1
        );
    }
    // An edit made after seeing both values resolves the conflict everywhere,
    // and the history keeps all three values.
    c.exec_ok(2, U, &update_price(&p, 6300));
    c.sync_all();
    c.assert_converged();
    for i in 0..c.len() {
        assert_eq!(price(&c, i), 6300);
        assert_eq!(conflict(&c, i, "product", &p, "price"), None);
        assert_eq!(history(&c, i, "product", &p, "price").len(), 3);
    }
    c.check_invariants_all().unwrap();
    for i in 0..c.len() {
        c.check_rebuild(i).unwrap();
    }
}

/// An order in progress, known to every replica of one branch.
fn order_in_progress(c: &mut Cluster) -> String {
    let cust = c
        .exec_ok(0, U, &fixtures::customer("Garage client", None, 0))
        .id;
    let vehicle = c
        .exec_ok(
            0,
            U,
            &Command::RegisterVehicle {
                customer_id: cust.clone(),
                plate: "ABC-123".into(),
                vin: None,
                make: "Isuzu".into(),
                model: "D-Max".into(),
                year: Some(2020),
                odometer: 40_000,
            },
        )
        .id;
    let order = c
        .exec_ok(
            0,
            U,
            &Command::CreateServiceOrder {
                customer_id: cust,
                vehicle_id: vehicle,
                scheduled_date: "2026-09-22".into(),
                technician_id: None,
                complaint: "brakes squeal".into(),
                odometer: None,
            },
        )
        .id;
    c.exec_ok(
        0,
        U,
        &Command::SetOrderStatus {
            order_id: order.clone(),
            status: OrderStatus::InProgress,
        },
    );
    c.sync_all();
    order
}

fn status_outcome(cancel_on: usize, wait_on: usize) {
    let mut c = Cluster::new(3, 1);
    let order = order_in_progress(&mut c);
    c.exec_ok(
        cancel_on,
        U,
        &Command::SetOrderStatus {
            order_id: order.clone(),
            status: OrderStatus::Cancelled,
        },
    );
    c.exec_ok(
        wait_on,
        U,
        &Command::SetOrderStatus {
            order_id: order.clone(),
            status: OrderStatus::WaitingParts,
        },
    );
    c.sync_all();
    c.assert_converged();
    assert!(OrderStatus::Cancelled.precedence() > OrderStatus::WaitingParts.precedence());
    for i in 0..c.len() {
        let status: String = c
            .conn(i)
            .query_row(
                "SELECT status FROM service_orders WHERE id = ?1",
                [&order],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(status, "cancelled", "higher precedence wins on T{}", i + 1);
        assert_eq!(
            conflict(&c, i, "service_order", &order, "status"),
            Some(("cancelled".into(), "waiting_parts".into())),
            "T{}",
            i + 1
        );
        let h = history(&c, i, "service_order", &order, "status");
        let values: Vec<&str> = h.iter().map(|(v, _)| v.as_str()).collect();
        assert_eq!(
            values,
            ["booked", "cancelled", "in_progress", "waiting_parts"],
            "every transition is in the history on T{}",
            i + 1
        );
        c.check_rebuild(i).unwrap();
    }
    // The order is cancelled for everyone now: no more work on it.
    let err = c
        .exec(
            2,
            U,
            &Command::SetOrderStatus {
                order_id: order.clone(),
                status: OrderStatus::InProgress,
            },
        )
        .unwrap_err();
    assert!(
        matches!(
            err,
            CommandError::IllegalTransition {
                from: OrderStatus::Cancelled,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn concurrent_status_changes_resolve_by_precedence_whoever_wrote_them() {
    // Both role assignments, so that the outcome cannot come from which
    // actor automerge happens to prefer.
    status_outcome(0, 1);
    status_outcome(1, 0);
}

#[test]
fn same_phone_created_offline_twice_goes_to_one_customer() {
    let mut c = Cluster::new(3, 2);
    let a = c
        .exec_ok(0, U, &fixtures::customer("Ali", Some("555-0100"), 0))
        .id;
    let b = c
        .exec_ok(1, U, &fixtures::customer("Alia", Some("555-0100"), 0))
        .id;
    c.sync_all();
    c.assert_converged();
    let (holder, other) = if a < b { (&a, &b) } else { (&b, &a) };
    for i in 0..c.len() {
        let rows: Vec<(String, Option<String>, Option<String>)> = c
            .conn(i)
            .prepare("SELECT id, phone, phone_wanted FROM customers ORDER BY id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            rows,
            [
                (
                    holder.clone(),
                    Some("555-0100".to_string()),
                    Some("555-0100".to_string())
                ),
                (other.clone(), None, Some("555-0100".to_string())),
            ],
            "T{}",
            i + 1
        );
    }
    // The duplicate is now known: a third customer with that phone is refused.
    let err = c
        .exec(2, U, &fixtures::customer("Ally", Some("555-0100"), 0))
        .unwrap_err();
    assert_eq!(err.code(), "duplicate");
    // Fixing the loser's phone takes it out of the conflict everywhere.
    c.exec_ok(
        2,
        U,
        &Command::UpdateCustomer {
            customer_id: other.clone(),
            name: None,
            phone: Some("555-0199".into()),
            address: None,
            credit_limit: None,
            tags: None,
        },
    );
    c.sync_all();
    c.assert_converged();
    for i in 0..c.len() {
        let phone: Option<String> = c
            .conn(i)
            .query_row("SELECT phone FROM customers WHERE id = ?1", [other], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(phone.as_deref(), Some("555-0199"));
        c.check_rebuild(i).unwrap();
    }
    c.check_invariants_all().unwrap();
}

#[test]
fn credit_limit_passed_offline_is_visible_after_merge() {
    let mut c = Cluster::new(3, 2);
    let p = setup_sales(&mut c);
    let cust = c
        .exec_ok(0, U, &fixtures::customer("Builder", None, 10_000))
        .id;
    c.sync_all();
    for i in 0..2 {
        c.exec_ok(i, U, &fixtures::receive(&p, 5000));
    }
    // Each terminal sells 6000 on credit: within the 10000 limit locally.
    for i in 0..2 {
        let out = c.exec_ok(i, U, &fixtures::credit_sale(&cust, &p, 1000));
        assert!(out.warnings.is_empty(), "{:?}", out.warnings);
    }
    c.sync_all();
    c.assert_converged();
    c.check_invariants_all().unwrap();
    for i in 0..c.len() {
        let (balance, limit): (i64, i64) = c
            .conn(i)
            .query_row(
                "SELECT b.balance, c.credit_limit FROM customers c
                 JOIN customer_balances b ON b.customer_id = c.id WHERE c.id = ?1",
                [&cust],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!((balance, limit), (12_000, 10_000), "T{}", i + 1);
        let over: Vec<String> = c
            .conn(i)
            .prepare(
                "SELECT c.id FROM customers c JOIN customer_balances b ON b.customer_id = c.id
                 WHERE b.balance > c.credit_limit",
            )
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(over, std::slice::from_ref(&cust), "flagged on T{}", i + 1);
    }
    // Any further credit is refused until the customer pays.
    let err = c
        .exec(2, U, &fixtures::credit_sale(&cust, &p, 1))
        .unwrap_err();
    assert!(
        matches!(err, CommandError::CreditLimitExceeded { balance_after, .. } if balance_after > 12_000),
        "{err:?}"
    );
}

fn pay(invoice: &str, amount: i64) -> Command {
    Command::TakePayment {
        customer_id: None,
        invoice_id: Some(invoice.into()),
        amount,
        channel: "cash".into(),
        kind: store_core::PaymentKind::Invoice,
    }
}

#[test]
fn an_invoice_paid_twice_offline_shows_the_excess_as_credit() {
    let mut c = Cluster::new(2, 2);
    let p = setup_sales(&mut c);
    let cust = c
        .exec_ok(0, U, &fixtures::customer("Buyer", None, 100_000))
        .id;
    c.exec_ok(0, U, &fixtures::receive(&p, 5000));
    let inv = c.exec_ok(0, U, &fixtures::credit_sale(&cust, &p, 1000)).id;
    c.sync_all();
    // Both terminals take the full amount while offline.
    c.exec_ok(0, U, &pay(&inv, 6000));
    c.exec_ok(1, U, &pay(&inv, 6000));
    c.sync_all();
    c.assert_converged();
    c.check_invariants_all().unwrap();
    for i in 0..c.len() {
        let (paid, remaining, status): (i64, i64, String) = c
            .conn(i)
            .query_row(
                "SELECT paid, remaining, status FROM invoices WHERE id = ?1",
                [&inv],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert_eq!((paid, remaining, status.as_str()), (12_000, -6000, "paid"));
        let balance: i64 = c
            .conn(i)
            .query_row(
                "SELECT balance FROM customer_balances WHERE customer_id = ?1",
                [&cust],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(balance, -6000, "the customer is owed the excess");
    }
    // The excess can be refunded once, and the books balance again.
    let refund = Command::TakePayment {
        customer_id: None,
        invoice_id: Some(inv.clone()),
        amount: 6000,
        channel: "cash".into(),
        kind: store_core::PaymentKind::Refund,
    };
    c.exec_ok(1, U, &refund);
    assert_eq!(
        c.exec(1, U, &refund).unwrap_err().code(),
        "refund_exceeds_credit"
    );
    c.sync_all();
    c.assert_converged();
    c.check_invariants_all().unwrap();
}

#[test]
fn an_invoice_voided_twice_offline_takes_effect_once() {
    // Both terminals void the same credit sale offline. Only one void (the
    // smallest id) takes effect: the goods come back once, the customer is
    // credited once, and the second void stays visible as not effective.
    let mut c = Cluster::new(2, 1);
    let p = setup_sales(&mut c);
    let cust = c
        .exec_ok(0, U, &fixtures::customer("Omar", None, 100_000))
        .id;
    c.exec_ok(0, U, &fixtures::receive(&p, 5000));
    let inv = c.exec_ok(0, U, &fixtures::credit_sale(&cust, &p, 1000)).id;
    c.sync_all();
    for i in 0..2 {
        c.exec_ok(
            i,
            U,
            &Command::VoidInvoice {
                invoice_id: inv.clone(),
                reason: "duplicate".into(),
            },
        );
    }
    c.sync_all();
    c.assert_converged();
    c.check_invariants_all().unwrap();
    let branch = c.branch_of(0).to_string();
    for i in 0..c.len() {
        let (voids, effective, remaining, balance): (i64, i64, i64, i64) = c
            .conn(i)
            .query_row(
                "SELECT (SELECT count(*) FROM invoice_voids WHERE invoice_id = ?1),
                        (SELECT sum(effective) FROM invoice_voids WHERE invoice_id = ?1),
                        (SELECT remaining FROM invoices WHERE id = ?1),
                        (SELECT balance FROM customer_balances WHERE customer_id = ?2)",
                [&inv, &cust],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .unwrap();
        assert_eq!((voids, effective, remaining, balance), (2, 1, 0, 0));
        assert_eq!(stock(&c, i, &p, &branch), Some(5000), "restocked once");
        c.check_rebuild(i).unwrap();
    }
}

#[test]
fn a_void_racing_a_return_restocks_and_credits_only_the_rest() {
    // T1 takes back one of three units while T2, offline, voids the whole
    // invoice. After the merge the goods are all back once and the customer
    // owes nothing, in whichever order the records arrive.
    for t1_first in [true, false] {
        let mut c = Cluster::new(2, 1);
        let p = setup_sales(&mut c);
        let cust = c
            .exec_ok(0, U, &fixtures::customer("Lina", None, 100_000))
            .id;
        c.exec_ok(0, U, &fixtures::receive(&p, 5000));
        let inv = c.exec_ok(0, U, &fixtures::credit_sale(&cust, &p, 3000)).id;
        c.sync_all();
        c.exec_ok(
            0,
            U,
            &Command::ReturnItems {
                invoice_id: inv.clone(),
                lines: vec![ReturnLineInput {
                    line_no: 0,
                    qty: 1000,
                }],
                reason: "bent".into(),
            },
        );
        c.exec_ok(
            1,
            U,
            &Command::VoidInvoice {
                invoice_id: inv.clone(),
                reason: "cancelled".into(),
            },
        );
        if t1_first {
            c.sync_pair(0, 1);
            c.sync_pair(1, 0);
        } else {
            c.sync_pair(1, 0);
            c.sync_pair(0, 1);
        }
        c.assert_converged();
        c.check_invariants_all().unwrap();
        let branch = c.branch_of(0).to_string();
        for i in 0..c.len() {
            assert_eq!(stock(&c, i, &p, &branch), Some(5000));
            let balance: i64 = c
                .conn(i)
                .query_row(
                    "SELECT balance FROM customer_balances WHERE customer_id = ?1",
                    [&cust],
                    |r| r.get(0),
                )
                .unwrap();
            assert_eq!(balance, 0);
            c.check_rebuild(i).unwrap();
        }
    }
}
