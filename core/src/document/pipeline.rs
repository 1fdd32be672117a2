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
//! same changes, byte for byte (a test compares both ways). A command
//! that changes a record projects it as merged: if the bulk load created
//! the record, from the value written with the changes made over it (see
//! [`Pipeline::note`]); otherwise the batch takes the document back
//! (waiting for the thread only if the batch before wrote it) and makes
//! its writes there itself.

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
                if let Some(audit) = audit
                    && let Some((automerge::Value::Object(_), hist)) = doc.get(&obj, "history")?
                {
                    for entry in history_entries(fields, audit) {
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

/// The history entries an audited update appends, one per field changed
/// (but `updated_at`).
fn history_entries<'a>(
    fields: &'a [(String, Value)],
    (user, replica, at): &'a (String, String, Millis),
) -> impl Iterator<Item = Value> + 'a {
    fields
        .iter()
        .filter(|(f, _)| f != "updated_at")
        .map(move |(f, v)| {
            let text = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            json!({"field": f, "value": text, "user": user, "replica": replica, "at": at})
        })
}

impl DocWrite {
    /// Makes the write in `record`, the value of the record it changes, as
    /// [`DocWrite::apply`] makes it in the document, so that the value is
    /// what the document reads back. A `Put` replaces the value.
    fn apply_to_value(&self, record: &mut Value) -> Result<(), CommandError> {
        let not_a_record = |id: &str| CommandError::Storage(format!("record {id} is not a map"));
        match self {
            DocWrite::Put { value, .. } => *record = Value::clone(value),
            DocWrite::Update {
                id, fields, audit, ..
            } => {
                let Value::Object(obj) = record else {
                    return Err(not_a_record(id));
                };
                for (f, v) in fields {
                    obj.insert(f.clone(), v.clone());
                }
                if let Some(audit) = audit
                    && let Some(Value::Array(hist)) = obj.get_mut("history")
                {
                    hist.extend(history_entries(fields, audit));
                }
            }
            DocWrite::OrderLine {
                order_id,
                map,
                line_id,
                value,
                now,
            } => {
                let Value::Object(obj) = record else {
                    return Err(not_a_record(order_id));
                };
                match obj.get_mut(map.as_str()) {
                    Some(Value::Object(lines)) => {
                        lines.insert(line_id.clone(), value.clone());
                    }
                    _ => {
                        return Err(CommandError::Storage(format!(
                            "order {order_id} lacks {map}"
                        )));
                    }
                }
                obj.insert("updated_at".into(), json!(now));
            }
        }
        Ok(())
    }

    /// The record the write makes or changes.
    fn record_key(&self, doc: &DocId) -> LocalKey {
        let (coll, id) = match self {
            DocWrite::Put { coll, id, .. } | DocWrite::Update { coll, id, .. } => {
                (coll.as_str(), id)
            }
            DocWrite::OrderLine { order_id, .. } => ("orders", order_id),
        };
        (doc.clone(), coll.to_string(), id.clone())
    }
}

/// A record: its document, collection and id.
type LocalKey = (DocId, String, String);

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
    /// The records created during this bulk load in collections whose
    /// records change, with the writes held back for them made over the
    /// value (see [`Pipeline::note`]).
    local: std::collections::HashMap<LocalKey, Arc<Value>>,
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
            local: Default::default(),
        }
    }

    /// Takes note of `write`, held back for document `doc`, in the values
    /// of the records created during this bulk load.
    ///
    /// A command that changes a record projects it as merged, and with its
    /// writes held back the document does not have them yet: making them
    /// there meant taking the document back from the thread (waiting for
    /// it to finish the batch before) and making every write held for it
    /// on this thread, for a shift closed in the document of the day's
    /// sales as for a service order moved on. A record created during this
    /// bulk load under a new id has its local commands as only writers
    /// (other replicas' changes are not applied during a bulk load, see
    /// `Replica::begin_bulk`), so its value as written, with their changes
    /// made over it as they are made in the document, is the record as
    /// merged. Records of immutable collections are never changed, and
    /// are not kept.
    pub(crate) fn note(&mut self, doc: &DocId, write: &DocWrite) -> Result<(), CommandError> {
        let key = write.record_key(doc);
        match write {
            DocWrite::Put { coll, value, .. } => {
                if !IMMUTABLE_COLLECTIONS.contains(&coll.as_str()) {
                    self.local.insert(key, Arc::clone(value));
                }
            }
            DocWrite::Update { .. } | DocWrite::OrderLine { .. } => {
                if let Some(value) = self.local.get_mut(&key) {
                    write.apply_to_value(Arc::make_mut(value))?;
                }
            }
        }
        Ok(())
    }

    /// The value of a record created during this bulk load, with every
    /// write noted for it (see [`Pipeline::note`]); `None` for a record
    /// created before it.
    pub(crate) fn local_record(&self, doc: &DocId, coll: &str, id: &str) -> Option<Arc<Value>> {
        self.local
            .get(&(doc.clone(), coll.to_string(), id.to_string()))
            .cloned()
    }

    /// Forgets the records noted so far: their documents may change
    /// otherwise than by this bulk load's commands.
    pub(crate) fn forget_local(&mut self) {
        self.local.clear();
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::document::{genesis, read_json};

    /// A record's value with writes made over it is what its document
    /// reads back after the same writes, after each of them: what the
    /// pipeline projects a changed record from (`Pipeline::note`).
    #[test]
    fn writes_made_over_a_value_are_what_the_document_reads_back() {
        let id = DocId::Workshop {
            branch: "B1".into(),
            month: 202601,
        };
        let order = json!({"number": "W-1", "status": "booked", "labour": {}, "parts": {},
            "history": [], "odometer": null, "updated_at": 1});
        let update = |fields: Vec<(&str, Value)>, audit: bool| DocWrite::Update {
            coll: "orders".into(),
            id: "o1".into(),
            fields: fields
                .into_iter()
                .map(|(f, v)| (f.to_string(), v))
                .collect(),
            audit: audit.then(|| ("u1".to_string(), "T1".to_string(), 5)),
        };
        let line = |map: &str, line_id: &str, now: Millis| DocWrite::OrderLine {
            order_id: "o1".into(),
            map: map.into(),
            line_id: line_id.into(),
            value: json!({"qty": 2, "note": null, "name": "oil"}),
            now,
        };
        let writes = vec![
            DocWrite::Put {
                coll: "orders".into(),
                id: "o1".into(),
                value: Arc::new(order),
            },
            update(
                vec![
                    ("status", json!("in_progress")),
                    ("odometer", json!(1200)),
                    ("updated_at", json!(5)),
                ],
                true,
            ),
            line("labour", "l1", 7),
            line("parts", "p1", 9),
            line("parts", "p2", 11),
            update(vec![("technician_id", json!("t1"))], false),
            update(vec![("status", json!("done"))], true),
        ];
        let mut doc = genesis(&id);
        let mut value = Value::Null;
        let mut pipeline = Pipeline::start();
        for w in &writes {
            w.apply(&mut doc).unwrap();
            w.apply_to_value(&mut value).unwrap();
            pipeline.note(&id, w).unwrap();
            let obj = record(&doc, "orders", "o1").unwrap();
            assert_eq!(read_json(&doc, &obj).unwrap(), value, "after {w:?}");
            assert_eq!(
                pipeline.local_record(&id, "orders", "o1").as_deref(),
                Some(&value)
            );
        }
        assert_eq!(value["history"].as_array().unwrap().len(), 3);
        assert_eq!(value["updated_at"], json!(11));

        // A record created before the bulk load is not known: it is read
        // from its document. Nor is an immutable one, never changed.
        pipeline.note(&id, &line("labour", "l9", 12)).unwrap();
        pipeline
            .note(
                &id,
                &DocWrite::Update {
                    coll: "orders".into(),
                    id: "o0".into(),
                    fields: vec![("status".into(), json!("done"))],
                    audit: None,
                },
            )
            .unwrap();
        assert!(pipeline.local_record(&id, "orders", "o0").is_none());
        let journal = DocId::Journal {
            terminal: "T1".into(),
            month: 202601,
        };
        let sale = DocWrite::Put {
            coll: "invoices".into(),
            id: "i1".into(),
            value: Arc::new(json!({"total": 5})),
        };
        pipeline.note(&journal, &sale).unwrap();
        assert!(pipeline.local_record(&journal, "invoices", "i1").is_none());
        pipeline.forget_local();
        assert!(pipeline.local_record(&id, "orders", "o1").is_none());
    }
}
