//! Deferred upkeep for a bulk load into a new database.
//!
//! Every row the projection writes also updates the secondary indexes of
//! its table and, through triggers, the daily totals (steps 4 and 5). Row by
//! row that is a random b-tree insert per index and an upsert per total for
//! every line of every sale. A bulk load that fills a new database (the
//! dataset generator) instead drops what no statement of the write path
//! reads, and builds it once at the end: a sorted index build, and the
//! totals summed by the same `INSERT ... SELECT` the migrations use for
//! existing data. The result is the schema and the rows the triggers would
//! have kept (a test compares the two ways).

use rusqlite::Connection;

use super::MIGRATIONS;

/// Secondary indexes of the large tables that validation and projection
/// never read: they serve reports and screens only. Kept: the indexes the
/// write path looks records up by (references of movements, ledger entries
/// and payments, bill numbers, the terminal's invoice sequence, open credit
/// invoices, the branch's invoices by day).
const DEFERRED_INDEXES: &[&str] = &[
    "idx_invoices_customer_date",
    "idx_invoices_status_day",
    "idx_invoices_status_balance",
    "idx_invoices_day",
    "idx_invoice_lines_product",
    "idx_payments_customer_date",
    "idx_payments_channel_type",
    "idx_payments_branch_day",
    "idx_payments_day",
    "idx_stock_movements_product_date",
    "idx_stock_movements_customer",
    "idx_ledger_entries_customer_date",
    "idx_ledger_entries_type_category",
    "idx_stock_levels_branch",
];

/// The tables the derived totals live in, in the order they are rebuilt
/// (daily category sales sum daily product sales).
const DERIVED_TABLES: &[&str] = &[
    "daily_sales",
    "daily_payments",
    "daily_product_sales",
    "daily_category_sales",
];

/// Where the migrations that create the derived tables start their
/// statements for existing data.
const EXISTING_DATA: &str =
    "-- ---------------------------------------------------------------- existing data";

/// What [`defer`] dropped, to be built again by [`Deferred::restore`].
#[derive(Debug)]
#[must_use = "the dropped indexes and triggers come back only with `restore`"]
pub(crate) struct Deferred {
    /// `CREATE` statements of the dropped indexes and triggers, in order.
    indexes: Vec<String>,
    triggers: Vec<String>,
}

/// Drops the deferred indexes and the triggers that keep the derived totals.
pub(crate) fn defer(conn: &Connection) -> rusqlite::Result<Deferred> {
    let sql_of = |kind: &str,
                  filter: &dyn Fn(&str) -> bool|
     -> rusqlite::Result<Vec<(String, String)>> {
        let mut stmt = conn.prepare(
            "SELECT name, sql FROM sqlite_master WHERE type = ?1 AND sql IS NOT NULL ORDER BY rowid",
        )?;
        let rows = stmt
            .query_map([kind], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows.into_iter().filter(|(n, _)| filter(n)).collect())
    };
    let indexes = sql_of("index", &|n| DEFERRED_INDEXES.contains(&n))?;
    // Every trigger of steps 4 and 5 that writes a derived table is named
    // after it; `invoices_bd_lines` (step 4 too) is not derived upkeep.
    let triggers = sql_of("trigger", &|n| n.starts_with("daily_"))?;
    for (name, _) in &indexes {
        conn.execute_batch(&format!("DROP INDEX {name}"))?;
    }
    for (name, _) in &triggers {
        conn.execute_batch(&format!("DROP TRIGGER {name}"))?;
    }
    Ok(Deferred {
        indexes: indexes.into_iter().map(|(_, sql)| sql).collect(),
        triggers: triggers.into_iter().map(|(_, sql)| sql).collect(),
    })
}

impl Deferred {
    /// Builds the dropped indexes, recomputes the derived totals from the
    /// rows, and creates the triggers again.
    pub(crate) fn restore(self, conn: &Connection) -> rusqlite::Result<()> {
        for sql in &self.indexes {
            conn.execute_batch(sql)?;
        }
        for table in DERIVED_TABLES {
            conn.execute_batch(&format!("DELETE FROM {table}"))?;
        }
        for name in ["daily_totals", "daily_categories"] {
            let up = MIGRATIONS
                .iter()
                .find(|m| m.name == name)
                .map(|m| m.up)
                .unwrap_or_default();
            match up.split_once(EXISTING_DATA) {
                Some((_, rebuild)) => conn.execute_batch(rebuild)?,
                None => {
                    return Err(rusqlite::Error::InvalidParameterName(format!(
                        "migration {name} has no statements for existing data"
                    )));
                }
            }
        }
        for sql in &self.triggers {
            conn.execute_batch(sql)?;
        }
        Ok(())
    }
}
