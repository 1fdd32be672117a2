//! Terminal registration and authentication.
//!
//! A terminal is registered once, by an admin, for a branch. It receives its
//! identity and a secret token; the server keeps only the token's SHA-256.

use std::collections::HashSet;

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use store_core::{Env, ReplicaIdentity, SystemEnv};

/// What a newly registered terminal receives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registration {
    /// The terminal's identity (its replica id is also its actor prefix).
    pub identity: ReplicaIdentity,
    /// The secret token it authenticates with. Shown once.
    pub token: String,
}

/// Why a terminal could not be registered or revoked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegisterError {
    /// No branch with this id.
    #[error("branch {0} not found")]
    UnknownBranch(String),
    /// The terminal code is already used in the branch.
    #[error("terminal code {0} is already used in this branch")]
    DuplicateCode(String),
    /// The terminal code is not acceptable.
    #[error("invalid terminal code {0:?}: 1 to 8 letters, digits, - or _")]
    InvalidCode(String),
    /// No such terminal.
    #[error("terminal {0} not found")]
    UnknownTerminal(String),
    /// SQLite failed.
    #[error("database error: {0}")]
    Sql(#[from] rusqlite::Error),
}

fn hash(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Registers a terminal for `branch_id`, with `code` or the branch's next
/// free `T{n}`.
pub fn register(
    conn: &Connection,
    branch_id: &str,
    code: Option<&str>,
    now: i64,
) -> Result<Registration, RegisterError> {
    let branch_code: Option<String> = conn
        .query_row(
            "SELECT coalesce(code, code_wanted) FROM branches WHERE id = ?1",
            [branch_id],
            |r| r.get(0),
        )
        .optional()?;
    let Some(branch_code) = branch_code else {
        return Err(RegisterError::UnknownBranch(branch_id.to_string()));
    };
    let code = match code {
        Some(c) => {
            if c.is_empty() || c.len() > 8 || !store_core::document::is_valid_id(c) {
                return Err(RegisterError::InvalidCode(c.to_string()));
            }
            c.to_string()
        }
        None => {
            let n: i64 = conn.query_row(
                "SELECT count(*) FROM terminals WHERE branch_id = ?1",
                [branch_id],
                |r| r.get(0),
            )?;
            let mut n = n + 1;
            loop {
                let candidate = format!("T{n}");
                let taken: Option<i64> = conn
                    .query_row(
                        "SELECT 1 FROM terminals WHERE branch_id = ?1 AND code = ?2",
                        params![branch_id, candidate],
                        |r| r.get(0),
                    )
                    .optional()?;
                if taken.is_none() {
                    break candidate;
                }
                n += 1;
            }
        }
    };
    let id = format!("{branch_code}-{code}");
    let mut secret = [0u8; 32];
    SystemEnv.fill_random(&mut secret);
    let token: String = secret.iter().map(|b| format!("{b:02x}")).collect();
    let inserted = conn.execute(
        "INSERT INTO terminals(id, branch_id, branch_code, code, token_hash, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT DO NOTHING",
        params![id, branch_id, branch_code, code, hash(&token), now],
    )?;
    if inserted == 0 {
        return Err(RegisterError::DuplicateCode(code));
    }
    Ok(Registration {
        identity: ReplicaIdentity {
            replica_id: id,
            branch_id: branch_id.to_string(),
            branch_code,
            terminal_code: code,
        },
        token,
    })
}

/// Revokes a terminal: its token stops working at once.
pub fn revoke(conn: &Connection, terminal_id: &str, now: i64) -> Result<(), RegisterError> {
    let n = conn.execute(
        "UPDATE terminals SET revoked_at = coalesce(revoked_at, ?2) WHERE id = ?1",
        params![terminal_id, now],
    )?;
    if n == 0 {
        return Err(RegisterError::UnknownTerminal(terminal_id.to_string()));
    }
    Ok(())
}

/// The identity of the terminal holding `token`, unless unknown or revoked.
pub fn authenticate(conn: &Connection, token: &str) -> rusqlite::Result<Option<ReplicaIdentity>> {
    if token.len() > 256 {
        return Ok(None);
    }
    conn.prepare_cached(
        "SELECT id, branch_id, branch_code, code FROM terminals
         WHERE token_hash = ?1 AND revoked_at IS NULL",
    )?
    .query_row([hash(token)], |r| {
        Ok(ReplicaIdentity {
            replica_id: r.get(0)?,
            branch_id: r.get(1)?,
            branch_code: r.get(2)?,
            terminal_code: r.get(3)?,
        })
    })
    .optional()
}

/// Every terminal of a branch (revoked ones too: their journals stay in scope).
pub fn of_branch(conn: &Connection, branch_id: &str) -> rusqlite::Result<HashSet<String>> {
    conn.prepare_cached("SELECT id FROM terminals WHERE branch_id = ?1")?
        .query_map([branch_id], |r| r.get(0))?
        .collect()
}
