//! Versioned schema migrations: an ordered list in code.
//!
//! Each applied step is recorded in `schema_migrations` with a SHA-256 of its
//! SQL. Opening a database whose recorded checksum differs from the step in
//! the code is an error ([`MigrationError::EditedStep`]): a past step must
//! never be edited, only followed by a new one. Every step carries its
//! rollback so an upgrade can be undone ([`rollback_to`]).

mod bulk;

pub(crate) use bulk::{Deferred, defer as defer_for_bulk_load};

use rusqlite::{Connection, OptionalExtension, params};
use sha2::{Digest, Sha256};

/// One schema step: forward SQL and the SQL that undoes it.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// Short name, recorded with the step.
    pub name: &'static str,
    /// Forward SQL.
    pub up: &'static str,
    /// SQL that undoes `up` exactly.
    pub down: &'static str,
}

/// The schema, in order. Append only.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        name: "projection",
        up: include_str!("v1_projection.sql"),
        down: include_str!("v1_projection_down.sql"),
    },
    Migration {
        name: "operations",
        up: include_str!("v2_operations.sql"),
        down: include_str!("v2_operations_down.sql"),
    },
    Migration {
        name: "sync",
        up: include_str!("v3_sync.sql"),
        down: include_str!("v3_sync_down.sql"),
    },
    Migration {
        name: "daily_totals",
        up: include_str!("v4_daily_totals.sql"),
        down: include_str!("v4_daily_totals_down.sql"),
    },
    Migration {
        name: "daily_categories",
        up: include_str!("v5_daily_categories.sql"),
        down: include_str!("v5_daily_categories_down.sql"),
    },
    Migration {
        name: "check_comparisons",
        up: include_str!("v6_check_comparisons.sql"),
        down: include_str!("v6_check_comparisons_down.sql"),
    },
    Migration {
        name: "doc_snapshots",
        up: include_str!("v7_doc_snapshots.sql"),
        down: include_str!("v7_doc_snapshots_down.sql"),
    },
    Migration {
        name: "fts_on_change",
        up: include_str!("v8_fts_on_change.sql"),
        down: include_str!("v8_fts_on_change_down.sql"),
    },
    Migration {
        name: "stock_values",
        up: include_str!("v9_stock_values.sql"),
        down: include_str!("v9_stock_values_down.sql"),
    },
    Migration {
        name: "low_stock",
        up: include_str!("v10_low_stock.sql"),
        down: include_str!("v10_low_stock_down.sql"),
    },
    Migration {
        name: "over_credit",
        up: include_str!("v11_over_credit.sql"),
        down: include_str!("v11_over_credit_down.sql"),
    },
];

/// Why the schema could not be brought up to date.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MigrationError {
    /// A recorded step's SQL differs from the step of the same number in code.
    #[error("migration step {version} ({name}) was edited after it was applied")]
    EditedStep {
        /// 1-based step number.
        version: usize,
        /// The step's name.
        name: String,
    },
    /// The database was written by a newer build with more steps.
    #[error("database schema version {found} is newer than this build's {known}")]
    TooNew {
        /// Highest step recorded in the database.
        found: usize,
        /// Highest step this build knows.
        known: usize,
    },
    /// SQLite refused a step.
    #[error("migration failed: {0}")]
    Sql(#[from] rusqlite::Error),
}

fn checksum(sql: &str) -> String {
    let digest = Sha256::digest(sql.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn ensure_table(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version    INTEGER PRIMARY KEY,
            name       TEXT NOT NULL,
            checksum   TEXT NOT NULL,
            applied_at INTEGER NOT NULL
        )",
    )
}

/// The highest applied step (0 for a new database).
pub fn current_version(conn: &Connection) -> Result<usize, MigrationError> {
    ensure_table(conn)?;
    let v: Option<i64> = conn
        .query_row("SELECT max(version) FROM schema_migrations", [], |r| {
            r.get(0)
        })
        .optional()?
        .flatten();
    Ok(v.unwrap_or(0) as usize)
}

/// Applies every missing step up to `target` (inclusive), each in its own
/// transaction, after checking that the already applied ones are unchanged.
pub fn migrate_to(
    conn: &mut Connection,
    target: usize,
    now_ms: i64,
) -> Result<usize, MigrationError> {
    ensure_table(conn)?;
    let target = target.min(MIGRATIONS.len());
    let applied: Vec<(usize, String, String)> = {
        let mut stmt =
            conn.prepare("SELECT version, name, checksum FROM schema_migrations ORDER BY version")?;
        stmt.query_map([], |r| {
            Ok((r.get::<_, i64>(0)? as usize, r.get(1)?, r.get(2)?))
        })?
        .collect::<Result<_, _>>()?
    };
    for (version, name, sum) in &applied {
        match MIGRATIONS.get(version - 1) {
            None => {
                return Err(MigrationError::TooNew {
                    found: *version,
                    known: MIGRATIONS.len(),
                });
            }
            Some(m) if checksum(m.up) != *sum || m.name != name => {
                return Err(MigrationError::EditedStep {
                    version: *version,
                    name: name.clone(),
                });
            }
            Some(_) => {}
        }
    }
    let mut version = applied.len();
    while version < target {
        let m = &MIGRATIONS[version];
        let tx = conn.transaction()?;
        tx.execute_batch(m.up)?;
        tx.execute(
            "INSERT INTO schema_migrations(version, name, checksum, applied_at) VALUES (?1, ?2, ?3, ?4)",
            params![(version + 1) as i64, m.name, checksum(m.up), now_ms],
        )?;
        tx.commit()?;
        version += 1;
    }
    Ok(version)
}

/// Applies every step this build knows.
pub fn migrate(conn: &mut Connection, now_ms: i64) -> Result<usize, MigrationError> {
    migrate_to(conn, MIGRATIONS.len(), now_ms)
}

/// Undoes applied steps, newest first, until the schema is at `target`.
pub fn rollback_to(conn: &mut Connection, target: usize) -> Result<usize, MigrationError> {
    let mut version = current_version(conn)?;
    if version > MIGRATIONS.len() {
        return Err(MigrationError::TooNew {
            found: version,
            known: MIGRATIONS.len(),
        });
    }
    while version > target {
        let m = &MIGRATIONS[version - 1];
        let tx = conn.transaction()?;
        tx.execute_batch(m.down)?;
        tx.execute(
            "DELETE FROM schema_migrations WHERE version = ?1",
            params![version as i64],
        )?;
        tx.commit()?;
        version -= 1;
    }
    Ok(version)
}
