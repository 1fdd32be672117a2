//! Deferred upkeep for a bulk load into a new database.
//!
//! Every row the projection writes also updates the secondary indexes of
//! its table and, through triggers, the daily totals (steps 4 and 5). Row by
//! row that is a random b-tree insert per index and an upsert per total for
//! every line of every sale. A bulk load that fills a new database (the
//! dataset generator) instead drops what no statement of the write path
//! reads, and builds it once at the end: a sorted index build, the totals
//! summed by the same `INSERT ... SELECT` the migrations use for existing
//! data, and the full-text indexes filled by one `INSERT ... SELECT` made
//! from their own insert triggers. The result is the schema and the rows
//! the triggers would have kept, and full-text indexes that find the same
//! rows (a test compares the two ways).

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
    /// Statements that fill each full-text index from its content table
    /// as its dropped triggers would have.
    fts_fills: Vec<String>,
}

/// The full-text indexes' insert triggers end with this; their delete and
/// update triggers with `_fts_ad` and `_fts_au`.
const FTS_INSERT_TRIGGER: &str = "_fts_ai";

/// The statements that fill a full-text index with every row of its
/// content table, made from its insert trigger (`CREATE TRIGGER
/// x_fts_ai AFTER INSERT ON table BEGIN INSERT INTO fts(cols) VALUES
/// (new.a, f(new.b)); END`), so that the index holds exactly the text the
/// trigger would have put there (the product's wanted SKU, the customer's
/// phone also as bare digits, which are not the content table's own
/// columns): first empty it, then `INSERT INTO fts(cols) SELECT a, f(b)
/// FROM table`.
fn fts_fill(trigger: &str, sql: &str) -> rusqlite::Result<[String; 2]> {
    let shape = || {
        rusqlite::Error::InvalidParameterName(format!(
            "trigger {trigger} is not a full-text insert trigger of the expected shape"
        ))
    };
    let table = sql
        .split_once("AFTER INSERT ON ")
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .ok_or_else(shape)?;
    let body = sql
        .split_once("BEGIN")
        .and_then(|(_, rest)| rest.rsplit_once("END"))
        .map(|(body, _)| body.trim().trim_end_matches(';'))
        .ok_or_else(shape)?;
    let (insert, values) = body.split_once("VALUES").ok_or_else(shape)?;
    let values = values.trim();
    let exprs = values
        .strip_prefix('(')
        .and_then(|v| v.strip_suffix(')'))
        .ok_or_else(shape)?;
    let fts = insert
        .trim()
        .strip_prefix("INSERT INTO ")
        .and_then(|rest| rest.split('(').next())
        .ok_or_else(shape)?;
    if exprs.contains(';') || body.matches("INSERT").count() != 1 {
        return Err(shape());
    }
    Ok([
        format!("INSERT INTO {fts}({fts}) VALUES ('delete-all')"),
        format!(
            "{} SELECT {} FROM {table} ORDER BY rowid",
            insert.trim(),
            exprs.replace("new.", "")
        ),
    ])
}

/// Drops the deferred indexes, the triggers that keep the derived totals
/// and those that keep the full-text indexes.
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
    // The full-text indexes are not read by any write either: a bulk load
    // fills them once at the end (row by row, their pending terms were
    // flushed to new segments over and over, and a product insert cost a
    // tenth of a millisecond).
    let triggers = sql_of("trigger", &|n| {
        n.starts_with("daily_")
            || ["_fts_ai", "_fts_ad", "_fts_au"]
                .iter()
                .any(|s| n.ends_with(s))
    })?;
    let mut fts_fills = Vec::new();
    for (name, sql) in &triggers {
        if name.ends_with(FTS_INSERT_TRIGGER) {
            fts_fills.extend(fts_fill(name, sql)?);
        }
    }
    for (name, _) in &indexes {
        conn.execute_batch(&format!("DROP INDEX {name}"))?;
    }
    for (name, _) in &triggers {
        conn.execute_batch(&format!("DROP TRIGGER {name}"))?;
    }
    Ok(Deferred {
        indexes: indexes.into_iter().map(|(_, sql)| sql).collect(),
        triggers: triggers.into_iter().map(|(_, sql)| sql).collect(),
        fts_fills,
    })
}

impl Deferred {
    /// Builds the dropped indexes, recomputes the derived totals and the
    /// full-text indexes from the rows, and creates the triggers again.
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
        for sql in &self.fts_fills {
            conn.execute_batch(sql)?;
        }
        for sql in &self.triggers {
            conn.execute_batch(sql)?;
        }
        Ok(())
    }
}
