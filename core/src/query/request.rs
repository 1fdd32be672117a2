//! Every query of [`Queries`] as one serialisable request, for callers that
//! speak data rather than Rust: the browser terminal sends
//! `{"query": "search_products", "text": "rebar", "branch_id": "B1"}` and gets
//! the answer as JSON.
//!
//! A request is checked before anything is read ([`Request::validate`]):
//! days are real `YYYY-MM-DD` dates, `from` is not after `to`, ids are
//! non-empty and at most 128 bytes, page sizes are 1..=[`MAX_PAGE`], search
//! texts at most 200 characters, statuses one of their values. Unknown
//! fields are refused, so that a typo does not silently widen a report.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{AmountCursor, MAX_PAGE, Period, Queries, Text3Cursor, TextCursor, TimeCursor, TopBy};
use crate::domain::Millis;

/// Why a [`Request`] could not be answered.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QueryError {
    /// A parameter is out of its range or malformed.
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// The parameter.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The database failed.
    #[error("storage: {0}")]
    Storage(#[from] rusqlite::Error),
}

impl QueryError {
    /// A stable, machine-readable code: `invalid` or `storage`.
    pub fn code(&self) -> &'static str {
        match self {
            QueryError::Invalid { .. } => "invalid",
            QueryError::Storage(_) => "storage",
        }
    }
}

fn default_limit() -> u32 {
    50
}

fn default_top() -> u32 {
    10
}

fn first_day() -> String {
    "0000-01-01".into()
}

fn last_day() -> String {
    "9999-12-31".into()
}

/// One query of the catalogue with its parameters. Lists take `after` (the
/// `next` cursor of the previous page, as returned) and `limit`
/// (default 50); date ranges default to the whole history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "query", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
#[allow(missing_docs)] // Each variant is the method of the same name on `Queries`.
pub enum Request {
    SearchProducts {
        text: String,
        branch_id: String,
        #[serde(default)]
        after: Option<i64>,
        #[serde(default = "default_limit")]
        limit: u32,
    },
    ProductByBarcode {
        barcode: String,
        branch_id: String,
    },
    SearchCustomers {
        text: String,
        #[serde(default)]
        after: Option<i64>,
        #[serde(default = "default_limit")]
        limit: u32,
    },
    LowStock {
        branch_id: String,
        #[serde(default)]
        after: Option<TextCursor>,
        #[serde(default = "default_limit")]
        limit: u32,
    },
    CustomersWithBalance {
        #[serde(default)]
        after: Option<AmountCursor>,
        #[serde(default = "default_limit")]
        limit: u32,
    },
    CustomersOverCredit {
        #[serde(default)]
        after: Option<AmountCursor>,
        #[serde(default = "default_limit")]
        limit: u32,
    },
    CustomerStatement {
        customer_id: String,
        #[serde(default)]
        after: Option<TimeCursor>,
        #[serde(default = "default_limit")]
        limit: u32,
    },
    ReceivablesAging {
        as_of: Millis,
    },
    ReceivablesAgingByCustomer {
        as_of: Millis,
        #[serde(default)]
        after: Option<String>,
        #[serde(default = "default_limit")]
        limit: u32,
    },
    StockOnHand {
        product_id: String,
        branch_id: String,
    },
    InvoicesByStatus {
        status: String,
        #[serde(default = "first_day")]
        from: String,
        #[serde(default = "last_day")]
        to: String,
        #[serde(default)]
        after: Option<TextCursor>,
        #[serde(default = "default_limit")]
        limit: u32,
    },
    InvoicesByBranchDay {
        branch_id: String,
        #[serde(default = "first_day")]
        from: String,
        #[serde(default = "last_day")]
        to: String,
        #[serde(default)]
        after: Option<TextCursor>,
        #[serde(default = "default_limit")]
        limit: u32,
    },
    InvoicesOfCustomer {
        customer_id: String,
        #[serde(default)]
        after: Option<TimeCursor>,
        #[serde(default = "default_limit")]
        limit: u32,
    },
    InvoiceIdByBillNo {
        bill_no: String,
    },
    Invoice {
        invoice_id: String,
    },
    SalesReport {
        period: Period,
        #[serde(default = "first_day")]
        from: String,
        #[serde(default = "last_day")]
        to: String,
    },
    TopProducts {
        #[serde(default)]
        branch_id: Option<String>,
        #[serde(default = "first_day")]
        from: String,
        #[serde(default = "last_day")]
        to: String,
        by: TopBy,
        #[serde(default = "default_top")]
        limit: u32,
    },
    ShiftSummary {
        shift_id: String,
    },
    StockByBranch {
        branch_id: String,
        #[serde(default)]
        after: Option<AmountCursor>,
        #[serde(default = "default_limit")]
        limit: u32,
    },
    StockOfProduct {
        product_id: String,
        #[serde(default)]
        after: Option<String>,
        #[serde(default = "default_limit")]
        limit: u32,
    },
    StockValuation {
        branch_id: String,
    },
    StockCard {
        product_id: String,
        branch_id: String,
        #[serde(default)]
        after: Option<TimeCursor>,
        #[serde(default = "default_limit")]
        limit: u32,
    },
    VehicleHistory {
        vehicle_id: String,
        #[serde(default)]
        after: Option<TextCursor>,
        #[serde(default = "default_limit")]
        limit: u32,
    },
    TechnicianWorkload {
        branch_id: String,
        #[serde(default = "first_day")]
        from: String,
        #[serde(default = "last_day")]
        to: String,
    },
    DaySchedule {
        branch_id: String,
        day: String,
        #[serde(default)]
        after: Option<TextCursor>,
        #[serde(default = "default_limit")]
        limit: u32,
    },
    FieldConflicts {
        #[serde(default)]
        after: Option<Text3Cursor>,
        #[serde(default = "default_limit")]
        limit: u32,
    },
    RejectedRecords {
        #[serde(default)]
        after: Option<Text3Cursor>,
        #[serde(default = "default_limit")]
        limit: u32,
    },
    DuplicateKeys {
        #[serde(default)]
        after: Option<Text3Cursor>,
        #[serde(default = "default_limit")]
        limit: u32,
    },
    NegativeStock {
        #[serde(default)]
        after: Option<TextCursor>,
        #[serde(default = "default_limit")]
        limit: u32,
    },
    // Empty braces, not unit variants: serde refuses unknown fields only
    // for struct variants of an internally tagged enum, and a request with
    // a field these do not take is a mistake to report.
    AlertsSummary {},
    PaymentChannels {},
    Services {},
    Technicians {
        branch_id: String,
    },
    VehiclesOfCustomer {
        customer_id: String,
    },
    OpenShift {
        terminal_id: String,
    },
}

/// Invoice statuses [`Request::InvoicesByStatus`] takes.
pub const INVOICE_STATUSES: &[&str] = &["unpaid", "partial", "paid", "void", "returned"];

const MAX_ID: usize = 128;
const MAX_TEXT: usize = 200;

fn invalid(field: &'static str, reason: impl Into<String>) -> QueryError {
    QueryError::Invalid {
        field,
        reason: reason.into(),
    }
}

fn check_id(field: &'static str, v: &str) -> Result<(), QueryError> {
    if v.is_empty() || v.len() > MAX_ID || v.chars().any(char::is_control) {
        return Err(invalid(
            field,
            format!("must be 1 to {MAX_ID} bytes without control characters"),
        ));
    }
    Ok(())
}

fn check_text(field: &'static str, v: &str) -> Result<(), QueryError> {
    if v.chars().count() > MAX_TEXT {
        return Err(invalid(field, format!("longer than {MAX_TEXT} characters")));
    }
    Ok(())
}

fn check_limit(limit: u32) -> Result<(), QueryError> {
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(invalid("limit", format!("must be 1 to {MAX_PAGE}")));
    }
    Ok(())
}

/// `YYYY-MM-DD` naming a real calendar day (the defaults `0000-01-01` and
/// `9999-12-31` included).
fn check_day(field: &'static str, v: &str) -> Result<(), QueryError> {
    let b = v.as_bytes();
    let shape = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    let bad = || invalid(field, format!("{v:?} is not a YYYY-MM-DD date"));
    if !shape {
        return Err(bad());
    }
    let year: i32 = v[0..4].parse().map_err(|_| bad())?;
    let month: u8 = v[5..7].parse().map_err(|_| bad())?;
    let day: u8 = v[8..10].parse().map_err(|_| bad())?;
    let month = time::Month::try_from(month).map_err(|_| bad())?;
    if day == 0 || day > time::util::days_in_month(month, year) {
        return Err(bad());
    }
    Ok(())
}

fn check_range(from: &str, to: &str) -> Result<(), QueryError> {
    check_day("from", from)?;
    check_day("to", to)?;
    if from > to {
        return Err(invalid("from", "is after `to`"));
    }
    Ok(())
}

fn json<T: Serialize>(v: T) -> Value {
    serde_json::to_value(v).expect("query rows serialise to JSON")
}

impl Request {
    /// The query's name (`search_products`, ...), as in the `query` field.
    pub fn name(&self) -> String {
        match json(self).get("query") {
            Some(Value::String(s)) => s.clone(),
            _ => unreachable!("the enum is tagged with `query`"),
        }
    }

    /// Checks every parameter; see the module's documentation.
    pub fn validate(&self) -> Result<(), QueryError> {
        use Request::*;
        match self {
            SearchProducts {
                text,
                branch_id,
                limit,
                ..
            } => {
                check_text("text", text)?;
                check_id("branch_id", branch_id)?;
                check_limit(*limit)
            }
            ProductByBarcode { barcode, branch_id } => {
                check_id("barcode", barcode)?;
                check_id("branch_id", branch_id)
            }
            SearchCustomers { text, limit, .. } => {
                check_text("text", text)?;
                check_limit(*limit)
            }
            LowStock {
                branch_id, limit, ..
            }
            | StockByBranch {
                branch_id, limit, ..
            } => {
                check_id("branch_id", branch_id)?;
                check_limit(*limit)
            }
            CustomersWithBalance { limit, .. }
            | CustomersOverCredit { limit, .. }
            | ReceivablesAgingByCustomer { limit, .. }
            | FieldConflicts { limit, .. }
            | RejectedRecords { limit, .. }
            | DuplicateKeys { limit, .. }
            | NegativeStock { limit, .. } => check_limit(*limit),
            CustomerStatement {
                customer_id, limit, ..
            }
            | InvoicesOfCustomer {
                customer_id, limit, ..
            } => {
                check_id("customer_id", customer_id)?;
                check_limit(*limit)
            }
            ReceivablesAging { .. } | AlertsSummary {} | PaymentChannels {} | Services {} => Ok(()),
            StockOnHand {
                product_id,
                branch_id,
            } => {
                check_id("product_id", product_id)?;
                check_id("branch_id", branch_id)
            }
            InvoicesByStatus {
                status,
                from,
                to,
                limit,
                ..
            } => {
                if !INVOICE_STATUSES.contains(&status.as_str()) {
                    return Err(invalid(
                        "status",
                        format!("must be one of {}", INVOICE_STATUSES.join(", ")),
                    ));
                }
                check_range(from, to)?;
                check_limit(*limit)
            }
            InvoicesByBranchDay {
                branch_id,
                from,
                to,
                limit,
                ..
            } => {
                check_id("branch_id", branch_id)?;
                check_range(from, to)?;
                check_limit(*limit)
            }
            InvoiceIdByBillNo { bill_no } => check_id("bill_no", bill_no),
            Invoice { invoice_id } => check_id("invoice_id", invoice_id),
            SalesReport { from, to, .. } => check_range(from, to),
            TopProducts {
                branch_id,
                from,
                to,
                limit,
                ..
            } => {
                if let Some(b) = branch_id {
                    check_id("branch_id", b)?;
                }
                check_range(from, to)?;
                check_limit(*limit)
            }
            ShiftSummary { shift_id } => check_id("shift_id", shift_id),
            StockOfProduct {
                product_id, limit, ..
            } => {
                check_id("product_id", product_id)?;
                check_limit(*limit)
            }
            StockValuation { branch_id } | Technicians { branch_id } => {
                check_id("branch_id", branch_id)
            }
            StockCard {
                product_id,
                branch_id,
                limit,
                ..
            } => {
                check_id("product_id", product_id)?;
                check_id("branch_id", branch_id)?;
                check_limit(*limit)
            }
            VehicleHistory {
                vehicle_id, limit, ..
            } => {
                check_id("vehicle_id", vehicle_id)?;
                check_limit(*limit)
            }
            TechnicianWorkload {
                branch_id,
                from,
                to,
            } => {
                check_id("branch_id", branch_id)?;
                check_range(from, to)
            }
            DaySchedule {
                branch_id,
                day,
                limit,
                ..
            } => {
                check_id("branch_id", branch_id)?;
                check_day("day", day)?;
                check_limit(*limit)
            }
            VehiclesOfCustomer { customer_id } => check_id("customer_id", customer_id),
            OpenShift { terminal_id } => check_id("terminal_id", terminal_id),
        }
    }

    /// Validates, then runs the query and returns its answer as JSON: the
    /// method's result serialised (a page is `{"rows": [...], "next": ...}`,
    /// a missing record `null`).
    pub fn run(&self, q: &Queries<'_>) -> Result<Value, QueryError> {
        use Request::*;
        self.validate()?;
        Ok(match self {
            SearchProducts {
                text,
                branch_id,
                after,
                limit,
            } => json(q.search_products(text, branch_id, *after, *limit)?),
            ProductByBarcode { barcode, branch_id } => {
                json(q.product_by_barcode(barcode, branch_id)?)
            }
            SearchCustomers { text, after, limit } => {
                json(q.search_customers(text, *after, *limit)?)
            }
            LowStock {
                branch_id,
                after,
                limit,
            } => json(q.low_stock(branch_id, after.as_ref(), *limit)?),
            CustomersWithBalance { after, limit } => {
                json(q.customers_with_balance(after.as_ref(), *limit)?)
            }
            CustomersOverCredit { after, limit } => {
                json(q.customers_over_credit(after.as_ref(), *limit)?)
            }
            CustomerStatement {
                customer_id,
                after,
                limit,
            } => json(q.customer_statement(customer_id, after.as_ref(), *limit)?),
            ReceivablesAging { as_of } => json(q.receivables_aging(*as_of)?),
            ReceivablesAgingByCustomer {
                as_of,
                after,
                limit,
            } => json(q.receivables_aging_by_customer(*as_of, after.as_deref(), *limit)?),
            StockOnHand {
                product_id,
                branch_id,
            } => json(q.stock_on_hand(product_id, branch_id)?),
            InvoicesByStatus {
                status,
                from,
                to,
                after,
                limit,
            } => json(q.invoices_by_status(status, from, to, after.as_ref(), *limit)?),
            InvoicesByBranchDay {
                branch_id,
                from,
                to,
                after,
                limit,
            } => json(q.invoices_by_branch_day(branch_id, from, to, after.as_ref(), *limit)?),
            InvoicesOfCustomer {
                customer_id,
                after,
                limit,
            } => json(q.invoices_of_customer(customer_id, after.as_ref(), *limit)?),
            InvoiceIdByBillNo { bill_no } => json(q.invoice_id_by_bill_no(bill_no)?),
            Invoice { invoice_id } => json(q.invoice(invoice_id)?),
            SalesReport { period, from, to } => json(q.sales_report(*period, from, to)?),
            TopProducts {
                branch_id,
                from,
                to,
                by,
                limit,
            } => json(q.top_products(branch_id.as_deref(), from, to, *by, *limit)?),
            ShiftSummary { shift_id } => json(q.shift_summary(shift_id)?),
            StockByBranch {
                branch_id,
                after,
                limit,
            } => json(q.stock_by_branch(branch_id, after.as_ref(), *limit)?),
            StockOfProduct {
                product_id,
                after,
                limit,
            } => json(q.stock_of_product(product_id, after.as_deref(), *limit)?),
            StockValuation { branch_id } => json(q.stock_valuation(branch_id)?),
            StockCard {
                product_id,
                branch_id,
                after,
                limit,
            } => json(q.stock_card(product_id, branch_id, after.as_ref(), *limit)?),
            VehicleHistory {
                vehicle_id,
                after,
                limit,
            } => json(q.vehicle_history(vehicle_id, after.as_ref(), *limit)?),
            TechnicianWorkload {
                branch_id,
                from,
                to,
            } => json(q.technician_workload(branch_id, from, to)?),
            DaySchedule {
                branch_id,
                day,
                after,
                limit,
            } => json(q.day_schedule(branch_id, day, after.as_ref(), *limit)?),
            FieldConflicts { after, limit } => json(q.field_conflicts(after.as_ref(), *limit)?),
            RejectedRecords { after, limit } => json(q.rejected_records(after.as_ref(), *limit)?),
            DuplicateKeys { after, limit } => json(q.duplicate_keys(after.as_ref(), *limit)?),
            NegativeStock { after, limit } => json(q.negative_stock(after.as_ref(), *limit)?),
            AlertsSummary {} => json(q.alerts_summary()?),
            PaymentChannels {} => json(q.payment_channels()?),
            Services {} => json(q.services()?),
            Technicians { branch_id } => json(q.technicians(branch_id)?),
            VehiclesOfCustomer { customer_id } => json(q.vehicles_of_customer(customer_id)?),
            OpenShift { terminal_id } => json(q.open_shift(terminal_id)?),
        })
    }
}
