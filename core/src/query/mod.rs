//! Read-only queries and reports over the projection.
//!
//! Every list is paginated by key (keyset pagination, never OFFSET): a
//! method takes the cursor of the last row of the previous page (`after`,
//! `None` for the first page) and a `limit` (capped at [`MAX_PAGE`]), and
//! returns a [`Page`] whose `next` is the cursor to pass for the following
//! page. Every report is a fixed number of statements whatever the number of
//! rows (no query per row: joins, `GROUP BY` and window functions instead),
//! and every statement is served by an index on the tables that grow
//! (`invoices`, `invoice_lines`, `payments`, `stock_movements`,
//! `ledger_entries`, `service_orders`). The SQL texts are constants, listed
//! by [`statements`], so a test can check every plan with
//! `EXPLAIN QUERY PLAN`.
//!
//! Money is integer minor units, quantities integer thousandths, as
//! everywhere in the crate. Days are UTC `YYYY-MM-DD` text, months
//! `YYYY-MM`.
//!
//! Where an index lacks the id that breaks ties in a sort key (for example
//! `idx_invoices_customer_date` is `(customer_id, at DESC)`), the keyset
//! condition is written `at <= ?cursor_at AND (at < ?cursor_at OR id <
//! ?cursor_id)` so that the index range still starts at the cursor; where the
//! index holds the whole key, a row value comparison `(day, id) > (?, ?)` is
//! used.
//!
//! Statements are prepared with `prepare_cached`. rusqlite's statement cache
//! holds 16 statements by default; a connection that serves many screens
//! should raise it with `Connection::set_prepared_statement_cache_capacity`.

use rusqlite::{CachedStatement, Connection};
use serde::{Deserialize, Serialize};

use crate::domain::{Millis, Money, Qty};

mod alerts;
mod catalog;
mod customers;
mod lookups;
mod request;
mod sales;
mod shifts;
mod stock;
mod workshop;

pub use alerts::{AlertsSummary, DuplicateKey, FieldConflict, NegativeStock, RejectedRecord};
pub use catalog::{CustomerHit, LowStock, ProductHit, fts_query};
pub use customers::{AgingBuckets, CustomerAging, CustomerBalance, StatementEntry, StatementPage};
pub use lookups::{OpenShift, PaymentChannelRow, ServiceRow, TechnicianRow, VehicleRow};
pub use request::{INVOICE_STATUSES, QueryError, Request};
pub use sales::{
    CategorySales, ChannelSales, InvoiceDetail, InvoiceHeader, InvoiceLineRow, InvoiceSummary,
    Period, ReturnsTotals, SalesReport, SalesTotals, Settlement, TopBy, TopProduct,
};
pub use shifts::{ShiftChannel, ShiftSummary};
pub use stock::{
    BranchStock, CategoryValuation, StockCardEntry, StockCardPage, StockRow, Valuation,
};
pub use workshop::{ScheduledOrder, ServiceHistoryEntry, TechnicianWorkload};

/// Largest page any list returns.
pub const MAX_PAGE: u32 = 500;

/// Cursor of a list ordered by a text key then an id: `(key, id)`.
pub type TextCursor = (String, String);
/// Cursor of a list ordered by a time then an id: `(at, id)`.
pub type TimeCursor = (Millis, String);
/// Cursor of a list ordered by an amount (money or quantity) then an id:
/// `(amount, id)`.
pub type AmountCursor = (i64, String);
/// Cursor of a list ordered by three text keys.
pub type Text3Cursor = (String, String, String);

/// One page of a keyset-paginated list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Page<T, C> {
    /// The rows, in the list's order.
    pub rows: Vec<T>,
    /// Cursor to pass as `after` for the next page; `None` when this page was
    /// not full, so there is nothing after it. (A full last page is followed
    /// by one empty page.)
    pub next: Option<C>,
}

impl<T, C> Page<T, C> {
    fn new(rows: Vec<T>, limit: i64, cursor: impl Fn(&T) -> C) -> Self {
        let next = if rows.len() as i64 >= limit {
            rows.last().map(cursor)
        } else {
            None
        };
        Page { rows, next }
    }
}

/// A caller's page size, kept within 1..=[`MAX_PAGE`].
fn cap(limit: u32) -> i64 {
    limit.clamp(1, MAX_PAGE) as i64
}

/// Rounds thousandths of a minor unit (quantity x unit price) half up to
/// whole minor units.
fn round_milli(v: i128) -> Money {
    let r = (v + 500).div_euclid(1000);
    r.clamp(i64::MIN as i128, i64::MAX as i128) as i64
}

const STOCK_ON_HAND: &str = "SELECT qty FROM stock_levels WHERE product_id = ?1 AND branch_id = ?2";

/// Every SQL text this module runs, with a short name: the methods and the
/// plan test share these texts.
pub fn statements() -> Vec<(&'static str, &'static str)> {
    let mut v = vec![("stock_on_hand", STOCK_ON_HAND)];
    v.extend_from_slice(catalog::STATEMENTS);
    v.extend_from_slice(customers::STATEMENTS);
    v.extend_from_slice(sales::STATEMENTS);
    v.extend_from_slice(stock::STATEMENTS);
    v.extend_from_slice(workshop::STATEMENTS);
    v.extend_from_slice(shifts::STATEMENTS);
    v.extend_from_slice(alerts::STATEMENTS);
    v.extend_from_slice(lookups::STATEMENTS);
    v
}

/// Read-only access to a replica's projection.
#[derive(Debug, Clone, Copy)]
pub struct Queries<'a> {
    conn: &'a Connection,
}

impl<'a> Queries<'a> {
    /// Queries over `conn`.
    pub fn new(conn: &'a Connection) -> Self {
        Queries { conn }
    }

    /// Prepares (or takes from the cache) one of the module's statements.
    fn prep(&self, sql: &'static str) -> rusqlite::Result<CachedStatement<'a>> {
        debug_assert!(
            statements().iter().any(|(_, s)| *s == sql),
            "statement not listed in query::statements(): {sql}"
        );
        self.conn.prepare_cached(sql)
    }

    /// Stock on hand of a product at a branch (the sum of its movements).
    pub fn stock_on_hand(&self, product_id: &str, branch_id: &str) -> rusqlite::Result<Qty> {
        use rusqlite::OptionalExtension;
        Ok(self
            .prep(STOCK_ON_HAND)?
            .query_row([product_id, branch_id], |r| r.get(0))
            .optional()?
            .unwrap_or(0))
    }
}
