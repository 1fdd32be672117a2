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
//! Each document comes back, and its change rows are stored (in the bulk's
//! transaction), when a later batch needs it or the bulk load commits.
//!
//! The documents get the same operations in the same order, and the same
//! commit message and time, as when the batch applies them itself: the
//! same changes, byte for byte (a test compares both ways). A batch that
//! must read a document (an update projects the record as merged) takes
//! that document back (waiting for the thread only if the batch before
//! wrote it) and makes its writes there itself.

use automerge::transaction::{CommitOptions, Transactable};
use automerge::{AutoCommit, ObjId, ROOT, ReadDoc};
use rusqlite::Connection;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::mpsc;

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

/// A batch for the pipeline's thread: its documents, each with whether the
/// replica already stores it and the writes to make in it, and how to
/// commit.
struct Job {
    docs: Vec<(DocId, AutoCommit, bool, Vec<DocWrite>)>,
    message: String,
    now: Millis,
}

/// A document the thread made: the document, and the change rows to store
/// (none when nothing was written there), with the batch's time.
struct Made {
    id: DocId,
    doc: AutoCommit,
    rows: Option<Vec<ChangeRow>>,
    now: Millis,
}

/// Makes one document of a job: its writes, in the order the commands made
/// them, then the commit and the change rows.
fn make(
    id: DocId,
    mut doc: AutoCommit,
    stored: bool,
    writes: Vec<DocWrite>,
    message: &str,
    now: Millis,
) -> Result<Made, CommandError> {
    for w in &writes {
        w.apply(&mut doc)?;
    }
    let committed = doc.commit_with(
        CommitOptions::default()
            .with_message(message.to_string())
            .with_time(now / 1000),
    );
    let rows = committed.map(|_| super::local_rows(&mut doc, stored));
    Ok(Made { id, doc, rows, now })
}

/// The thread that applies and commits held-back writes during a bulk
/// load, one batch behind the writing thread. It sends each document back
/// as soon as it is made, so that a batch that needs one document of the
/// batch before waits for that document only.
pub(crate) struct Pipeline {
    jobs: Option<mpsc::Sender<Job>>,
    made: mpsc::Receiver<Result<Made, CommandError>>,
    worker: Option<std::thread::JoinHandle<()>>,
    /// Documents handed to the thread and not back yet, in the order it
    /// sends them back.
    in_flight: Vec<DocId>,
}

fn died() -> CommandError {
    CommandError::Storage("the bulk load's document thread died".into())
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
                    for (id, doc, stored, writes) in job.docs {
                        let made = make(id, doc, stored, writes, &job.message, job.now);
                        if done.send(made).is_err() {
                            return;
                        }
                    }
                }
            })
            .expect("spawning the bulk load's document thread");
        Pipeline {
            jobs: Some(jobs),
            made,
            worker: Some(worker),
            in_flight: Vec::new(),
        }
    }

    /// Takes the next document the thread made, stores its change rows in
    /// `conn`'s open transaction and gives it back to `store`. On error the
    /// document is lost (the caller fails the bulk load, which rolls back).
    fn receive_one(&mut self, conn: &Connection, store: &mut DocStore) -> Result<(), CommandError> {
        if self.in_flight.is_empty() {
            return Ok(());
        }
        self.in_flight.remove(0);
        let Made {
            id,
            mut doc,
            rows,
            now,
        } = self.made.recv().map_err(|_| died())??;
        if let Some(rows) = rows {
            super::persist_rows(conn, &id, &mut doc, rows, now)?;
        }
        store.put_back(id, doc);
        Ok(())
    }

    /// Waits until the thread has given document `id` back, if it has it
    /// (storing what it gave back before it, too).
    pub(crate) fn settle_doc(
        &mut self,
        conn: &Connection,
        store: &mut DocStore,
        id: &DocId,
    ) -> Result<(), CommandError> {
        while self.in_flight.contains(id) {
            self.receive_one(conn, store)?;
        }
        Ok(())
    }

    /// Waits until the thread has given every document back.
    pub(crate) fn settle(
        &mut self,
        conn: &Connection,
        store: &mut DocStore,
    ) -> Result<(), CommandError> {
        while !self.in_flight.is_empty() {
            self.receive_one(conn, store)?;
        }
        Ok(())
    }

    /// Hands the documents a batch wrote to the thread, with the writes held
    /// back for them: each not taken yet is taken from `store` (once the
    /// thread has given it back, if the batch before wrote it too; loaded
    /// if need be), and each comes back,
    /// committed, through [`Pipeline::settle_doc`] or [`Pipeline::settle`].
    /// The documents with the fewest writes are made first, so that the
    /// next batch, waiting for one of them, waits least.
    pub(crate) fn hand_off(
        &mut self,
        conn: &Connection,
        store: &mut DocStore,
        mut held: Vec<(DocId, Option<AutoCommit>, Vec<DocWrite>)>,
        message: String,
        now: Millis,
    ) -> Result<(), CommandError> {
        held.sort_by_key(|(_, _, writes)| writes.len());
        let mut docs = Vec::with_capacity(held.len());
        for (id, doc, writes) in held {
            let doc = match doc {
                Some(doc) => doc,
                None => {
                    self.settle_doc(conn, store, &id)?;
                    store.take(conn, &id)?
                }
            };
            let stored = super::is_stored(conn, &id)?;
            docs.push((id, doc, stored, writes));
        }
        let ids: Vec<DocId> = docs.iter().map(|(id, ..)| id.clone()).collect();
        let job = Job { docs, message, now };
        if self.jobs.as_ref().is_none_or(|j| j.send(job).is_err()) {
            return Err(died());
        }
        self.in_flight.extend(ids);
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
