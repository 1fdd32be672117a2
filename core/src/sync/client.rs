//! A terminal's side of the protocol as a state machine with no I/O: it
//! takes the frames the server sent and returns the frames to send. The
//! native client (tokio-tungstenite) and the browser client (a WebSocket in
//! a Web Worker) both drive this one implementation, so they cannot drift
//! apart.

use std::collections::HashMap;

use automerge::ChangeHash;

use super::{DocSummary, ErrorCode, Frame, Scope};
use crate::document::DocId;
use crate::error::ApplyError;
use crate::replica::{Replica, ReplicaIdentity};

/// Why a session stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// The server refused us (bad token, out of scope, rate limited...).
    #[error("server refused: {code:?}: {message}")]
    Refused {
        /// Error code.
        code: ErrorCode,
        /// Detail.
        message: String,
    },
    /// The server broke the protocol.
    #[error("protocol: {0}")]
    Protocol(String),
    /// The local database failed.
    #[error("local store: {0}")]
    Local(#[from] ApplyError),
}

/// What one session exchanged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncStats {
    /// Changes sent to the server.
    pub sent: usize,
    /// Changes received and stored locally.
    pub received: usize,
    /// Changes the server refused, with reasons.
    pub refused: Vec<String>,
    /// `Ack`s received: frames the server has stored durably.
    pub acks: usize,
}

/// One session with the server, from `Hello` to the connection's end.
#[derive(Debug)]
pub struct ClientSession {
    peer: String,
    me: ReplicaIdentity,
    scope: Scope,
    seq: u64,
    /// Frames sent and not yet acknowledged.
    pending: HashMap<u64, DocId>,
    /// Per document, the heads the server has (as last reported) or that we
    /// already sent it.
    server_has: HashMap<DocId, Vec<ChangeHash>>,
    welcomed: bool,
    synced_from_server: bool,
    /// Counts for this session.
    pub stats: SyncStats,
}

impl ClientSession {
    /// A session of `replica` with the server known as `peer` (its URL: the
    /// synced heads are kept per peer).
    pub fn new(replica: &Replica, peer: &str) -> Self {
        let me = replica.identity().clone();
        ClientSession {
            peer: peer.to_string(),
            scope: Scope {
                terminal: me.replica_id.clone(),
                branch: me.branch_id.clone(),
                branch_terminals: Default::default(),
            },
            me,
            seq: 0,
            pending: HashMap::new(),
            server_has: HashMap::new(),
            welcomed: false,
            synced_from_server: false,
            stats: SyncStats::default(),
        }
    }

    /// The opening frame: the token, and for every document its heads and
    /// the server heads it is known to hold, so that only what differs is
    /// exchanged.
    pub fn hello(&self, replica: &mut Replica, token: &str) -> Result<Frame, ApplyError> {
        let synced = replica.synced_heads(&self.peer)?;
        let docs = replica
            .summaries(|_| true)?
            .into_iter()
            .map(|(doc, heads)| DocSummary {
                synced: super::to_wire(
                    synced
                        .get(&doc.to_string())
                        .map(Vec::as_slice)
                        .unwrap_or(&[]),
                ),
                doc: doc.to_string(),
                heads: super::to_wire(&heads),
            })
            .collect();
        Ok(Frame::Hello {
            token: token.to_string(),
            docs,
        })
    }

    /// The frames carrying every local change of the documents this
    /// terminal may write that the server is not known to have. Call after
    /// each local command; nothing before the `Welcome`.
    pub fn push_local(&mut self, replica: &mut Replica) -> Result<Vec<Frame>, ApplyError> {
        if !self.welcomed {
            return Ok(Vec::new());
        }
        let synced = replica.synced_heads(&self.peer)?;
        let scope = self.scope.clone();
        let mut out = Vec::new();
        for (doc, heads) in replica.summaries(|d| scope.may_write(d))? {
            let server = self.server_has.get(&doc).cloned().unwrap_or_default();
            if heads.iter().all(|h| server.contains(h)) {
                continue;
            }
            let base = synced.get(&doc.to_string()).cloned().unwrap_or_default();
            let changes = replica.changes_for_peer(&doc, &server, &base)?;
            if changes.is_empty() {
                continue;
            }
            self.stats.sent += changes.len();
            for f in super::changes_frames(&mut self.seq, &doc, changes, &heads) {
                if let Frame::Changes { seq, .. } = &f {
                    self.pending.insert(*seq, doc.clone());
                }
                out.push(f);
            }
            // Optimistic: not sent again while the Ack is on its way.
            self.server_has.insert(doc, heads);
        }
        Ok(out)
    }

    /// Handles one frame from the server; returns the frames to send back.
    pub fn on_frame(
        &mut self,
        replica: &mut Replica,
        frame: Frame,
    ) -> Result<Vec<Frame>, SessionError> {
        match frame {
            Frame::Welcome { identity, docs } => {
                if self.welcomed {
                    return Err(SessionError::Protocol("a second Welcome".into()));
                }
                if identity != self.me {
                    return Err(SessionError::Protocol(format!(
                        "the token belongs to {}, this database to {}",
                        identity.replica_id, self.me.replica_id
                    )));
                }
                for d in docs {
                    if let Ok(doc) = DocId::parse(&d.doc) {
                        self.server_has.insert(doc, super::from_wire(&d.heads));
                    }
                }
                self.welcomed = true;
                Ok(self.push_local(replica)?)
            }
            _ if !self.welcomed => match frame {
                Frame::Error { code, message } => Err(SessionError::Refused { code, message }),
                other => Err(SessionError::Protocol(format!(
                    "expected Welcome, got {}",
                    other.name()
                ))),
            },
            Frame::Changes {
                seq,
                doc,
                changes,
                heads,
            } => {
                let doc_id =
                    DocId::parse(&doc).map_err(|e| SessionError::Protocol(e.to_string()))?;
                let report = replica.apply_changes(&doc_id, changes)?;
                self.stats.received += report.stored;
                let heads = super::from_wire(&heads);
                replica.set_synced(&self.peer, &doc_id, &heads)?;
                let mine = replica.heads(&doc_id)?;
                let entry = self.server_has.entry(doc_id.clone()).or_default();
                for h in heads {
                    if !entry.contains(&h) {
                        entry.push(h);
                    }
                }
                Ok(vec![super::ack(seq, &doc_id, &report, &mine)])
            }
            Frame::Ack {
                seq,
                doc,
                rejected,
                heads,
                ..
            } => {
                self.pending.remove(&seq);
                self.stats.acks += 1;
                let doc_id =
                    DocId::parse(&doc).map_err(|e| SessionError::Protocol(e.to_string()))?;
                self.stats.refused.extend(
                    rejected
                        .into_iter()
                        .map(|(i, r)| format!("{doc}[{i}]: {r}")),
                );
                let heads = super::from_wire(&heads);
                replica.set_synced(&self.peer, &doc_id, &heads)?;
                self.server_has.insert(doc_id, heads);
                Ok(Vec::new())
            }
            Frame::Synced => {
                self.synced_from_server = true;
                Ok(Vec::new())
            }
            Frame::Error { code, message } => Err(SessionError::Refused { code, message }),
            other => Err(SessionError::Protocol(format!(
                "unexpected {} from the server",
                other.name()
            ))),
        }
    }

    /// Whether the server has sent everything it had and acknowledged
    /// every frame we sent.
    pub fn is_idle(&self) -> bool {
        self.synced_from_server && self.pending.is_empty()
    }

    /// Frames sent and not yet acknowledged.
    pub fn unacknowledged(&self) -> usize {
        self.pending.len()
    }

    /// Whether the server's `Welcome` has arrived.
    pub fn is_welcomed(&self) -> bool {
        self.welcomed
    }
}

impl Replica {
    /// Local changes the server `peer` is not known to hold yet (counted
    /// from the heads it last acknowledged), over the documents this
    /// terminal writes: what a terminal would lose if its disk died now.
    pub fn unsynced_changes(&mut self, peer: &str) -> Result<usize, ApplyError> {
        let me = self.identity().clone();
        let scope = Scope {
            terminal: me.replica_id,
            branch: me.branch_id,
            branch_terminals: Default::default(),
        };
        let synced = self.synced_heads(peer)?;
        let mut n = 0;
        for (doc, heads) in self.summaries(|d| scope.may_write(d))? {
            let base = synced.get(&doc.to_string()).cloned().unwrap_or_default();
            if heads.iter().all(|h| base.contains(h)) {
                continue;
            }
            n += self.changes_for_peer(&doc, &base, &base)?.len();
        }
        Ok(n)
    }
}

/// Keys of the terminal's own settings kept beside its data (`settings`
/// table), so that a terminal reopened offline knows where and as whom it
/// syncs.
pub mod settings {
    /// The server's sync URL.
    pub const SERVER_URL: &str = "sync.server_url";
    /// The terminal's secret token.
    pub const TOKEN: &str = "sync.token";
}

impl Replica {
    /// One of the replica's settings (see [`settings`]).
    pub fn setting(&self, key: &str) -> Result<Option<String>, ApplyError> {
        use rusqlite::OptionalExtension;
        Ok(self
            .connection()
            .query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| {
                r.get(0)
            })
            .optional()?)
    }

    /// Stores one of the replica's settings, durably.
    pub fn set_setting(&self, key: &str, value: &str) -> Result<(), ApplyError> {
        self.connection().execute(
            "INSERT INTO settings(key, value) VALUES (?1, ?2)
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            [key, value],
        )?;
        Ok(())
    }
}

/// The identity stored in a replica's database, if the database is one: a
/// terminal reopening its database learns who it is from there, before
/// [`Replica::with_connection`] (which checks it) is called.
pub fn stored_identity(conn: &rusqlite::Connection) -> Result<Option<ReplicaIdentity>, ApplyError> {
    use rusqlite::OptionalExtension;
    let has_settings: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'settings')",
        [],
        |r| r.get(0),
    )?;
    if !has_settings {
        return Ok(None);
    }
    let json: Option<String> = conn
        .query_row(
            "SELECT value FROM settings WHERE key = 'identity'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    Ok(json.and_then(|j| serde_json::from_str(&j).ok()))
}
