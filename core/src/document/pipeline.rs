//! Document writes held back from their documents, and the thread that
//! makes them during a bulk load.
//!
//! A command's automerge work (splicing its records into the documents,
//! committing, encoding and compressing the change) is a third of a bulk
//! load, and it needs no database. So during a bulk load (see
//! `Replica::begin_bulk`) a batch's writes are kept as [`DocWrite`]s while
//! its commands are validated and projected in SQLite; when the batch ends
//! they are handed to a [`Pipeline`], whose thread applies them, commits
//! each document with the batch's message and time, and encodes the change
//! rows, while the writing thread validates and projects the next batch.
//! When that batch ends, the first batch's rows are stored (in the bulk's
//! transaction) and its documents go back to the cache.
//!
//! The documents get the same operations in the same order, and the same
//! commit message and time, as when the batch applies them itself: the
//! same changes, byte for byte (a test compares both ways). A batch that
//! must read a document (an update projects the record as merged) first
//! takes its documents back and applies its writes itself.

use std::sync::Arc;
use std::sync::mpsc;

use automerge::transaction::{CommitOptions, Transactable};
use automerge::{AutoCommit, ObjId, ROOT, ReadDoc};
use rusqlite::Connection;
use serde_json::{Value, json};

use super::{ChangeRow, DocId, DocStore, IMMUTABLE_COLLECTIONS, insert_json, write_json};
use crate::domain::Millis;
use crate::error::CommandError;

/// One write a command makes to a document.
#[derive(Debug, Clone)]
pub(crate) enum DocWrite {
    /// A new record (or a payment channel, keyed by its code).
    Put {
        coll: String,
        id: String,
        value: Arc<Value>,
    },
    /// Fields of an existing record, one register each, with a history
    /// entry per field (but `updated_at`) when audited.
    Update {
        coll: String,
        id: String,
        fields: Vec<(String, Value)>,
        /// User, replica and time of the history entries.
        audit: Option<(String, String, Millis)>,
    },
    /// A line added to a service order's labour or parts.
    OrderLine {
        order_id: String,
        map: String,
        line_id: String,
        value: Value,
        now: Millis,
    },
}

fn collection(doc: &AutoCommit, coll: &str) -> Result<ObjId, CommandError> {
    match doc.get(ROOT, coll)? {
        Some((automerge::Value::Object(_), id)) => Ok(id),
        _ => Err(CommandError::Storage(format!(
            "document lacks collection {coll}"
        ))),
    }
}

fn record(doc: &AutoCommit, coll: &str, id: &str) -> Result<ObjId, CommandError> {
    let c = collection(doc, coll)?;
    match doc.get(&c, id)? {
        Some((automerge::Value::Object(_), obj)) => Ok(obj),
        _ => Err(CommandError::Storage(format!(
            "record {coll}/{id} missing from its document"
        ))),
    }
}

impl DocWrite {
    /// Makes the write in `doc`, in its open transaction.
    pub(crate) fn apply(&self, doc: &mut AutoCommit) -> Result<(), CommandError> {
        match self {
            DocWrite::Put { coll, id, value } => {
                let c = collection(doc, coll)?;
                if IMMUTABLE_COLLECTIONS.contains(&coll.as_str()) {
                    doc.put(&c, id.as_str(), value.to_string())?;
                } else {
                    write_json(doc, &c, id.as_str(), value)?;
                }
            }
            DocWrite::Update {
                coll,
                id,
                fields,
                audit,
            } => {
                let obj = record(doc, coll, id)?;
                for (f, v) in fields {
                    write_json(doc, &obj, f.as_str(), v)?;
                }
                if let Some((user, replica, at)) = audit
                    && let Some((automerge::Value::Object(_), hist)) = doc.get(&obj, "history")?
                {
                    for (f, v) in fields {
                        if f == "updated_at" {
                            continue;
                        }
                        let text = match v {
                            Value::String(s) => s.clone(),
                            other => other.to_string(),
                        };
                        let entry = json!({"field": f, "value": text, "user": user,
                            "replica": replica, "at": at});
                        let len = doc.length(&hist);
                        insert_json(doc, &hist, len, &entry)?;
                    }
                }
            }
            DocWrite::OrderLine {
                order_id,
                map,
                line_id,
                value,
                now,
            } => {
                let obj = record(doc, "orders", order_id)?;
                let lines = match doc.get(&obj, map.as_str())? {
                    Some((automerge::Value::Object(_), l)) => l,
                    _ => {
                        return Err(CommandError::Storage(format!(
                            "order {order_id} lacks {map}"
                        )));
                    }
                };
                write_json(doc, &lines, line_id.as_str(), value)?;
                write_json(doc, &obj, "updated_at", &json!(now))?;
            }
        }
        Ok(())
    }
}

/// A batch's writes, held back: the documents they go to (indexed by the
/// writes) and the writes in the order the commands made them.
#[derive(Debug, Default)]
pub(crate) struct Queued {
    pub(crate) docs: Vec<DocId>,
    pub(crate) writes: Vec<(usize, DocWrite)>,
}

/// A batch for the pipeline's thread: its documents (each with whether
/// the replica already stores it), its writes, and how to commit.
struct Job {
    docs: Vec<(DocId, AutoCommit, bool)>,
    writes: Vec<(usize, DocWrite)>,
    message: String,
    now: Millis,
}

/// A batch the thread made: its documents, each with the change rows to
/// store (none when the batch wrote nothing there).
struct Made {
    docs: Vec<(DocId, AutoCommit, Option<Vec<ChangeRow>>)>,
    now: Millis,
}

fn make(job: Job) -> Result<Made, CommandError> {
    let Job {
        mut docs,
        writes,
        message,
        now,
    } = job;
    for (i, w) in &writes {
        w.apply(&mut docs[*i].1)?;
    }
    let docs = docs
        .into_iter()
        .map(|(id, mut doc, stored)| {
            let committed = doc.commit_with(
                CommitOptions::default()
                    .with_message(message.clone())
                    .with_time(now / 1000),
            );
            let rows = committed.map(|_| super::local_rows(&mut doc, stored));
            (id, doc, rows)
        })
        .collect();
    Ok(Made { docs, now })
}

/// The thread that applies and commits held-back writes during a bulk
/// load, one batch at a time, one batch behind the writing thread.
pub(crate) struct Pipeline {
    jobs: Option<mpsc::Sender<Job>>,
    made: mpsc::Receiver<Result<Made, CommandError>>,
    worker: Option<std::thread::JoinHandle<()>>,
    in_flight: bool,
}

impl Pipeline {
    /// Starts the thread.
    pub(crate) fn start() -> Pipeline {
        let (jobs, todo) = mpsc::channel::<Job>();
        let (done, made) = mpsc::channel();
        let worker = std::thread::Builder::new()
            .name("bulk-documents".into())
            .spawn(move || {
                for job in todo {
                    if done.send(make(job)).is_err() {
                        return;
                    }
                }
            })
            .expect("spawning the bulk load's document thread");
        Pipeline {
            jobs: Some(jobs),
            made,
            worker: Some(worker),
            in_flight: false,
        }
    }

    /// Waits for the batch in flight, if any, stores its change rows in
    /// `conn`'s open transaction and gives its documents back to `store`.
    /// On error the batch's documents are lost (the caller fails the bulk
    /// load, which rolls back).
    pub(crate) fn settle(
        &mut self,
        conn: &Connection,
        store: &mut DocStore,
    ) -> Result<(), CommandError> {
        if !self.in_flight {
            return Ok(());
        }
        self.in_flight = false;
        let made = self
            .made
            .recv()
            .map_err(|_| CommandError::Storage("the bulk load's document thread died".into()))??;
        let mut result = Ok(());
        for (id, mut doc, rows) in made.docs {
            if result.is_ok()
                && let Some(rows) = rows
            {
                result = super::persist_rows(conn, &id, &mut doc, rows, made.now)
                    .map(|_| ())
                    .map_err(CommandError::from);
            }
            if result.is_ok() {
                store.put_back(id, doc);
            }
        }
        result
    }

    /// Hands a batch's held-back writes to the thread, once the batch
    /// before it is settled: its documents are taken from `store` (loaded
    /// if need be) and come back at the next [`Pipeline::settle`].
    pub(crate) fn hand_off(
        &mut self,
        conn: &Connection,
        store: &mut DocStore,
        queued: Queued,
        message: String,
        now: Millis,
    ) -> Result<(), CommandError> {
        self.settle(conn, store)?;
        let mut docs = Vec::with_capacity(queued.docs.len());
        for id in queued.docs {
            let stored = super::is_stored(conn, &id)?;
            let doc = store.take(conn, &id)?;
            docs.push((id, doc, stored));
        }
        let job = Job {
            docs,
            writes: queued.writes,
            message,
            now,
        };
        let sent = self.jobs.as_ref().is_some_and(|j| j.send(job).is_ok());
        if !sent {
            return Err(CommandError::Storage(
                "the bulk load's document thread died".into(),
            ));
        }
        self.in_flight = true;
        Ok(())
    }
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        // Closing the queue ends the thread's loop.
        self.jobs = None;
        if let Some(w) = self.worker.take() {
            let _ = w.join();
        }
    }
}
