//! Returns credit exactly what was sold: partial returns of a line add up
//! to the line's total, never a cent more (invariant 6.4 with rounding).

use store_core::{Command, ReturnLineInput, SaleLine};
use store_tests::{Cluster, fixtures};

const U: &str = "u";

fn setup() -> (Cluster, String, String) {
    let mut c = Cluster::new(2, 1);
    c.exec_ok(0, U, &fixtures::channel("cash", true));
    let p = c.exec_ok(0, U, &fixtures::product("P", 1001, 500)).id;
    c.exec_ok(0, U, &fixtures::receive(&p, 100_000));
    let cust = c
        .exec_ok(0, U, &fixtures::customer("C", None, 10_000_000))
        .id;
    (c, p, cust)
}

fn ret(c: &mut Cluster, inv: &str, lines: &[(i64, i64)]) {
    c.exec_ok(
        0,
        U,
        &Command::ReturnItems {
            invoice_id: inv.into(),
            lines: lines
                .iter()
                .map(|&(line_no, qty)| ReturnLineInput { line_no, qty })
                .collect(),
            reason: String::new(),
        },
    );
}

fn invoice_state(c: &Cluster, inv: &str) -> (i64, i64, i64, String) {
    c.conn(0)
        .query_row(
            "SELECT total, returned, remaining, status FROM invoices WHERE id = ?1",
            [inv],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .unwrap()
}

#[test]
fn partial_returns_add_up_to_the_line_total() {
    let (mut c, p, cust) = setup();
    // 3 units at 3.34 with a 0.01 discount: 10.01, which does not split in 3.
    let sale = Command::Sell {
        customer_id: Some(cust.clone()),
        lines: vec![
            SaleLine {
                product_id: p.clone(),
                qty: 3000,
                unit_price: Some(334),
                discount: 1,
                tax_rate_bp: 0,
            },
            SaleLine {
                product_id: p.clone(),
                qty: 7000,
                unit_price: Some(143),
                discount: 0,
                tax_rate_bp: 1500,
            },
        ],
        payments: vec![],
        allow_negative_stock: false,
        allow_over_credit_limit: false,
    };
    let inv = c.exec_ok(0, U, &sale).id;
    let (total, ..) = invoice_state(&c, &inv);
    assert_eq!(total, 1001 + 1001 + 150);
    for _ in 0..3 {
        ret(&mut c, &inv, &[(0, 1000)]);
    }
    // The second line in uneven pieces, some within one return.
    ret(&mut c, &inv, &[(1, 1000), (1, 2500)]);
    ret(&mut c, &inv, &[(1, 333)]);
    ret(&mut c, &inv, &[(1, 3167)]);
    assert_eq!(
        invoice_state(&c, &inv),
        (total, total, 0, "returned".into())
    );
    let lines: Vec<(i64, i64)> = c
        .conn(0)
        .prepare(
            "SELECT rl.invoice_line_no, sum(rl.amount) FROM return_lines rl
             GROUP BY rl.invoice_line_no ORDER BY 1",
        )
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(lines, [(0, 1001), (1, 1151)]);
    let balance: i64 = c
        .conn(0)
        .query_row(
            "SELECT balance FROM customer_balances WHERE customer_id = ?1",
            [&cust],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(balance, 0, "the customer owes nothing and is owed nothing");
    c.check_invariants(0).unwrap();
    c.sync_all();
    c.assert_converged();
    c.check_rebuild(1).unwrap();
}

#[test]
fn a_return_credits_its_share_of_discount_and_tax() {
    let (mut c, p, _) = setup();
    let sale = Command::Sell {
        customer_id: None,
        lines: vec![SaleLine {
            product_id: p.clone(),
            qty: 4000,
            unit_price: Some(1000),
            discount: 400,
            tax_rate_bp: 1000,
        }],
        // (4000 - 400) + 10% = 3960
        payments: vec![store_core::Tender {
            channel: "cash".into(),
            amount: 3960,
        }],
        allow_negative_stock: false,
        allow_over_credit_limit: false,
    };
    let inv = c.exec_ok(0, U, &sale).id;
    ret(&mut c, &inv, &[(0, 1000)]);
    assert_eq!(invoice_state(&c, &inv), (3960, 990, -990, "paid".into()));
    // The credit can be refunded, and no more.
    let refund = |amount| Command::TakePayment {
        customer_id: None,
        invoice_id: Some(inv.clone()),
        amount,
        channel: "cash".into(),
        kind: store_core::PaymentKind::Refund,
    };
    assert_eq!(
        c.exec(0, U, &refund(991)).unwrap_err().code(),
        "refund_exceeds_credit"
    );
    c.exec_ok(0, U, &refund(990));
    assert_eq!(invoice_state(&c, &inv).2, 0);
    c.check_invariants(0).unwrap();
}
