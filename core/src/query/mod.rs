//! Read-only queries and reports over the projection.
//!
//! Every list is paginated by key (keyset pagination, never OFFSET), every
//! report is a fixed number of statements whatever the number of rows (no
//! query per row), and every statement is served by an index on the tables
//! that grow (a test checks the plans with EXPLAIN QUERY PLAN).

use rusqlite::Connection;

use crate::domain::Qty;

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

    /// Stock on hand of a product at a branch (the sum of its movements).
    pub fn stock_on_hand(&self, product_id: &str, branch_id: &str) -> rusqlite::Result<Qty> {
        use rusqlite::OptionalExtension;
        Ok(self
            .conn
            .prepare_cached(
                "SELECT qty FROM stock_levels WHERE product_id = ?1 AND branch_id = ?2",
            )?
            .query_row([product_id, branch_id], |r| r.get(0))
            .optional()?
            .unwrap_or(0))
    }
}
