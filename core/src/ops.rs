//! Operations on a replica's database: integrity check, online backup with
//! verification, and the planner's statistics.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use crate::replica::Replica;

/// Why a maintenance operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpsError {
    /// SQLite failed.
    #[error("database error: {0}")]
    Sql(#[from] rusqlite::Error),
    /// `PRAGMA integrity_check` found problems.
    #[error("integrity check failed: {0}")]
    Corrupt(String),
    /// The destination of a backup already exists.
    #[error("backup destination {0} already exists")]
    DestinationExists(String),
}

/// What a verified backup contains.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupReport {
    /// Pages copied.
    pub pages: i64,
    /// Changes stored in the backup (its `doc_changes` rows).
    pub changes: i64,
    /// The newest change's sequence number in the backup: the point from
    /// which the retained change log replays for point-in-time recovery.
    pub last_change_seq: i64,
}

fn integrity(conn: &Connection) -> Result<(), OpsError> {
    let problems: Vec<String> = conn
        .prepare("PRAGMA integrity_check")?
        .query_map([], |r| r.get::<_, String>(0))?
        .collect::<Result<_, _>>()?;
    if problems.len() == 1 && problems[0] == "ok" {
        Ok(())
    } else {
        Err(OpsError::Corrupt(problems.join("; ")))
    }
}

impl Replica {
    /// Runs `PRAGMA integrity_check` and `foreign_key_check`.
    pub fn integrity_check(&self) -> Result<(), OpsError> {
        integrity(self.connection())?;
        let fk: i64 = self.connection().query_row(
            "SELECT count(*) FROM pragma_foreign_key_check",
            [],
            |r| r.get(0),
        )?;
        if fk > 0 {
            return Err(OpsError::Corrupt(format!("{fk} foreign key violations")));
        }
        Ok(())
    }

    /// Copies the live database to a new file with SQLite's online backup
    /// (writers are not blocked for long: 256 pages a step), then opens the
    /// copy read-only and verifies it with an integrity check.
    pub fn backup_to(&self, dest: &Path) -> Result<BackupReport, OpsError> {
        if dest.exists() {
            return Err(OpsError::DestinationExists(dest.display().to_string()));
        }
        let mut out = Connection::open(dest)?;
        let pages = {
            let backup = rusqlite::backup::Backup::new(self.connection(), &mut out)?;
            backup.run_to_completion(256, Duration::from_millis(5), None)?;
            backup.progress().pagecount as i64
        };
        // The copy inherits the live file's WAL mode; a backup is one
        // self-contained file, so it goes back to a rollback journal.
        let _mode: String = out.query_row("PRAGMA journal_mode = DELETE", [], |r| r.get(0))?;
        drop(out);
        let copy = Connection::open_with_flags(dest, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
        integrity(&copy)?;
        let (changes, last_change_seq) = copy.query_row(
            "SELECT count(*), coalesce(max(seq), 0) FROM doc_changes",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        Ok(BackupReport {
            pages,
            changes,
            last_change_seq,
        })
    }

    /// Lets SQLite refresh the statistics its planner uses (`PRAGMA
    /// optimize`), as the steel-store plan schedules it.
    pub fn optimize(&self) -> Result<(), OpsError> {
        self.connection().execute_batch("PRAGMA optimize")?;
        Ok(())
    }
}
