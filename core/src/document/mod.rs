//! Automerge documents: how records are partitioned into documents, how a
//! record is written into and read back from a document, and how documents
//! are persisted in SQLite.
//!
//! # Partitioning
//!
//! No document may grow without bound, and sync should only touch what
//! changed, so records live in four kinds of documents:
//!
//! | document | holds | written by |
//! |---|---|---|
//! | `catalog` | branches, payment channels, products, services, technicians | back office, any replica |
//! | `customers/{shard}` (16 shards by id) | customers and their vehicles | any replica |
//! | `journal/{terminal}/{YYYYMM}` | invoices, voids, payments, returns, stock records, shifts | **only** that terminal |
//! | `workshop/{branch}/{YYYYMM}` | service orders created that month | the branch's terminals, concurrently |
//! | `inbound/{branch}/{YYYYMM}` | the incoming side of transfers to the branch | the sending branch's terminals |
//!
//! Journals are the bulk of the data; one per terminal per month bounds them
//! (a busy terminal writes a few thousand invoices a month, ~30 bytes each
//! once compacted), and a closed month never changes again, so it can be
//! compacted to one snapshot and dropped from a terminal. A journal has a
//! single writer, so a change from any other actor in it is rejected: that is
//! what makes bill numbers (`{branch}-{terminal}-{seq}`) unique without
//! coordination. Workshop orders are edited by several terminals at once and
//! get field-level merges.
//!
//! A terminal receives only its own branch's journals, so a transfer between
//! branches writes two records: the outgoing side in the sender's journal
//! and the incoming side in the receiving branch's `inbound` document, which
//! that branch's terminals receive.
//!
//! # Genesis
//!
//! Every document starts with the same *genesis* change on every replica:
//! the top-level collection maps created by a fixed actor at time 0. Were
//! each replica to create `products` itself, two concurrent creations of the
//! same key would conflict and one replica's whole collection would vanish
//! behind the other's. An identical genesis change has an identical hash, so
//! replicas share the same collection objects.

mod codec;
mod pipeline;
mod store;

use std::fmt;

use automerge::{ActorId, AutoCommit, ObjType, ROOT, transaction::Transactable};

pub(crate) use codec::{all_values as codec_all_values, insert_json, read_json, write_json};
pub(crate) use pipeline::{DocWrite, Pipeline};
pub(crate) use store::{
    DEFAULT_CACHE_DOCS, DocStore, MadeRows, New, SNAPSHOT_EVERY, compact, is_stored, list, load,
    local_rows, pending_changes, persist, persist_rows, uncompacted,
};

/// The kind of a document (what it holds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DocKind {
    /// Shared catalogue.
    Catalog,
    /// One shard of customers and vehicles.
    Customers,
    /// One terminal's month of sales.
    Journal,
    /// One branch's month of service orders.
    Workshop,
    /// One branch's month of incoming transfers.
    Inbound,
}

impl DocKind {
    /// The name stored in `documents.kind`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Catalog => "catalog",
            Self::Customers => "customers",
            Self::Journal => "journal",
            Self::Workshop => "workshop",
            Self::Inbound => "inbound",
        }
    }

    /// Top-level collections of this kind of document.
    pub fn collections(self) -> &'static [&'static str] {
        match self {
            Self::Catalog => &[
                "branches",
                "channels",
                "products",
                "services",
                "technicians",
            ],
            Self::Customers => &["customers", "vehicles"],
            Self::Journal => &[
                "invoices", "voids", "payments", "returns", "stock", "shifts",
            ],
            Self::Workshop => &["orders"],
            Self::Inbound => &["transfers"],
        }
    }
}

/// Collections whose records are written once and never edited: invoices,
/// voids, payments, returns and stock records, all in single-writer
/// journals. Each is stored whole as one JSON text value, one automerge
/// operation instead of one per field (a five-line sale is ~70 fields):
/// field-level merging buys nothing for a record nobody edits, and the
/// journal is where the volume is. A correction is a new record (a void, a
/// return), never an edit.
pub const IMMUTABLE_COLLECTIONS: &[&str] = &[
    "invoices",
    "voids",
    "payments",
    "returns",
    "stock",
    "transfers",
];

/// Number of customer shards.
pub const CUSTOMER_SHARDS: u8 = 16;

/// Identifies one document.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DocId {
    /// `catalog`
    Catalog,
    /// `customers/{shard:02}`
    Customers(u8),
    /// `journal/{terminal}/{YYYYMM}`
    Journal {
        /// Terminal (replica) id: the only actor allowed to write it.
        terminal: String,
        /// Month, `YYYYMM`.
        month: u32,
    },
    /// `workshop/{branch}/{YYYYMM}`
    Workshop {
        /// Branch id.
        branch: String,
        /// Month the orders were created, `YYYYMM`.
        month: u32,
    },
    /// `inbound/{branch}/{YYYYMM}`
    Inbound {
        /// Receiving branch id.
        branch: String,
        /// Month the transfers were sent, `YYYYMM`.
        month: u32,
    },
}

/// A document id that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid document id {0:?}")]
pub struct InvalidDocId(pub String);

/// Whether `s` is a valid replica, branch or record id: 1 to 64 characters
/// of `[A-Za-z0-9_-]`. Ids end up in document ids and bill numbers, so the
/// alphabet is kept small and safe.
pub fn is_valid_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn valid_month(m: u32) -> bool {
    (197_001..=999_912).contains(&m) && (1..=12).contains(&(m % 100))
}

impl DocId {
    /// The customer shard owning a customer id.
    pub fn customer_shard(customer_id: &str) -> DocId {
        // FNV-1a: stable across platforms and releases, unlike std's hasher.
        let mut h: u32 = 0x811c9dc5;
        for b in customer_id.bytes() {
            h ^= b as u32;
            h = h.wrapping_mul(0x01000193);
        }
        DocId::Customers((h % CUSTOMER_SHARDS as u32) as u8)
    }

    /// The kind of this document.
    pub fn kind(&self) -> DocKind {
        match self {
            Self::Catalog => DocKind::Catalog,
            Self::Customers(_) => DocKind::Customers,
            Self::Journal { .. } => DocKind::Journal,
            Self::Workshop { .. } => DocKind::Workshop,
            Self::Inbound { .. } => DocKind::Inbound,
        }
    }

    /// The branch a document belongs to, for documents scoped to one branch.
    /// Journals are scoped through their terminal, which the caller resolves.
    pub fn branch(&self) -> Option<&str> {
        match self {
            Self::Workshop { branch, .. } | Self::Inbound { branch, .. } => Some(branch),
            _ => None,
        }
    }

    /// Parses the text form produced by `Display`.
    pub fn parse(s: &str) -> Result<DocId, InvalidDocId> {
        let err = || InvalidDocId(s.chars().take(200).collect());
        let parts: Vec<&str> = s.split('/').collect();
        match parts.as_slice() {
            ["catalog"] => Ok(DocId::Catalog),
            ["customers", n] if n.len() == 2 => {
                let n: u8 = n.parse().map_err(|_| err())?;
                if n < CUSTOMER_SHARDS {
                    Ok(DocId::Customers(n))
                } else {
                    Err(err())
                }
            }
            [kind @ ("journal" | "workshop" | "inbound"), owner, month] if month.len() == 6 => {
                let month: u32 = month.parse().map_err(|_| err())?;
                if !is_valid_id(owner) || !valid_month(month) {
                    return Err(err());
                }
                let owner = owner.to_string();
                Ok(match *kind {
                    "journal" => DocId::Journal {
                        terminal: owner,
                        month,
                    },
                    "workshop" => DocId::Workshop {
                        branch: owner,
                        month,
                    },
                    _ => DocId::Inbound {
                        branch: owner,
                        month,
                    },
                })
            }
            _ => Err(err()),
        }
    }

    /// Whether `actor` may write this document: a journal only by its own
    /// terminal (any installation of it), the others by anyone.
    pub fn may_write(&self, actor: &ActorId) -> bool {
        match self {
            Self::Journal { terminal, .. } => replica_of_actor(actor).as_deref() == Some(terminal),
            _ => true,
        }
    }
}

impl fmt::Display for DocId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Catalog => write!(f, "catalog"),
            Self::Customers(n) => write!(f, "customers/{n:02}"),
            Self::Journal { terminal, month } => write!(f, "journal/{terminal}/{month}"),
            Self::Workshop { branch, month } => write!(f, "workshop/{branch}/{month}"),
            Self::Inbound { branch, month } => write!(f, "inbound/{branch}/{month}"),
        }
    }
}

/// The automerge actor of one installation of a replica:
/// `{replica_id}.{install}`, as bytes.
///
/// The replica id lets a journal's owner be checked from a change alone. The
/// installation part is random and made with the database: a terminal whose
/// database was lost and is set up again gets a new actor, so it never
/// reuses the sequence numbers of changes it made before (automerge would
/// refuse them, and the replicas would never converge).
pub fn actor_for(replica_id: &str, install: &str) -> ActorId {
    ActorId::from(format!("{replica_id}.{install}").as_bytes())
}

/// The replica id of an actor made by [`actor_for`].
pub fn replica_of_actor(actor: &ActorId) -> Option<String> {
    let bytes = actor.to_bytes();
    let dot = bytes.iter().position(|b| *b == b'.')?;
    let id = std::str::from_utf8(&bytes[..dot]).ok()?;
    is_valid_id(id).then(|| id.to_string())
}

const GENESIS_ACTOR: &[u8] = b"genesis";

/// The document as it is on every replica before anyone wrote to it.
pub(crate) fn genesis(doc_id: &DocId) -> AutoCommit {
    let mut doc = AutoCommit::new().with_actor(ActorId::from(GENESIS_ACTOR));
    for c in doc_id.kind().collections() {
        doc.put_object(ROOT, *c, ObjType::Map)
            .expect("putting a map on the root of a new document cannot fail");
    }
    doc.commit_with(
        automerge::transaction::CommitOptions::default()
            .with_message(format!("genesis {doc_id}"))
            .with_time(0),
    );
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doc_ids_round_trip_and_reject_garbage() {
        for d in [
            DocId::Catalog,
            DocId::Customers(7),
            DocId::Journal {
                terminal: "T1".into(),
                month: 202611,
            },
            DocId::Workshop {
                branch: "B-1".into(),
                month: 202601,
            },
        ] {
            assert_eq!(DocId::parse(&d.to_string()).unwrap(), d);
        }
        for bad in [
            "",
            "catalog/1",
            "customers/16",
            "customers/7",
            "journal/T1/202613",
            "journal/../202611",
            "journal/a b/202611",
            "workshop/B1/20261",
        ] {
            assert!(DocId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn genesis_is_identical_everywhere() {
        let d = DocId::Customers(3);
        let mut a = genesis(&d);
        let mut b = genesis(&d);
        assert_eq!(a.get_heads(), b.get_heads());
        assert_ne!(a.get_heads(), genesis(&DocId::Catalog).get_heads());
    }

    #[test]
    fn customer_shards_are_stable() {
        assert_eq!(DocId::customer_shard("abc"), DocId::customer_shard("abc"));
        let shards: std::collections::HashSet<_> = (0..200)
            .map(|i| DocId::customer_shard(&format!("c{i}")))
            .collect();
        assert_eq!(shards.len(), CUSTOMER_SHARDS as usize);
    }
}
