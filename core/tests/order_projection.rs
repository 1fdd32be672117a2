//! A service order is projected in place: a command changes a field or adds
//! a line, and only the columns and lines that differ are written. Another
//! replica's change may do what no command does (edit or remove a line,
//! give the order another customer); the order must still project exactly
//! as a rebuild from the documents does, stock and movements included.

use automerge::{ActorId, AutoCommit, ObjId, ROOT, ReadDoc, transaction::Transactable};
use rusqlite::Connection;
use store_core::*;

/// 2026-05-28T20:26:40Z.
const T0: i64 = 1_780_000_000_000;

fn replica(dir: &std::path::Path) -> Replica {
    let me = ReplicaIdentity {
        replica_id: "T1".into(),
        branch_id: "B1".into(),
        branch_code: "B1".into(),
        terminal_code: "T1".into(),
    };
    Replica::open(
        dir.join("T1.sqlite"),
        me,
        Box::new(SeededEnv::new(1, T0, 60_000)),
        &OpenOptions::default(),
    )
    .unwrap()
}

fn run(r: &mut Replica, cmd: Command) -> String {
    r.execute("u", &cmd).unwrap().id
}

/// The projection equals what a rebuild from the documents gives.
fn same_as_rebuilt(r: &mut Replica, what: &str) {
    let before = r.projection_dump().unwrap();
    r.rebuild_projection().unwrap();
    assert_eq!(r.projection_dump().unwrap(), before, "{what}");
}

fn rows(c: &Connection, sql: &str, order: &str) -> Vec<String> {
    c.prepare(sql)
        .unwrap()
        .query_map([order], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn one(c: &Connection, sql: &str) -> i64 {
    c.query_row(sql, [], |r| r.get(0)).unwrap()
}

fn child(doc: &AutoCommit, obj: &ObjId, key: &str) -> ObjId {
    match doc.get(obj, key).unwrap() {
        Some((automerge::Value::Object(_), id)) => id,
        other => panic!("{key}: {other:?}"),
    }
}

#[test]
fn orders_edited_in_place_or_by_another_replica_project_as_a_rebuild_does() {
    let dir = tempfile::tempdir().unwrap();
    let mut r = replica(dir.path());
    let product = run(
        &mut r,
        Command::CreateProduct {
            sku: "OIL".into(),
            barcode: None,
            name: "Engine oil".into(),
            category: "oil".into(),
            grade: None,
            unit: "litre".into(),
            price: 900,
            cost: 500,
            min_stock: 0,
        },
    );
    run(
        &mut r,
        Command::ReceiveStock {
            lines: vec![StockLineInput {
                product_id: product.clone(),
                qty: 10_000,
                unit_cost: None,
            }],
            note: String::new(),
        },
    );
    let [owner, buyer] = ["Owner", "Buyer"].map(|name| {
        run(
            &mut r,
            Command::CreateCustomer {
                name: name.into(),
                phone: None,
                address: None,
                credit_limit: 0,
                tags: Vec::new(),
            },
        )
    });
    let vehicle = run(
        &mut r,
        Command::RegisterVehicle {
            customer_id: owner.clone(),
            plate: "AB-123".into(),
            vin: None,
            make: "Make".into(),
            model: "Model".into(),
            year: None,
            odometer: 1000,
        },
    );
    let service = run(
        &mut r,
        Command::CreateService {
            code: "OILCHG".into(),
            name: "Oil change".into(),
            labour_price: 3000,
            duration_min: 30,
        },
    );
    let tech = run(
        &mut r,
        Command::CreateTechnician {
            branch_id: None,
            name: "Sam".into(),
            skills: Vec::new(),
        },
    );
    let order = run(
        &mut r,
        Command::CreateServiceOrder {
            customer_id: owner.clone(),
            vehicle_id: vehicle,
            scheduled_date: "2026-05-29".into(),
            technician_id: None,
            complaint: "service".into(),
            odometer: Some(1200),
        },
    );
    // The commands: a field at a time, a line at a time.
    for cmd in [
        Command::AssignTechnician {
            order_id: order.clone(),
            technician_id: tech.clone(),
        },
        Command::SetOrderStatus {
            order_id: order.clone(),
            status: OrderStatus::InProgress,
        },
    ] {
        run(&mut r, cmd);
    }
    for price in [Some(3500), None] {
        run(
            &mut r,
            Command::AddLabour {
                order_id: order.clone(),
                service_id: service.clone(),
                technician_id: Some(tech.clone()),
                price,
            },
        );
    }
    for qty in [4000, 1500, 1000] {
        run(
            &mut r,
            Command::UsePart {
                order_id: order.clone(),
                product_id: product.clone(),
                qty,
                allow_negative_stock: false,
            },
        );
    }
    run(
        &mut r,
        Command::SetOrderStatus {
            order_id: order.clone(),
            status: OrderStatus::WaitingParts,
        },
    );
    let c = r.connection();
    assert_eq!(
        one(c, "SELECT qty FROM stock_levels"),
        10_000 - 4000 - 1500 - 1000
    );
    let history = one(
        c,
        "SELECT count(*) FROM record_history WHERE record_kind = 'service_order'",
    );
    assert!(history >= 3, "{history} history entries");
    same_as_rebuilt(&mut r, "after the commands");

    // Another replica edits the order's document directly: the first
    // labour line's price, the second line removed, the first part's
    // quantity, the second part removed, another customer (which the
    // third part's movement, unchanged otherwise, must now carry).
    let doc_id = r
        .doc_ids()
        .unwrap()
        .into_iter()
        .find(|d| d.to_string().starts_with("workshop"))
        .expect("a workshop document");
    let bytes: Vec<u8> = r.changes_since(&doc_id, &[]).unwrap().concat();
    let mut doc = AutoCommit::load(&bytes).unwrap();
    doc.set_actor(ActorId::from(b"other-replica".as_slice()));
    let orders = child(&doc, &ROOT, "orders");
    let o = child(&doc, &orders, &order);
    let labour = child(&doc, &o, "labour");
    let parts = child(&doc, &o, "parts");
    let line_ids = |doc: &AutoCommit, map: &ObjId| -> Vec<String> { doc.keys(map).collect() };
    let (l, p) = (line_ids(&doc, &labour), line_ids(&doc, &parts));
    assert_eq!((l.len(), p.len()), (2, 3));
    // The third part's quantity, which stays.
    let kept_qty: i64 = r
        .connection()
        .query_row(
            "SELECT qty FROM service_order_parts WHERE order_id = ?1 AND line_id = ?2",
            [&order, &p[2]],
            |x| x.get(0),
        )
        .unwrap();
    let first_labour = child(&doc, &labour, &l[0]);
    doc.put(&first_labour, "price", 4200_i64).unwrap();
    doc.delete(&labour, l[1].as_str()).unwrap();
    let first_part = child(&doc, &parts, &p[0]);
    doc.put(&first_part, "qty", 2500_i64).unwrap();
    doc.delete(&parts, p[1].as_str()).unwrap();
    doc.put(&o, "customer_id", buyer.as_str()).unwrap();
    doc.commit();
    let change = doc.get_last_local_change().unwrap().raw_bytes().to_vec();
    let report = r.apply_changes(&doc_id, vec![change]).unwrap();
    assert!(report.rejected.is_empty(), "{report:?}");

    let c = r.connection();
    let q = "SELECT price FROM service_order_labour WHERE order_id = ?1 ORDER BY line_id";
    assert_eq!(
        c.prepare(q)
            .unwrap()
            .query_map([&order], |x| x.get::<_, i64>(0))
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap(),
        [4200]
    );
    assert_eq!(
        rows(
            c,
            "SELECT line_id FROM service_order_parts WHERE order_id = ?1 ORDER BY line_id",
            &order
        ),
        [p[0].clone(), p[2].clone()]
    );
    assert_eq!(
        rows(
            c,
            "SELECT customer_id FROM stock_movements WHERE ref_kind = 'order' AND ref_id = ?1",
            &order
        ),
        [buyer.clone(), buyer.clone()],
        "two parts' movements left, for the new customer"
    );
    assert_eq!(
        one(c, "SELECT qty FROM stock_levels"),
        10_000 - 2500 - kept_qty
    );
    assert_eq!(
        rows(
            c,
            "SELECT customer_id FROM service_orders WHERE id = ?1",
            &order
        ),
        [buyer]
    );
    same_as_rebuilt(&mut r, "after another replica's edits");

    // And a command after them: the status changes in place again.
    run(
        &mut r,
        Command::SetOrderStatus {
            order_id: order.clone(),
            status: OrderStatus::InProgress,
        },
    );
    same_as_rebuilt(&mut r, "after a last status change");
}
