//! Domain records as they are stored in the automerge documents.
//!
//! Conventions, kept everywhere so that no floating point ever touches money:
//! - [`Money`] is an integer count of minor units (cents).
//! - [`Qty`] is an integer count of thousandths of the product's unit
//!   (2.5 kg is `2500`, one piece is `1000`).
//! - Times are milliseconds since the Unix epoch, UTC, given by the caller's
//!   [`Env`](crate::Env); calendar days are UTC dates `YYYY-MM-DD`.
//!
//! Records are plain serde structs. The document codec writes them as nested
//! automerge maps and lists, field by field, so that concurrent edits of
//! different fields of one record merge instead of overwriting each other.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Minor currency units (cents).
pub type Money = i64;
/// Thousandths of a product's unit.
pub type Qty = i64;
/// Milliseconds since the Unix epoch, UTC.
pub type Millis = i64;

/// One unit of quantity (`1.000`).
pub const ONE: Qty = 1000;

/// Status of a catalogue product.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProductStatus {
    /// Sellable.
    Active,
    /// Kept for history, not sellable.
    Inactive,
}

impl ProductStatus {
    /// The name stored in the projection.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Inactive => "inactive",
        }
    }
}

/// What a payment is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentKind {
    /// Against one invoice.
    Invoice,
    /// Money on account, not tied to an invoice.
    Advance,
    /// Money paid back to the customer.
    Refund,
}

impl PaymentKind {
    /// The name stored in the projection.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Invoice => "invoice",
            Self::Advance => "advance",
            Self::Refund => "refund",
        }
    }
}

/// Kind of an invoice line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LineKind {
    /// A product sold over the counter: moves stock when sold.
    Product,
    /// Workshop labour.
    Labour,
    /// A part already taken from stock by a service order: no second movement.
    Part,
}

impl LineKind {
    /// The name stored in the projection.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Product => "product",
            Self::Labour => "labour",
            Self::Part => "part",
        }
    }
}

/// Status of a workshop service order.
///
/// Legal transitions are given by [`OrderStatus::can_move_to`]. When two
/// terminals change the status concurrently, the projection keeps the value
/// with the highest [`OrderStatus::precedence`] (a financial fact beats a
/// cancellation, which beats progress), records the losers in
/// `field_conflicts`, and both transitions stay in the order's history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    /// Booked for a date.
    Booked,
    /// Work has started.
    InProgress,
    /// Work paused until parts arrive.
    WaitingParts,
    /// Work finished, not yet invoiced.
    Done,
    /// Invoiced (final).
    Invoiced,
    /// Cancelled (final).
    Cancelled,
}

impl OrderStatus {
    /// Every status, in workflow order.
    pub const ALL: [OrderStatus; 6] = [
        Self::Booked,
        Self::InProgress,
        Self::WaitingParts,
        Self::Done,
        Self::Invoiced,
        Self::Cancelled,
    ];

    /// The name stored in the projection.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Booked => "booked",
            Self::InProgress => "in_progress",
            Self::WaitingParts => "waiting_parts",
            Self::Done => "done",
            Self::Invoiced => "invoiced",
            Self::Cancelled => "cancelled",
        }
    }

    /// Parses the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// Whether a user may move an order from `self` to `to` by a status
    /// command. `Invoiced` is reached only by invoicing the order.
    pub fn can_move_to(self, to: OrderStatus) -> bool {
        use OrderStatus::*;
        matches!(
            (self, to),
            (Booked, InProgress)
                | (Booked, Cancelled)
                | (InProgress, WaitingParts)
                | (InProgress, Done)
                | (InProgress, Cancelled)
                | (WaitingParts, InProgress)
                | (WaitingParts, Cancelled)
                | (Done, InProgress)
        )
    }

    /// Rank used to resolve concurrent status changes deterministically.
    pub fn precedence(self) -> u8 {
        match self {
            Self::Booked => 0,
            Self::InProgress => 1,
            Self::WaitingParts => 2,
            Self::Done => 3,
            Self::Cancelled => 4,
            Self::Invoiced => 5,
        }
    }
}

/// Kind of a stock record written by a stock command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StockRecordKind {
    /// Goods received from a supplier.
    Receipt,
    /// Count correction, signed.
    Adjustment,
    /// Goods moved to another branch.
    Transfer,
}

impl StockRecordKind {
    /// The name stored in the projection.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Receipt => "receipt",
            Self::Adjustment => "adjustment",
            Self::Transfer => "transfer",
        }
    }
}

/// One entry of a record's audit trail. Concurrent edits both append here,
/// so the value that lost a field conflict stays visible.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// Field that was set (`created` for the creation).
    pub field: String,
    /// The value written, as text.
    pub value: String,
    /// User who did it.
    pub user: String,
    /// Replica (terminal) it was done on.
    pub replica: String,
    /// When.
    pub at: Millis,
}

/// A branch of the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BranchRecord {
    /// Short code used in bill numbers.
    pub code: String,
    /// Display name.
    pub name: String,
}

/// A configurable payment channel (cash, card, ...).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelRecord {
    /// Display name.
    pub name: String,
    /// Whether it can take new payments.
    pub active: bool,
    /// Whether it is counted in the drawer at shift close.
    pub is_cash: bool,
}

/// A catalogue product.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductRecord {
    /// Stock keeping unit, unique.
    pub sku: String,
    /// Barcode, unique when present.
    pub barcode: Option<String>,
    /// Display name.
    pub name: String,
    /// Category (rebar, sheet, pipe, oil...).
    pub category: String,
    /// Steel grade or similar, if any.
    pub grade: Option<String>,
    /// Unit of sale (piece, kg, metre, sheet...).
    pub unit: String,
    /// Price per unit.
    pub price: Money,
    /// Cost per unit.
    pub cost: Money,
    /// Alert when on-hand stock falls to this quantity.
    pub min_stock: Qty,
    /// Sellable or not.
    pub status: ProductStatus,
    /// Last edit time.
    pub updated_at: Millis,
    /// Audit trail.
    pub history: Vec<HistoryEntry>,
}

/// A workshop service in the catalogue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceRecord {
    /// Short code.
    pub code: String,
    /// Display name.
    pub name: String,
    /// Labour price.
    pub labour_price: Money,
    /// Planned duration in minutes.
    pub duration_min: i64,
    /// Whether it can be booked.
    pub active: bool,
}

/// A workshop technician.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TechnicianRecord {
    /// Branch the technician works at.
    pub branch_id: String,
    /// Name.
    pub name: String,
    /// Skills, free text tags.
    pub skills: Vec<String>,
    /// Whether assignable.
    pub active: bool,
}

/// A customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerRecord {
    /// Name.
    pub name: String,
    /// Phone, unique when present.
    pub phone: Option<String>,
    /// Postal address.
    pub address: Option<String>,
    /// Largest balance allowed on credit (0: cash only).
    pub credit_limit: Money,
    /// Free tags.
    pub tags: Vec<String>,
    /// Creation time.
    pub created_at: Millis,
    /// Last edit time.
    pub updated_at: Millis,
    /// Audit trail.
    pub history: Vec<HistoryEntry>,
}

/// A customer's vehicle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VehicleRecord {
    /// Owner.
    pub customer_id: String,
    /// Registration plate.
    pub plate: String,
    /// Vehicle identification number.
    pub vin: Option<String>,
    /// Make.
    pub make: String,
    /// Model.
    pub model: String,
    /// Model year.
    pub year: Option<i64>,
    /// Odometer reading (km) when registered.
    pub odometer: i64,
    /// Creation time.
    pub created_at: Millis,
}

/// One line of an invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceLine {
    /// What the line sells.
    pub kind: LineKind,
    /// Product (for product and part lines).
    pub product_id: Option<String>,
    /// Text printed on the bill.
    pub description: String,
    /// Quantity in thousandths.
    pub qty: Qty,
    /// Price per unit.
    pub unit_price: Money,
    /// Discount on the line.
    pub discount: Money,
    /// Tax on the line.
    pub tax: Money,
    /// gross - discount + tax.
    pub total: Money,
    /// Cost per unit of the goods on the line (for margins and valuation).
    pub cost: Money,
}

/// An invoice (bill).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceRecord {
    /// Unique across the chain: `{branch}-{terminal}-{seq}`.
    pub bill_no: String,
    /// The terminal's sequence number.
    pub seq: i64,
    /// Customer, or none for a walk-in sale.
    pub customer_id: Option<String>,
    /// Branch.
    pub branch_id: String,
    /// Terminal.
    pub terminal_id: String,
    /// Cashier.
    pub user_id: String,
    /// Time of sale.
    pub at: Millis,
    /// Lines.
    pub lines: Vec<InvoiceLine>,
    /// Sum of gross line amounts.
    pub subtotal: Money,
    /// Sum of discounts.
    pub discount: Money,
    /// Sum of taxes.
    pub tax: Money,
    /// Amount due.
    pub total: Money,
    /// The service order this invoice bills, if any.
    pub service_order_id: Option<String>,
}

/// A product and quantity given back to stock by a void.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Restock {
    /// Product.
    pub product_id: String,
    /// Quantity.
    pub qty: Qty,
    /// Unit cost.
    pub unit_cost: Money,
}

/// The void of an invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VoidRecord {
    /// Invoice voided.
    pub invoice_id: String,
    /// Its customer.
    pub customer_id: Option<String>,
    /// Its branch (where stock comes back).
    pub branch_id: String,
    /// Its total.
    pub amount: Money,
    /// Who voided.
    pub user_id: String,
    /// Where.
    pub terminal_id: String,
    /// When.
    pub at: Millis,
    /// Why.
    pub reason: String,
    /// Goods put back on the shelf.
    pub restock: Vec<Restock>,
}

/// A payment or refund.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentRecord {
    /// Customer (none for a walk-in sale).
    pub customer_id: Option<String>,
    /// Invoice (for invoice payments and invoice refunds).
    pub invoice_id: Option<String>,
    /// Branch.
    pub branch_id: String,
    /// Terminal.
    pub terminal_id: String,
    /// Cashier.
    pub user_id: String,
    /// Shift open on the terminal, if any.
    pub shift_id: Option<String>,
    /// When.
    pub at: Millis,
    /// Amount, positive.
    pub amount: Money,
    /// Channel code.
    pub channel: String,
    /// What it is for.
    pub kind: PaymentKind,
}

/// One line of a return.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReturnLine {
    /// Index of the invoice line returned.
    pub invoice_line_no: i64,
    /// Its product.
    pub product_id: Option<String>,
    /// Quantity returned.
    pub qty: Qty,
    /// Amount credited.
    pub amount: Money,
    /// Cost of the goods returned.
    pub unit_cost: Money,
}

/// A return / credit note against an invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReturnRecord {
    /// Original invoice.
    pub invoice_id: String,
    /// Its customer.
    pub customer_id: Option<String>,
    /// Branch receiving the goods.
    pub branch_id: String,
    /// Terminal.
    pub terminal_id: String,
    /// Cashier.
    pub user_id: String,
    /// When.
    pub at: Millis,
    /// Lines.
    pub lines: Vec<ReturnLine>,
    /// Credit total.
    pub total: Money,
    /// Why.
    pub reason: String,
}

/// One product line of a stock record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockLine {
    /// Product.
    pub product_id: String,
    /// Signed for adjustments; positive for receipts and transfers.
    pub qty: Qty,
    /// Unit cost.
    pub unit_cost: Money,
}

/// A receipt, adjustment or transfer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockRecord {
    /// Kind.
    pub kind: StockRecordKind,
    /// Branch whose stock changes (the source of a transfer).
    pub branch_id: String,
    /// Destination of a transfer.
    pub to_branch: Option<String>,
    /// Terminal.
    pub terminal_id: String,
    /// User.
    pub user_id: String,
    /// When.
    pub at: Millis,
    /// Free note (supplier, reason...).
    pub note: String,
    /// Lines.
    pub lines: Vec<StockLine>,
}

/// The incoming side of a transfer, in the receiving branch's inbound
/// document (the outgoing side is the [`StockRecord`] of the same id in the
/// sender's journal).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferInRecord {
    /// Sending branch.
    pub from_branch: String,
    /// Receiving branch.
    pub to_branch: String,
    /// Sending terminal.
    pub terminal_id: String,
    /// User.
    pub user_id: String,
    /// When sent.
    pub at: Millis,
    /// Note.
    pub note: String,
    /// Lines (positive quantities).
    pub lines: Vec<StockLine>,
}

/// A cashier shift on one terminal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShiftRecord {
    /// Terminal.
    pub terminal_id: String,
    /// Branch.
    pub branch_id: String,
    /// Who opened it.
    pub user_id: String,
    /// When.
    pub opened_at: Millis,
    /// Cash in the drawer at opening.
    pub opening_float: Money,
    /// When closed.
    pub closed_at: Option<Millis>,
    /// Who closed it.
    pub closed_by: Option<String>,
    /// Counted amount per channel at close.
    pub counted: BTreeMap<String, Money>,
}

/// A labour line on a service order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabourLine {
    /// Service from the catalogue.
    pub service_id: String,
    /// Description.
    pub description: String,
    /// Who does it.
    pub technician_id: Option<String>,
    /// Price.
    pub price: Money,
    /// Planned minutes.
    pub duration_min: i64,
}

/// A part taken from stock for a service order (one stock movement).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartLine {
    /// Product.
    pub product_id: String,
    /// Quantity.
    pub qty: Qty,
    /// Price charged per unit.
    pub unit_price: Money,
    /// Cost per unit.
    pub unit_cost: Money,
    /// Branch the part left.
    pub branch_id: String,
    /// Terminal.
    pub terminal_id: String,
    /// User.
    pub user_id: String,
    /// When.
    pub at: Millis,
}

/// A workshop service order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceOrderRecord {
    /// Human number, unique: `SO-{branch}-{terminal}-{seq}`.
    pub number: String,
    /// Customer.
    pub customer_id: String,
    /// Vehicle.
    pub vehicle_id: String,
    /// Branch.
    pub branch_id: String,
    /// Status (see [`OrderStatus`] for concurrent changes).
    pub status: OrderStatus,
    /// Scheduled day, `YYYY-MM-DD`.
    pub scheduled_date: String,
    /// Assigned technician.
    pub technician_id: Option<String>,
    /// What the customer reported.
    pub complaint: String,
    /// Odometer at intake.
    pub odometer: Option<i64>,
    /// Invoice once invoiced.
    pub invoice_id: Option<String>,
    /// Creation time.
    pub created_at: Millis,
    /// Last edit.
    pub updated_at: Millis,
    /// Labour lines by line id (a map, so concurrent additions merge).
    pub labour: BTreeMap<String, LabourLine>,
    /// Parts used by line id.
    pub parts: BTreeMap<String, PartLine>,
    /// Audit trail (status changes, assignments).
    pub history: Vec<HistoryEntry>,
}

/// The UTC calendar day of a timestamp, `YYYY-MM-DD`.
pub fn day_of(at: Millis) -> String {
    let (y, m, d) = ymd(at);
    format!("{y:04}-{m:02}-{d:02}")
}

/// `YYYYMM` of a timestamp, used to partition monthly documents.
pub fn month_of(at: Millis) -> u32 {
    let (y, m, _) = ymd(at);
    (y as u32) * 100 + m as u32
}

fn ymd(at: Millis) -> (i32, u8, u8) {
    let secs = at.div_euclid(1000);
    let dt =
        time::OffsetDateTime::from_unix_timestamp(secs).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    (dt.year(), dt.month() as u8, dt.day())
}

/// Whether `s` is a valid `YYYY-MM-DD` date.
pub fn is_valid_date(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let (Ok(y), Ok(m), Ok(d)) = (
        s[0..4].parse::<i32>(),
        s[5..7].parse::<u8>(),
        s[8..10].parse::<u8>(),
    ) else {
        return false;
    };
    let Ok(month) = time::Month::try_from(m) else {
        return false;
    };
    time::Date::from_calendar_date(y, month, d).is_ok()
}

/// `qty * unit_price`, rounded half up to whole minor units.
pub fn gross(qty: Qty, unit_price: Money) -> Option<Money> {
    let p = (qty as i128).checked_mul(unit_price as i128)?;
    let r = (p + 500).div_euclid(1000);
    i64::try_from(r).ok()
}

/// Tax on `base` at `rate_bp` basis points, rounded half up.
pub fn tax_on(base: Money, rate_bp: i64) -> Option<Money> {
    let p = (base as i128).checked_mul(rate_bp as i128)?;
    i64::try_from((p + 5000).div_euclid(10000)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_and_months_are_utc_calendar_values() {
        assert_eq!(day_of(0), "1970-01-01");
        // 2026-11-22T10:00:00Z
        assert_eq!(day_of(1_795_341_600_000), "2026-11-22");
        assert_eq!(month_of(1_795_341_600_000), 202611);
        assert!(is_valid_date("2024-02-29"));
        assert!(!is_valid_date("2023-02-29"));
        assert!(!is_valid_date("2023-2-01"));
    }

    #[test]
    fn money_math_rounds_half_up_and_refuses_overflow() {
        assert_eq!(gross(2500, 199), Some(498)); // 2.5 x 1.99 = 4.975 -> 4.98
        assert_eq!(gross(1000, 100), Some(100));
        assert_eq!(tax_on(1000, 1500), Some(150));
        assert_eq!(gross(i64::MAX, i64::MAX), None);
    }

    #[test]
    fn status_workflow_refuses_illegal_moves() {
        use OrderStatus::*;
        assert!(Booked.can_move_to(InProgress));
        assert!(!Booked.can_move_to(Done));
        assert!(!Done.can_move_to(Invoiced));
        assert!(!Cancelled.can_move_to(InProgress));
        assert!(Invoiced.precedence() > Cancelled.precedence());
    }
}
