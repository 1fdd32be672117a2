//! Deferred upkeep for a bulk load into a new database.
//!
//! Every row the projection writes also updates the secondary indexes of
//! its table and, through triggers, the derived tables: the daily totals
//! (steps 4 and 5), the stock values (9), the low-stock pairs (10) and the
//! customers over their credit limit (11). Row by row that is a random
//! b-tree insert per index and an upsert per total for every line of every
//! sale. A bulk load that fills a new database (the
//! dataset generator) instead drops what no statement of the write path
//! reads, and builds it once at the end: a sorted index build, the totals
//! summed by the same `SELECT`s the migrations use for existing data (on a
//! second connection, while the indexes build), and the full-text indexes
//! filled by one `INSERT ... SELECT` made from their own insert triggers. The result is the schema and the rows
//! the triggers would have kept, and full-text indexes that find the same
//! rows (a test compares the two ways).

use rusqlite::Connection;

use super::MIGRATIONS;

/// Secondary indexes that validation and projection never read: those of
/// the large tables serve reports and screens only, and those of the
/// derived tables and of `stock_levels` by product serve only the triggers
/// that are dropped too (a movement's stock-level update also moved its
/// entry in the latter: 2 µs of every movement's 10). Kept: the indexes
/// the write path looks records up by (references of movements, ledger
/// entries and payments, bill numbers, the terminal's invoice sequence,
/// open credit invoices, the branch's invoices by day).
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
    "idx_stock_levels_product_qty",
    "idx_daily_product_sales_product",
    "idx_low_stock_branch_name",
    "idx_over_credit_balance",
];

/// The tables the derived totals live in, in the order they are rebuilt
/// (daily category sales sum daily product sales, the low-stock pairs are
/// those of the stock branches).
const DERIVED_TABLES: &[&str] = &[
    "daily_sales",
    "daily_payments",
    "daily_product_sales",
    "daily_category_sales",
    "stock_values",
    "stock_branches",
    "low_stock",
    "over_credit",
];

/// Where the migrations that create the derived tables start their
/// statements for existing data.
const EXISTING_DATA: &str =
    "-- ---------------------------------------------------------------- existing data";

/// What [`defer`] dropped, to be built again by [`Deferred::restore`].
#[derive(Debug)]
#[must_use = "the dropped indexes and triggers come back only with `restore`"]
pub(crate) struct Deferred {
    /// `CREATE` statements of the dropped indexes and triggers, in order:
    /// the indexes of the tables the load wrote, then those of the derived
    /// tables (built once their rows are in).
    indexes: Vec<String>,
    derived_indexes: Vec<String>,
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
    // Name, statement and table of each index or trigger kept.
    type Item = (String, String, String);
    let sql_of = |kind: &str, filter: &dyn Fn(&str) -> bool| -> rusqlite::Result<Vec<Item>> {
        let mut stmt = conn.prepare(
            "SELECT name, sql, tbl_name FROM sqlite_master
             WHERE type = ?1 AND sql IS NOT NULL ORDER BY rowid",
        )?;
        let rows = stmt
            .query_map([kind], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows.into_iter().filter(|(n, _, _)| filter(n)).collect())
    };
    let indexes = sql_of("index", &|n| DEFERRED_INDEXES.contains(&n))?;
    // Every trigger that keeps a derived table is named after it
    // (`daily_sales_ai`, `low_stock_levels_au`...); `invoices_bd_lines`
    // (step 4 too) is not derived upkeep.
    // The full-text indexes are not read by any write either: a bulk load
    // fills them once at the end (row by row, their pending terms were
    // flushed to new segments over and over, and a product insert cost a
    // tenth of a millisecond).
    let triggers = sql_of("trigger", &|n| {
        DERIVED_TABLES
            .iter()
            .any(|t| n.strip_prefix(t).is_some_and(|rest| rest.starts_with('_')))
            || ["_fts_ai", "_fts_ad", "_fts_au"]
                .iter()
                .any(|s| n.ends_with(s))
    })?;
    let mut fts_fills = Vec::new();
    for (name, sql, _) in &triggers {
        if name.ends_with(FTS_INSERT_TRIGGER) {
            fts_fills.extend(fts_fill(name, sql)?);
        }
    }
    for (name, _, _) in &indexes {
        conn.execute_batch(&format!("DROP INDEX {name}"))?;
    }
    for (name, _, _) in &triggers {
        conn.execute_batch(&format!("DROP TRIGGER {name}"))?;
    }
    let (derived_indexes, indexes): (Vec<_>, Vec<_>) = indexes
        .into_iter()
        .partition(|(_, _, table)| DERIVED_TABLES.contains(&table.as_str()));
    let sql =
        |items: Vec<(String, String, String)>| items.into_iter().map(|(_, sql, _)| sql).collect();
    Ok(Deferred {
        indexes: sql(indexes),
        derived_indexes: sql(derived_indexes),
        triggers: sql(triggers),
        fts_fills,
    })
}

/// One statement that rebuilds a derived table: `INSERT INTO table` and
/// the `SELECT` that sums its rows.
struct Rebuild {
    table: String,
    select: String,
}

/// The statements for existing data of the migrations that create the
/// derived tables, in order: every step that has such statements, each an
/// `INSERT INTO` one of [`DERIVED_TABLES`] `SELECT ...`.
fn rebuilds() -> rusqlite::Result<Vec<Rebuild>> {
    let mut out = Vec::new();
    for m in MIGRATIONS {
        let Some((_, rebuild)) = m.up.split_once(EXISTING_DATA) else {
            continue;
        };
        for statement in rebuild.split(';').map(str::trim).filter(|s| !s.is_empty()) {
            let parsed = statement.strip_prefix("INSERT INTO ").and_then(|rest| {
                let (table, select) = rest.split_once(char::is_whitespace)?;
                let select = select.trim();
                (select.starts_with("SELECT") && DERIVED_TABLES.contains(&table))
                    .then(|| (table.to_string(), select.to_string()))
            });
            let Some((table, select)) = parsed else {
                return Err(shape_error(format!(
                    "migration {}: not an INSERT INTO a derived table ... SELECT: {statement}",
                    m.name
                )));
            };
            out.push(Rebuild { table, select });
        }
    }
    Ok(out)
}

fn shape_error(what: String) -> rusqlite::Error {
    rusqlite::Error::InvalidParameterName(what)
}

/// Sums every derived table into the scratch database at `scratch`, one
/// table each, from the database at `db` as committed (one read
/// transaction): the same statements, with the tables created from them.
fn sum_apart(db: &str, scratch: &str, rebuilds: &[Rebuild]) -> rusqlite::Result<()> {
    let conn = Connection::open(scratch)?;
    conn.execute_batch(
        "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA temp_store = MEMORY;
         PRAGMA cache_size = -262144;",
    )?;
    conn.execute("ATTACH DATABASE ?1 AS source", [db])?;
    // The statements name their tables unqualified: the totals summed
    // already are found here first, the rest in the source.
    conn.execute_batch("BEGIN")?;
    for r in rebuilds {
        // Created as in the source, so that the columns have their names
        // and the rows their key order.
        let create: String = conn.query_row(
            "SELECT sql FROM source.sqlite_schema WHERE type = 'table' AND name = ?1",
            [&r.table],
            |row| row.get(0),
        )?;
        conn.execute_batch(&create)?;
        conn.execute_batch(&format!("INSERT INTO main.{} {}", r.table, r.select))?;
    }
    conn.execute_batch("COMMIT")
}

impl Deferred {
    /// Builds the dropped indexes, recomputes the derived totals and the
    /// full-text indexes from the rows, and creates the triggers again, in
    /// one transaction of its own: every row of the bulk load must be
    /// committed, and no transaction open on `conn`.
    ///
    /// The totals are summed on a second connection, into a scratch
    /// database beside this one, while this one builds the indexes; then
    /// copied in (their rows come in key order), and their own indexes
    /// built after them. A database in memory sums them itself.
    pub(crate) fn restore(self, conn: &Connection) -> rusqlite::Result<()> {
        if !conn.is_autocommit() {
            return Err(shape_error(
                "the deferred upkeep is restored in a transaction of its own".into(),
            ));
        }
        let rebuilds = rebuilds()?;
        let db = conn.path().filter(|p| !p.is_empty()).map(str::to_string);
        let scratch = db.as_ref().map(|p| format!("{p}-sums"));
        if let Some(scratch) = &scratch {
            remove_scratch(scratch)?;
            conn.execute("ATTACH DATABASE ?1 AS bulk_sums", [scratch])?;
        }
        // Not IMMEDIATE: that would take the write lock of the scratch
        // database too, which the second connection writes.
        conn.execute_batch("BEGIN")?;
        let restored = std::thread::scope(|scope| -> rusqlite::Result<()> {
            let summed = db
                .as_deref()
                .zip(scratch.as_deref())
                .map(|(db, scratch)| scope.spawn(|| sum_apart(db, scratch, &rebuilds)));
            for sql in &self.indexes {
                conn.execute_batch(sql)?;
            }
            for table in DERIVED_TABLES {
                conn.execute_batch(&format!("DELETE FROM {table}"))?;
            }
            match summed {
                Some(handle) => {
                    handle.join().map_err(|_| {
                        shape_error("the thread summing the totals panicked".into())
                    })??;
                    for r in &rebuilds {
                        conn.execute_batch(&format!(
                            "INSERT INTO main.{0} SELECT * FROM bulk_sums.{0}",
                            r.table
                        ))?;
                    }
                }
                None => {
                    for r in &rebuilds {
                        conn.execute_batch(&format!("INSERT INTO {} {}", r.table, r.select))?;
                    }
                }
            }
            for sql in self.derived_indexes.iter().chain(&self.fts_fills) {
                conn.execute_batch(sql)?;
            }
            for sql in &self.triggers {
                conn.execute_batch(sql)?;
            }
            Ok(())
        });
        let ended = match restored {
            Ok(()) => conn.execute_batch("COMMIT"),
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                Err(e)
            }
        };
        // The restore's own error, if any, is the one to report.
        let cleaned = match &scratch {
            Some(scratch) => conn
                .execute_batch("DETACH DATABASE bulk_sums")
                .and_then(|()| remove_scratch(scratch)),
            None => Ok(()),
        };
        ended.and(cleaned)
    }
}

/// Removes the scratch database, if there is one.
fn remove_scratch(path: &str) -> rusqlite::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(shape_error(format!(
            "cannot remove the scratch database {path}: {e}"
        ))),
        _ => Ok(()),
    }
}
