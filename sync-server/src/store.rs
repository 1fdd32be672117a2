//! The server's store: one writer thread owns the replica, readers share a
//! small pool of read-only connections.
//!
//! SQLite allows one writer; funnelling every write through one thread makes
//! that explicit and keeps the async runtime free of blocking calls. WAL lets
//! the back office read concurrently from its own connections while the
//! writer merges terminals' changes.
//!
//! Merges use group commit: a durable commit (`synchronous = FULL`) costs
//! an fsync, milliseconds whatever the transaction holds, so the writer
//! takes every `Changes` frame already queued (up to
//! [`StoreOptions::group_frames`]) and merges them in one transaction. No
//! frame waits for a timer: under light load a group is one frame; under
//! heavy load the frames that queued during one fsync share the next. Each
//! caller gets its result (and so each terminal its `Ack`) only after that
//! commit returned.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use automerge::{Change, ChangeHash};
use rusqlite::{Connection, OpenFlags};
use store_core::{
    ApplyError, ApplyReport, DocId, OpenOptions, Replica, ReplicaIdentity, SystemEnv,
};
use tokio::sync::{mpsc, oneshot};

/// Work for the writer thread.
enum Job {
    /// Any write, run alone.
    Run(Box<dyn FnOnce(&mut Replica) + Send>),
    /// One `Changes` frame to merge; queued ones are merged together.
    Merge(MergeJob),
}

struct MergeJob {
    doc: DocId,
    changes: Vec<Vec<u8>>,
    reply: oneshot::Sender<Result<Merged, String>>,
}

/// What merging one frame gave, once it is durable.
#[derive(Debug, Clone)]
pub struct Merged {
    /// Per change: stored, duplicate, waiting or rejected.
    pub report: ApplyReport,
    /// The server's heads of the document after the commit.
    pub heads: Vec<ChangeHash>,
    /// The frame's changes that the server now holds (to publish to the
    /// other terminals): not the rejected ones, not the waiting ones.
    pub stored: Vec<Vec<u8>>,
    /// Frames merged in the same transaction as this one (itself included).
    pub group: usize,
}

/// How the store runs.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Most `Changes` frames merged in one transaction (1: a transaction
    /// per frame).
    pub group_frames: usize,
    /// Most changes in one group: bounds one transaction's size and the
    /// time the first frame of a group waits for the others.
    pub group_changes: usize,
    /// Documents the writer keeps in memory. Every terminal writes its own
    /// journal, so this should exceed the number of terminals selling at
    /// once, or each merge reloads its document from the database.
    pub cache_docs: usize,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            group_frames: 256,
            group_changes: 8192,
            cache_docs: 4096,
        }
    }
}

/// The store is gone (its thread ended): the server is shutting down.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the store is not running")]
pub struct StoreGone;

/// Handle to the store; cheap to clone.
#[derive(Clone)]
pub struct Store {
    jobs: mpsc::Sender<Job>,
    path: Arc<PathBuf>,
    readers: Arc<Mutex<Vec<Connection>>>,
}

/// The server's own identity as a replica (it sells nothing; it edits the
/// catalogue and registers terminals).
pub fn server_identity() -> ReplicaIdentity {
    ReplicaIdentity {
        replica_id: "server".into(),
        branch_id: "HQ".into(),
        branch_code: "HQ".into(),
        terminal_code: "SRV".into(),
    }
}

impl Store {
    /// Opens (creating and migrating) the database and starts the writer,
    /// with the default options.
    pub fn open(path: &Path) -> Result<Store, store_core::OpenError> {
        Self::open_with(path, &StoreOptions::default())
    }

    /// Opens (creating and migrating) the database and starts the writer.
    pub fn open_with(path: &Path, store: &StoreOptions) -> Result<Store, store_core::OpenError> {
        let options = OpenOptions {
            synchronous_full: true,
            wal: true,
            cache_docs: store.cache_docs,
            ..OpenOptions::default()
        };
        let replica = Replica::open(path, server_identity(), Box::new(SystemEnv), &options)?;
        let (tx, rx) = mpsc::channel::<Job>(1024);
        let limits = (store.group_frames.max(1), store.group_changes.max(1));
        std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || writer(replica, rx, limits))
            .expect("spawn the store thread");
        Ok(Store {
            jobs: tx,
            path: Arc::new(path.to_path_buf()),
            readers: Arc::new(Mutex::new(Vec::new())),
        })
    }

    /// Runs `f` on the writer thread and returns its result.
    pub async fn write<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Replica) -> R + Send + 'static,
    ) -> Result<R, StoreGone> {
        let (tx, rx) = oneshot::channel();
        self.jobs
            .send(Job::Run(Box::new(move |r| {
                let _ = tx.send(f(r));
            })))
            .await
            .map_err(|_| StoreGone)?;
        rx.await.map_err(|_| StoreGone)
    }

    /// Merges one frame's changes of `doc` and returns once they are
    /// durable, possibly in one transaction with other frames (group
    /// commit). `Ok(Err(reason))` is a storage fault: nothing of the group
    /// was stored.
    pub async fn merge(
        &self,
        doc: DocId,
        changes: Vec<Vec<u8>>,
    ) -> Result<Result<Merged, String>, StoreGone> {
        let (reply, rx) = oneshot::channel();
        self.jobs
            .send(Job::Merge(MergeJob {
                doc,
                changes,
                reply,
            }))
            .await
            .map_err(|_| StoreGone)?;
        rx.await.map_err(|_| StoreGone)
    }

    /// Jobs waiting for the writer (a queue depth for the metrics).
    pub fn queued(&self) -> usize {
        self.jobs.max_capacity() - self.jobs.capacity()
    }

    /// Runs `f` on a read-only connection, off the async runtime.
    pub async fn read<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<R> + Send + 'static,
    ) -> rusqlite::Result<R> {
        let readers = self.readers.clone();
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            let conn = match readers.lock().expect("reader pool").pop() {
                Some(c) => c,
                None => {
                    let c = Connection::open_with_flags(
                        path.as_path(),
                        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                    )?;
                    c.set_prepared_statement_cache_capacity(256);
                    c.busy_timeout(std::time::Duration::from_secs(5))?;
                    c
                }
            };
            let out = f(&conn);
            let mut pool = readers.lock().expect("reader pool");
            if pool.len() < 8 {
                pool.push(conn);
            }
            out
        })
        .await
        .unwrap_or_else(|e| Err(rusqlite::Error::ToSqlConversionFailure(Box::new(e))))
    }
}

/// The writer thread: runs jobs in arrival order, merging runs of queued
/// `Merge` jobs together.
fn writer(mut replica: Replica, mut rx: mpsc::Receiver<Job>, (frames, changes): (usize, usize)) {
    let mut next: Option<Job> = None;
    loop {
        let job = match next.take() {
            Some(j) => j,
            None => match rx.blocking_recv() {
                Some(j) => j,
                None => return,
            },
        };
        match job {
            Job::Run(f) => f(&mut replica),
            Job::Merge(first) => {
                let mut size = first.changes.len();
                let mut group = vec![first];
                // Only what is already queued: waiting for more would add
                // latency when the server is idle.
                while group.len() < frames && size < changes {
                    match rx.try_recv() {
                        Ok(Job::Merge(m)) => {
                            size += m.changes.len();
                            group.push(m);
                        }
                        Ok(other) => {
                            // Keeps arrival order: the other job runs right
                            // after this group.
                            next = Some(other);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                merge_group(&mut replica, group);
            }
        }
    }
}

/// Merges frames in one transaction, then answers each caller.
fn merge_group(replica: &mut Replica, group: Vec<MergeJob>) {
    let n = group.len();
    let mut hashes = Vec::with_capacity(n);
    let mut batch = Vec::with_capacity(n);
    let mut replies = Vec::with_capacity(n);
    for m in group {
        hashes.push(
            m.changes
                .iter()
                .map(|b| Change::from_bytes(b.clone()).ok().map(|c| c.hash()))
                .collect::<Vec<_>>(),
        );
        batch.push((m.doc.clone(), m.changes));
        replies.push((m.doc, m.reply));
    }
    // The changes themselves are needed again to publish what was stored.
    let bytes: Vec<Vec<Vec<u8>>> = batch.iter().map(|(_, c)| c.clone()).collect();
    let reports = match replica.apply_changes_many(batch) {
        Ok(r) => r,
        Err(e) => {
            let reason = e.to_string();
            tracing::error!(%reason, frames = n, "group merge failed; nothing stored");
            for (_, reply) in replies {
                let _ = reply.send(Err(reason.clone()));
            }
            return;
        }
    };
    for (((report, (doc, reply)), hashes), bytes) in
        reports.into_iter().zip(replies).zip(hashes).zip(bytes)
    {
        let result = published(replica, &doc, hashes, bytes).map(|(heads, stored)| Merged {
            report,
            heads,
            stored,
            group: n,
        });
        let _ = reply.send(result.map_err(|e| e.to_string()));
    }
}

/// The heads of `doc` and those of a frame's changes the server now holds.
fn published(
    replica: &mut Replica,
    doc: &DocId,
    hashes: Vec<Option<ChangeHash>>,
    bytes: Vec<Vec<u8>>,
) -> Result<(Vec<ChangeHash>, Vec<Vec<u8>>), ApplyError> {
    let heads = replica.heads(doc)?;
    let known = replica.known_heads(doc, &hashes.iter().flatten().copied().collect::<Vec<_>>())?;
    let stored = bytes
        .into_iter()
        .zip(hashes)
        .filter(|(_, h)| h.is_some_and(|h| known.contains(&h)))
        .map(|(b, _)| b)
        .collect();
    Ok((heads, stored))
}
