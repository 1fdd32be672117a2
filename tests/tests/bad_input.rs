//! Invariant 6.6, commands: bad input gets a clear, typed error and changes
//! nothing.
//!
//! For every command kind, invalid inputs are refused with the expected
//! error code, and the replica's whole database (every table: documents,
//! stored changes, counters, projection, full-text indexes) and every
//! document's heads are unchanged afterwards. A valid command still works
//! afterwards, and the projection still equals a rebuild from the
//! documents, so no refused command left anything behind in memory either.

use std::collections::{BTreeMap, BTreeSet};

use store_core::{
    Command, CommandError, MAX_LINES, OrderStatus, PaymentKind, ProductStatus, ReturnLineInput,
    SaleLine, StockLineInput, Tender,
};
use store_tests::{Cluster, fixtures};

const U: &str = "clerk";

/// Every command kind; the test fails if one has no bad case.
const ALL_KINDS: [&str; 24] = [
    "create_branch",
    "set_payment_channel",
    "create_product",
    "update_product",
    "create_service",
    "create_technician",
    "create_customer",
    "update_customer",
    "register_vehicle",
    "receive_stock",
    "adjust_stock",
    "transfer_stock",
    "sell",
    "take_payment",
    "return_items",
    "void_invoice",
    "open_shift",
    "close_shift",
    "create_service_order",
    "assign_technician",
    "add_labour",
    "use_part",
    "set_order_status",
    "invoice_service_order",
];

struct World {
    product: String,
    inactive_product: String,
    customer: String,
    other_customer: String,
    other_vehicle: String,
    vehicle: String,
    service: String,
    technician: String,
    open_invoice: String,
    voided_invoice: String,
    returned_invoice: String,
    open_shift: String,
    closed_shift: String,
    other_terminal_shift: String,
    booked_order: String,
    other_branch_order: String,
    other_branch: String,
    own_branch: String,
}

/// T1 (branch B1) holds a bit of everything; T2 (branch B2) has an open
/// shift and a finished order of its own branch, both known to T1.
fn world(c: &mut Cluster) -> World {
    c.exec_ok(0, U, &fixtures::channel("cash", true));
    c.exec_ok(0, U, &fixtures::channel("card", false));
    let product = c.exec_ok(0, U, &fixtures::product("P-1", 1000, 600)).id;
    let p2 = c.exec_ok(0, U, &fixtures::product("P-2", 500, 300)).id;
    c.exec_ok(
        0,
        U,
        &Command::UpdateProduct {
            product_id: p2.clone(),
            name: None,
            category: None,
            price: None,
            cost: None,
            min_stock: None,
            status: Some(ProductStatus::Inactive),
            barcode: Some("4006381333931".into()),
        },
    );
    c.exec_ok(0, U, &fixtures::receive(&product, 10_000));
    let customer = c
        .exec_ok(0, U, &fixtures::customer("Acme", Some("555-0001"), 5000))
        .id;
    let other_customer = c
        .exec_ok(0, U, &fixtures::customer("Beta", Some("555-0002"), 0))
        .id;
    let vehicle_of = |c: &mut Cluster, cust: &str, plate: &str| {
        c.exec_ok(
            0,
            U,
            &Command::RegisterVehicle {
                customer_id: cust.into(),
                plate: plate.into(),
                vin: None,
                make: "Toyota".into(),
                model: "Corolla".into(),
                year: Some(2015),
                odometer: 90_000,
            },
        )
        .id
    };
    let vehicle = vehicle_of(c, &customer, "AAA-1");
    let other_vehicle = vehicle_of(c, &other_customer, "BBB-2");
    let service = c
        .exec_ok(
            0,
            U,
            &Command::CreateService {
                code: "OIL".into(),
                name: "Oil change".into(),
                labour_price: 3000,
                duration_min: 30,
            },
        )
        .id;
    let technician = c
        .exec_ok(
            0,
            U,
            &Command::CreateTechnician {
                branch_id: None,
                name: "Sam".into(),
                skills: vec![],
            },
        )
        .id;
    let open_invoice = c
        .exec_ok(0, U, &fixtures::credit_sale(&customer, &product, 2000))
        .id;
    let voided_invoice = c
        .exec_ok(0, U, &fixtures::cash_sale(&product, 1000, 1000))
        .id;
    c.exec_ok(
        0,
        U,
        &Command::VoidInvoice {
            invoice_id: voided_invoice.clone(),
            reason: "wrong item".into(),
        },
    );
    let returned_invoice = c
        .exec_ok(0, U, &fixtures::cash_sale(&product, 1000, 1000))
        .id;
    c.exec_ok(
        0,
        U,
        &Command::ReturnItems {
            invoice_id: returned_invoice.clone(),
            lines: vec![ReturnLineInput {
                line_no: 0,
                qty: 1000,
            }],
            reason: "unused".into(),
        },
    );
    let closed_shift = c.exec_ok(0, U, &Command::OpenShift { opening_float: 0 }).id;
    c.exec_ok(
        0,
        U,
        &Command::CloseShift {
            shift_id: closed_shift.clone(),
            counted: BTreeMap::from([("cash".into(), 1000)]),
        },
    );
    let open_shift = c
        .exec_ok(0, U, &Command::OpenShift { opening_float: 500 })
        .id;
    let booked_order = c
        .exec_ok(
            0,
            U,
            &Command::CreateServiceOrder {
                customer_id: customer.clone(),
                vehicle_id: vehicle.clone(),
                scheduled_date: "2026-09-25".into(),
                technician_id: None,
                complaint: "noise".into(),
                odometer: None,
            },
        )
        .id;
    c.sync_all();
    let other_terminal_shift = c.exec_ok(1, U, &Command::OpenShift { opening_float: 0 }).id;
    let other_branch_order = c
        .exec_ok(
            1,
            U,
            &Command::CreateServiceOrder {
                customer_id: customer.clone(),
                vehicle_id: vehicle.clone(),
                scheduled_date: "2026-09-26".into(),
                technician_id: None,
                complaint: "check".into(),
                odometer: None,
            },
        )
        .id;
    for cmd in [
        Command::SetOrderStatus {
            order_id: other_branch_order.clone(),
            status: OrderStatus::InProgress,
        },
        Command::AddLabour {
            order_id: other_branch_order.clone(),
            service_id: service.clone(),
            technician_id: None,
            price: None,
        },
        Command::SetOrderStatus {
            order_id: other_branch_order.clone(),
            status: OrderStatus::Done,
        },
    ] {
        c.exec_ok(1, U, &cmd);
    }
    c.sync_all();
    World {
        product,
        inactive_product: p2,
        customer,
        other_customer,
        other_vehicle,
        vehicle,
        service,
        technician,
        open_invoice,
        voided_invoice,
        returned_invoice,
        open_shift,
        closed_shift,
        other_terminal_shift,
        booked_order,
        other_branch_order,
        other_branch: c.branch_of(1).to_string(),
        own_branch: c.branch_of(0).to_string(),
    }
}

fn line(product: &str, qty: i64) -> SaleLine {
    fixtures::line(product, qty)
}

fn cash(amount: i64) -> Vec<Tender> {
    vec![Tender {
        channel: "cash".into(),
        amount,
    }]
}

fn sell(customer: Option<&str>, lines: Vec<SaleLine>, payments: Vec<Tender>) -> Command {
    Command::Sell {
        customer_id: customer.map(Into::into),
        lines,
        payments,
        allow_negative_stock: false,
        allow_over_credit_limit: false,
    }
}

fn stock_lines(product: &str, qty: i64) -> Vec<StockLineInput> {
    vec![StockLineInput {
        product_id: product.into(),
        qty,
        unit_cost: None,
    }]
}

fn pay(
    customer: Option<&str>,
    invoice: Option<&str>,
    amount: i64,
    channel: &str,
    kind: PaymentKind,
) -> Command {
    Command::TakePayment {
        customer_id: customer.map(Into::into),
        invoice_id: invoice.map(Into::into),
        amount,
        channel: channel.into(),
        kind,
    }
}

fn update_product(id: &str) -> Command {
    Command::UpdateProduct {
        product_id: id.into(),
        name: None,
        category: None,
        price: None,
        cost: None,
        min_stock: None,
        status: None,
        barcode: None,
    }
}

fn update_customer(id: &str) -> Command {
    Command::UpdateCustomer {
        customer_id: id.into(),
        name: None,
        phone: None,
        address: None,
        credit_limit: None,
        tags: None,
    }
}

fn bad_cases(w: &World) -> Vec<(&'static str, Command, &'static str)> {
    let long_id = "a".repeat(65);
    let order = |customer: &str, vehicle: &str, date: &str| Command::CreateServiceOrder {
        customer_id: customer.into(),
        vehicle_id: vehicle.into(),
        scheduled_date: date.into(),
        technician_id: None,
        complaint: String::new(),
        odometer: None,
    };
    let status = |order: &str, s: OrderStatus| Command::SetOrderStatus {
        order_id: order.into(),
        status: s,
    };
    let vehicle = |customer: &str, plate: &str, year: Option<i64>| Command::RegisterVehicle {
        customer_id: customer.into(),
        plate: plate.into(),
        vin: None,
        make: "Ford".into(),
        model: "Focus".into(),
        year,
        odometer: 0,
    };
    let with = |mut cmd: Command, f: &dyn Fn(&mut Command)| {
        f(&mut cmd);
        cmd
    };
    vec![
        // ---------------------------------------------------------- catalogue
        (
            "duplicate branch code",
            Command::CreateBranch {
                code: "B1".into(),
                name: "Again".into(),
            },
            "duplicate",
        ),
        (
            "branch code with a space",
            Command::CreateBranch {
                code: "B 9".into(),
                name: "Nine".into(),
            },
            "invalid",
        ),
        (
            "empty branch name",
            Command::CreateBranch {
                code: "B9".into(),
                name: "".into(),
            },
            "invalid",
        ),
        (
            "channel code with a space",
            Command::SetPaymentChannel {
                code: "ca sh".into(),
                name: "Cash".into(),
                is_cash: true,
                active: true,
            },
            "invalid",
        ),
        (
            "empty channel name",
            Command::SetPaymentChannel {
                code: "cheque".into(),
                name: " ".into(),
                is_cash: false,
                active: true,
            },
            "invalid",
        ),
        (
            "duplicate SKU",
            fixtures::product("P-1", 100, 50),
            "duplicate",
        ),
        (
            "duplicate barcode",
            with(fixtures::product("P-9", 100, 50), &|c| {
                if let Command::CreateProduct { barcode, .. } = c {
                    *barcode = Some("4006381333931".into());
                }
            }),
            "duplicate",
        ),
        (
            "empty product name",
            with(fixtures::product("P-9", 100, 50), &|c| {
                if let Command::CreateProduct { name, .. } = c {
                    *name = String::new();
                }
            }),
            "invalid",
        ),
        (
            "negative price",
            fixtures::product("P-9", -1, 50),
            "invalid",
        ),
        (
            "SKU too long",
            fixtures::product(&"S".repeat(65), 100, 50),
            "invalid",
        ),
        (
            "unknown product update",
            with(update_product("nope"), &|c| {
                if let Command::UpdateProduct { price, .. } = c {
                    *price = Some(5);
                }
            }),
            "not_found",
        ),
        (
            "product id with spaces",
            with(update_product("has space"), &|c| {
                if let Command::UpdateProduct { price, .. } = c {
                    *price = Some(5);
                }
            }),
            "invalid",
        ),
        (
            "product update without change",
            update_product(&w.product),
            "invalid",
        ),
        (
            "product update to a negative cost",
            with(update_product(&w.product), &|c| {
                if let Command::UpdateProduct { cost, .. } = c {
                    *cost = Some(-3);
                }
            }),
            "invalid",
        ),
        (
            "product update to a taken barcode",
            with(update_product(&w.product), &|c| {
                if let Command::UpdateProduct { barcode, .. } = c {
                    *barcode = Some("4006381333931".into());
                }
            }),
            "duplicate",
        ),
        (
            "service of zero minutes",
            Command::CreateService {
                code: "X".into(),
                name: "X".into(),
                labour_price: 100,
                duration_min: 0,
            },
            "invalid",
        ),
        (
            "empty service name",
            Command::CreateService {
                code: "X".into(),
                name: "".into(),
                labour_price: 100,
                duration_min: 10,
            },
            "invalid",
        ),
        (
            "empty technician name",
            Command::CreateTechnician {
                branch_id: None,
                name: "".into(),
                skills: vec![],
            },
            "invalid",
        ),
        (
            "technician branch id with a space",
            Command::CreateTechnician {
                branch_id: Some("B 1".into()),
                name: "Jo".into(),
                skills: vec![],
            },
            "invalid",
        ),
        // ---------------------------------------------------------- customers
        (
            "duplicate phone",
            fixtures::customer("Gamma", Some("555-0001"), 0),
            "duplicate",
        ),
        (
            "empty customer name",
            fixtures::customer("   ", None, 0),
            "invalid",
        ),
        (
            "phone with letters",
            fixtures::customer("Gamma", Some("call me"), 0),
            "invalid",
        ),
        (
            "negative credit limit",
            fixtures::customer("Gamma", None, -5),
            "invalid",
        ),
        (
            "unknown customer update",
            with(update_customer("nobody"), &|c| {
                if let Command::UpdateCustomer { name, .. } = c {
                    *name = Some("X".into());
                }
            }),
            "not_found",
        ),
        (
            "customer update to a taken phone",
            with(update_customer(&w.other_customer), &|c| {
                if let Command::UpdateCustomer { phone, .. } = c {
                    *phone = Some("555-0001".into());
                }
            }),
            "duplicate",
        ),
        (
            "customer id too long",
            with(update_customer(&long_id), &|c| {
                if let Command::UpdateCustomer { name, .. } = c {
                    *name = Some("X".into());
                }
            }),
            "invalid",
        ),
        (
            "vehicle of an unknown customer",
            vehicle("nobody", "ZZ-1", None),
            "not_found",
        ),
        (
            "vehicle year 1800",
            vehicle(&w.customer, "ZZ-1", Some(1800)),
            "invalid",
        ),
        ("empty plate", vehicle(&w.customer, "", None), "invalid"),
        // ---------------------------------------------------------- stock
        (
            "receipt of zero",
            Command::ReceiveStock {
                lines: stock_lines(&w.product, 0),
                note: String::new(),
            },
            "invalid",
        ),
        (
            "receipt of a negative quantity",
            Command::ReceiveStock {
                lines: stock_lines(&w.product, -5000),
                note: String::new(),
            },
            "invalid",
        ),
        (
            "receipt of an unknown product",
            Command::ReceiveStock {
                lines: stock_lines("ghost", 1000),
                note: String::new(),
            },
            "not_found",
        ),
        (
            "receipt without lines",
            Command::ReceiveStock {
                lines: vec![],
                note: String::new(),
            },
            "invalid",
        ),
        (
            "receipt with too many lines",
            Command::ReceiveStock {
                lines: (0..=MAX_LINES)
                    .flat_map(|_| stock_lines(&w.product, 1000))
                    .collect(),
                note: String::new(),
            },
            "invalid",
        ),
        (
            "adjustment of zero",
            Command::AdjustStock {
                lines: stock_lines(&w.product, 0),
                note: "count".into(),
            },
            "invalid",
        ),
        (
            "adjustment without a reason",
            Command::AdjustStock {
                lines: stock_lines(&w.product, -1000),
                note: "".into(),
            },
            "invalid",
        ),
        (
            "transfer to this branch",
            Command::TransferStock {
                to_branch: w.own_branch.clone(),
                lines: stock_lines(&w.product, 1000),
                note: String::new(),
                allow_negative_stock: false,
            },
            "invalid",
        ),
        (
            "transfer to an unknown branch",
            Command::TransferStock {
                to_branch: "nowhere".into(),
                lines: stock_lines(&w.product, 1000),
                note: String::new(),
                allow_negative_stock: false,
            },
            "not_found",
        ),
        (
            "transfer of a negative quantity",
            Command::TransferStock {
                to_branch: w.other_branch.clone(),
                lines: stock_lines(&w.product, -1000),
                note: String::new(),
                allow_negative_stock: false,
            },
            "invalid",
        ),
        (
            "transfer of more than on hand",
            Command::TransferStock {
                to_branch: w.other_branch.clone(),
                lines: stock_lines(&w.product, 1_000_000),
                note: String::new(),
                allow_negative_stock: false,
            },
            "insufficient_stock",
        ),
        // ---------------------------------------------------------- sales
        (
            "sale of zero",
            sell(None, vec![line(&w.product, 0)], vec![]),
            "invalid",
        ),
        (
            "sale of a negative quantity",
            sell(None, vec![line(&w.product, -1000)], vec![]),
            "invalid",
        ),
        (
            "sale of an unknown product",
            sell(None, vec![line("ghost", 1000)], cash(1000)),
            "not_found",
        ),
        (
            "sale to an unknown customer",
            sell(Some("nobody"), vec![line(&w.product, 1000)], vec![]),
            "not_found",
        ),
        (
            "walk-in sale not fully paid",
            sell(None, vec![line(&w.product, 1000)], cash(999)),
            "full_payment_required",
        ),
        (
            "walk-in sale with nothing paid",
            sell(None, vec![line(&w.product, 1000)], vec![]),
            "full_payment_required",
        ),
        (
            "sale paid more than its total",
            sell(None, vec![line(&w.product, 1000)], cash(1500)),
            "overpayment",
        ),
        (
            "sale over the credit limit",
            sell(Some(&w.customer), vec![line(&w.product, 4000)], vec![]),
            "credit_limit_exceeded",
        ),
        (
            "sale of more than on hand",
            sell(None, vec![line(&w.product, 50_000)], cash(50_000)),
            "insufficient_stock",
        ),
        (
            "sale of an inactive product",
            sell(None, vec![line(&w.inactive_product, 1000)], cash(500)),
            "inactive",
        ),
        (
            "sale with too many lines",
            sell(
                None,
                (0..=MAX_LINES).map(|_| line(&w.product, 1)).collect(),
                cash(MAX_LINES as i64 + 1),
            ),
            "invalid",
        ),
        (
            "sale of a product id with spaces",
            sell(None, vec![line("bad id", 1000)], cash(1000)),
            "invalid",
        ),
        (
            "sale paid on an unknown channel",
            sell(
                None,
                vec![line(&w.product, 1000)],
                vec![Tender {
                    channel: "gold".into(),
                    amount: 1000,
                }],
            ),
            "not_found",
        ),
        (
            "sale with a zero tender",
            sell(None, vec![line(&w.product, 1000)], cash(0)),
            "invalid",
        ),
        (
            "sale with a 200% tax rate",
            sell(
                None,
                vec![SaleLine {
                    tax_rate_bp: 20_000,
                    ..line(&w.product, 1000)
                }],
                cash(1000),
            ),
            "invalid",
        ),
        (
            "discount larger than the line",
            sell(
                None,
                vec![SaleLine {
                    discount: 1001,
                    ..line(&w.product, 1000)
                }],
                vec![],
            ),
            "invalid",
        ),
        // ---------------------------------------------------------- payments
        (
            "payment above what is owed",
            pay(
                None,
                Some(&w.open_invoice),
                2001,
                "cash",
                PaymentKind::Invoice,
            ),
            "overpayment",
        ),
        (
            "payment of an unknown invoice",
            pay(None, Some("ghost"), 10, "cash", PaymentKind::Invoice),
            "not_found",
        ),
        (
            "payment of a void invoice",
            pay(
                None,
                Some(&w.voided_invoice),
                10,
                "cash",
                PaymentKind::Invoice,
            ),
            "invoice_voided",
        ),
        (
            "invoice payment without an invoice",
            pay(Some(&w.customer), None, 10, "cash", PaymentKind::Invoice),
            "invalid",
        ),
        (
            "advance tied to an invoice",
            pay(
                None,
                Some(&w.open_invoice),
                10,
                "cash",
                PaymentKind::Advance,
            ),
            "invalid",
        ),
        (
            "advance from an unknown customer",
            pay(Some("nobody"), None, 10, "cash", PaymentKind::Advance),
            "not_found",
        ),
        (
            "payment of zero",
            pay(Some(&w.customer), None, 0, "cash", PaymentKind::Advance),
            "invalid",
        ),
        (
            "refund of money never paid",
            pay(None, Some(&w.open_invoice), 1, "cash", PaymentKind::Refund),
            "refund_exceeds_credit",
        ),
        (
            "refund above the customer's credit",
            pay(Some(&w.customer), None, 1, "cash", PaymentKind::Refund),
            "refund_exceeds_credit",
        ),
        // ---------------------------------------------------------- returns and voids
        (
            "return of more than sold",
            Command::ReturnItems {
                invoice_id: w.open_invoice.clone(),
                lines: vec![ReturnLineInput {
                    line_no: 0,
                    qty: 2001,
                }],
                reason: String::new(),
            },
            "return_exceeds_sold",
        ),
        (
            "return of what was already returned",
            Command::ReturnItems {
                invoice_id: w.returned_invoice.clone(),
                lines: vec![ReturnLineInput { line_no: 0, qty: 1 }],
                reason: String::new(),
            },
            "return_exceeds_sold",
        ),
        (
            "return split over two lines of the same invoice line, together too much",
            Command::ReturnItems {
                invoice_id: w.open_invoice.clone(),
                lines: vec![
                    ReturnLineInput {
                        line_no: 0,
                        qty: 1500,
                    },
                    ReturnLineInput {
                        line_no: 0,
                        qty: 1500,
                    },
                ],
                reason: String::new(),
            },
            "return_exceeds_sold",
        ),
        (
            "return against a void invoice",
            Command::ReturnItems {
                invoice_id: w.voided_invoice.clone(),
                lines: vec![ReturnLineInput { line_no: 0, qty: 1 }],
                reason: String::new(),
            },
            "invoice_voided",
        ),
        (
            "return of zero",
            Command::ReturnItems {
                invoice_id: w.open_invoice.clone(),
                lines: vec![ReturnLineInput { line_no: 0, qty: 0 }],
                reason: String::new(),
            },
            "invalid",
        ),
        (
            "return of a line the invoice does not have",
            Command::ReturnItems {
                invoice_id: w.open_invoice.clone(),
                lines: vec![ReturnLineInput { line_no: 7, qty: 1 }],
                reason: String::new(),
            },
            "invalid",
        ),
        (
            "return of an unknown invoice",
            Command::ReturnItems {
                invoice_id: "ghost".into(),
                lines: vec![ReturnLineInput { line_no: 0, qty: 1 }],
                reason: String::new(),
            },
            "not_found",
        ),
        (
            "void of a void invoice",
            Command::VoidInvoice {
                invoice_id: w.voided_invoice.clone(),
                reason: "again".into(),
            },
            "invoice_voided",
        ),
        (
            "void of an invoice with returns",
            Command::VoidInvoice {
                invoice_id: w.returned_invoice.clone(),
                reason: "undo".into(),
            },
            "invoice_has_returns",
        ),
        (
            "void of an unknown invoice",
            Command::VoidInvoice {
                invoice_id: "ghost".into(),
                reason: "undo".into(),
            },
            "not_found",
        ),
        (
            "void without a reason",
            Command::VoidInvoice {
                invoice_id: w.open_invoice.clone(),
                reason: "".into(),
            },
            "invalid",
        ),
        // ---------------------------------------------------------- shifts
        (
            "second shift",
            Command::OpenShift { opening_float: 0 },
            "shift_already_open",
        ),
        (
            "negative opening float",
            Command::OpenShift { opening_float: -1 },
            "invalid",
        ),
        (
            "closing a shift twice",
            Command::CloseShift {
                shift_id: w.closed_shift.clone(),
                counted: BTreeMap::new(),
            },
            "shift_already_closed",
        ),
        (
            "closing an unknown shift",
            Command::CloseShift {
                shift_id: "ghost".into(),
                counted: BTreeMap::new(),
            },
            "not_found",
        ),
        (
            "closing another terminal's shift",
            Command::CloseShift {
                shift_id: w.other_terminal_shift.clone(),
                counted: BTreeMap::new(),
            },
            "not_permitted",
        ),
        (
            "closing with a count on an unknown channel",
            Command::CloseShift {
                shift_id: w.open_shift.clone(),
                counted: BTreeMap::from([("gold".into(), 5)]),
            },
            "not_found",
        ),
        (
            "closing with a negative count",
            Command::CloseShift {
                shift_id: w.open_shift.clone(),
                counted: BTreeMap::from([("cash".into(), -5)]),
            },
            "invalid",
        ),
        // ---------------------------------------------------------- workshop
        (
            "order on an invalid date",
            order(&w.customer, &w.vehicle, "2026-02-30"),
            "invalid",
        ),
        (
            "order on a date in another format",
            order(&w.customer, &w.vehicle, "25/09/2026"),
            "invalid",
        ),
        (
            "order for an unknown vehicle",
            order(&w.customer, "ghost", "2026-09-25"),
            "not_found",
        ),
        (
            "order for an unknown customer",
            order("nobody", &w.vehicle, "2026-09-25"),
            "not_found",
        ),
        (
            "order for another customer's vehicle",
            order(&w.customer, &w.other_vehicle, "2026-09-25"),
            "invalid",
        ),
        (
            "assigning an unknown technician",
            Command::AssignTechnician {
                order_id: w.booked_order.clone(),
                technician_id: "ghost".into(),
            },
            "not_found",
        ),
        (
            "assigning to an unknown order",
            Command::AssignTechnician {
                order_id: "ghost".into(),
                technician_id: w.technician.clone(),
            },
            "not_found",
        ),
        (
            "labour of an unknown service",
            Command::AddLabour {
                order_id: w.booked_order.clone(),
                service_id: "ghost".into(),
                technician_id: None,
                price: None,
            },
            "not_found",
        ),
        (
            "labour at a negative price",
            Command::AddLabour {
                order_id: w.booked_order.clone(),
                service_id: w.service.clone(),
                technician_id: None,
                price: Some(-1),
            },
            "invalid",
        ),
        (
            "part of zero",
            Command::UsePart {
                order_id: w.other_branch_order.clone(),
                product_id: w.product.clone(),
                qty: 0,
                allow_negative_stock: true,
            },
            "invalid",
        ),
        (
            "part on an order not in progress",
            Command::UsePart {
                order_id: w.booked_order.clone(),
                product_id: w.product.clone(),
                qty: 1000,
                allow_negative_stock: true,
            },
            "invalid",
        ),
        (
            "part on an unknown order",
            Command::UsePart {
                order_id: "ghost".into(),
                product_id: w.product.clone(),
                qty: 1000,
                allow_negative_stock: true,
            },
            "not_found",
        ),
        (
            "illegal status transition",
            status(&w.booked_order, OrderStatus::Done),
            "illegal_transition",
        ),
        (
            "status set to invoiced by hand",
            status(&w.other_branch_order, OrderStatus::Invoiced),
            "illegal_transition",
        ),
        (
            "status of an unknown order",
            status("ghost", OrderStatus::InProgress),
            "not_found",
        ),
        (
            "invoicing a booked order",
            Command::InvoiceServiceOrder {
                order_id: w.booked_order.clone(),
                payments: vec![],
                allow_over_credit_limit: true,
            },
            "illegal_transition",
        ),
        (
            "invoicing another branch's order",
            Command::InvoiceServiceOrder {
                order_id: w.other_branch_order.clone(),
                payments: vec![],
                allow_over_credit_limit: true,
            },
            "not_permitted",
        ),
        (
            "invoicing an unknown order",
            Command::InvoiceServiceOrder {
                order_id: "ghost".into(),
                payments: vec![],
                allow_over_credit_limit: true,
            },
            "not_found",
        ),
    ]
}

#[test]
fn every_bad_command_is_refused_with_a_typed_error_and_changes_nothing() {
    let mut c = Cluster::new(2, 2);
    let w = world(&mut c);
    c.check_invariants_all().unwrap();
    let cases = bad_cases(&w);
    let covered: BTreeSet<&str> = cases.iter().map(|(_, cmd, _)| cmd.name()).collect();
    let missing: Vec<&str> = ALL_KINDS
        .iter()
        .copied()
        .filter(|k| !covered.contains(k))
        .collect();
    assert!(missing.is_empty(), "no bad case for {missing:?}");

    let before = c.fingerprint(0);
    let dump = c.dump(0);
    let other = c.fingerprint(1);
    let mut seen_codes = BTreeSet::new();
    for (what, cmd, code) in &cases {
        let err = match c.exec(0, U, cmd) {
            Ok(o) => panic!("{what}: accepted ({o:?})"),
            Err(e) => e,
        };
        assert!(
            !matches!(err, CommandError::Storage(_)),
            "{what}: storage error {err}"
        );
        assert_eq!(err.code(), *code, "{what}: {err}");
        assert!(!err.to_string().is_empty());
        seen_codes.insert(err.code());
        let after = c.fingerprint(0);
        if after != before {
            let changed: Vec<&String> = after
                .tables
                .iter()
                .filter(|(t, d)| before.tables.get(*t) != Some(d))
                .map(|(t, _)| t)
                .collect();
            panic!(
                "{what}: the refused command changed tables {changed:?} or heads ({})",
                after.heads != before.heads
            );
        }
        assert_eq!(c.dump(0), dump, "{what}");
    }
    // Every business error code was exercised (storage is not a business error).
    for code in [
        "invalid",
        "not_found",
        "duplicate",
        "inactive",
        "insufficient_stock",
        "credit_limit_exceeded",
        "full_payment_required",
        "overpayment",
        "refund_exceeds_credit",
        "invoice_voided",
        "invoice_has_returns",
        "return_exceeds_sold",
        "shift_already_open",
        "shift_already_closed",
        "illegal_transition",
        "not_permitted",
    ] {
        assert!(seen_codes.contains(code), "no case produced {code}");
    }

    // A user name that is not acceptable is refused for any command.
    for user in ["", "tab\tbed", &"u".repeat(65)] {
        let err = c
            .exec(0, user, &fixtures::receive(&w.product, 1000))
            .unwrap_err();
        assert_eq!(err.code(), "invalid", "user {user:?}");
    }
    assert_eq!(c.fingerprint(0), before);
    assert_eq!(c.fingerprint(1), other, "the other replica never moved");

    // Nothing was left behind in memory either: valid commands still work,
    // the incremental projection equals a rebuild, and replicas converge.
    let sale = c.exec_ok(0, U, &fixtures::credit_sale(&w.customer, &w.product, 1000));
    assert_eq!(sale.number.as_deref(), Some("B1-T1-000004"));
    c.exec_ok(
        0,
        U,
        &Command::SetOrderStatus {
            order_id: w.booked_order.clone(),
            status: OrderStatus::InProgress,
        },
    );
    assert_ne!(c.fingerprint(0), before);
    c.check_rebuild(0).unwrap();
    c.reopen(0);
    c.check_rebuild(0).unwrap();
    c.sync_all();
    c.assert_converged();
    c.check_invariants_all().unwrap();
}
