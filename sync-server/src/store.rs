//! The server's store: one writer thread owns the replica, readers share a
//! small pool of read-only connections.
//!
//! SQLite allows one writer; funnelling every write through one thread makes
//! that explicit and keeps the async runtime free of blocking calls. WAL lets
//! the back office read concurrently from its own connections while the
//! writer merges terminals' changes.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OpenFlags};
use store_core::{OpenOptions, Replica, ReplicaIdentity, SystemEnv};
use tokio::sync::{mpsc, oneshot};

type Job = Box<dyn FnOnce(&mut Replica) + Send>;

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
    /// Opens (creating and migrating) the database and starts the writer.
    pub fn open(path: &Path) -> Result<Store, store_core::OpenError> {
        let options = OpenOptions {
            synchronous_full: true,
            wal: true,
            cache_docs: 256,
        };
        let replica = Replica::open(path, server_identity(), Box::new(SystemEnv), &options)?;
        let (tx, mut rx) = mpsc::channel::<Job>(1024);
        std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || {
                let mut replica = replica;
                while let Some(job) = rx.blocking_recv() {
                    job(&mut replica);
                }
            })
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
            .send(Box::new(move |r| {
                let _ = tx.send(f(r));
            }))
            .await
            .map_err(|_| StoreGone)?;
        rx.await.map_err(|_| StoreGone)
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
