//! A replica: one SQLite database holding documents and their projection.

use std::path::Path;

use automerge::{ActorId, AutoCommit, Change, ChangeHash};
use rusqlite::{Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

use crate::commands::{self, Command, Outcome, WriteCtx};
use crate::document::{self, DocId, DocStore, New, Pipeline, actor_for, is_valid_id};
use crate::error::{ApplyError, CommandError, OpenError};
use crate::projection::{self, Mode};
use crate::schema;

/// Largest change accepted from another replica, in bytes. A checkout is a
/// few kilobytes; anything near this is an attack or a bug.
pub const MAX_CHANGE_BYTES: usize = 1 << 20;

/// Most commands in one [`Replica::execute_batch`]: bounds the size of one
/// change (see [`MAX_CHANGE_BYTES`]) and of one transaction.
pub const MAX_BATCH: usize = 500;

/// Who a replica is. The server registers terminals and hands this out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicaIdentity {
    /// Replica (terminal) id; also its automerge actor.
    pub replica_id: String,
    /// Branch the replica sells for.
    pub branch_id: String,
    /// Branch code, first part of bill numbers.
    pub branch_code: String,
    /// Terminal code, unique within the branch, second part of bill numbers.
    pub terminal_code: String,
}

impl ReplicaIdentity {
    fn validate(&self) -> Result<(), OpenError> {
        for (name, v) in [
            ("replica_id", &self.replica_id),
            ("branch_id", &self.branch_id),
            ("branch_code", &self.branch_code),
            ("terminal_code", &self.terminal_code),
        ] {
            if !is_valid_id(v) {
                return Err(OpenError::InvalidIdentity(format!("{name} {v:?}")));
            }
        }
        if self.replica_id.as_bytes() == b"genesis" {
            return Err(OpenError::InvalidIdentity(
                "replica_id \"genesis\" is reserved".into(),
            ));
        }
        Ok(())
    }
}

/// Where time and randomness come from. The core has neither of its own so
/// that it runs the same natively and in the browser, and so tests can be
/// deterministic.
pub trait Env {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&mut self) -> i64;
    /// Fills `buf` with random bytes (record ids).
    fn fill_random(&mut self, buf: &mut [u8]);
}

/// A deterministic environment: a clock that advances by a fixed step at
/// every reading, and a seeded SplitMix64 generator. For tests, benchmarks
/// and generated demo data.
#[derive(Debug, Clone)]
pub struct SeededEnv {
    /// Current time in ms.
    pub now: i64,
    /// Added to `now` at every reading.
    pub step_ms: i64,
    state: u64,
}

impl SeededEnv {
    /// Starts at `now` with the given seed.
    pub fn new(seed: u64, now: i64, step_ms: i64) -> Self {
        SeededEnv {
            now,
            step_ms,
            state: seed,
        }
    }

    /// Next pseudo-random 64-bit value.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E3779B97F4A7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58476D1CE4E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D049BB133111EB);
        z ^ (z >> 31)
    }
}

impl Env for SeededEnv {
    fn now_ms(&mut self) -> i64 {
        self.now += self.step_ms;
        self.now
    }
    fn fill_random(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let v = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

/// The operating system's clock and random source (native builds only; the
/// browser passes its own [`Env`]).
#[cfg(not(target_family = "wasm"))]
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemEnv;

#[cfg(not(target_family = "wasm"))]
impl Env for SystemEnv {
    fn now_ms(&mut self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0)
    }
    fn fill_random(&mut self, buf: &mut [u8]) {
        getrandom::fill(buf).expect("the operating system's random source failed");
    }
}

/// How a replica's database is opened.
#[derive(Debug, Clone)]
pub struct OpenOptions {
    /// `synchronous = FULL` (every commit is on disk before it returns, also
    /// across power loss) instead of `NORMAL` (safe across a process crash).
    pub synchronous_full: bool,
    /// Use WAL (native). The browser's OPFS VFS has no WAL.
    pub wal: bool,
    /// Documents kept in memory.
    pub cache_docs: usize,
    /// During a bulk load, write the documents on a second thread (see
    /// [`Replica::begin_bulk`]) when the machine has more than one core.
    pub bulk_pipeline: bool,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            synchronous_full: true,
            wal: true,
            cache_docs: document::DEFAULT_CACHE_DOCS,
            bulk_pipeline: true,
        }
    }
}

/// What happened to a batch of changes from another replica.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplyReport {
    /// Changes new to this replica, now stored durably.
    pub stored: usize,
    /// Changes this replica already had (by hash).
    pub duplicates: usize,
    /// Changes waiting for a dependency that has not arrived yet.
    pub waiting: usize,
    /// Changes refused, with their index in the batch and why.
    pub rejected: Vec<(usize, String)>,
    /// Records touched in the projection.
    pub records: usize,
}

/// Whether a bulk load (see [`Replica::begin_bulk`]) is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bulk {
    Off,
    On,
    /// A batch failed after writing: the bulk can only be rolled back.
    Failed,
}

/// One replica: a terminal, or the server.
pub struct Replica {
    bulk: Bulk,
    /// During a bulk load, the thread that writes the documents.
    pipeline: Option<Pipeline>,
    /// Whether bulk loads use one ([`OpenOptions::bulk_pipeline`]).
    bulk_pipeline: bool,
    conn: Connection,
    me: ReplicaIdentity,
    env: Box<dyn Env + Send>,
    store: DocStore,
    actor: ActorId,
}

impl std::fmt::Debug for Replica {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replica")
            .field("me", &self.me)
            .finish_non_exhaustive()
    }
}

impl Replica {
    /// Opens (creating and migrating when new) the database file at `path`.
    pub fn open(
        path: impl AsRef<Path>,
        me: ReplicaIdentity,
        env: Box<dyn Env + Send>,
        options: &OpenOptions,
    ) -> Result<Replica, OpenError> {
        let conn = Connection::open(path)?;
        Self::with_connection(conn, me, env, options)
    }

    /// Opens a replica on an already opened connection (the browser opens
    /// its OPFS database itself).
    pub fn with_connection(
        mut conn: Connection,
        me: ReplicaIdentity,
        mut env: Box<dyn Env + Send>,
        options: &OpenOptions,
    ) -> Result<Replica, OpenError> {
        me.validate()?;
        // Commands, projection and reports use some 70 distinct statements;
        // rusqlite's default cache of 16 would re-prepare them all the time.
        conn.set_prepared_statement_cache_capacity(256);
        // Query planner stability guarantee: a statement's plan never
        // depends on the values bound to it. Without it, SQLite re-prepares
        // a cached statement at every new binding whenever a parameter
        // could be matched against the literal of a partial index
        // (`remaining > 0` on invoices, `balance <> 0` on balances): the
        // write path paid a full re-parse for about one statement in four
        // (9% of bulk-load time). Plans are checked without bindings
        // anyway (the EXPLAIN QUERY PLAN test), so this is what they check.
        conn.set_db_config(
            rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
            true,
        )?;
        conn.execute_batch(&format!(
            "PRAGMA foreign_keys = ON;
             PRAGMA busy_timeout = 5000;
             PRAGMA cache_size = -40000;
             PRAGMA temp_store = MEMORY;
             PRAGMA mmap_size = 268435456;
             PRAGMA synchronous = {};",
            if options.synchronous_full {
                "FULL"
            } else {
                "NORMAL"
            }
        ))?;
        if options.wal {
            let _mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        }
        schema::migrate(&mut conn, env.now_ms())?;
        let stored: Option<String> = conn
            .query_row(
                "SELECT value FROM settings WHERE key = 'identity'",
                [],
                |r| r.get(0),
            )
            .optional()?;
        let json = serde_json::to_string(&me).expect("identity serialises");
        match stored {
            None => {
                conn.execute(
                    "INSERT INTO settings(key, value) VALUES ('identity', ?1)",
                    [&json],
                )?;
            }
            Some(s) => {
                let stored: ReplicaIdentity = serde_json::from_str(&s).map_err(|e| {
                    OpenError::InvalidIdentity(format!("stored identity unreadable: {e}"))
                })?;
                if stored != me {
                    return Err(OpenError::IdentityMismatch {
                        stored: stored.replica_id,
                        given: me.replica_id,
                    });
                }
            }
        }
        let install: String = match conn
            .query_row(
                "SELECT value FROM settings WHERE key = 'install'",
                [],
                |r| r.get(0),
            )
            .optional()?
        {
            Some(v) => v,
            None => {
                let mut b = [0u8; 6];
                env.fill_random(&mut b);
                let v: String = b.iter().map(|x| format!("{x:02x}")).collect();
                conn.execute(
                    "INSERT INTO settings(key, value) VALUES ('install', ?1)",
                    [&v],
                )?;
                v
            }
        };
        let actor = actor_for(&me.replica_id, &install);
        let store = DocStore::new(actor.clone(), options.cache_docs);
        Ok(Replica {
            bulk: Bulk::Off,
            pipeline: None,
            bulk_pipeline: options.bulk_pipeline,
            conn,
            me,
            env,
            store,
            actor,
        })
    }

    /// This replica's identity.
    pub fn identity(&self) -> &ReplicaIdentity {
        &self.me
    }

    /// This installation's automerge actor (see [`document::actor_for`]).
    pub fn actor(&self) -> &ActorId {
        &self.actor
    }

    /// Snapshots every document that has changes stored after its
    /// snapshot, however few, while `meanwhile` runs on this thread with
    /// the connection; the documents are saved on another thread (saving
    /// needs no database).
    ///
    /// For the end of a bulk load: its documents hold a few very large
    /// changes, which never reach [`SNAPSHOT_EVERY`](document::SNAPSHOT_EVERY)
    /// but are slow to apply. At terminal scale a month's workshop document
    /// loads from its snapshot in 28 ms instead of 83 ms from its changes,
    /// a month's journal in 98 ms instead of 145, the catalogue in 1.3 s
    /// instead of 3.2. The saved documents leave the cache, so their next
    /// use loads the snapshot. Outside a bulk load and with no transaction
    /// open.
    pub(crate) fn compact_documents_while<T>(
        &mut self,
        meanwhile: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, CommandError> {
        if self.bulk != Bulk::Off || !self.conn.is_autocommit() {
            return Err(CommandError::Storage(
                "documents are compacted outside a bulk load and a transaction".into(),
            ));
        }
        let ids = document::uncompacted(&self.conn)?;
        let mut docs = Vec::with_capacity(ids.len());
        for id in ids {
            let doc = self.store.take(&self.conn, &id)?;
            docs.push((id, doc));
        }
        let conn = &self.conn;
        let (done, saved) = std::thread::scope(|s| {
            let saver = s.spawn(move || {
                docs.into_iter()
                    .map(|(id, mut doc)| (id, doc.save()))
                    .collect::<Vec<_>>()
            });
            let done = meanwhile(conn);
            (done, saver.join())
        });
        let done = done?;
        let saved = saved.map_err(|_| CommandError::Storage("saving a document failed".into()))?;
        let tx = self.conn.unchecked_transaction()?;
        for (id, bytes) in saved {
            document::compact(&tx, &id, bytes)?;
        }
        tx.commit()?;
        Ok(done)
    }

    /// The connection, for queries. Writing through it bypasses the
    /// documents and will be overwritten by the next rebuild.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// Validates and executes one command as `user`. On error nothing was
    /// written: not to SQLite, not to any document.
    pub fn execute(&mut self, user: &str, cmd: &Command) -> Result<Outcome, CommandError> {
        let mut results = self.run_commands(user, std::slice::from_ref(cmd))?;
        results.pop().expect("one result per command")
    }

    /// Executes many commands as one unit of storage: one SQLite
    /// transaction, one automerge change per document touched. For bulk
    /// work (imports, the data generator, a day of sales replayed), where a
    /// durable commit per command would dominate.
    ///
    /// Each command is validated against the projection as the commands
    /// before it in the batch left it, and gets its own result: a refused
    /// command writes nothing and the others still apply. The call fails as
    /// a whole (nothing written) only on a storage error.
    pub fn execute_batch(
        &mut self,
        user: &str,
        cmds: &[Command],
    ) -> Result<Vec<Result<Outcome, CommandError>>, CommandError> {
        if cmds.len() > MAX_BATCH {
            return Err(CommandError::invalid(
                "commands",
                format!("more than {MAX_BATCH} commands in one batch"),
            ));
        }
        self.run_commands(user, cmds)
    }

    fn run_commands(
        &mut self,
        user: &str,
        cmds: &[Command],
    ) -> Result<Vec<Result<Outcome, CommandError>>, CommandError> {
        if user.is_empty() || user.len() > 64 || user.chars().any(char::is_control) {
            return Err(CommandError::invalid(
                "user",
                "must be 1 to 64 printable characters",
            ));
        }
        let now = self.env.now_ms();
        let env = &mut self.env;
        let mut random = |buf: &mut [u8]| env.fill_random(buf);
        // Validation reads inside the write transaction: a batch's later
        // commands see what its earlier ones did, and nothing else can write
        // in between. During a bulk load the batch runs in the bulk's
        // transaction, without a savepoint of its own: SQLite truncates the
        // savepoint's in-memory journal from its start at the end of every
        // statement, which made a batch quadratic in the pages it touched.
        // A batch that fails there cannot be undone alone, so it fails the
        // whole bulk (see `begin_bulk`).
        match self.bulk {
            Bulk::Off | Bulk::On => {}
            Bulk::Failed => {
                return Err(CommandError::Storage(
                    "an earlier batch of this bulk load failed; roll it back".into(),
                ));
            }
        }
        let in_bulk = self.bulk == Bulk::On;
        let tx = if in_bulk {
            None
        } else {
            Some(self.conn.unchecked_transaction()?)
        };
        let conn: &Connection = &self.conn;
        let mut ctx = WriteCtx::new(
            conn,
            &mut self.store,
            &self.me,
            &mut random,
            user,
            now,
            self.pipeline.as_mut(),
        );
        let mut results = Vec::with_capacity(cmds.len());
        let mut names: std::collections::BTreeMap<&str, usize> = Default::default();
        for cmd in cmds {
            let ops_before = ctx.pending_ops();
            match commands::run(&mut ctx, cmd).and_then(|o| ctx.flush().map(|()| o)) {
                Ok(o) => {
                    *names.entry(cmd.name()).or_default() += 1;
                    results.push(Ok(o));
                }
                Err(e) => {
                    if ctx.pending_ops() != ops_before || matches!(e, CommandError::Storage(_)) {
                        // Written, then failed: a batch cannot be partly undone.
                        ctx.discard();
                        if in_bulk {
                            self.bulk = Bulk::Failed;
                        }
                        return Err(e);
                    }
                    ctx.forget_refused();
                    results.push(Err(e));
                }
            }
        }
        if names.is_empty() {
            ctx.discard();
            return Ok(results);
        }
        let docs = ctx.into_docs();
        let message = if cmds.len() == 1 {
            serde_json::json!({"user": user, "cmd": cmds[0].name()})
        } else {
            serde_json::json!({"user": user, "cmd": "batch", "commands": names})
        }
        .to_string();
        // Outside a bulk load the batch made its writes and commits here;
        // during a pipelined one, every document goes to the pipeline (with
        // the writes made in it so far, if the batch had to read it).
        let mut mine = Vec::with_capacity(docs.len());
        let mut held = Vec::new();
        for d in docs {
            match (d.doc, self.pipeline.is_some()) {
                (Some(doc), false) => mine.push((d.id, doc)),
                (doc, _) => held.push((d.id, doc, d.held)),
            }
        }
        let result = (|| -> Result<(), CommandError> {
            for (id, doc) in &mut mine {
                let committed = doc.commit_with(
                    automerge::transaction::CommitOptions::default()
                        .with_message(message.clone())
                        .with_time(now / 1000),
                );
                if committed.is_some() {
                    document::persist(conn, id, doc, &[], New::Local, now)?;
                }
            }
            if !held.is_empty() {
                let pipeline = self.pipeline.as_mut().ok_or_else(|| {
                    CommandError::Storage("writes held back outside a bulk load".into())
                })?;
                pipeline.hand_off(conn, &mut self.store, held, message.clone(), now)?;
            }
            if let Some(tx) = tx {
                tx.commit()?;
            }
            Ok(())
        })();
        match result {
            Ok(()) => {
                for (id, doc) in mine {
                    self.store.put_back(id, doc);
                }
                Ok(results)
            }
            Err(e) => {
                // The documents in memory hold a change SQLite did not store:
                // drop them so the next access reloads the stored truth.
                for (id, _) in &mine {
                    self.store.evict(id);
                }
                if in_bulk {
                    self.bulk = Bulk::Failed;
                }
                Err(e)
            }
        }
    }

    /// [`Replica::settle`] before reading documents.
    fn settle_for_reading(&mut self) -> Result<(), ApplyError> {
        self.settle()
            .map_err(|e| ApplyError::Storage(e.to_string()))
    }

    /// [`Replica::settle`] before changing documents otherwise than by
    /// commands: the pipeline's values of the records the bulk load
    /// created may no longer be those records as merged.
    fn settle_for_changing(&mut self) -> Result<(), ApplyError> {
        self.settle_for_reading()?;
        if let Some(p) = self.pipeline.as_mut() {
            p.forget_local();
        }
        Ok(())
    }

    /// Stores what the bulk load's document thread has made, so that the
    /// documents in the cache and in SQLite hold every batch executed.
    fn settle(&mut self) -> Result<(), CommandError> {
        let Some(p) = self.pipeline.as_mut() else {
            return Ok(());
        };
        let settled = p.settle(&self.conn, &mut self.store);
        if settled.is_err() {
            self.bulk = Bulk::Failed;
        }
        settled
    }

    /// Starts a bulk load: the commands executed until [`Replica::commit_bulk`]
    /// share one SQLite transaction.
    ///
    /// For generating or importing large datasets: every commit writes each
    /// page it dirtied, and batches of sales scattered over tables of a
    /// million rows dirty mostly different pages, so committing every few
    /// dozen batches instead of every batch writes far less. Each batch is
    /// still validated, written to the documents and projected as usual;
    /// refused commands are refused alone. But nothing is durable until
    /// `commit_bulk`, and a batch that fails on storage fails the whole
    /// bulk: later batches are refused and only [`Replica::rollback_bulk`]
    /// is left. Changes from other replicas must not be applied during a
    /// bulk load.
    ///
    /// The documents are written by a second thread, behind the batches
    /// (see `document::pipeline`): while a batch's commands are validated
    /// and projected, the batches before it are spliced into the
    /// documents, committed and encoded. The thread keeps the documents;
    /// their changes are stored when a batch must read one of them (then
    /// that one comes back) or the bulk load commits (then all do). The
    /// changes are the ones the batches would make themselves.
    /// Reading documents ([`Replica::heads`], [`Replica::changes_since`])
    /// first waits for that thread; [`Replica::doc_ids`] may miss a
    /// document the last batch created until the bulk load is committed.
    pub fn begin_bulk(&mut self) -> Result<(), CommandError> {
        if self.bulk != Bulk::Off {
            return Err(CommandError::Storage("a bulk load is already open".into()));
        }
        self.conn.execute_batch("BEGIN IMMEDIATE")?;
        self.bulk = Bulk::On;
        // One core (or a browser, which has no threads to spare) would only
        // take turns with the pipeline's thread.
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        if self.bulk_pipeline && cores > 1 {
            self.pipeline = Some(Pipeline::start());
        }
        Ok(())
    }

    /// Commits the bulk load begun by [`Replica::begin_bulk`]. If a batch of
    /// it failed, or the commit fails, everything since `begin_bulk` is
    /// rolled back instead, the documents in memory (which hold those
    /// changes) are dropped, and an error is returned.
    pub fn commit_bulk(&mut self) -> Result<(), CommandError> {
        self.bulk_going_on()?;
        if let Err(e) = self.settle() {
            self.rollback_bulk()?;
            return Err(e);
        }
        self.pipeline = None;
        if let Err(e) = self.conn.execute_batch("COMMIT") {
            self.rollback_bulk()?;
            return Err(e.into());
        }
        self.bulk = Bulk::Off;
        Ok(())
    }

    /// Commits what the bulk load begun by [`Replica::begin_bulk`] wrote to
    /// SQLite so far and goes on in a new transaction, without waiting for
    /// the document thread: so that the dirty pages of a long load are
    /// written out before they outgrow the page cache.
    ///
    /// Unlike [`Replica::commit_bulk`], this makes nothing durable as a
    /// whole. The change rows of the batches the thread has not made yet
    /// are stored in a later transaction, so a crash in between leaves
    /// records projected without the changes that wrote them. It is for a
    /// load into a new database that is thrown away if the load does not
    /// finish, as the dataset generator's. If a batch failed, or the
    /// commit fails, the bulk load is rolled back as by `commit_bulk`.
    pub fn commit_bulk_rows(&mut self) -> Result<(), CommandError> {
        self.bulk_going_on()?;
        if let Err(e) = self.conn.execute_batch("COMMIT; BEGIN IMMEDIATE") {
            self.rollback_bulk()?;
            return Err(e.into());
        }
        Ok(())
    }

    /// Whether a bulk load is open and no batch of it failed; if one did,
    /// the bulk load is rolled back first.
    fn bulk_going_on(&mut self) -> Result<(), CommandError> {
        match self.bulk {
            Bulk::Off => Err(CommandError::Storage("no bulk load is open".into())),
            Bulk::Failed => {
                self.rollback_bulk()?;
                Err(CommandError::Storage(
                    "a batch of the bulk load failed: it was rolled back".into(),
                ))
            }
            Bulk::On => Ok(()),
        }
    }

    /// Abandons the bulk load begun by [`Replica::begin_bulk`]: everything
    /// since is rolled back, and the documents in memory are dropped.
    pub fn rollback_bulk(&mut self) -> Result<(), CommandError> {
        // Waits for the thread's batch in flight and drops it.
        self.pipeline = None;
        self.store.clear();
        self.bulk = Bulk::Off;
        if !self.conn.is_autocommit() {
            self.conn.execute_batch("ROLLBACK")?;
        }
        Ok(())
    }

    /// Applies changes received from another replica to one document.
    ///
    /// Each change is checked on its own: malformed bytes, oversized
    /// changes, a change by an actor not allowed to write the document, or
    /// a forged genesis are rejected and reported, and the others still
    /// apply. Changes already present are no-ops. Changes whose
    /// dependencies have not arrived wait in memory until they do.
    pub fn apply_changes(
        &mut self,
        doc_id: &DocId,
        changes: Vec<Vec<u8>>,
    ) -> Result<ApplyReport, ApplyError> {
        let mut reports = self.apply_changes_many(vec![(doc_id.clone(), changes)])?;
        Ok(reports.pop().expect("one report per batch entry"))
    }

    /// Applies several batches of received changes (for the server: the
    /// frames of several terminals) in ONE SQLite transaction, so that one
    /// durable commit (one fsync) covers them all. This is the server's
    /// group commit: with `synchronous = FULL` a commit costs milliseconds
    /// whatever its size, so merging frames one transaction each caps the
    /// server at a few hundred frames a second.
    ///
    /// Each entry gets its own report, in order, with the same per-change
    /// rules as [`Replica::apply_changes`]: a bad change is rejected and
    /// reported and never blocks the others, in its entry or in the other
    /// entries. Several entries may name the same document; each sees what
    /// the entries before it applied. The call fails as a whole only on a
    /// storage fault: then nothing of any entry is stored (the transaction
    /// rolls back) and the documents in memory are dropped so the next
    /// access reloads what is on disk.
    pub fn apply_changes_many(
        &mut self,
        batch: Vec<(DocId, Vec<Vec<u8>>)>,
    ) -> Result<Vec<ApplyReport>, ApplyError> {
        self.settle_for_changing()?;
        // Read the clock only when something is stored, as a single apply
        // always did: a seeded clock advances at every reading.
        let mut now: Option<i64> = None;
        // Documents taken out of the cache for this batch: put back only
        // once the commit succeeded, so memory is never ahead of the disk.
        let mut open: Vec<(DocId, AutoCommit)> = Vec::new();
        let tx = self.conn.transaction()?;
        let result = (|| -> Result<Vec<ApplyReport>, ApplyError> {
            let mut reports = Vec::with_capacity(batch.len());
            for (doc_id, changes) in batch {
                let slot = match open.iter().position(|(id, _)| *id == doc_id) {
                    Some(i) => i,
                    None => {
                        let doc = self.store.take(&tx, &doc_id)?;
                        open.push((doc_id.clone(), doc));
                        open.len() - 1
                    }
                };
                let doc = &mut open[slot].1;
                let mut report = ApplyReport::default();
                let before = doc.get_heads();
                let received = merge_checked(doc, &doc_id, changes, &mut report);
                report.waiting = doc.get_missing_deps(&[]).len();
                let after = doc.get_heads();
                if after != before {
                    let patches = doc.diff(&before, &after);
                    let touched = projection::touched_by_patches(&patches);
                    let now = *now.get_or_insert_with(|| self.env.now_ms());
                    report.stored = document::persist(
                        &tx,
                        &doc_id,
                        doc,
                        &before,
                        New::Received(&received),
                        now,
                    )?;
                    for (coll, id) in &touched {
                        projection::project(&tx, doc, &doc_id, coll, id, Mode::Lenient)
                            .map_err(|e| ApplyError::Storage(e.to_string()))?;
                    }
                    report.records = touched.len();
                }
                reports.push(report);
            }
            Ok(reports)
        })();
        match result.and_then(|reports| {
            tx.commit()?;
            Ok(reports)
        }) {
            Ok(reports) => {
                for (id, doc) in open {
                    self.store.put_back(id, doc);
                }
                Ok(reports)
            }
            Err(e) => {
                // The transaction rolled back (dropped or failed to commit):
                // forget the documents in memory, which hold changes that
                // SQLite did not store.
                for (id, _) in &open {
                    self.store.evict(id);
                }
                Err(e)
            }
        }
    }

    /// Every document this replica stores.
    pub fn doc_ids(&self) -> Result<Vec<DocId>, ApplyError> {
        Ok(document::list(&self.conn)?)
    }

    /// The heads of a document (empty when the replica does not have it).
    pub fn heads(&mut self, doc_id: &DocId) -> Result<Vec<ChangeHash>, ApplyError> {
        self.settle_for_reading()?;
        if !self.has_doc(doc_id)? {
            return Ok(Vec::new());
        }
        let mut doc = self.store.take(&self.conn, doc_id)?;
        let heads = doc.get_heads();
        self.store.put_back(doc_id.clone(), doc);
        Ok(heads)
    }

    fn has_doc(&self, doc_id: &DocId) -> rusqlite::Result<bool> {
        document::is_stored(&self.conn, doc_id)
    }

    /// The hashes among `hashes` that this replica holds in `doc`.
    pub fn known_heads(
        &mut self,
        doc_id: &DocId,
        hashes: &[ChangeHash],
    ) -> Result<Vec<ChangeHash>, ApplyError> {
        self.settle_for_reading()?;
        if hashes.is_empty() || !self.has_doc(doc_id)? {
            return Ok(Vec::new());
        }
        let mut doc = self.store.take(&self.conn, doc_id)?;
        // The metadata only: `get_change_by_hash` rebuilds the whole change
        // from the document's ops, which was a fifth of the server's merge
        // of an offline terminal's frames of 256 sales.
        let known = hashes
            .iter()
            .copied()
            .filter(|h| doc.get_change_meta_by_hash(h).is_some())
            .collect();
        self.store.put_back(doc_id.clone(), doc);
        Ok(known)
    }

    /// The changes of a document that are not ancestors of `have` (all of
    /// them for an empty `have`), encoded, in dependency order.
    pub fn changes_since(
        &mut self,
        doc_id: &DocId,
        have: &[ChangeHash],
    ) -> Result<Vec<Vec<u8>>, ApplyError> {
        self.settle_for_reading()?;
        if !self.has_doc(doc_id)? {
            return Ok(Vec::new());
        }
        let mut doc = self.store.take(&self.conn, doc_id)?;
        let known: Vec<ChangeHash> = have
            .iter()
            .copied()
            .filter(|h| doc.get_change_meta_by_hash(h).is_some())
            .collect();
        let out = doc
            .get_changes(&known)
            .into_iter()
            .map(|mut c| c.bytes().into_owned())
            .collect();
        self.store.put_back(doc_id.clone(), doc);
        Ok(out)
    }

    /// Drops every projected row and projects every record of every stored
    /// document again. The result must equal the incrementally maintained
    /// tables (a test checks it).
    pub fn rebuild_projection(&mut self) -> Result<(), ApplyError> {
        self.settle_for_changing()?;
        let ids = document::list(&self.conn)?;
        self.store.clear();
        let tx = self.conn.transaction()?;
        projection::clear_all(&tx)?;
        for id in &ids {
            let doc = document::load(&tx, id)?.unwrap_or_else(|| document::genesis(id));
            for coll in id.kind().collections() {
                for rid in projection::record_ids(&doc, coll) {
                    projection::project(&tx, &doc, id, coll, &rid, Mode::Lenient)
                        .map_err(|e| ApplyError::Storage(e.to_string()))?;
                }
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// A canonical dump of every projection table (identical text means
    /// identical tables).
    pub fn projection_dump(&self) -> Result<String, ApplyError> {
        Ok(projection::dump(&self.conn)?)
    }

    /// Document cache hits and misses since open.
    pub fn cache_stats(&self) -> (u64, u64) {
        (self.store.hits, self.store.misses)
    }
}

/// Checks each received change on its own and applies the acceptable ones
/// to `doc` in memory, recording duplicates and rejections in `report`.
/// Returns the changes it gave the document (applied, or waiting for a
/// dependency), so that they are stored as they arrived.
fn merge_checked(
    doc: &mut AutoCommit,
    doc_id: &DocId,
    changes: Vec<Vec<u8>>,
    report: &mut ApplyReport,
) -> Vec<Change> {
    let genesis_actor = ActorId::from(b"genesis".as_slice());
    // Built only when a change claims to be the genesis: building it is a
    // whole document and change encoding, which cost the server a fifth of
    // its merge time when done for every frame.
    let mut genesis_hash = None;
    let mut accepted: Vec<(usize, Change)> = Vec::new();
    let mut in_frame = std::collections::HashSet::new();
    for (i, bytes) in changes.into_iter().enumerate() {
        if bytes.len() > MAX_CHANGE_BYTES {
            report.rejected.push((
                i,
                format!("change of {} bytes is over the limit", bytes.len()),
            ));
            continue;
        }
        let change = match Change::from_bytes(bytes) {
            Ok(c) => c,
            Err(e) => {
                report.rejected.push((i, format!("malformed change: {e}")));
                continue;
            }
        };
        // The metadata only: a whole change would be rebuilt from the ops.
        if doc.get_change_meta_by_hash(&change.hash()).is_some()
            || in_frame.contains(&change.hash())
        {
            report.duplicates += 1;
            continue;
        }
        if *change.actor_id() == genesis_actor {
            // Our genesis is already in the document; any other change by
            // that actor would rewrite the collections every replica shares.
            let heads = genesis_hash.get_or_insert_with(|| document::genesis(doc_id).get_heads());
            if !heads.contains(&change.hash()) {
                report.rejected.push((i, "forged genesis change".into()));
            }
            continue;
        }
        if !doc_id.may_write(change.actor_id()) {
            report.rejected.push((
                i,
                format!("actor {} may not write {doc_id}", change.actor_id()),
            ));
            continue;
        }
        // Only the genesis writes the root of a document: it creates the
        // collections every replica shares. Any other change that puts,
        // deletes or replaces a root key would swap out or hide a whole
        // collection (the projection would keep rows of records the
        // document no longer shows, and a rebuild would differ from it),
        // or add a collection the projection does not know. Commands never
        // write the root, so such a change is forged or broken.
        if change
            .decode()
            .operations
            .iter()
            .any(|op| op.obj == automerge::legacy::ObjectId::Root)
        {
            report
                .rejected
                .push((i, "change writes the document root".into()));
            continue;
        }
        in_frame.insert(change.hash());
        accepted.push((i, change));
    }
    if accepted.is_empty() {
        return Vec::new();
    }
    // One apply for the whole frame: automerge walks every op of each map a
    // batch touches, so applying change by change walked a journal's whole
    // map of sales once per sale, and a day of offline sales took minutes
    // to merge. A batch is checked before anything of it is applied, so a
    // refused batch left the document as it was: then the changes go one by
    // one, to refuse only the culprits.
    if doc
        .apply_changes(accepted.iter().map(|(_, c)| c.clone()))
        .is_ok()
    {
        return accepted.into_iter().map(|(_, c)| c).collect();
    }
    let mut given = Vec::with_capacity(accepted.len());
    for (i, change) in accepted {
        match doc.apply_changes([change.clone()]) {
            Ok(()) => given.push(change),
            Err(e) => report
                .rejected
                .push((i, format!("change refused by the document: {e}"))),
        }
    }
    report.rejected.sort_by_key(|(i, _)| *i);
    given
}
