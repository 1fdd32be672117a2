//! Error types, one enum per operation.

use crate::domain::{Money, OrderStatus, Qty};

/// Why a command was refused. Nothing was written when a command returns
/// one of these.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CommandError {
    /// A field's value is not acceptable.
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// The field (dotted path for nested fields).
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A referenced record does not exist on this replica.
    #[error("{kind} {id} not found")]
    NotFound {
        /// Kind of record.
        kind: &'static str,
        /// The id given.
        id: String,
    },
    /// A unique business key is already taken.
    #[error("{field} {value:?} is already used")]
    Duplicate {
        /// The key.
        field: &'static str,
        /// The value given.
        value: String,
    },
    /// The record exists but is inactive.
    #[error("{kind} {id} is inactive")]
    Inactive {
        /// Kind of record.
        kind: &'static str,
        /// Its id.
        id: String,
    },
    /// Selling or using more than the branch holds.
    #[error(
        "insufficient stock of {product_id}: {available} on hand, {requested} requested (thousandths)"
    )]
    InsufficientStock {
        /// Product.
        product_id: String,
        /// On hand at this branch.
        available: Qty,
        /// Asked for.
        requested: Qty,
    },
    /// The sale would take the customer's balance over the credit limit.
    #[error(
        "credit limit of customer {customer_id} exceeded: limit {limit}, balance would be {balance_after}"
    )]
    CreditLimitExceeded {
        /// Customer.
        customer_id: String,
        /// The limit.
        limit: Money,
        /// The balance after the sale.
        balance_after: Money,
    },
    /// A walk-in sale must be paid in full.
    #[error("a sale without a customer must be paid in full: total {total}, paid {paid}")]
    FullPaymentRequired {
        /// Invoice total.
        total: Money,
        /// Tendered.
        paid: Money,
    },
    /// More money than is owed, without the advance kind.
    #[error("payment of {amount} exceeds the {owed} owed")]
    Overpayment {
        /// What is owed.
        owed: Money,
        /// What was offered.
        amount: Money,
    },
    /// A refund larger than the credit due to the customer.
    #[error("refund of {amount} exceeds the {credit} credit due")]
    RefundExceedsCredit {
        /// Credit due.
        credit: Money,
        /// Refund asked.
        amount: Money,
    },
    /// The invoice is void.
    #[error("invoice {invoice_id} is void")]
    InvoiceVoided {
        /// The invoice.
        invoice_id: String,
    },
    /// The invoice has returns, so it cannot be voided.
    #[error("invoice {invoice_id} has returns and cannot be voided")]
    InvoiceHasReturns {
        /// The invoice.
        invoice_id: String,
    },
    /// Returning more than was sold on a line.
    #[error("line {line_no} sold {sold}, {returned} already returned, {requested} requested")]
    ReturnExceedsSold {
        /// Invoice line.
        line_no: i64,
        /// Sold quantity.
        sold: Qty,
        /// Already returned.
        returned: Qty,
        /// Asked to return.
        requested: Qty,
    },
    /// A shift is already open on this terminal.
    #[error("shift {shift_id} is already open on this terminal")]
    ShiftAlreadyOpen {
        /// The open shift.
        shift_id: String,
    },
    /// The shift was closed already.
    #[error("shift {shift_id} is already closed")]
    ShiftAlreadyClosed {
        /// The shift.
        shift_id: String,
    },
    /// The status workflow does not allow this move.
    #[error("a service order cannot go from {from:?} to {to:?}")]
    IllegalTransition {
        /// Current status.
        from: OrderStatus,
        /// Requested status.
        to: OrderStatus,
    },
    /// The replica may not do this (another terminal's shift...).
    #[error("not permitted: {0}")]
    NotPermitted(String),
    /// The database failed; nothing was written.
    #[error("storage error: {0}")]
    Storage(String),
}

impl CommandError {
    /// A stable machine-readable code for the error (for JS and HTTP).
    pub fn code(&self) -> &'static str {
        match self {
            Self::Invalid { .. } => "invalid",
            Self::NotFound { .. } => "not_found",
            Self::Duplicate { .. } => "duplicate",
            Self::Inactive { .. } => "inactive",
            Self::InsufficientStock { .. } => "insufficient_stock",
            Self::CreditLimitExceeded { .. } => "credit_limit_exceeded",
            Self::FullPaymentRequired { .. } => "full_payment_required",
            Self::Overpayment { .. } => "overpayment",
            Self::RefundExceedsCredit { .. } => "refund_exceeds_credit",
            Self::InvoiceVoided { .. } => "invoice_voided",
            Self::InvoiceHasReturns { .. } => "invoice_has_returns",
            Self::ReturnExceedsSold { .. } => "return_exceeds_sold",
            Self::ShiftAlreadyOpen { .. } => "shift_already_open",
            Self::ShiftAlreadyClosed { .. } => "shift_already_closed",
            Self::IllegalTransition { .. } => "illegal_transition",
            Self::NotPermitted(_) => "not_permitted",
            Self::Storage(_) => "storage",
        }
    }

    pub(crate) fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

impl From<rusqlite::Error> for CommandError {
    fn from(e: rusqlite::Error) -> Self {
        Self::Storage(e.to_string())
    }
}

impl From<automerge::AutomergeError> for CommandError {
    fn from(e: automerge::AutomergeError) -> Self {
        Self::Storage(format!("document: {e}"))
    }
}

/// Why a replica could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// SQLite could not open or configure the file.
    #[error("cannot open database: {0}")]
    Sql(#[from] rusqlite::Error),
    /// The schema could not be migrated.
    #[error(transparent)]
    Migration(#[from] crate::schema::MigrationError),
    /// The identity given is not valid.
    #[error("invalid replica identity: {0}")]
    InvalidIdentity(String),
    /// The file belongs to another replica.
    #[error("database belongs to replica {stored:?}, not {given:?}")]
    IdentityMismatch {
        /// The replica recorded in the file.
        stored: String,
        /// The replica asked for.
        given: String,
    },
}

/// Why changes could not be applied at all (individual bad changes are
/// reported in [`ApplyReport`](crate::ApplyReport), not here).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApplyError {
    /// The database failed; nothing was written.
    #[error("storage error: {0}")]
    Storage(String),
}

impl From<rusqlite::Error> for ApplyError {
    fn from(e: rusqlite::Error) -> Self {
        Self::Storage(e.to_string())
    }
}
