//! Queries and reports over a database populated by real commands:
//! every statement's plan uses an index on the growing tables (checked with
//! `EXPLAIN QUERY PLAN` after `ANALYZE`), the check fails when an index is
//! dropped, and the results agree with independent computations.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use rusqlite::Connection;
use store_core::domain::{day_of, gross, tax_on};
use store_core::query::{self, Page, Period, Queries, TopBy};
use store_core::*;

/// Tables that grow without bound: no statement may scan them.
const GROWING: &[&str] = &[
    "invoices",
    "invoice_lines",
    "payments",
    "stock_movements",
    "ledger_entries",
    "service_orders",
];

/// At scale, every table that is large in production: the growing tables,
/// the other per-sale tables, and the catalogue and customers.
const LARGE: &[&str] = &[
    "invoices",
    "invoice_lines",
    "payments",
    "stock_movements",
    "ledger_entries",
    "service_orders",
    "returns",
    "return_lines",
    "invoice_voids",
    "service_order_labour",
    "service_order_parts",
    "stock_levels",
    "products",
    "customers",
    "vehicles",
    "shifts",
];

const DAY: i64 = 86_400_000;
/// 2026-05-28T20:26:40Z.
const T0: i64 = 1_780_000_000_000;

// ------------------------------------------------------------------ environment

/// A clock the test moves while the replica (which needs a `Send`
/// environment) reads it.
#[derive(Clone)]
struct Clock(std::sync::Arc<std::sync::atomic::AtomicI64>);

impl Clock {
    fn new(t: i64) -> Self {
        Clock(std::sync::Arc::new(std::sync::atomic::AtomicI64::new(t)))
    }
    fn get(&self) -> i64 {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
    fn set(&self, t: i64) {
        self.0.store(t, std::sync::atomic::Ordering::SeqCst)
    }
}

/// A seeded environment whose clock the test can move.
struct TestEnv {
    clock: Clock,
    rng: SeededEnv,
}

impl Env for TestEnv {
    fn now_ms(&mut self) -> i64 {
        let t = self.clock.get() + 1000;
        self.clock.set(t);
        t
    }
    fn fill_random(&mut self, buf: &mut [u8]) {
        self.rng.fill_random(buf)
    }
}

fn open(dir: &std::path::Path, id: &str, seed: u64) -> (Replica, Clock) {
    let clock = Clock::new(T0);
    let me = ReplicaIdentity {
        replica_id: id.into(),
        branch_id: "B1".into(),
        branch_code: "B1".into(),
        terminal_code: id.into(),
    };
    let env = TestEnv {
        clock: clock.clone(),
        rng: SeededEnv::new(seed, T0, 1000),
    };
    let r = Replica::open(
        dir.join(format!("{id}.sqlite")),
        me,
        Box::new(env),
        &OpenOptions::default(),
    )
    .unwrap();
    (r, clock)
}

/// Deterministic pseudo-random numbers for the data set.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn line_total(qty: Qty, price: Money, tax_bp: i64) -> Money {
    let g = gross(qty, price).unwrap();
    g + tax_on(g, tax_bp).unwrap()
}

// ------------------------------------------------------------------ fixture

struct Fixture {
    _dir: tempfile::TempDir,
    r: Replica,
    products: Vec<String>,
    customers: Vec<String>,
    /// Shift 1 (closed): id, opening float, cash and card taken, cash refunded, counted.
    shift1: String,
    shift1_float: Money,
    shift1_cash_in: Money,
    shift1_cash_out: Money,
    shift1_card_in: Money,
    shift1_counted_cash: Money,
    void_invoice: String,
    returned_walk_in: String,
    vehicle1: String,
    vehicle2: String,
    tech_tom: String,
    day1: String,
    day2: String,
    as_of: Millis,
    first_day: String,
    last_day: String,
}

struct ShiftTotals {
    open: bool,
    cash_in: Money,
    cash_out: Money,
    card_in: Money,
}

impl ShiftTotals {
    fn tender(&mut self, t: &[Tender]) {
        if !self.open {
            return;
        }
        for x in t {
            match x.channel.as_str() {
                "cash" => self.cash_in += x.amount,
                "card" => self.card_in += x.amount,
                _ => {}
            }
        }
    }
}

fn exec(r: &mut Replica, cmd: Command) -> Outcome {
    r.execute("tester", &cmd)
        .unwrap_or_else(|e| panic!("{} failed: {e}", cmd.name()))
}

fn populate() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let (mut r, clock) = open(dir.path(), "T1", 11);
    let at = |d: i64, h: i64| T0 + d * DAY + h * 3_600_000;
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);

    for (code, name, is_cash) in [
        ("cash", "Cash", true),
        ("card", "Card", false),
        ("bank", "Bank transfer", false),
    ] {
        exec(
            &mut r,
            Command::SetPaymentChannel {
                code: code.into(),
                name: name.into(),
                is_cash,
                active: true,
            },
        );
    }
    let branch2 = exec(
        &mut r,
        Command::CreateBranch {
            code: "B2".into(),
            name: "Second branch".into(),
        },
    )
    .id;

    // 24 products in four categories.
    let mut products = Vec::new();
    let mut prices = Vec::new();
    for i in 0..24i64 {
        let (category, name) = match i / 6 {
            0 => ("rebar", format!("Rebar B500 {}mm", 8 + i)),
            1 => ("sheet", format!("Steel sheet {}mm", i - 5)),
            2 => ("pipe", format!("Galvanized pipe {}in", i - 11)),
            _ => (
                "parts",
                match i {
                    18 => "Oil filter OF-18".to_string(),
                    19 => "Brake pad set BP-19".to_string(),
                    _ => format!("Spark plug SP-{i}"),
                },
            ),
        };
        let price = 500 + 137 * i;
        prices.push(price);
        products.push(
            exec(
                &mut r,
                Command::CreateProduct {
                    sku: format!("SKU-{i:03}"),
                    barcode: (i % 2 == 0).then(|| format!("4006381{i:06}")),
                    name,
                    category: category.into(),
                    grade: (category == "rebar").then(|| "B500".to_string()),
                    unit: "piece".into(),
                    price,
                    cost: price * 7 / 10,
                    min_stock: if i >= 22 { 0 } else { 5000 },
                },
            )
            .id,
        );
    }
    // Products 0..18: 100 units; 18: 20 units; 19: 3 units (below its
    // minimum); 20..24: never received.
    let mut lines: Vec<StockLineInput> = (0..18)
        .map(|i| StockLineInput {
            product_id: products[i].clone(),
            qty: 100_000,
            unit_cost: None,
        })
        .collect();
    lines.push(StockLineInput {
        product_id: products[18].clone(),
        qty: 20_000,
        unit_cost: None,
    });
    lines.push(StockLineInput {
        product_id: products[19].clone(),
        qty: 3_000,
        unit_cost: None,
    });
    clock.set(at(0, 7));
    exec(
        &mut r,
        Command::ReceiveStock {
            lines,
            note: "opening delivery".into(),
        },
    );

    let customer_names = [
        ("Ahmed Steel Works", 10_000_000),
        ("Bilal Construction", 10_000_000),
        ("Carmen Workshop", 10_000_000),
        ("Delta Builders", 0),
        ("Eagle Fabrication", 10_000_000),
        ("Falcon Garage", 5_000),
        ("Gulf Pipes", 10_000_000),
        ("Harbor Metals", 0),
        ("Iron Masters", 10_000_000),
        ("Jade Motors", 0),
    ];
    let mut customers = Vec::new();
    for (i, (name, limit)) in customer_names.iter().enumerate() {
        customers.push(
            exec(
                &mut r,
                Command::CreateCustomer {
                    name: (*name).into(),
                    phone: (i % 3 != 2).then(|| format!("+971 50 111 {i:04}")),
                    address: None,
                    credit_limit: *limit,
                    tags: vec![],
                },
            )
            .id,
        );
    }

    let shift1_float = 10_000;
    let shift1 = exec(
        &mut r,
        Command::OpenShift {
            opening_float: shift1_float,
        },
    )
    .id;
    let mut s1 = ShiftTotals {
        open: true,
        cash_in: 0,
        cash_out: 0,
        card_in: 0,
    };
    let mut shift1_counted_cash = 0;

    let mut walk_in_invoices = Vec::new();
    let mut customer_invoices: Vec<(usize, String)> = Vec::new();
    let credit_customers = [0usize, 1, 2, 4, 6, 8];
    let mut void_invoice = String::new();
    let mut returned_walk_in = String::new();
    let random_lines = |rng: &mut Rng, n: u64| -> (Vec<SaleLine>, Money) {
        let mut picked = BTreeSet::new();
        let mut out = Vec::new();
        let mut total = 0;
        for _ in 0..n {
            let p = rng.below(18) as usize;
            if !picked.insert(p) {
                continue;
            }
            let qty = 1000 * (1 + rng.below(3) as i64);
            let tax_bp = if p.is_multiple_of(3) { 1500 } else { 0 };
            total += line_total(qty, prices[p], tax_bp);
            out.push(SaleLine {
                product_id: products[p].clone(),
                qty,
                unit_price: None,
                discount: 0,
                tax_rate_bp: tax_bp,
            });
        }
        (out, total)
    };

    for k in 0..48i64 {
        let day = k * 3;
        // A walk-in sale, paid in full (cash, or cash and card).
        clock.set(at(day, 9));
        let n = 1 + rng.below(2);
        let (lines, total) = random_lines(&mut rng, n);
        let payments = if k % 3 == 0 {
            vec![
                Tender {
                    channel: "cash".into(),
                    amount: total / 2,
                },
                Tender {
                    channel: "card".into(),
                    amount: total - total / 2,
                },
            ]
        } else {
            vec![Tender {
                channel: "cash".into(),
                amount: total,
            }]
        };
        s1.tender(&payments);
        let inv = exec(
            &mut r,
            Command::Sell {
                customer_id: None,
                lines,
                payments,
                allow_negative_stock: false,
                allow_over_credit_limit: false,
            },
        )
        .id;
        walk_in_invoices.push(inv);

        // A customer sale, on credit or paid.
        clock.set(at(day, 11));
        let (ci, full_pay) = if k % 5 == 4 {
            (if k % 2 == 0 { 3 } else { 7 }, true)
        } else {
            (
                credit_customers[(k as usize) % credit_customers.len()],
                false,
            )
        };
        let n = 1 + rng.below(3);
        let (lines, total) = random_lines(&mut rng, n);
        let payments = if full_pay {
            vec![Tender {
                channel: "card".into(),
                amount: total,
            }]
        } else {
            match k % 4 {
                0 => vec![],
                1 => vec![Tender {
                    channel: "card".into(),
                    amount: total / 2,
                }],
                2 => vec![Tender {
                    channel: "bank".into(),
                    amount: total,
                }],
                _ => vec![Tender {
                    channel: "cash".into(),
                    amount: total / 3,
                }],
            }
        };
        let payments: Vec<Tender> = payments.into_iter().filter(|t| t.amount > 0).collect();
        s1.tender(&payments);
        let inv = exec(
            &mut r,
            Command::Sell {
                customer_id: Some(customers[ci].clone()),
                lines,
                payments,
                allow_negative_stock: false,
                allow_over_credit_limit: false,
            },
        )
        .id;
        customer_invoices.push((ci, inv));

        if k == 10 {
            // A return on a walk-in sale, refunded in cash.
            clock.set(at(day, 15));
            let inv = walk_in_invoices[5].clone();
            let ret = exec(
                &mut r,
                Command::ReturnItems {
                    invoice_id: inv.clone(),
                    lines: vec![ReturnLineInput {
                        line_no: 0,
                        qty: 1000,
                    }],
                    reason: "damaged".into(),
                },
            )
            .id;
            let amount: Money = r
                .connection()
                .query_row("SELECT total FROM returns WHERE id = ?1", [&ret], |x| {
                    x.get(0)
                })
                .unwrap();
            exec(
                &mut r,
                Command::TakePayment {
                    customer_id: None,
                    invoice_id: Some(inv.clone()),
                    amount,
                    channel: "cash".into(),
                    kind: PaymentKind::Refund,
                },
            );
            s1.cash_out += amount;
            returned_walk_in = inv;
            // A return on a customer's credit sale.
            let (_, cinv) = customer_invoices[8].clone();
            exec(
                &mut r,
                Command::ReturnItems {
                    invoice_id: cinv,
                    lines: vec![ReturnLineInput {
                        line_no: 0,
                        qty: 1000,
                    }],
                    reason: "wrong size".into(),
                },
            );
        }
        if k == 20 {
            // Close shift 1, 1.50 short in cash; open shift 2.
            clock.set(at(day, 18));
            let expected_cash = shift1_float + s1.cash_in - s1.cash_out;
            shift1_counted_cash = expected_cash - 150;
            exec(
                &mut r,
                Command::CloseShift {
                    shift_id: shift1.clone(),
                    counted: BTreeMap::from([
                        ("cash".to_string(), shift1_counted_cash),
                        ("card".to_string(), s1.card_in),
                    ]),
                },
            );
            s1.open = false;
            exec(
                &mut r,
                Command::OpenShift {
                    opening_float: 5_000,
                },
            );
        }
        if k == 30 {
            // A credit sale voided the same day.
            clock.set(at(day, 14));
            let (lines, _) = random_lines(&mut rng, 2);
            let inv = exec(
                &mut r,
                Command::Sell {
                    customer_id: Some(customers[8].clone()),
                    lines,
                    payments: vec![],
                    allow_negative_stock: false,
                    allow_over_credit_limit: false,
                },
            )
            .id;
            exec(
                &mut r,
                Command::VoidInvoice {
                    invoice_id: inv.clone(),
                    reason: "entered twice".into(),
                },
            );
            void_invoice = inv;
        }
        if k == 35 {
            // A sale passing a credit limit, allowed by override.
            clock.set(at(day, 16));
            exec(
                &mut r,
                Command::Sell {
                    customer_id: Some(customers[5].clone()),
                    lines: vec![SaleLine {
                        product_id: products[0].clone(),
                        qty: 15_000,
                        unit_price: None,
                        discount: 0,
                        tax_rate_bp: 0,
                    }],
                    payments: vec![],
                    allow_negative_stock: false,
                    allow_over_credit_limit: true,
                },
            );
        }
        if k == 40 {
            // Selling more than on hand, allowed by override: negative stock.
            clock.set(at(day, 16));
            let total = line_total(5000, prices[19], 0);
            exec(
                &mut r,
                Command::Sell {
                    customer_id: None,
                    lines: vec![SaleLine {
                        product_id: products[19].clone(),
                        qty: 5000,
                        unit_price: None,
                        discount: 0,
                        tax_rate_bp: 0,
                    }],
                    payments: vec![Tender {
                        channel: "cash".into(),
                        amount: total,
                    }],
                    allow_negative_stock: true,
                    allow_over_credit_limit: false,
                },
            );
        }
    }

    // Later payments: half of some open customer invoices.
    clock.set(at(100, 10));
    let open_invoices: Vec<(String, Money)> = {
        let mut st = r
            .connection()
            .prepare(
                "SELECT id, remaining FROM invoices WHERE remaining > 1 AND customer_id IS NOT NULL
                 ORDER BY at LIMIT 6",
            )
            .unwrap();
        st.query_map([], |x| Ok((x.get(0)?, x.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    for (inv, remaining) in open_invoices {
        exec(
            &mut r,
            Command::TakePayment {
                customer_id: None,
                invoice_id: Some(inv),
                amount: remaining / 2,
                channel: "cash".into(),
                kind: PaymentKind::Invoice,
            },
        );
    }
    // An advance, then part of it refunded: a customer in credit.
    exec(
        &mut r,
        Command::TakePayment {
            customer_id: Some(customers[9].clone()),
            invoice_id: None,
            amount: 5_000,
            channel: "bank".into(),
            kind: PaymentKind::Advance,
        },
    );
    exec(
        &mut r,
        Command::TakePayment {
            customer_id: Some(customers[9].clone()),
            invoice_id: None,
            amount: 2_000,
            channel: "cash".into(),
            kind: PaymentKind::Refund,
        },
    );

    // Stock: a transfer to the second branch and a count correction.
    exec(
        &mut r,
        Command::TransferStock {
            to_branch: branch2,
            lines: vec![StockLineInput {
                product_id: products[0].clone(),
                qty: 10_000,
                unit_cost: None,
            }],
            note: String::new(),
            allow_negative_stock: false,
        },
    );
    exec(
        &mut r,
        Command::AdjustStock {
            lines: vec![StockLineInput {
                product_id: products[1].clone(),
                qty: -1000,
                unit_cost: None,
            }],
            note: "count".into(),
        },
    );

    // Workshop.
    clock.set(at(128, 8));
    let oil = exec(
        &mut r,
        Command::CreateService {
            code: "OIL".into(),
            name: "Oil change".into(),
            labour_price: 3_000,
            duration_min: 30,
        },
    )
    .id;
    let brakes = exec(
        &mut r,
        Command::CreateService {
            code: "BRK".into(),
            name: "Brake job".into(),
            labour_price: 12_000,
            duration_min: 90,
        },
    )
    .id;
    let tech_tom = exec(
        &mut r,
        Command::CreateTechnician {
            branch_id: None,
            name: "Tom".into(),
            skills: vec!["engine".into()],
        },
    )
    .id;
    let tech_ana = exec(
        &mut r,
        Command::CreateTechnician {
            branch_id: None,
            name: "Ana".into(),
            skills: vec!["brakes".into()],
        },
    )
    .id;
    let vehicle = |r: &mut Replica, c: usize, plate: &str| {
        exec(
            r,
            Command::RegisterVehicle {
                customer_id: customers[c].clone(),
                plate: plate.into(),
                vin: None,
                make: "Toyota".into(),
                model: "Hilux".into(),
                year: Some(2019),
                odometer: 120_000,
            },
        )
        .id
    };
    let vehicle1 = vehicle(&mut r, 2, "ABC-123");
    let vehicle2 = vehicle(&mut r, 4, "XYZ-789");
    let day1 = day_of(at(130, 8));
    let day2 = day_of(at(131, 8));
    let order = |r: &mut Replica, c: usize, v: &str, d: &str, t: Option<&String>| {
        exec(
            r,
            Command::CreateServiceOrder {
                customer_id: customers[c].clone(),
                vehicle_id: v.into(),
                scheduled_date: d.into(),
                technician_id: t.cloned(),
                complaint: "noise".into(),
                odometer: Some(121_000),
            },
        )
        .id
    };
    let status = |r: &mut Replica, o: &str, s: OrderStatus| {
        exec(
            r,
            Command::SetOrderStatus {
                order_id: o.into(),
                status: s,
            },
        );
    };
    let labour = |r: &mut Replica, o: &str, s: &str| {
        exec(
            r,
            Command::AddLabour {
                order_id: o.into(),
                service_id: s.into(),
                technician_id: None,
                price: None,
            },
        );
    };
    // o1: done and invoiced, with labour and a part, paid in part by card.
    let o1 = order(&mut r, 2, &vehicle1, &day1, Some(&tech_tom));
    status(&mut r, &o1, OrderStatus::InProgress);
    labour(&mut r, &o1, &oil);
    exec(
        &mut r,
        Command::UsePart {
            order_id: o1.clone(),
            product_id: products[18].clone(),
            qty: 1000,
            allow_negative_stock: false,
        },
    );
    status(&mut r, &o1, OrderStatus::Done);
    exec(
        &mut r,
        Command::InvoiceServiceOrder {
            order_id: o1,
            payments: vec![Tender {
                channel: "card".into(),
                amount: 1_000,
            }],
            allow_over_credit_limit: false,
        },
    );
    // o2: booked with labour; o3: waiting for parts; o4: cancelled; o5: booked.
    let o2 = order(&mut r, 2, &vehicle1, &day2, Some(&tech_ana));
    labour(&mut r, &o2, &brakes);
    let o3 = order(&mut r, 4, &vehicle2, &day2, Some(&tech_tom));
    status(&mut r, &o3, OrderStatus::InProgress);
    labour(&mut r, &o3, &brakes);
    labour(&mut r, &o3, &oil);
    status(&mut r, &o3, OrderStatus::WaitingParts);
    let o4 = order(&mut r, 4, &vehicle2, &day1, None);
    status(&mut r, &o4, OrderStatus::Cancelled);
    let _o5 = order(&mut r, 2, &vehicle1, &day2, Some(&tech_tom));
    // Other vehicles booked on the days before, so the workshop tables are
    // not trivially small.
    let others: Vec<(usize, String)> = [
        (0usize, "AAA-001"),
        (1, "BBB-002"),
        (6, "CCC-003"),
        (8, "DDD-004"),
    ]
    .into_iter()
    .map(|(c, plate)| (c, vehicle(&mut r, c, plate)))
    .collect();
    for j in 0..40i64 {
        let (c, v) = &others[(j % 4) as usize];
        let tech = match j % 3 {
            0 => Some(&tech_tom),
            1 => Some(&tech_ana),
            _ => None,
        };
        let o = order(&mut r, *c, v, &day_of(at(90 + j, 8)), tech);
        labour(&mut r, &o, if j % 2 == 0 { &oil } else { &brakes });
        if j % 4 == 0 {
            status(&mut r, &o, OrderStatus::InProgress);
        }
    }

    // A second terminal edits the catalogue and customers offline: a price
    // edited on both, a SKU and a phone wanted by two records.
    let (mut t2, clock2) = open(dir.path(), "T2", 22);
    clock2.set(at(135, 9));
    let catalog = DocId::Catalog;
    let ch = r.changes_since(&catalog, &[]).unwrap();
    assert!(t2.apply_changes(&catalog, ch).unwrap().rejected.is_empty());
    clock.set(at(135, 10));
    exec(
        &mut r,
        Command::UpdateProduct {
            product_id: products[2].clone(),
            name: None,
            category: None,
            price: Some(999),
            cost: None,
            min_stock: None,
            status: None,
            barcode: None,
        },
    );
    exec(
        &mut r,
        Command::CreateProduct {
            sku: "SKU-DUP".into(),
            barcode: None,
            name: "Angle bar 40mm".into(),
            category: "rebar".into(),
            grade: None,
            unit: "piece".into(),
            price: 700,
            cost: 500,
            min_stock: 0,
        },
    );
    exec(
        &mut t2,
        Command::UpdateProduct {
            product_id: products[2].clone(),
            name: None,
            category: None,
            price: Some(1111),
            cost: None,
            min_stock: None,
            status: None,
            barcode: None,
        },
    );
    exec(
        &mut t2,
        Command::CreateProduct {
            sku: "SKU-DUP".into(),
            barcode: None,
            name: "Angle bar 50mm".into(),
            category: "rebar".into(),
            grade: None,
            unit: "piece".into(),
            price: 800,
            cost: 600,
            min_stock: 0,
        },
    );
    exec(
        &mut t2,
        Command::CreateCustomer {
            name: "Ahmed Steel Trading".into(),
            phone: Some("+971 50 111 0000".into()),
            address: None,
            credit_limit: 0,
            tags: vec![],
        },
    );
    for d in t2.doc_ids().unwrap() {
        let ch = t2.changes_since(&d, &[]).unwrap();
        let rep = r.apply_changes(&d, ch).unwrap();
        assert!(rep.rejected.is_empty(), "{rep:?}");
    }

    r.connection().execute_batch("ANALYZE").unwrap();
    Fixture {
        _dir: dir,
        r,
        products,
        customers,
        shift1,
        shift1_float,
        shift1_cash_in: s1.cash_in,
        shift1_cash_out: s1.cash_out,
        shift1_card_in: s1.card_in,
        shift1_counted_cash,
        void_invoice,
        returned_walk_in,
        vehicle1,
        vehicle2,
        tech_tom,
        day1,
        day2,
        as_of: at(145, 12),
        first_day: day_of(at(0, 0)),
        last_day: day_of(at(145, 0)),
    }
}

// ------------------------------------------------------------------ plan check

fn sql_tokens(sql: &str) -> Vec<String> {
    sql.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|t| !t.is_empty())
        .map(|t| t.to_ascii_lowercase())
        .collect()
}

/// The growing tables a statement reads and the aliases it gives them.
fn growing_names(sql: &str, tables: &[&str]) -> HashSet<String> {
    const KEYWORDS: [&str; 20] = [
        "where", "join", "left", "inner", "cross", "on", "using", "group", "order", "limit",
        "natural", "indexed", "not", "union", "window", "having", "outer", "full", "right",
        "select",
    ];
    let tokens = sql_tokens(sql);
    let mut names: HashSet<String> = tables.iter().map(|s| s.to_string()).collect();
    for i in 1..tokens.len() {
        if !tables.contains(&tokens[i].as_str())
            || !matches!(tokens[i - 1].as_str(), "from" | "join")
        {
            continue;
        }
        let alias = match tokens.get(i + 1).map(String::as_str) {
            Some("as") => tokens.get(i + 2),
            _ => tokens.get(i + 1),
        };
        if let Some(a) = alias
            && !KEYWORDS.contains(&a.as_str())
        {
            names.insert(a.clone());
        }
    }
    names
}

fn plan(conn: &Connection, sql: &str) -> Vec<String> {
    let mut stmt = conn
        .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
        .unwrap_or_else(|e| panic!("cannot prepare {sql}: {e}"));
    // Parameters are left unbound (NULL): the plan does not depend on them.
    let mut rows = stmt.raw_query();
    let mut out = Vec::new();
    while let Some(row) = rows.next().unwrap() {
        out.push(row.get::<_, String>(3).unwrap());
    }
    out
}

/// Statements allowed to walk a whole index of a growing table in order
/// (`SCAN t USING INDEX i`), e.g. a "latest N" list stopped early by its
/// LIMIT. None so far.
const ORDERED_SCAN_ALLOWED: &[&str] = &[];

/// Plan lines that read a growing table in full: a `SCAN` of it (a plain
/// table scan, or a walk of a whole index, which is just as long unless a
/// LIMIT stops it: stricter than accepting `SCAN ... USING INDEX`, see
/// [`ORDERED_SCAN_ALLOWED`]), or an automatic index or bloom filter built
/// over it (both read the whole table).
fn violations(conn: &Connection, name: &str, sql: &str) -> Vec<String> {
    violations_in(conn, name, sql, GROWING)
}

/// [`violations`] over a given list of tables.
fn violations_in(conn: &Connection, name: &str, sql: &str, tables: &[&str]) -> Vec<String> {
    let names = growing_names(sql, tables);
    plan(conn, sql)
        .into_iter()
        .filter(|line| {
            let w: Vec<&str> = line.split_whitespace().collect();
            let on_growing = |i: usize| w.get(i).is_some_and(|n| names.contains(*n));
            let index_walk =
                line.contains(" USING INDEX ") || line.contains(" USING COVERING INDEX ");
            let scan = w.first() == Some(&"SCAN")
                && on_growing(1)
                && !(index_walk && ORDERED_SCAN_ALLOWED.contains(&name));
            let automatic =
                w.first() == Some(&"SEARCH") && on_growing(1) && line.contains("AUTOMATIC");
            let bloom = line.starts_with("BLOOM FILTER ON") && on_growing(3);
            scan || automatic || bloom
        })
        .collect()
}

fn statement(name: &str) -> &'static str {
    query::statements()
        .into_iter()
        .find(|(n, _)| *n == name)
        .unwrap_or_else(|| panic!("no statement {name}"))
        .1
}

#[test]
fn every_statement_uses_an_index_on_the_growing_tables() {
    let fx = populate();
    let conn = fx.r.connection();
    // The statistics are real: ANALYZE saw the populated tables.
    let analyzed: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_stat1 WHERE tbl IN ('invoices', 'ledger_entries', 'stock_movements')",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(analyzed >= 3);
    let mut failures = Vec::new();
    let statements = query::statements();
    assert!(statements.len() >= 35, "{} statements", statements.len());
    for (name, sql) in &statements {
        let lines = plan(conn, sql);
        println!("-- {name}\n   {}", lines.join("\n   "));
        let bad = violations(conn, name, sql);
        if !bad.is_empty() {
            failures.push(format!("{name}: {bad:?}"));
        }
    }
    assert!(failures.is_empty(), "full scans:\n{}", failures.join("\n"));
}

/// A production-shaped data set written straight into the projection
/// tables (1/5 of a branch's budget: 10k products, 5k customers, 20k
/// invoices with 100k lines and movements, 10k service orders, most
/// invoices paid, a third of the products with a barcode), so that the
/// planner's statistics look like a real store's, not a test's.
const SYNTHETIC: &str = "
BEGIN;
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 9999)
INSERT INTO products(id, sku, sku_wanted, barcode, barcode_wanted, name, category, unit, price,
                     cost, min_stock, status, updated_at)
SELECT printf('p%06d', i), printf('S%06d', i), printf('S%06d', i),
       CASE WHEN i % 3 = 0 THEN printf('B%06d', i) END, CASE WHEN i % 3 = 0 THEN printf('B%06d', i) END,
       printf('Product %d', (i * 7919) % 10000), 'cat' || (i % 40), 'piece', 100, 70, 5000,
       'active', 0
FROM n;
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 4999)
INSERT INTO customers(id, name, phone, phone_wanted, credit_limit, tags, created_at, updated_at)
SELECT printf('c%06d', i), printf('Customer %d', i), CASE WHEN i % 2 = 0 THEN printf('+1%06d', i) END,
       CASE WHEN i % 2 = 0 THEN printf('+1%06d', i) END, 100000, '', 0, 0
FROM n;
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 19999)
INSERT INTO invoices(id, doc_id, bill_no, bill_no_wanted, seq, customer_id, branch_id, terminal_id,
                     user_id, at, day, subtotal, discount, tax, total)
SELECT printf('i%07d', i), 'd', printf('B-%07d', i), printf('B-%07d', i), i + 1,
       CASE WHEN i % 3 = 0 THEN NULL ELSE printf('c%06d', i % 5000) END, 'B' || (i % 20), 'T1', 'u',
       1700000000000 + i * 60000, date(1700000000 + i * 60, 'unixepoch'), 1000, 0, 0, 1000
FROM n;
INSERT INTO invoice_lines(invoice_id, line_no, kind, product_id, description, qty, unit_price,
                          discount, tax, total, cost)
SELECT id, k.v, 'product', printf('p%06d', (seq * 31 + k.v) % 10000), 'x', 1000, 200, 0, 0, 200, 100
FROM invoices, (SELECT 0 AS v UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3
                UNION ALL SELECT 4) k;
INSERT INTO payments(id, doc_id, customer_id, invoice_id, branch_id, terminal_id, user_id, shift_id,
                     at, day, amount, channel, kind)
SELECT 'pay' || id, 'd', customer_id, id, branch_id, 'T1', 'u', 's' || (seq / 100), at, day,
       CASE WHEN seq % 10 = 0 THEN 500 ELSE 1000 END,
       CASE WHEN seq % 2 = 0 THEN 'cash' ELSE 'card' END, 'invoice'
FROM invoices WHERE seq % 5 <> 1;
INSERT INTO returns(id, doc_id, invoice_id, customer_id, branch_id, terminal_id, user_id, at, day,
                    total, reason)
SELECT 'ret' || id, 'd', id, customer_id, branch_id, 'T1', 'u', at, day, 100, ''
FROM invoices WHERE seq % 50 = 0;
INSERT INTO invoice_voids(id, doc_id, invoice_id, customer_id, amount, user_id, terminal_id, at, reason)
SELECT 'void' || id, 'd', id, customer_id, total, 'u', 'T1', at, '' FROM invoices WHERE seq % 97 = 0;
INSERT INTO ledger_entries(id, customer_id, at, debit, credit, category, ref_kind, ref_id)
SELECT 'invoice:' || id, customer_id, at, total, 0, 'sale', 'invoice', id
FROM invoices WHERE customer_id IS NOT NULL;
INSERT INTO stock_movements(id, product_id, branch_id, qty, kind, ref_kind, ref_id, customer_id,
                            unit_cost, at, terminal_id, user_id)
SELECT l.invoice_id || ':' || l.line_no, l.product_id, i.branch_id, -l.qty, 'sale', 'invoice', i.id,
       i.customer_id, 100, i.at, 'T1', 'u'
FROM invoice_lines l JOIN invoices i ON i.id = l.invoice_id;
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 199)
INSERT INTO shifts(id, doc_id, terminal_id, branch_id, user_id, opened_at, opening_float)
SELECT 's' || i, 'd', 'T1', 'B1', 'u', i, 100 FROM n;
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 49)
INSERT INTO technicians(id, branch_id, name, skills, active)
SELECT 't' || i, 'B' || (i % 20), 'Tech ' || i, '', 1 FROM n;
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 1999)
INSERT INTO vehicles(id, customer_id, plate, make, model, odometer, created_at)
SELECT 'v' || i, printf('c%06d', i % 5000), 'P' || i, 'm', 'm', 0, 0 FROM n;
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 9999)
INSERT INTO service_orders(id, doc_id, number, customer_id, vehicle_id, branch_id, status,
                           scheduled_date, technician_id, complaint, created_at, updated_at)
SELECT printf('o%06d', i), 'd', printf('SO-%06d', i), printf('c%06d', i % 5000), 'v' || (i % 2000),
       'B' || (i % 20), 'booked', date(1700000000 + i * 600, 'unixepoch'), 't' || (i % 50), '', 0, 0
FROM n;
INSERT INTO service_order_labour(order_id, line_id, service_id, description, price, duration_min)
SELECT id, 'l1', 's', 'x', 100, 30 FROM service_orders;
INSERT INTO service_order_parts(order_id, line_id, product_id, qty, unit_price, at)
SELECT id, 'p1', 'p000001', 1000, 100, 0 FROM service_orders WHERE rowid % 2 = 0;
COMMIT;
ANALYZE;";

#[test]
fn plans_hold_on_a_production_shaped_database() {
    let dir = tempfile::tempdir().unwrap();
    let (r, _) = open(dir.path(), "T1", 5);
    let conn = r.connection();
    conn.execute_batch(SYNTHETIC).unwrap();
    assert_eq!(
        count(conn, "SELECT count(*) FROM invoice_lines", []),
        100_000
    );
    assert!(
        count(
            conn,
            "SELECT count(*) FROM sqlite_stat1 WHERE tbl = 'invoices'",
            []
        ) >= 8
    );
    let mut failures = Vec::new();
    for (name, sql) in query::statements() {
        let bad = violations_in(conn, name, sql, LARGE);
        if !bad.is_empty() {
            failures.push(format!(
                "{name}: {bad:?}\n   {}",
                plan(conn, sql).join("\n   ")
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "full scans at scale:\n{}",
        failures.join("\n")
    );
}

/// A terminal that never ran `ANALYZE` plans with SQLite's default
/// estimates: the growing tables must still be read through indexes.
#[test]
fn plans_hold_without_statistics() {
    let dir = tempfile::tempdir().unwrap();
    let (r, _) = open(dir.path(), "T1", 6);
    let conn = r.connection();
    conn.execute_batch(&SYNTHETIC.replace("ANALYZE;", ""))
        .unwrap();
    assert_eq!(
        count(
            conn,
            "SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'",
            []
        ),
        0
    );
    let mut failures = Vec::new();
    for (name, sql) in query::statements() {
        let bad = violations_in(conn, name, sql, LARGE);
        if !bad.is_empty() {
            failures.push(format!(
                "{name}: {bad:?}\n   {}",
                plan(conn, sql).join("\n   ")
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "full scans without statistics:\n{}",
        failures.join("\n")
    );
}

#[test]
fn statements_are_named_once_and_never_use_offset() {
    let statements = query::statements();
    let names: HashSet<&str> = statements.iter().map(|(n, _)| *n).collect();
    assert_eq!(names.len(), statements.len(), "duplicate statement names");
    for (name, sql) in &statements {
        assert!(
            !sql_tokens(sql).iter().any(|t| t == "offset"),
            "{name} uses OFFSET"
        );
    }
    // The alias detection used by the plan check sees through aliases.
    let n = growing_names(
        "SELECT 1 FROM invoices i LEFT JOIN payments AS pay ON 1 JOIN products p",
        GROWING,
    );
    assert!(n.contains("i") && n.contains("pay") && !n.contains("p"));
}

#[test]
fn the_plan_check_fails_when_an_index_is_missing() {
    let fx = populate();
    let conn = fx.r.connection();
    for (index, statements) in [
        (
            "idx_ledger_entries_customer_date",
            &["statement_opening", "statement_page"][..],
        ),
        (
            "idx_stock_movements_product_date",
            &["stock_card_start", "stock_card_page"][..],
        ),
        ("idx_payments_shift", &["shift_channels"][..]),
        ("idx_invoices_customer_date", &["invoices_of_customer"][..]),
    ] {
        for name in statements {
            assert!(violations(conn, name, statement(name)).is_empty(), "{name}");
        }
        conn.execute_batch(&format!("DROP INDEX {index}")).unwrap();
        for name in statements {
            let bad = violations(conn, name, statement(name));
            assert!(
                !bad.is_empty(),
                "{name} without {index} should scan: {:?}",
                plan(conn, statement(name))
            );
        }
    }
}

// ------------------------------------------------------------------ helpers

/// Pages through a list with a small page size and returns every row,
/// checking that pagination took several pages.
fn all_pages<T: Clone, C: Clone>(
    mut page: impl FnMut(Option<&C>) -> Page<T, C>,
    min_pages: usize,
) -> Vec<T> {
    let mut out = Vec::new();
    let mut after: Option<C> = None;
    let mut pages = 0;
    loop {
        let p = page(after.as_ref());
        pages += 1;
        assert!(pages < 10_000, "pagination does not end");
        out.extend(p.rows.iter().cloned());
        match p.next {
            Some(c) => after = Some(c),
            None => break,
        }
    }
    assert!(pages >= min_pages, "only {pages} pages");
    out
}

fn count(conn: &Connection, sql: &str, p: impl rusqlite::Params) -> i64 {
    conn.query_row(sql, p, |r| r.get(0)).unwrap()
}

// ------------------------------------------------------------------ results

#[test]
fn statement_running_balance_ends_at_the_customer_balance() {
    let fx = populate();
    let conn = fx.r.connection();
    let q = Queries::new(conn);
    let mut checked = 0;
    for c in &fx.customers {
        let entries = count(
            conn,
            "SELECT count(*) FROM ledger_entries WHERE customer_id = ?1",
            [c],
        );
        if entries == 0 {
            continue;
        }
        let mut rows = Vec::new();
        let mut after = None;
        let mut balance = 0;
        loop {
            let page = q.customer_statement(c, after.as_ref(), 3).unwrap();
            assert_eq!(
                page.opening_balance, balance,
                "page opens where the last closed"
            );
            for e in &page.rows {
                balance += e.debit - e.credit;
                assert_eq!(e.balance, balance, "running balance of {}", e.id);
            }
            rows.extend(page.rows);
            match page.next {
                Some(n) => after = Some(n),
                None => break,
            }
        }
        assert_eq!(rows.len() as i64, entries);
        let ids: HashSet<&str> = rows.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids.len(), rows.len(), "an entry appears twice");
        assert!(
            rows.windows(2)
                .all(|w| (w[0].at, &w[0].id) < (w[1].at, &w[1].id))
        );
        let stored: Money = count(
            conn,
            "SELECT balance FROM customer_balances WHERE customer_id = ?1",
            [c],
        );
        assert_eq!(balance, stored, "statement of {c}");
        // Invoice entries carry their bill number.
        assert!(
            rows.iter()
                .filter(|e| e.ref_kind == "invoice")
                .all(|e| e.bill_no.as_deref().is_some_and(|b| b.starts_with("B1-")))
        );
        checked += 1;
    }
    assert!(checked >= 6);

    // Balances list: every non-zero balance once, largest first.
    let list = all_pages(|a| q.customers_with_balance(a, 2).unwrap(), 3);
    assert_eq!(
        list.len() as i64,
        count(
            conn,
            "SELECT count(*) FROM customer_balances WHERE balance <> 0",
            []
        )
    );
    assert!(list.windows(2).all(|w| {
        w[0].balance > w[1].balance
            || (w[0].balance == w[1].balance && w[0].customer_id < w[1].customer_id)
    }));
    // The customer with an advance partly refunded is in credit.
    let jade = list
        .iter()
        .find(|c| c.customer_id == fx.customers[9])
        .unwrap();
    assert_eq!(jade.balance, -3_000);
}

#[test]
fn aging_buckets_add_up_to_the_open_invoices() {
    let fx = populate();
    let conn = fx.r.connection();
    let q = Queries::new(conn);
    let aging = q.receivables_aging(fx.as_of).unwrap();
    let open: Vec<(Millis, Money)> = conn
        .prepare(
            "SELECT at, remaining FROM invoices WHERE voided = 0 AND total - paid - returned > 0",
        )
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut expect = [0i64; 4];
    for (at, rem) in &open {
        let days = (fx.as_of - at) / DAY;
        let b = match days {
            ..=30 => 0,
            31..=60 => 1,
            61..=90 => 2,
            _ => 3,
        };
        expect[b] += rem;
    }
    assert_eq!(aging.invoices, open.len() as i64);
    assert_eq!(aging.total, open.iter().map(|x| x.1).sum::<i64>());
    assert_eq!(
        [
            aging.days_0_30,
            aging.days_31_60,
            aging.days_61_90,
            aging.over_90
        ],
        expect
    );
    assert_eq!(
        aging.days_0_30 + aging.days_31_60 + aging.days_61_90 + aging.over_90,
        aging.total
    );
    assert!(
        expect.iter().all(|b| *b > 0),
        "every bucket used: {expect:?}"
    );

    let per_customer = all_pages(
        |a: Option<&String>| {
            q.receivables_aging_by_customer(fx.as_of, a.map(String::as_str), 2)
                .unwrap()
        },
        2,
    );
    let ids: HashSet<&str> = per_customer
        .iter()
        .map(|c| c.customer_id.as_str())
        .collect();
    assert_eq!(ids.len(), per_customer.len());
    let walk_in: Money = count(
        conn,
        "SELECT coalesce(sum(remaining), 0) FROM invoices WHERE remaining > 0 AND customer_id IS NULL",
        [],
    );
    assert_eq!(
        per_customer.iter().map(|c| c.buckets.total).sum::<i64>() + walk_in,
        aging.total
    );
    assert_eq!(
        per_customer.iter().map(|c| c.buckets.over_90).sum::<i64>(),
        aging.over_90
    );
    assert!(per_customer.iter().all(|c| c.name.is_some()));
}

#[test]
fn stock_valuation_card_and_lists_agree_with_the_movements() {
    let fx = populate();
    let conn = fx.r.connection();
    let q = Queries::new(conn);
    // Independent: on hand from the movements, times the current cost.
    let milli: i64 = count(
        conn,
        "SELECT sum(m.q * p.cost) FROM (SELECT product_id, sum(qty) AS q FROM stock_movements
           WHERE branch_id = 'B1' GROUP BY product_id) m JOIN products p ON p.id = m.product_id",
        [],
    );
    let v = q.stock_valuation("B1").unwrap();
    assert_eq!(v.total, (milli + 500).div_euclid(1000));
    assert_eq!(
        v.categories.iter().map(|c| c.products).sum::<i64>(),
        count(
            conn,
            "SELECT count(*) FROM stock_levels WHERE branch_id = 'B1' AND qty <> 0",
            []
        )
    );
    assert!(
        v.categories
            .iter()
            .any(|c| c.category.as_deref() == Some("parts"))
    );

    // Stock list of the branch: every product once, lowest first.
    let list = all_pages(|a| q.stock_by_branch("B1", a, 4).unwrap(), 3);
    assert_eq!(
        list.len() as i64,
        count(
            conn,
            "SELECT count(*) FROM stock_levels WHERE branch_id = 'B1'",
            []
        )
    );
    assert!(
        list.windows(2)
            .all(|w| (w[0].qty, &w[0].product_id) < (w[1].qty, &w[1].product_id))
    );
    assert_eq!(list[0].product_id, fx.products[19]);
    assert_eq!(list[0].qty, -2_000);
    let transferred = all_pages(
        |a: Option<&String>| {
            q.stock_of_product(&fx.products[0], a.map(String::as_str), 1)
                .unwrap()
        },
        2,
    );
    assert_eq!(transferred.len(), 2);
    assert_eq!(
        transferred.iter().map(|b| b.qty).sum::<i64>(),
        count(
            conn,
            "SELECT sum(qty) FROM stock_movements WHERE product_id = ?1",
            [&fx.products[0]]
        )
    );
    assert!(
        transferred
            .iter()
            .any(|b| b.branch_name.as_deref() == Some("Second branch"))
    );

    // Stock card: newest first, each balance is on hand after the movement.
    for p in [&fx.products[0], &fx.products[1], &fx.products[18]] {
        let mut rows = Vec::new();
        let mut after = None;
        loop {
            let page = q.stock_card(p, "B1", after.as_ref(), 3).unwrap();
            if let Some(first) = page.rows.first() {
                assert_eq!(first.balance, page.closing_balance);
            }
            rows.extend(page.rows);
            match page.next {
                Some(n) => after = Some(n),
                None => break,
            }
        }
        assert_eq!(
            rows.len() as i64,
            count(
                conn,
                "SELECT count(*) FROM stock_movements WHERE product_id = ?1 AND branch_id = 'B1'",
                [p]
            )
        );
        assert_eq!(rows[0].balance, q.stock_on_hand(p, "B1").unwrap());
        for w in rows.windows(2) {
            assert!((w[0].at, &w[0].id) > (w[1].at, &w[1].id));
            assert_eq!(
                w[1].balance,
                w[0].balance - w[0].qty,
                "balance before {}",
                w[0].id
            );
        }
        let last = rows.last().unwrap();
        assert_eq!(
            last.balance, last.qty,
            "the oldest movement starts from zero"
        );
        assert!(
            rows.iter()
                .filter(|m| m.kind == "sale")
                .all(|m| m.reference.is_some())
        );
    }

    // Low stock: at or below the minimum, never stocked, and negative.
    let low = all_pages(|a| q.low_stock("B1", a, 2).unwrap(), 3);
    let ids: BTreeSet<&str> = low.iter().map(|l| l.product_id.as_str()).collect();
    assert_eq!(ids.len(), low.len());
    for i in [19usize, 20, 21, 22, 23] {
        assert!(ids.contains(fx.products[i].as_str()), "product {i} is low");
    }
    assert!(!ids.contains(fx.products[0].as_str()));
    assert!(low.iter().all(|l| l.on_hand <= l.min_stock));
    let expected_low = count(
        conn,
        "SELECT count(*) FROM products p WHERE status = 'active' AND
           coalesce((SELECT qty FROM stock_levels s WHERE s.product_id = p.id AND s.branch_id = 'B1'), 0) <= min_stock",
        [],
    );
    assert_eq!(low.len() as i64, expected_low);
    let names: Vec<String> = low.iter().map(|l| l.name.to_lowercase()).collect();
    assert!(names.windows(2).all(|w| w[0] <= w[1]), "by name: {names:?}");
}

#[test]
fn shift_summary_expects_float_plus_cash_taken() {
    let fx = populate();
    let q = Queries::new(fx.r.connection());
    let s = q.shift_summary(&fx.shift1).unwrap().unwrap();
    assert_eq!(s.opening_float, fx.shift1_float);
    assert!(s.closed_at.is_some());
    let expected = fx.shift1_float + fx.shift1_cash_in - fx.shift1_cash_out;
    assert!(fx.shift1_cash_out > 0 && fx.shift1_cash_in > 0);
    assert_eq!(s.expected_cash, expected);
    assert_eq!(s.counted_cash, Some(fx.shift1_counted_cash));
    assert_eq!(s.cash_difference, Some(-150));
    let cash = s.channels.iter().find(|c| c.channel == "cash").unwrap();
    assert_eq!(cash.refunded, fx.shift1_cash_out);
    assert_eq!(cash.expected, expected);
    assert_eq!(cash.difference, Some(-150));
    let card = s.channels.iter().find(|c| c.channel == "card").unwrap();
    assert_eq!(card.received, fx.shift1_card_in);
    assert_eq!(card.difference, Some(0));
    assert!(!card.is_cash);
    assert!(q.shift_summary("nope").unwrap().is_none());
}

#[test]
fn sales_reports_and_top_products_agree_with_the_invoices() {
    let fx = populate();
    let conn = fx.r.connection();
    let q = Queries::new(conn);
    let (from, to) = (fx.first_day.as_str(), fx.last_day.as_str());
    let daily = q.sales_report(Period::Day, from, to).unwrap();
    let monthly = q.sales_report(Period::Month, from, to).unwrap();
    let sales_total = count(conn, "SELECT sum(total) FROM invoices WHERE voided = 0", []);
    assert_eq!(
        daily.sales.iter().map(|s| s.total).sum::<i64>(),
        sales_total
    );
    assert_eq!(
        monthly.sales.iter().map(|s| s.total).sum::<i64>(),
        sales_total
    );
    assert_eq!(
        daily.sales.iter().map(|s| s.invoices).sum::<i64>(),
        count(conn, "SELECT count(*) FROM invoices WHERE voided = 0", [])
    );
    assert_eq!(daily.sales.iter().map(|s| s.voided).sum::<i64>(), 1);
    assert!(monthly.sales.len() >= 5 && monthly.sales.iter().all(|s| s.period.len() == 7));
    assert!(daily.sales.len() > monthly.sales.len());
    assert_eq!(
        daily.returns.iter().map(|r| r.total).sum::<i64>(),
        count(conn, "SELECT sum(total) FROM returns", [])
    );
    assert_eq!(daily.returns.iter().map(|r| r.returns).sum::<i64>(), 2);
    let net: Money = count(
        conn,
        "SELECT sum(CASE WHEN kind = 'refund' THEN -amount ELSE amount END) FROM payments",
        [],
    );
    assert_eq!(daily.channels.iter().map(|c| c.net).sum::<i64>(), net);
    assert_eq!(monthly.channels.iter().map(|c| c.net).sum::<i64>(), net);
    assert!(
        daily
            .channels
            .iter()
            .any(|c| c.channel == "cash" && c.is_cash && c.refunds > 0)
    );
    let lines_total: Money = count(
        conn,
        "SELECT sum(l.total) FROM invoice_lines l JOIN invoices i ON i.id = l.invoice_id WHERE i.voided = 0",
        [],
    );
    assert_eq!(
        daily.categories.iter().map(|c| c.total).sum::<i64>(),
        lines_total
    );
    let cats: BTreeSet<&str> = daily
        .categories
        .iter()
        .map(|c| c.category.as_str())
        .collect();
    assert!(cats.is_superset(&BTreeSet::from([
        "rebar", "sheet", "pipe", "parts", "labour"
    ])));

    // Top products against a plain computation.
    let mut expect: BTreeMap<String, (Qty, Money)> = BTreeMap::new();
    let mut st = conn
        .prepare(
            "SELECT l.product_id, l.qty, l.total FROM invoice_lines l JOIN invoices i ON i.id = l.invoice_id
             WHERE i.voided = 0 AND l.product_id IS NOT NULL",
        )
        .unwrap();
    for row in st
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
            ))
        })
        .unwrap()
    {
        let (p, qty, total) = row.unwrap();
        let e = expect.entry(p).or_default();
        e.0 += qty;
        e.1 += total;
    }
    let by_qty = q.top_products(None, from, to, TopBy::Quantity, 5).unwrap();
    assert_eq!(by_qty.len(), 5);
    let mut ranked: Vec<(&String, &(Qty, Money))> = expect.iter().collect();
    ranked.sort_by(|a, b| b.1.0.cmp(&a.1.0).then(a.0.cmp(b.0)));
    let got: Vec<(&str, Qty)> = by_qty
        .iter()
        .map(|t| (t.product_id.as_str(), t.qty))
        .collect();
    let want: Vec<(&str, Qty)> = ranked[..5].iter().map(|(p, v)| (p.as_str(), v.0)).collect();
    assert_eq!(got, want);
    let by_rev = q
        .top_products(Some("B1"), from, to, TopBy::Revenue, 500)
        .unwrap();
    assert_eq!(by_rev.len(), expect.len());
    assert!(by_rev.windows(2).all(|w| w[0].revenue >= w[1].revenue));
    for t in &by_rev {
        assert_eq!(expect[&t.product_id], (t.qty, t.revenue));
    }
    assert!(
        q.top_products(Some("B9"), from, to, TopBy::Revenue, 5)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn invoice_lists_and_detail() {
    let fx = populate();
    let conn = fx.r.connection();
    let q = Queries::new(conn);
    let (from, to) = (fx.first_day.as_str(), fx.last_day.as_str());
    let mut seen = 0;
    for status in ["unpaid", "partial", "paid", "void", "returned"] {
        let rows = all_pages(|a| q.invoices_by_status(status, from, to, a, 3).unwrap(), 1);
        assert!(rows.iter().all(|i| i.status == status));
        assert!(
            rows.windows(2)
                .all(|w| (&w[0].day, &w[0].id) < (&w[1].day, &w[1].id))
        );
        assert_eq!(
            rows.len() as i64,
            count(
                conn,
                "SELECT count(*) FROM invoices WHERE status = ?1",
                [status]
            )
        );
        seen += rows.len();
    }
    let all = count(conn, "SELECT count(*) FROM invoices", []);
    assert_eq!(seen as i64, all);
    let by_day = all_pages(
        |a| q.invoices_by_branch_day("B1", from, to, a, 7).unwrap(),
        5,
    );
    assert_eq!(by_day.len() as i64, all);
    let ids: HashSet<&str> = by_day.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(ids.len(), by_day.len());
    // A narrower range.
    let some = all_pages(
        |a| q.invoices_by_branch_day("B1", &fx.day1, to, a, 7).unwrap(),
        1,
    );
    assert!(!some.is_empty() && some.iter().all(|i| i.day >= fx.day1));

    let c = &fx.customers[0];
    let mine = all_pages(|a| q.invoices_of_customer(c, a, 2).unwrap(), 2);
    assert_eq!(
        mine.len() as i64,
        count(
            conn,
            "SELECT count(*) FROM invoices WHERE customer_id = ?1",
            [c]
        )
    );
    assert!(
        mine.windows(2)
            .all(|w| (w[0].at, &w[0].id) > (w[1].at, &w[1].id))
    );
    assert!(
        mine.iter()
            .all(|i| i.customer_name.as_deref() == Some("Ahmed Steel Works"))
    );

    // A walk-in invoice with a return refunded in cash.
    let d = q.invoice(&fx.returned_walk_in).unwrap().unwrap();
    assert_eq!(
        d.header.remaining,
        d.header.total - d.header.paid - d.header.returned
    );
    assert!(d.header.returned > 0);
    assert_eq!(d.lines[0].returned_qty, 1000);
    assert!(d.lines.iter().skip(1).all(|l| l.returned_qty == 0));
    let kinds: Vec<&str> = d.settlements.iter().map(|s| s.kind.as_str()).collect();
    assert!(kinds.contains(&"payment") && kinds.contains(&"return") && kinds.contains(&"refund"));
    assert_eq!(
        q.invoice_id_by_bill_no(&d.header.bill_no)
            .unwrap()
            .as_deref(),
        Some(fx.returned_walk_in.as_str())
    );
    // The voided invoice.
    let v = q.invoice(&fx.void_invoice).unwrap().unwrap();
    assert_eq!(v.header.status, "void");
    assert_eq!(v.header.remaining, 0);
    assert_eq!(v.settlements.len(), 1);
    assert_eq!(v.settlements[0].kind, "void");
    assert_eq!(v.settlements[0].reason.as_deref(), Some("entered twice"));
    assert!(q.invoice("missing").unwrap().is_none());
}

#[test]
fn search_and_barcode_lookup() {
    let fx = populate();
    let conn = fx.r.connection();
    let q = Queries::new(conn);
    let hits = q.search_products("rebar 12", "B1", None, 20).unwrap();
    assert_eq!(hits.rows.len(), 1);
    assert_eq!(hits.rows[0].name, "Rebar B500 12mm");
    assert_eq!(
        hits.rows[0].on_hand,
        q.stock_on_hand(&hits.rows[0].id, "B1").unwrap()
    );
    // Prefixes, any case, SKU tokens.
    let sheets = all_pages(
        |a: Option<&i64>| q.search_products("STE she", "B1", a.copied(), 2).unwrap(),
        3,
    );
    assert_eq!(sheets.len(), 6);
    assert_eq!(
        q.search_products("sku 007", "B1", None, 5)
            .unwrap()
            .rows
            .len(),
        1
    );
    // Text that would break FTS syntax is neutralised.
    for text in [
        "\"reb",
        "reb* OR (",
        "NEAR(a b)",
        "sku:007",
        "-pipe",
        "a\"b'c",
    ] {
        q.search_products(text, "B1", None, 5)
            .unwrap_or_else(|e| panic!("{text:?}: {e}"));
    }
    assert_eq!(
        query::fts_query("  \"x\" AND y*  ").as_deref(),
        Some("\"x\"* \"AND\"* \"y\"*")
    );
    assert!(query::fts_query("*()\"").is_none());
    assert!(
        q.search_products("()", "B1", None, 5)
            .unwrap()
            .rows
            .is_empty()
    );

    let hit = q
        .product_by_barcode("4006381000004", "B1")
        .unwrap()
        .unwrap();
    assert_eq!(hit.id, fx.products[4]);
    assert_eq!(hit.on_hand, q.stock_on_hand(&fx.products[4], "B1").unwrap());
    assert!(
        q.product_by_barcode("4006381000005", "B1")
            .unwrap()
            .is_none()
    );

    let c = q.search_customers("ahm", None, 10).unwrap();
    assert_eq!(c.rows.len(), 2, "{:?}", c.rows);
    assert!(
        c.rows.iter().any(|h| h.phone_conflict),
        "one lost the shared phone"
    );
    let by_phone = q.search_customers("0001", None, 10).unwrap();
    assert_eq!(by_phone.rows.len(), 1);
    assert_eq!(by_phone.rows[0].name, "Bilal Construction");
}

#[test]
fn workshop_history_workload_and_schedule() {
    let fx = populate();
    let conn = fx.r.connection();
    let q = Queries::new(conn);
    let hist = all_pages(|a| q.vehicle_history(&fx.vehicle1, a, 1).unwrap(), 3);
    assert_eq!(hist.len(), 3);
    assert!(
        hist.windows(2).all(
            |w| (&w[0].scheduled_date, &w[0].order_id) > (&w[1].scheduled_date, &w[1].order_id)
        )
    );
    let invoiced = hist.iter().find(|o| o.status == "invoiced").unwrap();
    assert_eq!(invoiced.labour_total, 3_000);
    assert_eq!(invoiced.labour_minutes, 30);
    assert_eq!(invoiced.parts_total, gross(1000, 500 + 137 * 18).unwrap());
    assert_eq!(
        invoiced.invoice_total,
        Some(invoiced.labour_total + invoiced.parts_total)
    );
    assert_eq!(
        invoiced.invoice_remaining,
        Some(invoiced.labour_total + invoiced.parts_total - 1_000)
    );
    assert_eq!(invoiced.technician_name.as_deref(), Some("Tom"));
    let h2 = all_pages(|a| q.vehicle_history(&fx.vehicle2, a, 5).unwrap(), 1);
    assert_eq!(h2.len(), 2);
    let waiting = h2.iter().find(|o| o.status == "waiting_parts").unwrap();
    assert_eq!((waiting.labour_lines, waiting.labour_minutes), (2, 120));

    let load = q.technician_workload("B1", &fx.day1, &fx.day2).unwrap();
    let tom: BTreeMap<&str, (i64, i64)> = load
        .iter()
        .filter(|w| w.technician_id == fx.tech_tom)
        .map(|w| (w.status.as_str(), (w.orders, w.planned_minutes)))
        .collect();
    assert_eq!(
        tom,
        BTreeMap::from([
            ("booked", (1, 0)),
            ("invoiced", (1, 30)),
            ("waiting_parts", (1, 120))
        ])
    );
    let ana: Vec<_> = load.iter().filter(|w| w.name == "Ana").collect();
    assert_eq!(ana.len(), 1);
    assert_eq!((ana[0].orders, ana[0].planned_minutes), (1, 90));
    assert!(
        q.technician_workload("B1", "2000-01-01", "2000-12-31")
            .unwrap()
            .is_empty()
    );

    let sched = all_pages(|a| q.day_schedule("B1", &fx.day2, a, 2).unwrap(), 2);
    assert_eq!(sched.len(), 3);
    assert!(sched.windows(2).all(|w| w[0].number < w[1].number));
    assert!(
        sched
            .iter()
            .all(|o| o.customer_name.is_some() && o.plate.is_some())
    );
    let o3 = sched
        .iter()
        .find(|o| o.plate.as_deref() == Some("XYZ-789"))
        .unwrap();
    assert_eq!(o3.customer_name.as_deref(), Some("Eagle Fabrication"));
    assert_eq!(o3.technician_name.as_deref(), Some("Tom"));
    assert_eq!(o3.planned_minutes, 120);
    let d1 = q.day_schedule("B1", &fx.day1, None, 50).unwrap();
    assert_eq!(d1.rows.len(), 2);
    assert!(
        d1.rows
            .iter()
            .any(|o| o.status == "cancelled" && o.technician_id.is_none())
    );
}

#[test]
fn conflicts_and_alerts_are_reported() {
    let fx = populate();
    let conn = fx.r.connection();
    let q = Queries::new(conn);
    let s = q.alerts_summary().unwrap();
    let dups = all_pages(|a| q.duplicate_keys(a, 1).unwrap(), 2);
    assert_eq!(dups.len() as i64, s.duplicate_keys);
    let fields: BTreeSet<(&str, &str)> = dups
        .iter()
        .map(|d| (d.kind.as_str(), d.field.as_str()))
        .collect();
    assert_eq!(
        fields,
        BTreeSet::from([("customer", "phone"), ("product", "sku")])
    );
    assert!(
        dups.iter()
            .all(|d| d.holder.is_some() && d.holder.as_deref() != Some(d.id.as_str()))
    );

    let conflicts = all_pages(|a| q.field_conflicts(a, 1).unwrap(), 1);
    assert_eq!(conflicts.len() as i64, s.field_conflicts);
    assert!(
        conflicts
            .iter()
            .any(|c| c.record_id == fx.products[2] && c.field == "price")
    );

    let rejected = all_pages(|a| q.rejected_records(a, 10).unwrap(), 1);
    assert_eq!(rejected.len() as i64, s.rejected_records);
    assert_eq!(s.rejected_records, 0);

    let over = all_pages(|a| q.customers_over_credit(a, 1).unwrap(), 1);
    assert_eq!(over.len() as i64, s.customers_over_credit);
    assert!(over.iter().any(|c| c.customer_id == fx.customers[5]));
    assert!(over.iter().all(|c| c.balance > c.credit_limit.unwrap()));

    let neg = all_pages(|a| q.negative_stock(a, 1).unwrap(), 1);
    assert_eq!(neg.len() as i64, s.negative_stock);
    assert_eq!(neg.len(), 1);
    assert_eq!(
        (neg[0].product_id.as_str(), neg[0].qty),
        (fx.products[19].as_str(), -2_000)
    );
    assert_eq!(
        s.negative_stock,
        count(conn, "SELECT count(*) FROM stock_levels WHERE qty < 0", [])
    );
}
