//! Persistence of documents in SQLite, with a bounded in-memory cache.
//!
//! SQLite is the source of truth. A document in memory is only a cache of
//! `snapshot + changes not yet in the snapshot`; when a write transaction
//! fails after automerge already committed a change in memory, the caller
//! evicts the document and the next access reloads it without that change.

use std::num::NonZeroUsize;

use automerge::{ActorId, AutoCommit, Change, ChangeHash};
use lru::LruCache;
use rusqlite::{Connection, OptionalExtension, params};

use super::{DocId, genesis};
use crate::error::CommandError;

/// Changes stored since the last snapshot before a new snapshot is taken:
/// bounds load time (applying changes is far slower than loading a snapshot)
/// while keeping the cost of `save()` amortised.
pub(crate) const SNAPSHOT_EVERY: i64 = 512;

/// Documents kept in memory by default.
pub(crate) const DEFAULT_CACHE_DOCS: usize = 64;

/// Bounded LRU of loaded documents, with hit/miss counters.
pub(crate) struct DocStore {
    cache: LruCache<DocId, AutoCommit>,
    actor: ActorId,
    pub(crate) hits: u64,
    pub(crate) misses: u64,
}

pub(crate) fn encode_heads(heads: &[ChangeHash]) -> Vec<u8> {
    let mut sorted = heads.to_vec();
    sorted.sort();
    sorted.iter().flat_map(|h| h.0).collect()
}

impl DocStore {
    pub(crate) fn new(actor: ActorId, capacity: usize) -> Self {
        DocStore {
            cache: LruCache::new(NonZeroUsize::new(capacity.max(2)).expect("max(2) > 0")),
            actor,
            hits: 0,
            misses: 0,
        }
    }

    /// Takes the document out of the cache (loading it, or starting it from
    /// genesis when this replica has never seen it). Give it back with
    /// [`DocStore::put_back`], or drop it to discard in-memory changes.
    pub(crate) fn take(&mut self, conn: &Connection, id: &DocId) -> rusqlite::Result<AutoCommit> {
        if let Some(doc) = self.cache.pop(id) {
            self.hits += 1;
            return Ok(doc);
        }
        self.misses += 1;
        let mut doc = load(conn, id)?.unwrap_or_else(|| genesis(id));
        doc.set_actor(self.actor.clone());
        Ok(doc)
    }

    pub(crate) fn put_back(&mut self, id: DocId, doc: AutoCommit) {
        self.cache.put(id, doc);
    }

    pub(crate) fn evict(&mut self, id: &DocId) {
        self.cache.pop(id);
    }

    pub(crate) fn clear(&mut self) {
        self.cache.clear();
    }
}

/// Loads a document from its snapshot and the changes stored after it.
/// `None` when the replica has no such document.
pub(crate) fn load(conn: &Connection, id: &DocId) -> rusqlite::Result<Option<AutoCommit>> {
    let key = id.to_string();
    let Some(snapshot) = conn
        .prepare_cached(
            "SELECT s.bytes FROM documents d LEFT JOIN doc_snapshots s ON s.doc_id = d.doc_id
             WHERE d.doc_id = ?1",
        )?
        .query_row([&key], |r| r.get::<_, Option<Vec<u8>>>(0))
        .optional()?
    else {
        return Ok(None);
    };
    let mut doc = match snapshot {
        Some(bytes) => AutoCommit::load(&bytes).map_err(|e| corrupt(id, e))?,
        None => AutoCommit::new(),
    };
    let mut stmt = conn.prepare_cached(
        "SELECT bytes FROM doc_changes WHERE doc_id = ?1 AND in_snapshot = 0 ORDER BY seq",
    )?;
    let changes = stmt
        .query_map([&key], |r| r.get::<_, Vec<u8>>(0))?
        .map(|b| b.and_then(|b| Change::from_bytes(b).map_err(|e| corrupt(id, e))))
        .collect::<rusqlite::Result<Vec<_>>>()?;
    doc.apply_changes(changes).map_err(|e| corrupt(id, e))?;
    Ok(Some(doc))
}

fn corrupt(id: &DocId, e: impl std::fmt::Display) -> rusqlite::Error {
    rusqlite::Error::ToSqlConversionFailure(
        format!("stored document {id} is unreadable: {e}").into(),
    )
}

/// Which changes [`persist`] stores, besides a new document's first ones.
#[derive(Debug, Clone, Copy)]
pub(crate) enum New<'a> {
    /// The one change a local command just committed.
    Local,
    /// The changes a merge gave the document, with the bytes they came in.
    Received(&'a [Change]),
}

/// One row of `doc_changes`.
pub(crate) struct ChangeRow {
    hash: ChangeHash,
    actor: Vec<u8>,
    message: Option<String>,
    bytes: Vec<u8>,
}

impl ChangeRow {
    fn of(mut c: Change) -> Self {
        Self {
            hash: c.hash(),
            actor: c.actor_id().to_bytes().to_vec(),
            message: c.message().map(str::to_owned),
            bytes: c.bytes().into_owned(),
        }
    }
}

/// Stores every change of `doc` that is not an ancestor of `before` (for a
/// [`New::Local`]: the one change just committed) and
/// records the new heads; snapshots the document every [`SNAPSHOT_EVERY`]
/// changes. Runs inside the caller's transaction. Returns how many changes
/// were new to this replica.
pub(crate) fn persist(
    tx: &Connection,
    id: &DocId,
    doc: &mut AutoCommit,
    before: &[ChangeHash],
    new: New<'_>,
    now: i64,
) -> rusqlite::Result<usize> {
    let key = id.to_string();
    let created = register(tx, &key, id, now)?;
    // A document stored for the first time must include its genesis change,
    // which `before` (taken from the in-memory genesis) already covers.
    let rows: Vec<ChangeRow> = match new {
        _ if created => local_rows(doc, false),
        // A local command made exactly one change in this document: take it
        // directly rather than asking automerge to walk the history.
        New::Local => local_rows(doc, true),
        // Received changes are stored as they arrived: asking automerge for
        // them again rebuilt and compressed every one of them anew (a tenth
        // of a merge). Automerge says which are new (a change waiting for a
        // dependency is not, and one that waited may be released now); only
        // one that arrived in an earlier call is rebuilt.
        New::Received(received) => {
            let arrived: std::collections::HashMap<ChangeHash, &Change> =
                received.iter().map(|c| (c.hash(), c)).collect();
            let hashes: Vec<ChangeHash> = doc
                .get_changes_meta(before)
                .into_iter()
                .map(|m| m.hash)
                .collect();
            hashes
                .into_iter()
                .filter_map(|h| match arrived.get(&h) {
                    Some(c) => Some(ChangeRow {
                        hash: h,
                        actor: c.actor_id().to_bytes().to_vec(),
                        message: c.message().map(str::to_owned),
                        bytes: c.raw_bytes().to_vec(),
                    }),
                    None => doc.get_change_by_hash(&h).map(ChangeRow::of),
                })
                .collect()
        }
    };
    let heads = doc.get_heads();
    store_rows(tx, &key, &heads, rows, now, || Ok(doc.save()))
}

/// The rows [`persist`] stores for a local commit of `doc`: the change
/// just committed, or every change when the replica has not stored the
/// document yet (`stored` false: its genesis is not stored either). Needs
/// no database, so a bulk load computes them off the writing thread (see
/// `Replica::begin_bulk`).
pub(crate) fn local_rows(doc: &mut AutoCommit, stored: bool) -> Vec<ChangeRow> {
    if stored {
        doc.get_last_local_change()
            .into_iter()
            .map(ChangeRow::of)
            .collect()
    } else {
        doc.get_changes(&[])
            .into_iter()
            .map(ChangeRow::of)
            .collect()
    }
}

/// What the bulk load's document thread made of a document (see
/// `document::pipeline`), to be stored as [`persist`] stores a local
/// commit: the change rows from [`local_rows`] (computed knowing whether
/// the document was stored, with nothing stored for it since), the heads
/// after them, and a snapshot when the rows bring the document's stored
/// changes to [`SNAPSHOT_EVERY`] (the thread counts them as this does).
pub(crate) struct MadeRows {
    pub(crate) rows: Vec<ChangeRow>,
    pub(crate) heads: Vec<ChangeHash>,
    pub(crate) snapshot: Option<Vec<u8>>,
}

/// Stores what the bulk load's document thread made of document `id`.
/// Fails if the thread's snapshot does not fall where this replica's count
/// of stored changes puts it.
pub(crate) fn persist_rows(
    tx: &Connection,
    id: &DocId,
    made: MadeRows,
    now: i64,
) -> Result<usize, CommandError> {
    let key = id.to_string();
    register(tx, &key, id, now)?;
    let MadeRows {
        rows,
        heads,
        snapshot,
    } = made;
    // The thread saved the document where its count of stored changes
    // reached `SNAPSHOT_EVERY`; this replica's count must agree.
    let mut misplaced = false;
    let mut thread_snapshot = snapshot;
    let stored = store_rows(tx, &key, &heads, rows, now, || {
        Ok(thread_snapshot.take().unwrap_or_else(|| {
            misplaced = true;
            Vec::new()
        }))
    })?;
    if misplaced || thread_snapshot.is_some() {
        return Err(CommandError::Storage(format!(
            "document {key}: the bulk load's thread saved it elsewhere than its stored changes say"
        )));
    }
    Ok(stored)
}

/// The number of changes stored for document `id` since its snapshot, or
/// `None` if the replica does not store it.
pub(crate) fn pending_changes(conn: &Connection, id: &DocId) -> rusqlite::Result<Option<i64>> {
    conn.prepare_cached("SELECT pending_changes FROM documents WHERE doc_id = ?1")?
        .query_row([id.to_string()], |r| r.get(0))
        .optional()
}

/// Adds the `documents` row of a document the replica did not store yet;
/// true when it was new.
fn register(tx: &Connection, key: &str, id: &DocId, now: i64) -> rusqlite::Result<bool> {
    Ok(tx
        .prepare_cached(
            "INSERT OR IGNORE INTO documents(doc_id, kind, updated_at) VALUES (?1, ?2, ?3)",
        )?
        .execute(params![key, id.kind().as_str(), now])?
        == 1)
}

/// Whether the replica stores document `id`.
pub(crate) fn is_stored(conn: &Connection, id: &DocId) -> rusqlite::Result<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM documents WHERE doc_id = ?1")?
        .query_row([id.to_string()], |_| Ok(()))
        .optional()?
        .is_some())
}

/// Inserts the change rows of a document whose `documents` row exists,
/// records its new heads, and snapshots it every [`SNAPSHOT_EVERY`]
/// changes.
fn store_rows(
    tx: &Connection,
    key: &str,
    heads: &[ChangeHash],
    rows: Vec<ChangeRow>,
    now: i64,
    save: impl FnOnce() -> rusqlite::Result<Vec<u8>>,
) -> rusqlite::Result<usize> {
    let mut stored = 0usize;
    {
        let mut ins = tx.prepare_cached(
            "INSERT OR IGNORE INTO doc_changes(doc_id, hash, actor, message, bytes, stored_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?;
        for r in rows {
            stored += ins.execute(params![
                key,
                &r.hash.0[..],
                r.actor,
                r.message,
                r.bytes,
                now
            ])?;
        }
    }
    let heads = encode_heads(heads);
    let pending: i64 = tx
        .prepare_cached(
            "UPDATE documents SET heads = ?2, updated_at = ?3, pending_changes = pending_changes + ?4
             WHERE doc_id = ?1 RETURNING pending_changes",
        )?
        .query_row(params![key, heads, now, stored as i64], |r| r.get(0))?;
    if pending >= SNAPSHOT_EVERY {
        store_snapshot(tx, key, save()?)?;
    }
    Ok(stored)
}

/// Compacts a document: one `save()` replaces the changes stored so far for
/// loading purposes (the change rows stay, for sync and recovery).
/// `bytes` is the document saved whole.
fn store_snapshot(tx: &Connection, key: &str, bytes: Vec<u8>) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO doc_snapshots(doc_id, bytes) VALUES (?1, ?2)
         ON CONFLICT (doc_id) DO UPDATE SET bytes = excluded.bytes",
    )?
    .execute(params![key, bytes])?;
    tx.prepare_cached("UPDATE documents SET pending_changes = 0 WHERE doc_id = ?1")?
        .execute([key])?;
    tx.prepare_cached(
        "UPDATE doc_changes SET in_snapshot = 1 WHERE doc_id = ?1 AND in_snapshot = 0",
    )?
    .execute([key])?;
    Ok(())
}

/// The documents with changes stored after their snapshot (or without
/// one), which [`compact`] would snapshot.
pub(crate) fn uncompacted(conn: &Connection) -> rusqlite::Result<Vec<DocId>> {
    doc_ids(conn, "WHERE pending_changes > 0")
}

/// Stores `bytes`, document `id` saved whole with every change stored for
/// it, as its snapshot, whatever the number of changes after the last one.
pub(crate) fn compact(tx: &Connection, id: &DocId, bytes: Vec<u8>) -> rusqlite::Result<()> {
    store_snapshot(tx, &id.to_string(), bytes)
}

/// Every document id this replica stores.
pub(crate) fn list(conn: &Connection) -> rusqlite::Result<Vec<DocId>> {
    doc_ids(conn, "")
}

/// The ids of the stored documents that `filter` (a `WHERE` clause, or
/// nothing) keeps, in order.
fn doc_ids(conn: &Connection, filter: &str) -> rusqlite::Result<Vec<DocId>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT doc_id FROM documents {filter} ORDER BY doc_id"
    ))?;
    let ids = stmt
        .query_map([], |r| r.get::<_, String>(0))?
        .filter_map(|r| r.ok().and_then(|s| DocId::parse(&s).ok()))
        .collect();
    Ok(ids)
}
