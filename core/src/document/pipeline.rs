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

use super::{
    DocId, DocStore, IMMUTABLE_COLLECTIONS, MadeRows, SNAPSHOT_EVERY, insert_json, write_json,
};
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
                    // The same text as `Display`, written straight into a
                    // buffer rather than through a formatter: half the
                    // cost, which was 7% of a bulk load's document thread.
                    let text = serde_json::to_string(&**value)
                        .map_err(|e| CommandError::Storage(e.to_string()))?;
                    doc.put(&c, id.as_str(), text)?;
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

/// A document given to the pipeline's thread, with what it must know to
/// make its change rows and snapshots as `document::persist` would.
struct Given {
    doc: AutoCommit,
    /// Whether the replica stores the document (if not, its first rows
    /// are all its changes).
    stored: bool,
    /// Changes stored since its snapshot.
    pending: i64,
}

/// Work for the pipeline's thread, done in the order sent.
enum Job {
    /// A batch's documents, each given with it or, if the thread kept it
    /// from an earlier batch, not; with the writes to make in it, and how
    /// to commit.
    Batch {
        docs: Vec<(DocId, Option<Given>, Vec<DocWrite>)>,
        message: String,
        now: Millis,
    },
    /// Give this document back, or every document kept if `None`.
    GiveBack(Option<DocId>),
}

/// What the thread sends, in the order it does it.
enum Out {
    /// The change rows of a document it made (none when nothing was
    /// written there), with the batch's time.
    Made {
        id: DocId,
        rows: Option<MadeRows>,
        now: Millis,
    },
    /// A document it gave back.
    Back { id: DocId, doc: Box<AutoCommit> },
    /// It gave back every document it kept.
    AllBack,
}

/// Makes one document of a batch: its writes, in the order the commands
/// made them, then the commit, the change rows and, when the rows bring
/// its stored changes to `SNAPSHOT_EVERY`, the snapshot `store_rows`
/// takes there.
fn make(
    given: &mut Given,
    writes: Vec<DocWrite>,
    message: &str,
    now: Millis,
) -> Result<Option<MadeRows>, CommandError> {
    let doc = &mut given.doc;
    for w in &writes {
        w.apply(doc)?;
    }
    let committed = doc.commit_with(
        CommitOptions::default()
            .with_message(message.to_string())
            .with_time(now / 1000),
    );
    if committed.is_none() {
        return Ok(None);
    }
    let rows = super::local_rows(doc, given.stored);
    given.stored = true;
    given.pending += rows.len() as i64;
    let snapshot = (given.pending >= SNAPSHOT_EVERY).then(|| {
        given.pending = 0;
        doc.save()
    });
    Ok(Some(MadeRows {
        rows,
        heads: doc.get_heads(),
        snapshot,
    }))
}

/// The pipeline's thread: makes each batch's documents and keeps them for
/// the next batch until it is asked for them.
fn work(todo: mpsc::Receiver<Job>, done: mpsc::Sender<Result<Out, CommandError>>) {
    let mut kept: std::collections::HashMap<DocId, Given> = Default::default();
    for job in todo {
        let sent = match job {
            Job::Batch { docs, message, now } => {
                for (id, given, writes) in docs {
                    let Some(mut given) = given.or_else(|| kept.remove(&id)) else {
                        let _ = done.send(Err(CommandError::Storage(format!(
                            "the bulk load's thread was not given document {id}"
                        ))));
                        return;
                    };
                    let made = make(&mut given, writes, &message, now);
                    let failed = made.is_err();
                    let out = made.map(|rows| Out::Made {
                        id: id.clone(),
                        rows,
                        now,
                    });
                    if done.send(out).is_err() || failed {
                        // A document a write failed in is in no known state.
                        return;
                    }
                    kept.insert(id, given);
                }
                Ok(())
            }
            Job::GiveBack(Some(id)) => match kept.remove(&id) {
                Some(g) => done.send(Ok(Out::Back {
                    id,
                    doc: Box::new(g.doc),
                })),
                None => Ok(()),
            },
            Job::GiveBack(None) => kept
                .drain()
                .try_for_each(|(id, g)| {
                    done.send(Ok(Out::Back {
                        id,
                        doc: Box::new(g.doc),
                    }))
                })
                .and_then(|()| done.send(Ok(Out::AllBack))),
        };
        if sent.is_err() {
            return;
        }
    }
}

/// The thread that applies and commits held-back writes during a bulk
/// load, one batch behind the writing thread. It keeps the documents it
/// made for the next batch, sending only their change rows, so that a
/// batch hands its writes over without waiting for the batch before; a
/// batch that must read a document asks for that document only.
pub(crate) struct Pipeline {
    jobs: Option<mpsc::Sender<Job>>,
    made: mpsc::Receiver<Result<Out, CommandError>>,
    worker: Option<std::thread::JoinHandle<()>>,
    /// Documents the thread has (or will have once it reaches the batches
    /// sent), until it gives them back.
    kept: std::collections::HashSet<DocId>,
    /// The records created during this bulk load in collections whose
    /// records change, with the writes held back for them made over the
    /// value (see [`Pipeline::note`]).
    local: std::collections::HashMap<LocalKey, Arc<Value>>,
    /// Products the batches looked up, by id (see `WriteCtx::product`):
    /// forgotten when a command writes one.
    pub(crate) products: std::collections::HashMap<String, crate::commands::Product>,
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
            .spawn(move || work(todo, done))
            .expect("spawning the bulk load's document thread");
        Pipeline {
            jobs: Some(jobs),
            made,
            worker: Some(worker),
            kept: Default::default(),
            local: Default::default(),
            products: Default::default(),
        }
    }

    fn send(&self, job: Job) -> Result<(), CommandError> {
        match &self.jobs {
            Some(jobs) if jobs.send(job).is_ok() => Ok(()),
            _ => Err(died()),
        }
    }

    /// Takes the next thing the thread sent: stores change rows in
    /// `conn`'s open transaction, and gives documents back to `store`. On
    /// error the documents the thread kept are lost (the caller fails the
    /// bulk load, which rolls back).
    fn receive_one(
        &mut self,
        conn: &Connection,
        store: &mut DocStore,
    ) -> Result<bool, CommandError> {
        match self.made.recv().map_err(|_| died())?? {
            Out::Made { id, rows, now } => {
                if let Some(rows) = rows {
                    super::persist_rows(conn, &id, rows, now)?;
                }
                Ok(false)
            }
            Out::Back { id, doc } => {
                self.kept.remove(&id);
                store.put_back(id, *doc);
                Ok(false)
            }
            Out::AllBack => Ok(true),
        }
    }

    /// Takes document `id` back from the thread, if it has it, into
    /// `store`, once it made every batch sent (storing the change rows it
    /// made before).
    pub(crate) fn settle_doc(
        &mut self,
        conn: &Connection,
        store: &mut DocStore,
        id: &DocId,
    ) -> Result<(), CommandError> {
        if !self.kept.contains(id) {
            return Ok(());
        }
        self.send(Job::GiveBack(Some(id.clone())))?;
        while self.kept.contains(id) {
            self.receive_one(conn, store)?;
        }
        Ok(())
    }

    /// Takes every document back from the thread, once it made every
    /// batch sent, storing their change rows.
    pub(crate) fn settle(
        &mut self,
        conn: &Connection,
        store: &mut DocStore,
    ) -> Result<(), CommandError> {
        self.send(Job::GiveBack(None))?;
        while !self.receive_one(conn, store)? {}
        if let Some(id) = self.kept.iter().next() {
            return Err(CommandError::Storage(format!(
                "the bulk load's thread did not give document {id} back"
            )));
        }
        Ok(())
    }

    /// Hands the documents a batch wrote to the thread, with the writes
    /// held back for them. A document the thread kept from the batch
    /// before stays there; another is given from this batch (if the batch
    /// had to read it) or from `store`. They come back through
    /// [`Pipeline::settle_doc`] or [`Pipeline::settle`].
    pub(crate) fn hand_off(
        &mut self,
        conn: &Connection,
        store: &mut DocStore,
        held: Vec<(DocId, Option<AutoCommit>, Vec<DocWrite>)>,
        message: String,
        now: Millis,
    ) -> Result<(), CommandError> {
        let mut docs = Vec::with_capacity(held.len());
        for (id, doc, writes) in held {
            let given = match doc {
                None if self.kept.contains(&id) => None,
                doc => {
                    let doc = match doc {
                        Some(doc) => doc,
                        None => store.take(conn, &id)?,
                    };
                    // The thread has nothing of this document's in flight:
                    // the stored count is its own.
                    let pending = super::pending_changes(conn, &id)?;
                    Some(Given {
                        doc,
                        stored: pending.is_some(),
                        pending: pending.unwrap_or(0),
                    })
                }
            };
            self.kept.insert(id.clone());
            docs.push((id, given, writes));
        }
        self.send(Job::Batch { docs, message, now })
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
        if let DocWrite::Put { coll, id, .. } | DocWrite::Update { coll, id, .. } = write
            && coll == "products"
        {
            self.products.remove(id);
        }
        match write {
            DocWrite::Put { coll, value, .. } => {
                if !IMMUTABLE_COLLECTIONS.contains(&coll.as_str()) {
                    self.local.insert(write.record_key(doc), Arc::clone(value));
                }
            }
            DocWrite::Update { .. } | DocWrite::OrderLine { .. } => {
                if let Some(value) = self.local.get_mut(&write.record_key(doc)) {
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
        self.products.clear();
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
    use crate::document::{New, genesis, persist, read_json};
    use crate::testing::rows;
    use automerge::ActorId;

    fn order_put(n: usize) -> DocWrite {
        DocWrite::Put {
            coll: "orders".into(),
            id: format!("o{n}"),
            value: Arc::new(json!({"number": n, "status": "booked", "history": []})),
        }
    }

    /// The thread stores what `persist` stores, batch after batch: the
    /// same change rows, heads and counts, and a snapshot at the same
    /// change, whether it kept the document since the batch before or
    /// was given it again after the writing thread took it back.
    #[test]
    fn the_thread_stores_what_persist_stores_snapshots_included() {
        let id = DocId::Workshop {
            branch: "B1".into(),
            month: 202601,
        };
        let actor = ActorId::from(b"T1.test".as_slice());
        let open = || {
            let mut c = Connection::open_in_memory().unwrap();
            crate::schema::migrate(&mut c, 0).unwrap();
            c
        };
        let batches = SNAPSHOT_EVERY as usize + 40;
        let message = |n: usize| format!("batch {n}");

        let alone = open();
        let mut doc = genesis(&id);
        doc.set_actor(actor.clone());
        for n in 0..batches {
            order_put(n).apply(&mut doc).unwrap();
            doc.commit_with(
                CommitOptions::default()
                    .with_message(message(n))
                    .with_time(n as i64),
            );
            persist(&alone, &id, &mut doc, &[], New::Local, n as i64 * 1000).unwrap();
        }

        let piped = open();
        let mut store = DocStore::new(actor, 4);
        let mut pipeline = Pipeline::start();
        for n in 0..batches {
            pipeline
                .hand_off(
                    &piped,
                    &mut store,
                    vec![(id.clone(), None, vec![order_put(n)])],
                    message(n),
                    n as i64 * 1000,
                )
                .unwrap();
            if n % 97 == 0 {
                pipeline.settle_doc(&piped, &mut store, &id).unwrap();
            }
        }
        pipeline.settle(&piped, &mut store).unwrap();

        let changes = "SELECT doc_id, hash, actor, message, bytes, stored_at, in_snapshot
                       FROM doc_changes ORDER BY seq";
        let documents = "SELECT * FROM documents";
        let snapshots = "SELECT * FROM doc_snapshots ORDER BY doc_id";
        assert_eq!(rows(&piped, changes), rows(&alone, changes));
        assert_eq!(rows(&piped, documents), rows(&alone, documents));
        assert_eq!(rows(&piped, snapshots), rows(&alone, snapshots));
        let snapshotted: i64 = alone
            .query_row(
                "SELECT count(*) FROM doc_changes WHERE in_snapshot = 1",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(snapshotted, SNAPSHOT_EVERY, "one snapshot was taken");
        // And the document came back whole.
        let mut back = store.take(&piped, &id).unwrap();
        assert_eq!(back.get_heads(), doc.get_heads());
    }

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
