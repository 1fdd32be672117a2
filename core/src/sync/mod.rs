//! The sync protocol between terminals and the server: frames and the
//! decisions both sides make, with no I/O (the server, the native client and
//! the browser client each carry the frames over their own WebSocket).
//!
//! The protocol is specified in `sync-server/PROTOCOL.md`. In short: a
//! terminal opens with [`Frame::Hello`] (token, and for every document its
//! heads and the server heads it is known to hold); the server answers
//! [`Frame::Welcome`] with the terminal's identity and the heads of every
//! document in the terminal's scope; each side then sends the other the
//! [`Frame::Changes`] it lacks, computed from those heads; every
//! `Changes` is answered by an [`Frame::Ack`] once stored durably. After
//! that the server pushes new changes of documents in scope as they arrive,
//! and the terminal pushes its own after every command.

use std::collections::{BTreeMap, HashSet};

use automerge::ChangeHash;
use serde::{Deserialize, Serialize};

use crate::document::DocId;
use crate::error::ApplyError;
use crate::replica::{ApplyReport, Replica, ReplicaIdentity};

mod client;
pub use client::{ClientSession, SessionError, SyncStats, settings, stored_identity};

/// Version of the frame format. A peer speaking another version is refused
/// with [`ErrorCode::Protocol`].
pub const PROTOCOL_VERSION: u8 = 1;
/// First byte of every frame.
pub const MAGIC: u8 = 0x5A;
/// Largest frame accepted, in bytes.
pub const MAX_FRAME_BYTES: usize = 4 << 20;
/// Most changes sent in one `Changes` frame.
pub const MAX_CHANGES_PER_FRAME: usize = 256;
/// Most documents in one summary.
pub const MAX_DOCS: usize = 10_000;

/// One document's state as a peer reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocSummary {
    /// Document id (text form of [`DocId`]).
    pub doc: String,
    /// The sender's heads.
    pub heads: Vec<[u8; 32]>,
    /// In a terminal's `Hello`: the server heads the terminal is known to
    /// hold (empty in the server's summaries).
    pub synced: Vec<[u8; 32]>,
}

/// Why a peer is refused or a frame rejected. Also the WebSocket close code
/// (4000 + the value).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[repr(u16)]
#[non_exhaustive]
pub enum ErrorCode {
    /// The frame does not decode (bad magic, truncated, garbage).
    Malformed = 400,
    /// Unknown, wrong or revoked token.
    Unauthorized = 401,
    /// A document outside the terminal's scope.
    Forbidden = 403,
    /// The first frame was not a `Hello`, or another frame came out of order.
    Protocol = 409,
    /// A frame over [`MAX_FRAME_BYTES`] or with too many items.
    TooLarge = 413,
    /// The terminal sends faster than its rate limit.
    RateLimited = 429,
    /// The server failed; retry later.
    Internal = 500,
}

impl ErrorCode {
    /// The WebSocket close code used with this error.
    pub fn close_code(self) -> u16 {
        4000 + self as u16
    }

    /// The error a WebSocket close code of 4000 and above stands for
    /// (unknown ones read as [`ErrorCode::Malformed`]).
    pub fn from_close_code(close: u16) -> Self {
        match close {
            4401 => ErrorCode::Unauthorized,
            4403 => ErrorCode::Forbidden,
            4409 => ErrorCode::Protocol,
            4413 => ErrorCode::TooLarge,
            4429 => ErrorCode::RateLimited,
            4500 => ErrorCode::Internal,
            _ => ErrorCode::Malformed,
        }
    }

    /// The code's name in snake case (`unauthorized`...), for JavaScript.
    pub fn name(self) -> &'static str {
        match self {
            ErrorCode::Malformed => "malformed",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::Protocol => "protocol",
            ErrorCode::TooLarge => "too_large",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::Internal => "internal",
        }
    }
}

/// A protocol frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Frame {
    /// Terminal to server, first frame: who I am and what I have.
    Hello {
        /// The terminal's secret token.
        token: String,
        /// Every document the terminal holds.
        docs: Vec<DocSummary>,
    },
    /// Server to terminal, answer to `Hello`.
    Welcome {
        /// The terminal's identity (as registered).
        identity: ReplicaIdentity,
        /// Every document of the terminal's scope the server holds.
        docs: Vec<DocSummary>,
    },
    /// Changes of one document. `seq` is echoed by the `Ack`.
    Changes {
        /// Sender's frame number.
        seq: u64,
        /// Document.
        doc: String,
        /// Encoded automerge changes, in dependency order.
        changes: Vec<Vec<u8>>,
        /// The sender's heads of the document after these changes.
        heads: Vec<[u8; 32]>,
    },
    /// Receipt of a `Changes` frame, sent once its changes are durable.
    Ack {
        /// The `seq` of the `Changes` frame.
        seq: u64,
        /// Document.
        doc: String,
        /// Changes new to the receiver, now stored.
        stored: u32,
        /// Changes the receiver already had.
        duplicates: u32,
        /// Changes refused (index in the frame, reason).
        rejected: Vec<(u32, String)>,
        /// The receiver's heads of the document after storing.
        heads: Vec<[u8; 32]>,
    },
    /// Server to terminal: the initial exchange is complete from the
    /// server's side (everything the terminal lacked has been sent).
    Synced,
    /// A refusal. For connection-level errors the sender closes right after.
    Error {
        /// What went wrong.
        code: ErrorCode,
        /// Readable detail.
        message: String,
    },
}

impl Frame {
    /// The frame's name (`Hello`, `Changes`...), for logs and messages: its
    /// payload can be megabytes.
    pub fn name(&self) -> &'static str {
        match self {
            Frame::Hello { .. } => "Hello",
            Frame::Welcome { .. } => "Welcome",
            Frame::Changes { .. } => "Changes",
            Frame::Ack { .. } => "Ack",
            Frame::Synced => "Synced",
            Frame::Error { .. } => "Error",
        }
    }
}

/// A frame that cannot be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// Over [`MAX_FRAME_BYTES`].
    #[error("frame of {0} bytes is over the limit")]
    TooLarge(usize),
    /// Not this protocol.
    #[error("not a frame of this protocol")]
    BadMagic,
    /// Another version of the protocol.
    #[error("protocol version {0} is not supported (this side speaks {PROTOCOL_VERSION})")]
    Version(u8),
    /// Garbage, truncated or trailing bytes.
    #[error("malformed frame: {0}")]
    Malformed(String),
}

impl FrameError {
    /// The error code to answer with.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::TooLarge(_) => ErrorCode::TooLarge,
            Self::Version(_) => ErrorCode::Protocol,
            _ => ErrorCode::Malformed,
        }
    }
}

/// Encodes a frame: magic, version, then the postcard body.
pub fn encode(frame: &Frame) -> Vec<u8> {
    let mut out = vec![MAGIC, PROTOCOL_VERSION];
    out.extend(postcard::to_stdvec(frame).expect("frames always serialise"));
    out
}

/// Decodes one frame, refusing oversized, foreign, truncated or padded input.
pub fn decode(bytes: &[u8]) -> Result<Frame, FrameError> {
    if bytes.len() > MAX_FRAME_BYTES {
        return Err(FrameError::TooLarge(bytes.len()));
    }
    match bytes {
        [MAGIC, PROTOCOL_VERSION, body @ ..] => {
            let (frame, rest) = postcard::take_from_bytes::<Frame>(body)
                .map_err(|e| FrameError::Malformed(e.to_string()))?;
            if !rest.is_empty() {
                return Err(FrameError::Malformed(format!(
                    "{} trailing bytes",
                    rest.len()
                )));
            }
            Ok(frame)
        }
        [MAGIC, v, ..] => Err(FrameError::Version(*v)),
        _ => Err(FrameError::BadMagic),
    }
}

/// Hashes to the wire form.
pub fn to_wire(heads: &[ChangeHash]) -> Vec<[u8; 32]> {
    heads.iter().map(|h| h.0).collect()
}

/// Hashes from the wire form.
pub fn from_wire(heads: &[[u8; 32]]) -> Vec<ChangeHash> {
    heads.iter().map(|h| ChangeHash(*h)).collect()
}

/// Which documents a terminal may read and write on the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    /// The terminal.
    pub terminal: String,
    /// Its branch.
    pub branch: String,
    /// Every terminal of that branch (their journals are read, for stock).
    pub branch_terminals: HashSet<String>,
}

impl Scope {
    /// Whether the terminal may receive this document: the shared ones, its
    /// branch's journals and its branch's workshop documents.
    pub fn may_read(&self, doc: &DocId) -> bool {
        match doc {
            DocId::Catalog | DocId::Customers(_) => true,
            DocId::Journal { terminal, .. } => self.branch_terminals.contains(terminal),
            DocId::Workshop { branch, .. } | DocId::Inbound { branch, .. } => {
                *branch == self.branch
            }
        }
    }

    /// Whether the terminal may send changes of this document: the shared
    /// ones, its own journal, its branch's workshop documents, and any
    /// branch's inbound document (it sends goods there).
    pub fn may_write(&self, doc: &DocId) -> bool {
        match doc {
            DocId::Journal { terminal, .. } => *terminal == self.terminal,
            DocId::Inbound { .. } => true,
            other => self.may_read(other),
        }
    }
}

impl Replica {
    /// The heads of every stored document accepted by `filter`, from the
    /// stored heads (no document is loaded).
    pub fn summaries(
        &self,
        filter: impl Fn(&DocId) -> bool,
    ) -> Result<Vec<(DocId, Vec<ChangeHash>)>, ApplyError> {
        let mut stmt = self
            .connection()
            .prepare_cached("SELECT doc_id, heads FROM documents ORDER BY doc_id")?;
        let rows = stmt.query_map([], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, heads) = row?;
            let Ok(doc) = DocId::parse(&id) else { continue };
            if filter(&doc) {
                out.push((doc, decode_heads(&heads)));
            }
        }
        Ok(out)
    }

    /// The server heads this replica is known to hold, per document, for
    /// the peer `peer`.
    pub fn synced_heads(
        &self,
        peer: &str,
    ) -> Result<BTreeMap<String, Vec<ChangeHash>>, ApplyError> {
        let mut stmt = self
            .connection()
            .prepare_cached("SELECT doc_id, synced FROM sync_state WHERE peer = ?1")?;
        let rows = stmt.query_map([peer], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?))
        })?;
        let mut out = BTreeMap::new();
        for row in rows {
            let (doc, heads) = row?;
            out.insert(doc, decode_heads(&heads));
        }
        Ok(out)
    }

    /// Records that this replica holds `heads` of `peer`'s document (only
    /// the heads it really has are recorded).
    pub fn set_synced(
        &mut self,
        peer: &str,
        doc: &DocId,
        heads: &[ChangeHash],
    ) -> Result<(), ApplyError> {
        let known = self.known_heads(doc, heads)?;
        if known.len() != heads.len() {
            return Ok(());
        }
        self.connection()
            .prepare_cached(
                "INSERT INTO sync_state(peer, doc_id, synced) VALUES (?1, ?2, ?3)
                 ON CONFLICT(peer, doc_id) DO UPDATE SET synced = excluded.synced",
            )?
            .execute(rusqlite::params![
                peer,
                doc.to_string(),
                encode_heads(&known)
            ])?;
        Ok(())
    }

    /// The changes to send a peer whose state of `doc` is described by its
    /// heads and the heads it is known to hold of ours; empty when it has
    /// everything we have.
    pub fn changes_for_peer(
        &mut self,
        doc: &DocId,
        their_heads: &[ChangeHash],
        their_synced: &[ChangeHash],
    ) -> Result<Vec<Vec<u8>>, ApplyError> {
        let mine = self.heads(doc)?;
        if mine.is_empty() || mine.iter().all(|h| their_heads.contains(h)) {
            return Ok(Vec::new());
        }
        let mut base: Vec<ChangeHash> = their_heads.to_vec();
        base.extend_from_slice(their_synced);
        base.sort();
        base.dedup();
        self.changes_since(doc, &base)
    }
}

fn decode_heads(bytes: &[u8]) -> Vec<ChangeHash> {
    bytes
        .chunks_exact(32)
        .map(|c| ChangeHash(c.try_into().expect("chunks_exact(32)")))
        .collect()
}

fn encode_heads(heads: &[ChangeHash]) -> Vec<u8> {
    let mut sorted = heads.to_vec();
    sorted.sort();
    sorted.iter().flat_map(|h| h.0).collect()
}

/// Splits changes into `Changes` frames under the size limits.
pub fn changes_frames(
    next_seq: &mut u64,
    doc: &DocId,
    changes: Vec<Vec<u8>>,
    heads: &[ChangeHash],
) -> Vec<Frame> {
    let mut frames = Vec::new();
    let mut batch = Vec::new();
    let mut size = 0usize;
    let budget = MAX_FRAME_BYTES - 64 * 1024;
    for c in changes {
        if !batch.is_empty() && (batch.len() == MAX_CHANGES_PER_FRAME || size + c.len() > budget) {
            *next_seq += 1;
            frames.push(Frame::Changes {
                seq: *next_seq,
                doc: doc.to_string(),
                changes: std::mem::take(&mut batch),
                heads: to_wire(heads),
            });
            size = 0;
        }
        size += c.len();
        batch.push(c);
    }
    if !batch.is_empty() {
        *next_seq += 1;
        frames.push(Frame::Changes {
            seq: *next_seq,
            doc: doc.to_string(),
            changes: batch,
            heads: to_wire(heads),
        });
    }
    frames
}

/// The `Ack` for a `Changes` frame once `report` is durable.
pub fn ack(seq: u64, doc: &DocId, report: &ApplyReport, heads: &[ChangeHash]) -> Frame {
    Frame::Ack {
        seq,
        doc: doc.to_string(),
        stored: report.stored as u32,
        duplicates: report.duplicates as u32,
        rejected: report
            .rejected
            .iter()
            .map(|(i, r)| (*i as u32, r.clone()))
            .collect(),
        heads: to_wire(heads),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_garbage_is_refused() {
        let f = Frame::Changes {
            seq: 7,
            doc: "catalog".into(),
            changes: vec![vec![1, 2, 3]],
            heads: vec![[9; 32]],
        };
        let bytes = encode(&f);
        assert_eq!(decode(&bytes).unwrap(), f);
        assert_eq!(
            decode(&bytes[..bytes.len() - 1]).unwrap_err().code(),
            ErrorCode::Malformed
        );
        let mut padded = bytes.clone();
        padded.push(0);
        assert!(matches!(decode(&padded), Err(FrameError::Malformed(_))));
        assert_eq!(decode(&[1, 2, 3]).unwrap_err(), FrameError::BadMagic);
        assert_eq!(decode(&[MAGIC, 9, 0]).unwrap_err(), FrameError::Version(9));
        assert_eq!(
            decode(&vec![MAGIC; MAX_FRAME_BYTES + 1])
                .unwrap_err()
                .code(),
            ErrorCode::TooLarge
        );
        assert_eq!(ErrorCode::Unauthorized.close_code(), 4401);
    }

    #[test]
    fn scope_limits_reads_and_writes_to_the_branch() {
        let s = Scope {
            terminal: "T1".into(),
            branch: "B1".into(),
            branch_terminals: ["T1".to_string(), "T2".to_string()].into(),
        };
        let j = |t: &str| DocId::Journal {
            terminal: t.into(),
            month: 202611,
        };
        let w = |b: &str| DocId::Workshop {
            branch: b.into(),
            month: 202611,
        };
        assert!(s.may_read(&DocId::Catalog) && s.may_write(&DocId::Customers(3)));
        assert!(s.may_read(&j("T2")) && !s.may_write(&j("T2")));
        assert!(s.may_write(&j("T1")));
        assert!(!s.may_read(&j("T9")) && !s.may_read(&w("B2")));
        assert!(s.may_write(&w("B1")));
        let inbound = |b: &str| DocId::Inbound {
            branch: b.into(),
            month: 202611,
        };
        assert!(s.may_read(&inbound("B1")) && !s.may_read(&inbound("B2")));
        assert!(s.may_write(&inbound("B2")));
    }

    #[test]
    fn large_change_sets_split_into_frames_under_the_limits() {
        let changes: Vec<Vec<u8>> = (0..600).map(|i| vec![i as u8; 100]).collect();
        let mut seq = 0;
        let frames = changes_frames(&mut seq, &DocId::Catalog, changes, &[]);
        assert_eq!(frames.len(), 3);
        assert_eq!(seq, 3);
        let total: usize = frames
            .iter()
            .map(|f| match f {
                Frame::Changes { changes, .. } => changes.len(),
                _ => 0,
            })
            .sum();
        assert_eq!(total, 600);
        assert!(frames.iter().all(|f| encode(f).len() <= MAX_FRAME_BYTES));
    }
}
