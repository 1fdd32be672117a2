//! A deterministic, seeded dataset generator with realistic shapes.
//!
//! It drives a replica through real [`Command`]s, so generated data takes the
//! same write path as a cashier: documents, projection, validation. Shapes:
//! product popularity is skewed (a few products make most sales), a share of
//! customers buy on credit and pay back over time, a small share of sales is
//! returned or voided, and workshop orders walk through their statuses.
//!
//! The same seed and size give the same commands in the same order; with a
//! [`SeededEnv`](crate::SeededEnv) (as [`generate_file`] uses) the same data
//! byte for byte.

use std::collections::BTreeMap;
use std::path::Path;

use crate::commands::{Command, ReturnLineInput, SaleLine, StockLineInput, Tender};
use crate::domain::{Money, ONE, OrderStatus, PaymentKind};
use crate::error::{CommandError, OpenError};
use crate::replica::{OpenOptions, Replica, ReplicaIdentity, SeededEnv};

/// How much data to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DatasetSize {
    /// Catalogue products.
    pub products: usize,
    /// Customers (each with a vehicle when there are service orders).
    pub customers: usize,
    /// Sales (invoices) over the period.
    pub sales: usize,
    /// Workshop service orders over the period.
    pub service_orders: usize,
    /// Length of the period, in days, ending at the generation end time.
    pub days: i64,
}

impl DatasetSize {
    /// A small store for the demo and tests: generates in a few seconds.
    pub const DEMO: DatasetSize = DatasetSize {
        products: 300,
        customers: 150,
        sales: 1500,
        service_orders: 80,
        days: 60,
    };
}

/// What was generated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GenerateReport {
    /// Commands that succeeded.
    pub commands: usize,
    /// Commands the engine refused (expected: a random over-return...).
    pub refused: usize,
    /// Invoices created.
    pub invoices: usize,
    /// Service orders created.
    pub service_orders: usize,
}

/// Why generation stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GenerateError {
    /// The database could not be opened.
    #[error(transparent)]
    Open(#[from] OpenError),
    /// A command that must succeed (catalogue setup) failed.
    #[error("generation failed: {0}")]
    Command(#[from] CommandError),
}

struct Rng(SeededEnv);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        (self.0.next_u64() % n.max(1) as u64) as usize
    }
    /// Skewed pick: index 0 is the most popular.
    fn skewed(&mut self, n: usize) -> usize {
        let u = (self.0.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        ((u * u * u) * n as f64) as usize % n.max(1)
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.0.next_u64() % 100 < percent
    }
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.0.next_u64() % (hi - lo + 1) as u64) as i64
    }
}

const CATEGORIES: &[(&str, &str, &[&str])] = &[
    ("rebar", "kg", &["B500", "B420"]),
    ("sheet", "sheet", &["S235", "S355", "galvanised"]),
    ("pipe", "metre", &["ERW", "seamless"]),
    ("angle", "metre", &["S235"]),
    ("wire", "kg", &["annealed", "galvanised"]),
    ("fasteners", "piece", &["8.8", "10.9"]),
    ("oil", "piece", &["5W-30", "10W-40"]),
    ("filters", "piece", &["oil", "air"]),
    ("brakes", "piece", &["front", "rear"]),
];

const FIRST: &[&str] = &[
    "Ahmed", "Sara", "Omar", "Lina", "Yusuf", "Maya", "Karim", "Nadia", "Ali", "Huda", "Samir",
    "Rania",
];
const LAST: &[&str] = &[
    "Haddad", "Khalil", "Mansour", "Nasser", "Saleh", "Aziz", "Farouk", "Jaber", "Qasim", "Rahman",
];
const MAKES: &[(&str, &str)] = &[
    ("Toyota", "Hilux"),
    ("Nissan", "Patrol"),
    ("Ford", "Ranger"),
    ("Hyundai", "Elantra"),
    ("Kia", "Sportage"),
    ("Mitsubishi", "L200"),
];

/// Generates a dataset into a new database file at `path`, with a seeded
/// clock that spreads the activity over `size.days` days ending at `end_ms`.
pub fn generate_file(
    path: &Path,
    me: ReplicaIdentity,
    size: &DatasetSize,
    seed: u64,
    end_ms: i64,
) -> Result<GenerateReport, GenerateError> {
    let commands = estimated_commands(size);
    let span = size.days.max(1) * 86_400_000;
    let step = (span / commands.max(1) as i64).max(1);
    let env = SeededEnv::new(seed ^ 0x5EED, end_ms - span, step);
    let options = OpenOptions {
        synchronous_full: false,
        ..OpenOptions::default()
    };
    let mut replica = Replica::open(path, me, Box::new(env), &options)?;
    generate(&mut replica, size, seed)
}

fn estimated_commands(size: &DatasetSize) -> usize {
    20 + size.products
        + size.customers * 2
        + size.sales * 5 / 4
        + size.service_orders * 6
        + size.products / 20
}

/// Generates a dataset through `replica`'s commands.
pub fn generate(
    replica: &mut Replica,
    size: &DatasetSize,
    seed: u64,
) -> Result<GenerateReport, GenerateError> {
    let mut rng = Rng(SeededEnv::new(seed, 0, 0));
    let mut rep = GenerateReport::default();
    let user = "demo";
    let mut run = |r: &mut Replica,
                   rep: &mut GenerateReport,
                   cmd: Command|
     -> Result<Option<String>, CommandError> {
        match r.execute(user, &cmd) {
            Ok(o) => {
                rep.commands += 1;
                Ok(Some(o.id))
            }
            Err(CommandError::Storage(e)) => Err(CommandError::Storage(e)),
            Err(_) => {
                rep.refused += 1;
                Ok(None)
            }
        }
    };
    let branch = replica.identity().branch_id.clone();
    for (code, name, cash) in [
        ("cash", "Cash", true),
        ("card", "Card", false),
        ("bank", "Bank transfer", false),
        ("cheque", "Cheque", false),
        ("wallet", "Mobile wallet", false),
    ] {
        replica.execute(
            user,
            &Command::SetPaymentChannel {
                code: code.into(),
                name: name.into(),
                is_cash: cash,
                active: true,
            },
        )?;
    }
    let channels = [
        "cash", "cash", "cash", "card", "card", "bank", "wallet", "cheque",
    ];

    // Catalogue.
    let mut products: Vec<(String, Money)> = Vec::with_capacity(size.products);
    for i in 0..size.products {
        let (cat, unit, grades) = CATEGORIES[i % CATEGORIES.len()];
        let grade = grades[rng.below(grades.len())];
        let cost = rng.range(50, 20_000);
        let price = cost + cost * rng.range(10, 45) / 100;
        let id = replica
            .execute(
                user,
                &Command::CreateProduct {
                    sku: format!("{}-{:05}", cat[..3].to_uppercase(), i),
                    barcode: Some(format!("629{:010}", i)),
                    name: format!("{} {} {}", title(cat), grade, 6 + (i % 40) * 2),
                    category: cat.into(),
                    grade: Some(grade.into()),
                    unit: unit.into(),
                    price,
                    cost,
                    min_stock: rng.range(5, 50) * ONE,
                },
            )?
            .id;
        products.push((id, price));
    }
    let mut services = Vec::new();
    for (code, name, price, minutes) in [
        ("OIL", "Oil change", 2_500, 30),
        ("BRK", "Brake service", 6_000, 90),
        ("DIAG", "Diagnostics", 4_000, 45),
        ("ALN", "Wheel alignment", 3_500, 40),
        ("ENG", "Engine repair", 25_000, 480),
    ] {
        services.push(
            replica
                .execute(
                    user,
                    &Command::CreateService {
                        code: code.into(),
                        name: name.into(),
                        labour_price: price,
                        duration_min: minutes,
                    },
                )?
                .id,
        );
    }
    let mut technicians = Vec::new();
    for (name, skills) in [
        ("Hassan", ["engine", "diagnostics"]),
        ("Tariq", ["brakes", "alignment"]),
        ("Walid", ["oil", "brakes"]),
    ] {
        technicians.push(
            replica
                .execute(
                    user,
                    &Command::CreateTechnician {
                        branch_id: Some(branch.clone()),
                        name: name.into(),
                        skills: skills.iter().map(|s| s.to_string()).collect(),
                    },
                )?
                .id,
        );
    }

    // Opening stock, sized to popularity so that popular items run low sometimes.
    for chunk in products.chunks(50).enumerate() {
        let (c, items) = chunk;
        let lines = items
            .iter()
            .enumerate()
            .map(|(j, (id, _))| {
                let rank = c * 50 + j;
                let qty = if rank < size.products / 20 { 400 } else { 60 } * ONE;
                StockLineInput {
                    product_id: id.clone(),
                    qty,
                    unit_cost: None,
                }
            })
            .collect();
        replica.execute(
            user,
            &Command::ReceiveStock {
                lines,
                note: "opening stock".into(),
            },
        )?;
    }

    // Customers: a third buy on credit.
    let mut customers: Vec<(String, bool)> = Vec::with_capacity(size.customers);
    let mut vehicles: Vec<(String, String)> = Vec::new();
    for i in 0..size.customers {
        let credit = i % 3 == 0;
        let id = replica
            .execute(
                user,
                &Command::CreateCustomer {
                    name: format!(
                        "{} {}",
                        FIRST[rng.below(FIRST.len())],
                        LAST[rng.below(LAST.len())]
                    ),
                    phone: Some(format!("+9665{:08}", i * 7919 % 100_000_000)),
                    address: Some(format!(
                        "{} Industrial Area, Street {}",
                        ["North", "South", "East"][i % 3],
                        i % 90
                    )),
                    credit_limit: if credit {
                        rng.range(5, 50) * 100_000
                    } else {
                        0
                    },
                    tags: if credit {
                        vec!["contractor".into()]
                    } else {
                        vec![]
                    },
                },
            )?
            .id;
        if size.service_orders > 0 && i % 2 == 0 {
            let (make, model) = MAKES[rng.below(MAKES.len())];
            let v = replica
                .execute(
                    user,
                    &Command::RegisterVehicle {
                        customer_id: id.clone(),
                        plate: format!("{} {:04}", ["ABC", "KSA", "RYD", "JED"][i % 4], i),
                        vin: None,
                        make: make.into(),
                        model: model.into(),
                        year: Some(rng.range(2008, 2026)),
                        odometer: rng.range(5_000, 250_000),
                    },
                )?
                .id;
            vehicles.push((id.clone(), v));
        }
        customers.push((id, credit));
    }

    // Daily activity: shifts, sales, payments on account, returns, restocking,
    // workshop orders, interleaved so every day sees a bit of everything.
    let mut open_credit: Vec<(String, String, Money)> = Vec::new();
    let mut recent: Vec<(String, usize)> = Vec::new();
    let orders_every = size
        .sales
        .checked_div(size.service_orders)
        .map_or(usize::MAX, |n| n.max(1));
    let mut shift: Option<String> = None;
    for s in 0..size.sales {
        if s % 60 == 0 {
            if let Some(id) = shift.take() {
                let counted = BTreeMap::from([("cash".to_string(), rng.range(0, 500_000))]);
                run(
                    replica,
                    &mut rep,
                    Command::CloseShift {
                        shift_id: id,
                        counted,
                    },
                )?;
            }
            shift = run(
                replica,
                &mut rep,
                Command::OpenShift {
                    opening_float: 20_000,
                },
            )?;
        }
        let n_lines = 1 + rng.below(5);
        let mut lines = Vec::with_capacity(n_lines);
        for _ in 0..n_lines {
            lines.push(SaleLine {
                product_id: products[rng.skewed(products.len())].0.clone(),
                qty: rng.range(1, 8) * ONE,
                unit_price: None,
                discount: 0,
                tax_rate_bp: 1500,
            });
        }
        let walk_in = rng.chance(55) || customers.is_empty();
        let (customer, on_credit) = if walk_in {
            (None, false)
        } else {
            let (c, credit) = &customers[rng.skewed(customers.len())];
            (Some(c.clone()), *credit && rng.chance(60))
        };
        let payments = if on_credit {
            Vec::new()
        } else {
            vec![Tender {
                channel: channels[rng.below(channels.len())].into(),
                amount: sale_total(replica, &lines),
            }]
        };
        let id = run(
            replica,
            &mut rep,
            Command::Sell {
                customer_id: customer.clone(),
                lines,
                payments,
                allow_negative_stock: true,
                allow_over_credit_limit: false,
            },
        )?;
        if let (Some(id), Some(c), true) = (&id, &customer, on_credit) {
            open_credit.push((c.clone(), id.clone(), invoice_total(replica, id)));
        }
        if let Some(id) = id {
            rep.invoices += 1;
            recent.push((id, n_lines));
            if recent.len() > 50 {
                recent.remove(0);
            }
        }
        // Credit customers pay back over time, often in parts.
        if !open_credit.is_empty() && rng.chance(25) {
            let i = rng.below(open_credit.len());
            let (c, inv, owed) = open_credit[i].clone();
            let part = if rng.chance(50) {
                owed
            } else {
                (owed / 2).max(1)
            };
            run(
                replica,
                &mut rep,
                Command::TakePayment {
                    customer_id: Some(c),
                    invoice_id: Some(inv),
                    amount: part,
                    channel: ["bank", "cheque", "cash"][rng.below(3)].into(),
                    kind: PaymentKind::Invoice,
                },
            )?;
            if part == owed {
                open_credit.swap_remove(i);
            } else {
                open_credit[i].2 = owed - part;
            }
        }
        if rng.chance(2) && !recent.is_empty() {
            let (inv, n) = recent[rng.below(recent.len())].clone();
            run(
                replica,
                &mut rep,
                Command::ReturnItems {
                    invoice_id: inv,
                    lines: vec![ReturnLineInput {
                        line_no: rng.below(n) as i64,
                        qty: ONE,
                    }],
                    reason: "damaged".into(),
                },
            )?;
        }
        if rng.chance(1) && !recent.is_empty() {
            let (inv, _) = recent.swap_remove(rng.below(recent.len()));
            run(
                replica,
                &mut rep,
                Command::VoidInvoice {
                    invoice_id: inv,
                    reason: "entered by mistake".into(),
                },
            )?;
        }
        if s % 40 == 39 {
            let lines = (0..10)
                .map(|_| StockLineInput {
                    product_id: products[rng.skewed(products.len())].0.clone(),
                    qty: rng.range(20, 200) * ONE,
                    unit_cost: None,
                })
                .collect();
            run(
                replica,
                &mut rep,
                Command::ReceiveStock {
                    lines,
                    note: "supplier delivery".into(),
                },
            )?;
        }
        if s % orders_every == 0 && !vehicles.is_empty() && rep.service_orders < size.service_orders
        {
            rep.service_orders += 1;
            workshop_order(
                replica,
                &mut rng,
                &mut rep,
                &mut run,
                &vehicles,
                &services,
                &technicians,
                &products,
                s,
            )?;
        }
    }
    if let Some(id) = shift.take() {
        run(
            replica,
            &mut rep,
            Command::CloseShift {
                shift_id: id,
                counted: BTreeMap::from([("cash".to_string(), 100_000)]),
            },
        )?;
    }
    Ok(rep)
}

type Runner<'a> = dyn FnMut(&mut Replica, &mut GenerateReport, Command) -> Result<Option<String>, CommandError>
    + 'a;

#[allow(clippy::too_many_arguments)]
fn workshop_order(
    replica: &mut Replica,
    rng: &mut Rng,
    rep: &mut GenerateReport,
    run: &mut Runner<'_>,
    vehicles: &[(String, String)],
    services: &[String],
    technicians: &[String],
    products: &[(String, Money)],
    s: usize,
) -> Result<(), CommandError> {
    let (customer, vehicle) = vehicles[rng.below(vehicles.len())].clone();
    let day = crate::domain::day_of(replica_now(replica));
    let Some(order) = run(
        replica,
        rep,
        Command::CreateServiceOrder {
            customer_id: customer,
            vehicle_id: vehicle,
            scheduled_date: day,
            technician_id: Some(technicians[rng.below(technicians.len())].clone()),
            complaint: [
                "noise from brakes",
                "service due",
                "engine light on",
                "pulls to the left",
            ][s % 4]
                .into(),
            odometer: Some(rng.range(10_000, 250_000)),
        },
    )?
    else {
        return Ok(());
    };
    // Most orders go all the way; some stop on the way, a few are cancelled.
    let stage = rng.below(10);
    if stage == 0 {
        run(
            replica,
            rep,
            Command::SetOrderStatus {
                order_id: order,
                status: OrderStatus::Cancelled,
            },
        )?;
        return Ok(());
    }
    if stage == 1 {
        return Ok(());
    }
    run(
        replica,
        rep,
        Command::SetOrderStatus {
            order_id: order.clone(),
            status: OrderStatus::InProgress,
        },
    )?;
    run(
        replica,
        rep,
        Command::AddLabour {
            order_id: order.clone(),
            service_id: services[rng.below(services.len())].clone(),
            technician_id: None,
            price: None,
        },
    )?;
    run(
        replica,
        rep,
        Command::UsePart {
            order_id: order.clone(),
            product_id: products[rng.skewed(products.len())].0.clone(),
            qty: ONE,
            allow_negative_stock: true,
        },
    )?;
    if stage == 2 {
        run(
            replica,
            rep,
            Command::SetOrderStatus {
                order_id: order,
                status: OrderStatus::WaitingParts,
            },
        )?;
        return Ok(());
    }
    run(
        replica,
        rep,
        Command::SetOrderStatus {
            order_id: order.clone(),
            status: OrderStatus::Done,
        },
    )?;
    if stage == 3 {
        return Ok(());
    }
    // The customer pays at pickup.
    if let Some(invoice) = run(
        replica,
        rep,
        Command::InvoiceServiceOrder {
            order_id: order,
            payments: Vec::new(),
            allow_over_credit_limit: true,
        },
    )? {
        let total = invoice_total(replica, &invoice);
        run(
            replica,
            rep,
            Command::TakePayment {
                customer_id: None,
                invoice_id: Some(invoice),
                amount: total,
                channel: "card".into(),
                kind: PaymentKind::Invoice,
            },
        )?;
    }
    Ok(())
}

fn title(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

fn invoice_total(replica: &Replica, id: &str) -> Money {
    replica
        .connection()
        .query_row("SELECT total FROM invoices WHERE id = ?1", [id], |r| {
            r.get(0)
        })
        .unwrap_or(0)
}

fn replica_now(replica: &Replica) -> i64 {
    replica
        .connection()
        .query_row("SELECT coalesce(max(at), 0) FROM invoices", [], |r| {
            r.get(0)
        })
        .unwrap_or(0)
}

/// The total the engine will compute for `lines` (same rounding), so a
/// walk-in sale can be tendered exactly.
fn sale_total(replica: &Replica, lines: &[SaleLine]) -> Money {
    let mut total = 0;
    for l in lines {
        let price: Money = replica
            .connection()
            .query_row(
                "SELECT price FROM products WHERE id = ?1",
                [&l.product_id],
                |r| r.get(0),
            )
            .unwrap_or(0);
        let g = crate::domain::gross(l.qty, l.unit_price.unwrap_or(price)).unwrap_or(0);
        let tax = crate::domain::tax_on(g - l.discount, l.tax_rate_bp).unwrap_or(0);
        total += g - l.discount + tax;
    }
    total
}
