//! The SQLite projection: relational tables derived from the documents.
//!
//! The projection is a pure function of the documents' state. Each record of
//! each document maps to a fixed set of rows (its own row, child rows, and the
//! stock movements and ledger entries it implies), keyed by the record's id.
//! Projecting a record deletes those rows and writes them again from the
//! record's current value, so applying changes in any order, twice, or
//! rebuilding from scratch gives the same tables. Sums that depend on several
//! records (stock levels, balances, what an invoice has been paid) are kept
//! by SQLite triggers that react to row inserts and deletes, whichever arrives
//! first.
//!
//! Unique business keys (SKU, barcode, phone, bill number, branch code) can
//! collide after a merge: two terminals offline may both create a customer
//! with the same phone. Such a collision must not make the projection fail,
//! or replicas would diverge, so each table keeps the wanted value in
//! `*_wanted` and the unique column is given to the record with the smallest
//! id among those that want it; the others show up in the conflicts report.
//!
//! A record that arrives from another replica and does not decode or
//! violates a constraint is recorded in `rejected_records` and skipped
//! (inside a savepoint, so nothing of it is half-written); the other records
//! of the same changes still project. A local command, on the contrary, fails
//! as a whole.

use std::collections::BTreeSet;

use automerge::{AutoCommit, ObjId, Patch, Prop, ROOT, ReadDoc};
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, params};
use serde::de::DeserializeOwned;

use crate::document::{DocId, read_json};
use crate::domain::*;

/// What to do when a record cannot be projected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Fail the whole transaction (local commands).
    Strict,
    /// Skip the record and record why (changes from other replicas).
    Lenient,
}

/// Why a record could not be projected.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ProjectError {
    #[error("record {collection}/{id} is malformed: {reason}")]
    Malformed {
        collection: String,
        id: String,
        reason: String,
    },
    #[error(transparent)]
    Sql(#[from] rusqlite::Error),
}

impl ProjectError {
    fn is_record_fault(&self) -> bool {
        match self {
            Self::Malformed { .. } => true,
            Self::Sql(rusqlite::Error::SqliteFailure(e, _)) => {
                e.code == rusqlite::ErrorCode::ConstraintViolation
            }
            Self::Sql(_) => false,
        }
    }
}

/// A record key: (collection, id).
pub(crate) type RecordKey = (String, String);

/// The records touched by a set of patches (from `AutoCommit::diff`).
pub(crate) fn touched_by_patches(patches: &[Patch]) -> BTreeSet<RecordKey> {
    let mut out = BTreeSet::new();
    for p in patches {
        let coll = match p.path.first() {
            Some((_, Prop::Map(c))) => c.clone(),
            _ => {
                // A patch on the root itself: a whole collection was (re)put.
                if let automerge::PatchAction::PutMap { key, .. } = &p.action {
                    out.insert((key.clone(), String::new()));
                }
                continue;
            }
        };
        match p.path.get(1) {
            Some((_, Prop::Map(id))) => {
                out.insert((coll, id.clone()));
            }
            _ => match &p.action {
                automerge::PatchAction::PutMap { key, .. }
                | automerge::PatchAction::DeleteMap { key } => {
                    out.insert((coll, key.clone()));
                }
                _ => {}
            },
        }
    }
    out
}

fn collection(doc: &AutoCommit, name: &str) -> Option<ObjId> {
    match doc.get(ROOT, name) {
        Ok(Some((automerge::Value::Object(_), id))) => Some(id),
        _ => None,
    }
}

/// Ids of every record in a collection.
pub(crate) fn record_ids(doc: &AutoCommit, coll: &str) -> Vec<String> {
    match collection(doc, coll) {
        Some(obj) => doc.keys(&obj).collect(),
        None => Vec::new(),
    }
}

/// Projects one record (or removes its rows if the document no longer has it).
pub(crate) fn project(
    tx: &Connection,
    doc: &AutoCommit,
    doc_id: &DocId,
    coll: &str,
    id: &str,
    mode: Mode,
) -> Result<(), ProjectError> {
    if id.is_empty() {
        // A whole collection changed identity (only a forged change does this):
        // re-project every record in it.
        for rid in record_ids(doc, coll) {
            project(tx, doc, doc_id, coll, &rid, mode)?;
        }
        return Ok(());
    }
    if mode == Mode::Strict {
        // A local command fails as a whole (the caller drops the
        // transaction), so there is no half-projected record to roll back
        // to, and no savepoint is needed. Savepoints are not free: each
        // one makes the full-text indexes flush their pending terms.
        project_inner(tx, Source::Doc(doc), doc_id, coll, id, false)?;
        exec(
            tx,
            "DELETE FROM rejected_records WHERE doc_id = ?1 AND collection = ?2 AND record_id = ?3",
            params![doc_id.to_string(), coll, id],
        )?;
        return Ok(());
    }
    tx.prepare_cached("SAVEPOINT project_record")?.execute([])?;
    let result = project_inner(tx, Source::Doc(doc), doc_id, coll, id, false);
    match result {
        Ok(()) => {
            exec(
                tx,
                "DELETE FROM rejected_records WHERE doc_id = ?1 AND collection = ?2 AND record_id = ?3",
                params![doc_id.to_string(), coll, id],
            )?;
            tx.prepare_cached("RELEASE project_record")?.execute([])?;
            Ok(())
        }
        Err(e) => {
            tx.prepare_cached("ROLLBACK TO project_record")?
                .execute([])?;
            tx.prepare_cached("RELEASE project_record")?.execute([])?;
            // Only the record's own fault makes it a rejected record: a
            // malformed value, or a constraint its values violate. Anything
            // else (disk full, I/O error) fails the whole apply, so nothing
            // is half stored and the sender sends it again later.
            if !e.is_record_fault() {
                return Err(e);
            }
            let reason = e.to_string();
            // Remove whatever an earlier, valid version of the record projected.
            tx.execute_batch("SAVEPOINT project_reject")?;
            let cleared = clear_record(tx, coll, id);
            if cleared.is_err() {
                tx.execute_batch("ROLLBACK TO project_reject")?;
            }
            tx.execute_batch("RELEASE project_reject")?;
            exec(
                tx,
                "INSERT OR REPLACE INTO rejected_records(doc_id, collection, record_id, reason)
                 VALUES (?1, ?2, ?3, ?4)",
                params![doc_id.to_string(), coll, id, reason],
            )?;
            Ok(())
        }
    }
}

/// Where a record is projected from.
#[derive(Clone, Copy)]
enum Source<'a> {
    /// Its document: the record as merged, with its concurrent values.
    Doc(&'a AutoCommit),
    /// The value local commands wrote for a record they created (see
    /// [`project_written`]): what its document reads back.
    Written(&'a serde_json::Value),
}

/// Projects a record from the value local commands wrote, as [`project`]
/// in [`Mode::Strict`] would project it from the document. For a record
/// that is `fresh`, the command has just created it under a new id;
/// otherwise the running bulk load created it, and the value has the
/// changes its commands made since made over it (see `document::pipeline`),
/// so it has rows to replace.
///
/// The two are the same record: the document holds the value as written
/// (`document::write_json`, or its JSON text for an immutable collection),
/// and a record written by local commands only has no concurrent values,
/// so no conflicts to record. Reading it back out of the document
/// (hydrating it, or parsing its text, and looking up its collection and
/// key) was a tenth of the time of a bulk load.
pub(crate) fn project_written(
    tx: &Connection,
    value: &serde_json::Value,
    doc_id: &DocId,
    coll: &str,
    id: &str,
    fresh: bool,
) -> Result<(), ProjectError> {
    project_inner(tx, Source::Written(value), doc_id, coll, id, fresh)
}

/// `execute` through the statement cache: the projection runs the same few
/// dozen statements for every record.
fn exec(tx: &Connection, sql: &str, p: impl rusqlite::Params) -> rusqlite::Result<usize> {
    tx.prepare_cached(sql)?.execute(p)
}

/// Inserts the row of `table` whose `id` is `id`, with `cols`. Columns left
/// out start NULL: the unique keys (`sku`, `barcode`, `phone`) that the
/// record only wants until `resolve_unique` gives them to it.
fn insert_row(
    tx: &Connection,
    table: &str,
    id: &str,
    cols: &[(&str, Value)],
) -> rusqlite::Result<()> {
    let names: Vec<&str> = cols.iter().map(|(n, _)| *n).collect();
    let marks: Vec<String> = (2..=cols.len() + 1).map(|i| format!("?{i}")).collect();
    let mut values: Vec<&dyn rusqlite::ToSql> = vec![&id];
    values.extend(cols.iter().map(|(_, v)| v as &dyn rusqlite::ToSql));
    tx.prepare_cached(&format!(
        "INSERT INTO {table}(id, {}) VALUES (?1, {})",
        names.join(", "),
        marks.join(", ")
    ))?
    .execute(values.as_slice())?;
    Ok(())
}

/// Brings the row of `table` whose `id` is `id` to the values of `cols`,
/// setting only the columns that differ; false when there is no such row.
///
/// An upsert naming every column rewrites the row's entry in every index
/// of those columns and fires every `UPDATE OF` trigger, changed or not: a
/// reprice re-sorted the product in five indexes, a status change the
/// service order in seven. Here a reprice sets the price and the time.
fn update_changed(
    tx: &Connection,
    table: &str,
    id: &str,
    cols: &[(&str, Value)],
) -> rusqlite::Result<bool> {
    let names: Vec<&str> = cols.iter().map(|(n, _)| *n).collect();
    let old: Option<Vec<Value>> = tx
        .prepare_cached(&format!(
            "SELECT {} FROM {table} WHERE id = ?1",
            names.join(", ")
        ))?
        .query_row([id], |r| (0..cols.len()).map(|i| r.get(i)).collect())
        .optional()?;
    let Some(old) = old else {
        return Ok(false);
    };
    let changed: Vec<&(&str, Value)> = cols
        .iter()
        .zip(&old)
        .filter(|((_, new), old)| new != *old)
        .map(|(c, _)| c)
        .collect();
    if changed.is_empty() {
        return Ok(true);
    }
    let set: Vec<String> = changed
        .iter()
        .enumerate()
        .map(|(k, (name, _))| format!("{name} = ?{}", k + 2))
        .collect();
    let mut values: Vec<&dyn rusqlite::ToSql> = vec![&id];
    values.extend(changed.iter().map(|(_, v)| v as &dyn rusqlite::ToSql));
    tx.prepare_cached(&format!(
        "UPDATE {table} SET {} WHERE id = ?1",
        set.join(", ")
    ))?
    .execute(values.as_slice())?;
    Ok(true)
}

fn decode<T: DeserializeOwned>(
    src: Source<'_>,
    coll: &str,
    id: &str,
) -> Result<Option<(T, Option<ObjId>)>, ProjectError> {
    let malformed = |reason: String| ProjectError::Malformed {
        collection: coll.to_string(),
        id: id.to_string(),
        reason,
    };
    let doc = match src {
        Source::Doc(doc) => doc,
        Source::Written(value) => {
            return T::deserialize(value)
                .map(|v| Some((v, None)))
                .map_err(|e| malformed(e.to_string()));
        }
    };
    let Some(cobj) = collection(doc, coll) else {
        return Ok(None);
    };
    let (json, obj) = match doc.get(&cobj, id) {
        Ok(Some((automerge::Value::Object(_), obj))) => {
            (read_json(doc, &obj).map_err(malformed)?, obj)
        }
        // Immutable records are stored whole, as one JSON text (see
        // `document::IMMUTABLE_COLLECTIONS`): parsed straight into the
        // record, without a `serde_json::Value` in between (these are the
        // sales, lines and payments: most of what is projected).
        Ok(Some((automerge::Value::Scalar(s), obj))) => match s.as_ref() {
            automerge::ScalarValue::Str(text) => {
                let value = serde_json::from_str(text).map_err(|e| malformed(e.to_string()))?;
                return Ok(Some((value, Some(obj))));
            }
            _ => return Err(malformed("not a record".into())),
        },
        Ok(None) => return Ok(None),
        Err(e) => return Err(malformed(e.to_string())),
    };
    let value = serde_json::from_value(json).map_err(|e| malformed(e.to_string()))?;
    Ok(Some((value, Some(obj))))
}

fn check(cond: bool, coll: &str, id: &str, reason: &str) -> Result<(), ProjectError> {
    if cond {
        Ok(())
    } else {
        Err(ProjectError::Malformed {
            collection: coll.to_string(),
            id: id.to_string(),
            reason: reason.to_string(),
        })
    }
}

/// `fresh`: the record was just created under a new random id (see
/// [`project_written`]): it has no rows yet, no concurrent values and no
/// earlier rejection, so clearing old rows and looking for conflicts are
/// skipped (they would find nothing).
fn project_inner(
    tx: &Connection,
    src: Source<'_>,
    doc_id: &DocId,
    coll: &str,
    id: &str,
    fresh: bool,
) -> Result<(), ProjectError> {
    let d = doc_id.to_string();
    match coll {
        "branches" => {
            let old = old_wanted(tx, fresh, "branches", "code_wanted", id)?;
            exec(tx, "DELETE FROM branches WHERE id = ?1", [id])?;
            if let Some((b, _)) = decode::<BranchRecord>(src, coll, id)? {
                check(
                    crate::document::is_valid_id(&b.code),
                    coll,
                    id,
                    "bad branch code",
                )?;
                exec(
                    tx,
                    "INSERT INTO branches(id, code, code_wanted, name) VALUES (?1, NULL, ?2, ?3)",
                    params![id, b.code, b.name],
                )?;
                resolve_unique(tx, "branches", "code", Some(&b.code))?;
            }
            resolve_unique(tx, "branches", "code", old.as_deref())?;
        }
        "channels" => {
            exec(tx, "DELETE FROM payment_channels WHERE code = ?1", [id])?;
            if let Some((c, _)) = decode::<ChannelRecord>(src, coll, id)? {
                exec(
                    tx,
                    "INSERT INTO payment_channels(code, name, active, is_cash) VALUES (?1, ?2, ?3, ?4)",
                    params![id, c.name, c.active, c.is_cash],
                )?;
            }
        }
        "products" => {
            let old: Option<(String, Option<String>)> = if fresh {
                None
            } else {
                tx.prepare_cached("SELECT sku_wanted, barcode_wanted FROM products WHERE id = ?1")?
                    .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()?
            };
            match decode::<ProductRecord>(src, coll, id)? {
                Some((p, obj)) => {
                    check(!p.sku.is_empty() && p.sku.len() <= 64, coll, id, "bad sku")?;
                    let cols = [
                        ("sku_wanted", Value::from(p.sku.clone())),
                        ("barcode_wanted", Value::from(p.barcode.clone())),
                        ("name", Value::from(p.name.clone())),
                        ("category", Value::from(p.category.clone())),
                        ("grade", Value::from(p.grade.clone())),
                        ("unit", Value::from(p.unit.clone())),
                        ("price", Value::from(p.price)),
                        ("cost", Value::from(p.cost)),
                        ("min_stock", Value::from(p.min_stock)),
                        ("status", Value::from(p.status.as_str().to_string())),
                        ("updated_at", Value::from(p.updated_at)),
                    ];
                    if fresh || !update_changed(tx, "products", id, &cols)? {
                        insert_row(tx, "products", id, &cols)?;
                    }
                    resolve_unique(tx, "products", "sku", Some(&p.sku))?;
                    resolve_unique(tx, "products", "barcode", p.barcode.as_deref())?;
                    conflicts(
                        tx,
                        fresh,
                        src,
                        &obj,
                        "product",
                        id,
                        &[
                            "name",
                            "price",
                            "cost",
                            "min_stock",
                            "status",
                            "barcode",
                            "category",
                        ],
                    )?;
                    history(tx, fresh, "product", id, &p.history)?;
                }
                None => {
                    exec(tx, "DELETE FROM products WHERE id = ?1", [id])?;
                    clear_meta(tx, "product", id)?;
                }
            }
            if let Some((sku, barcode)) = old {
                resolve_unique(tx, "products", "sku", Some(&sku))?;
                resolve_unique(tx, "products", "barcode", barcode.as_deref())?;
            }
        }
        "services" => {
            exec(tx, "DELETE FROM services WHERE id = ?1", [id])?;
            if let Some((s, _)) = decode::<ServiceRecord>(src, coll, id)? {
                exec(
                    tx,
                    "INSERT INTO services(id, code, name, labour_price, duration_min, active)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![id, s.code, s.name, s.labour_price, s.duration_min, s.active],
                )?;
            }
        }
        "technicians" => {
            exec(tx, "DELETE FROM technicians WHERE id = ?1", [id])?;
            if let Some((t, _)) = decode::<TechnicianRecord>(src, coll, id)? {
                exec(
                    tx,
                    "INSERT INTO technicians(id, branch_id, name, skills, active) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![id, t.branch_id, t.name, t.skills.join(","), t.active],
                )?;
            }
        }
        "customers" => {
            let old = old_wanted(tx, fresh, "customers", "phone_wanted", id)?;
            match decode::<CustomerRecord>(src, coll, id)? {
                Some((c, obj)) => {
                    let cols = [
                        ("name", Value::from(c.name.clone())),
                        ("phone_wanted", Value::from(c.phone.clone())),
                        ("address", Value::from(c.address.clone())),
                        ("credit_limit", Value::from(c.credit_limit)),
                        ("tags", Value::from(c.tags.join(","))),
                        ("created_at", Value::from(c.created_at)),
                        ("updated_at", Value::from(c.updated_at)),
                    ];
                    if fresh || !update_changed(tx, "customers", id, &cols)? {
                        insert_row(tx, "customers", id, &cols)?;
                    }
                    resolve_unique(tx, "customers", "phone", c.phone.as_deref())?;
                    conflicts(
                        tx,
                        fresh,
                        src,
                        &obj,
                        "customer",
                        id,
                        &["name", "phone", "address", "credit_limit"],
                    )?;
                    history(tx, fresh, "customer", id, &c.history)?;
                }
                None => {
                    exec(tx, "DELETE FROM customers WHERE id = ?1", [id])?;
                    clear_meta(tx, "customer", id)?;
                }
            }
            resolve_unique(tx, "customers", "phone", old.as_deref())?;
        }
        "vehicles" => {
            exec(tx, "DELETE FROM vehicles WHERE id = ?1", [id])?;
            if let Some((v, _)) = decode::<VehicleRecord>(src, coll, id)? {
                exec(tx,
                    "INSERT INTO vehicles(id, customer_id, plate, vin, make, model, year, odometer, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                    params![
                        id,
                        v.customer_id,
                        v.plate,
                        v.vin,
                        v.make,
                        v.model,
                        v.year,
                        v.odometer,
                        v.created_at
                    ],
                )?;
            }
        }
        "invoices" => {
            let old = old_wanted(tx, fresh, "invoices", "bill_no_wanted", id)?;
            if !fresh {
                clear_record(tx, coll, id)?;
            }
            if let Some((inv, _)) = decode::<InvoiceRecord>(src, coll, id)? {
                check_invoice(&inv, id)?;
                // Almost always no other invoice wants the bill number: the
                // invoice takes it as it is inserted, rather than through
                // `resolve_unique`'s two more statements and an update of
                // the row just written.
                let sole = tx
                    .prepare_cached(
                        "SELECT 1 FROM invoices WHERE bill_no_wanted = ?1 AND id <> ?2 LIMIT 1",
                    )?
                    .query_row([&inv.bill_no, id], |_| Ok(()))
                    .optional()?
                    .is_none();
                exec(tx,
                    "INSERT INTO invoices(id, doc_id, bill_no, bill_no_wanted, seq, customer_id, branch_id,
                         terminal_id, user_id, at, day, subtotal, discount, tax, total, service_order_id)
                     VALUES (?1, ?2, ?16, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
                    params![
                        id,
                        d,
                        inv.bill_no,
                        inv.seq,
                        inv.customer_id,
                        inv.branch_id,
                        inv.terminal_id,
                        inv.user_id,
                        inv.at,
                        day_of(inv.at),
                        inv.subtotal,
                        inv.discount,
                        inv.tax,
                        inv.total,
                        inv.service_order_id,
                        sole.then_some(&inv.bill_no)
                    ],
                )?;
                if !sole {
                    resolve_unique(tx, "invoices", "bill_no", Some(&inv.bill_no))?;
                }
                let mut line = tx.prepare_cached(
                    "INSERT INTO invoice_lines(invoice_id, line_no, kind, product_id, description, qty,
                         unit_price, discount, tax, total, cost)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                )?;
                for (n, l) in inv.lines.iter().enumerate() {
                    line.execute(params![
                        id,
                        n as i64,
                        l.kind.as_str(),
                        l.product_id,
                        l.description,
                        l.qty,
                        l.unit_price,
                        l.discount,
                        l.tax,
                        l.total,
                        l.cost
                    ])?;
                    if let (LineKind::Product, Some(p)) = (l.kind, &l.product_id) {
                        movement(
                            tx,
                            &Movement {
                                id: &format!("{id}:{n}"),
                                product_id: p,
                                branch_id: &inv.branch_id,
                                qty: -l.qty,
                                kind: "sale",
                                ref_kind: "invoice",
                                ref_id: id,
                                customer_id: inv.customer_id.as_deref(),
                                unit_cost: l.cost,
                                at: inv.at,
                                terminal_id: &inv.terminal_id,
                                user_id: &inv.user_id,
                            },
                        )?;
                    }
                }
                if let Some(c) = &inv.customer_id {
                    ledger(
                        tx,
                        &format!("invoice:{id}"),
                        c,
                        inv.at,
                        inv.total,
                        0,
                        "sale",
                        "invoice",
                        id,
                    )?;
                }
            }
            if !fresh {
                // No void can name an invoice id that did not exist.
                refresh_void(tx, id)?;
            }
            resolve_unique(tx, "invoices", "bill_no", old.as_deref())?;
        }
        "voids" => {
            let old_invoice: Option<String> = if fresh {
                None
            } else {
                let old = tx
                    .prepare_cached("SELECT invoice_id FROM invoice_voids WHERE id = ?1")?
                    .query_row([id], |r| r.get(0))
                    .optional()?;
                clear_record(tx, coll, id)?;
                old
            };
            if let Some((v, _)) = decode::<VoidRecord>(src, coll, id)? {
                exec(
                    tx,
                    "INSERT INTO invoice_voids(id, doc_id, invoice_id, customer_id, amount, user_id,
                         terminal_id, at, reason)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                    params![
                        id,
                        d,
                        v.invoice_id,
                        v.customer_id,
                        v.amount,
                        v.user_id,
                        v.terminal_id,
                        v.at,
                        v.reason
                    ],
                )?;
                refresh_void(tx, &v.invoice_id)?;
            }
            if let Some(inv) = old_invoice {
                refresh_void(tx, &inv)?;
            }
        }
        "payments" => {
            if !fresh {
                clear_record(tx, coll, id)?;
            }
            if let Some((p, _)) = decode::<PaymentRecord>(src, coll, id)? {
                check(
                    p.kind != PaymentKind::Invoice || p.invoice_id.is_some(),
                    coll,
                    id,
                    "invoice payment without invoice",
                )?;
                exec(tx,
                    "INSERT INTO payments(id, doc_id, customer_id, invoice_id, branch_id, terminal_id,
                         user_id, shift_id, at, day, amount, channel, kind)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
                    params![
                        id,
                        d,
                        p.customer_id,
                        p.invoice_id,
                        p.branch_id,
                        p.terminal_id,
                        p.user_id,
                        p.shift_id,
                        p.at,
                        day_of(p.at),
                        p.amount,
                        p.channel,
                        p.kind.as_str()
                    ],
                )?;
                if let Some(c) = &p.customer_id {
                    let (debit, credit, cat) = match p.kind {
                        PaymentKind::Invoice => (0, p.amount, "payment"),
                        PaymentKind::Advance => (0, p.amount, "advance"),
                        PaymentKind::Refund => (p.amount, 0, "refund"),
                    };
                    ledger(
                        tx,
                        &format!("payment:{id}"),
                        c,
                        p.at,
                        debit,
                        credit,
                        cat,
                        "payment",
                        id,
                    )?;
                }
            }
        }
        "returns" => {
            let old_invoice: Option<String> = if fresh {
                None
            } else {
                let old = tx
                    .prepare_cached("SELECT invoice_id FROM returns WHERE id = ?1")?
                    .query_row([id], |r| r.get(0))
                    .optional()?;
                clear_record(tx, coll, id)?;
                old
            };
            if let Some((r, _)) = decode::<ReturnRecord>(src, coll, id)? {
                check(
                    r.total == r.lines.iter().map(|l| l.amount).sum::<i64>(),
                    coll,
                    id,
                    "return total differs from its lines",
                )?;
                exec(tx,
                    "INSERT INTO returns(id, doc_id, invoice_id, customer_id, branch_id, terminal_id,
                         user_id, at, day, total, reason)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                    params![
                        id,
                        d,
                        r.invoice_id,
                        r.customer_id,
                        r.branch_id,
                        r.terminal_id,
                        r.user_id,
                        r.at,
                        day_of(r.at),
                        r.total,
                        r.reason
                    ],
                )?;
                for (n, l) in r.lines.iter().enumerate() {
                    exec(tx,
                        "INSERT INTO return_lines(return_id, line_no, invoice_line_no, product_id, qty, amount)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                        params![id, n as i64, l.invoice_line_no, l.product_id, l.qty, l.amount],
                    )?;
                    if let Some(p) = &l.product_id {
                        movement(
                            tx,
                            &Movement {
                                id: &format!("{id}:{n}"),
                                product_id: p,
                                branch_id: &r.branch_id,
                                qty: l.qty,
                                kind: "return",
                                ref_kind: "return",
                                ref_id: id,
                                customer_id: r.customer_id.as_deref(),
                                unit_cost: l.unit_cost,
                                at: r.at,
                                terminal_id: &r.terminal_id,
                                user_id: &r.user_id,
                            },
                        )?;
                    }
                }
                if let Some(c) = &r.customer_id {
                    ledger(
                        tx,
                        &format!("return:{id}"),
                        c,
                        r.at,
                        0,
                        r.total,
                        "return",
                        "return",
                        id,
                    )?;
                }
                refresh_void(tx, &r.invoice_id)?;
            }
            if let Some(inv) = old_invoice {
                refresh_void(tx, &inv)?;
            }
        }
        "stock" => {
            if !fresh {
                clear_record(tx, coll, id)?;
            }
            if let Some((s, _)) = decode::<StockRecord>(src, coll, id)? {
                exec(tx,
                    "INSERT INTO stock_records(id, doc_id, kind, branch_id, to_branch, terminal_id, user_id, at, note)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                    params![
                        id,
                        d,
                        s.kind.as_str(),
                        s.branch_id,
                        s.to_branch,
                        s.terminal_id,
                        s.user_id,
                        s.at,
                        s.note
                    ],
                )?;
                for (n, l) in s.lines.iter().enumerate() {
                    let mv_id = format!("{id}:{n}");
                    let mut m = Movement {
                        id: &mv_id,
                        product_id: &l.product_id,
                        branch_id: &s.branch_id,
                        qty: l.qty,
                        kind: s.kind.as_str(),
                        ref_kind: "stock",
                        ref_id: id,
                        customer_id: None,
                        unit_cost: l.unit_cost,
                        at: s.at,
                        terminal_id: &s.terminal_id,
                        user_id: &s.user_id,
                    };
                    match s.kind {
                        StockRecordKind::Receipt => {
                            check(l.qty > 0, coll, id, "receipt quantity must be positive")?;
                            movement(tx, &m)?;
                        }
                        StockRecordKind::Adjustment => movement(tx, &m)?,
                        StockRecordKind::Transfer => {
                            check(l.qty > 0, coll, id, "transfer quantity must be positive")?;
                            check(
                                s.to_branch.is_some(),
                                coll,
                                id,
                                "transfer without destination",
                            )?;
                            // The incoming side is the `transfers` record of the
                            // same id in the receiving branch's inbound document.
                            m.qty = -l.qty;
                            m.kind = "transfer_out";
                            movement(tx, &m)?;
                        }
                    }
                }
            }
        }
        "transfers" => {
            clear_record(tx, coll, id)?;
            if let Some((t, _)) = decode::<TransferInRecord>(src, coll, id)? {
                check(
                    doc_id.branch() == Some(t.to_branch.as_str()),
                    coll,
                    id,
                    "transfer filed under another branch",
                )?;
                for (n, l) in t.lines.iter().enumerate() {
                    check(l.qty > 0, coll, id, "transfer quantity must be positive")?;
                    movement(
                        tx,
                        &Movement {
                            id: &format!("{id}:{n}:in"),
                            product_id: &l.product_id,
                            branch_id: &t.to_branch,
                            qty: l.qty,
                            kind: "transfer_in",
                            ref_kind: "transfer",
                            ref_id: id,
                            customer_id: None,
                            unit_cost: l.unit_cost,
                            at: t.at,
                            terminal_id: &t.terminal_id,
                            user_id: &t.user_id,
                        },
                    )?;
                }
            }
        }
        "shifts" => {
            if !fresh {
                clear_record(tx, coll, id)?;
            }
            if let Some((s, _)) = decode::<ShiftRecord>(src, coll, id)? {
                exec(tx,
                    "INSERT INTO shifts(id, doc_id, terminal_id, branch_id, user_id, opened_at, opening_float,
                         closed_at, closed_by)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                    params![
                        id,
                        d,
                        s.terminal_id,
                        s.branch_id,
                        s.user_id,
                        s.opened_at,
                        s.opening_float,
                        s.closed_at,
                        s.closed_by
                    ],
                )?;
                for (channel, counted) in &s.counted {
                    exec(
                        tx,
                        "INSERT INTO shift_counts(shift_id, channel, counted) VALUES (?1, ?2, ?3)",
                        params![id, channel, counted],
                    )?;
                }
            }
        }
        "orders" => match decode::<ServiceOrderRecord>(src, coll, id)? {
            Some((o, obj)) => {
                // Concurrent status changes resolve by business precedence, not by
                // automerge's arbitrary (but deterministic) register winner.
                let statuses: Vec<OrderStatus> = match (src, &obj) {
                    (Source::Doc(doc), Some(obj)) => {
                        crate::document::codec_all_values(doc, obj, "status")
                    }
                    // A new order has one status.
                    _ => Vec::new(),
                }
                .iter()
                .filter_map(|s| OrderStatus::parse(s))
                .collect();
                let status = statuses
                    .iter()
                    .copied()
                    .max_by_key(|s| s.precedence())
                    .unwrap_or(o.status);
                let cols = [
                    ("doc_id", Value::from(d.clone())),
                    ("number", Value::from(o.number.clone())),
                    ("customer_id", Value::from(o.customer_id.clone())),
                    ("vehicle_id", Value::from(o.vehicle_id.clone())),
                    ("branch_id", Value::from(o.branch_id.clone())),
                    ("status", Value::from(status.as_str().to_string())),
                    ("scheduled_date", Value::from(o.scheduled_date.clone())),
                    ("technician_id", Value::from(o.technician_id.clone())),
                    ("complaint", Value::from(o.complaint.clone())),
                    ("odometer", Value::from(o.odometer)),
                    ("invoice_id", Value::from(o.invoice_id.clone())),
                    ("created_at", Value::from(o.created_at)),
                    ("updated_at", Value::from(o.updated_at)),
                ];
                // An order changes a field or gains a line at a time: its row
                // and lines are brought up to date in place. One without a
                // row (new, or rejected before) is written whole.
                let in_place = !fresh && update_changed(tx, "service_orders", id, &cols)?;
                if !in_place {
                    if !fresh {
                        clear_record(tx, coll, id)?;
                    }
                    insert_row(tx, "service_orders", id, &cols)?;
                }
                order_labour(tx, in_place, id, &o.labour)?;
                order_parts(tx, in_place, id, &o)?;
                conflicts(
                    tx,
                    fresh,
                    src,
                    &obj,
                    "service_order",
                    id,
                    &["status", "technician_id", "scheduled_date"],
                )?;
                if statuses.len() > 1 {
                    // Record the business winner, not the register winner.
                    let losers: Vec<&str> = statuses
                        .iter()
                        .filter(|s| **s != status)
                        .map(|s| s.as_str())
                        .collect();
                    exec(
                        tx,
                        "UPDATE field_conflicts SET winner = ?3, losers = ?4
                             WHERE record_kind = 'service_order' AND record_id = ?1 AND field = ?2",
                        params![id, "status", status.as_str(), losers.join(",")],
                    )?;
                }
                history(tx, fresh, "service_order", id, &o.history)?;
            }
            None => {
                if !fresh {
                    clear_record(tx, coll, id)?;
                }
                clear_meta(tx, "service_order", id)?;
            }
        },
        other => {
            return Err(ProjectError::Malformed {
                collection: other.to_string(),
                id: id.to_string(),
                reason: "unknown collection".into(),
            });
        }
    }
    Ok(())
}

/// Projects an order's labour lines: all of them for an order written
/// whole, otherwise only those that are new or differ, and the removal of
/// those gone.
fn order_labour(
    tx: &Connection,
    in_place: bool,
    id: &str,
    lines: &std::collections::BTreeMap<String, LabourLine>,
) -> rusqlite::Result<()> {
    let mut old = std::collections::BTreeMap::new();
    if in_place {
        let mut stmt = tx.prepare_cached(
            "SELECT line_id, service_id, description, technician_id, price, duration_min
             FROM service_order_labour WHERE order_id = ?1",
        )?;
        let rows = stmt.query_map([id], |r| {
            Ok((
                r.get::<_, String>(0)?,
                LabourLine {
                    service_id: r.get(1)?,
                    description: r.get(2)?,
                    technician_id: r.get(3)?,
                    price: r.get(4)?,
                    duration_min: r.get(5)?,
                },
            ))
        })?;
        for row in rows {
            let (lid, line) = row?;
            old.insert(lid, line);
        }
    }
    for (lid, was) in &old {
        if lines.get(lid) != Some(was) {
            exec(
                tx,
                "DELETE FROM service_order_labour WHERE order_id = ?1 AND line_id = ?2",
                [id, lid.as_str()],
            )?;
        }
    }
    for (lid, l) in lines {
        if old.get(lid) == Some(l) {
            continue;
        }
        exec(
            tx,
            "INSERT INTO service_order_labour(order_id, line_id, service_id, description,
                 technician_id, price, duration_min)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                id,
                lid,
                l.service_id,
                l.description,
                l.technician_id,
                l.price,
                l.duration_min
            ],
        )?;
    }
    Ok(())
}

/// Projects an order's parts and their stock movements, as
/// [`order_labour`] its labour. A part stays when its row and its movement
/// (which also carries the order's customer) are what the record gives.
fn order_parts(
    tx: &Connection,
    in_place: bool,
    id: &str,
    o: &ServiceOrderRecord,
) -> rusqlite::Result<()> {
    // Each projected part as the record would give it, with whether its
    // movement still names the order's customer.
    let mut old = std::collections::BTreeMap::new();
    if in_place {
        let mut stmt = tx.prepare_cached(
            "SELECT p.line_id, p.product_id, p.qty, p.unit_price, m.unit_cost, m.branch_id,
                    m.terminal_id, m.user_id, p.at,
                    m.product_id IS p.product_id AND m.qty IS -p.qty AND m.at IS p.at
                        AND m.kind IS 'part_use' AND m.ref_kind IS 'order' AND m.ref_id IS p.order_id
                        AND m.customer_id IS ?2
             FROM service_order_parts p
             LEFT JOIN stock_movements m ON m.id = p.order_id || ':' || p.line_id
             WHERE p.order_id = ?1",
        )?;
        let rows = stmt.query_map([id, o.customer_id.as_str()], |r| {
            let moved: Option<bool> = r.get(9)?;
            let part = match moved {
                Some(true) => Some(PartLine {
                    product_id: r.get(1)?,
                    qty: r.get(2)?,
                    unit_price: r.get(3)?,
                    unit_cost: r.get(4)?,
                    branch_id: r.get(5)?,
                    terminal_id: r.get(6)?,
                    user_id: r.get(7)?,
                    at: r.get(8)?,
                }),
                // No movement, or one that differs: written again.
                _ => None,
            };
            Ok((r.get::<_, String>(0)?, part))
        })?;
        for row in rows {
            let (lid, part) = row?;
            old.insert(lid, part);
        }
    }
    for (lid, was) in &old {
        if was.is_none() || o.parts.get(lid) != was.as_ref() {
            exec(
                tx,
                "DELETE FROM service_order_parts WHERE order_id = ?1 AND line_id = ?2",
                [id, lid.as_str()],
            )?;
            exec(
                tx,
                "DELETE FROM stock_movements WHERE id = ?1",
                [format!("{id}:{lid}")],
            )?;
        }
    }
    for (lid, p) in &o.parts {
        if old.get(lid).is_some_and(|was| was.as_ref() == Some(p)) {
            continue;
        }
        exec(
            tx,
            "INSERT INTO service_order_parts(order_id, line_id, product_id, qty, unit_price, at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![id, lid, p.product_id, p.qty, p.unit_price, p.at],
        )?;
        movement(
            tx,
            &Movement {
                id: &format!("{id}:{lid}"),
                product_id: &p.product_id,
                branch_id: &p.branch_id,
                qty: -p.qty,
                kind: "part_use",
                ref_kind: "order",
                ref_id: id,
                customer_id: Some(&o.customer_id),
                unit_cost: p.unit_cost,
                at: p.at,
                terminal_id: &p.terminal_id,
                user_id: &p.user_id,
            },
        )?;
    }
    Ok(())
}

/// Recomputes what voiding `invoice_id` does, from the invoice, its voids
/// and its returns as they are now, whatever order they arrived in.
///
/// Two terminals may void the same invoice offline, or one may void while
/// another takes a return. Only the void with the smallest id takes effect
/// (`effective = 1`), and it puts back on the shelf, and credits the
/// customer for, only what was not already returned. The other voids stay
/// visible in `invoice_voids` with `effective = 0`.
fn refresh_void(tx: &Connection, invoice_id: &str) -> rusqlite::Result<()> {
    exec(
        tx,
        "DELETE FROM stock_movements WHERE ref_kind = 'void'
           AND ref_id IN (SELECT id FROM invoice_voids WHERE invoice_id = ?1)",
        [invoice_id],
    )?;
    exec(
        tx,
        "DELETE FROM ledger_entries WHERE ref_kind = 'void'
           AND ref_id IN (SELECT id FROM invoice_voids WHERE invoice_id = ?1)",
        [invoice_id],
    )?;
    exec(
        tx,
        "UPDATE invoice_voids SET effective = 0 WHERE invoice_id = ?1 AND effective = 1",
        [invoice_id],
    )?;
    let effective: Option<(String, String, String, Millis)> = tx
        .prepare_cached(
            "SELECT id, user_id, terminal_id, at FROM invoice_voids WHERE invoice_id = ?1 ORDER BY id LIMIT 1",
        )?
        .query_row([invoice_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .optional()?;
    let Some((void_id, user, terminal, at)) = effective else {
        return Ok(());
    };
    let invoice: Option<(Option<String>, Money, Money)> = tx
        .prepare_cached("SELECT customer_id, total, returned FROM invoices WHERE id = ?1")?
        .query_row([invoice_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    let Some((customer, total, returned)) = invoice else {
        // The void arrived before its invoice: it takes effect when the invoice does.
        return Ok(());
    };
    exec(
        tx,
        "UPDATE invoice_voids SET effective = 1 WHERE id = ?1",
        [&void_id],
    )?;
    exec(
        tx,
        "INSERT INTO stock_movements(id, product_id, branch_id, qty, kind, ref_kind, ref_id, customer_id,
             unit_cost, at, terminal_id, user_id)
         SELECT ?2 || ':' || l.line_no, l.product_id, i.branch_id, l.qty - coalesce(r.qty, 0), 'void', 'void',
                ?2, i.customer_id, l.cost, ?3, ?4, ?5
         FROM invoice_lines l
         JOIN invoices i ON i.id = l.invoice_id
         LEFT JOIN (SELECT rl.invoice_line_no AS line_no, sum(rl.qty) AS qty
                    FROM returns rt JOIN return_lines rl ON rl.return_id = rt.id
                    WHERE rt.invoice_id = ?1 GROUP BY rl.invoice_line_no) r ON r.line_no = l.line_no
         WHERE l.invoice_id = ?1 AND l.kind = 'product' AND l.product_id IS NOT NULL
           AND l.qty - coalesce(r.qty, 0) > 0",
        params![invoice_id, void_id, at, terminal, user],
    )?;
    if let Some(c) = customer {
        ledger(
            tx,
            &format!("void:{void_id}"),
            &c,
            at,
            0,
            (total - returned).max(0),
            "void",
            "void",
            &void_id,
        )?;
    }
    Ok(())
}

fn check_invoice(inv: &InvoiceRecord, id: &str) -> Result<(), ProjectError> {
    let c = "invoices";
    check(!inv.lines.is_empty(), c, id, "invoice without lines")?;
    let mut subtotal = 0i64;
    let mut discount = 0i64;
    let mut tax = 0i64;
    let mut total = 0i64;
    for l in &inv.lines {
        let g = gross(l.qty, l.unit_price);
        check(
            g.is_some_and(|g| l.total == g - l.discount + l.tax) && l.qty > 0,
            c,
            id,
            "line total differs from quantity x price - discount + tax",
        )?;
        subtotal += g.unwrap_or(0);
        discount += l.discount;
        tax += l.tax;
        total += l.total;
    }
    check(
        inv.subtotal == subtotal
            && inv.discount == discount
            && inv.tax == tax
            && inv.total == total,
        c,
        id,
        "invoice totals differ from its lines",
    )
}

/// Deletes every row a record projected (its own row, children through
/// ON DELETE CASCADE, movements and ledger entries it implied).
fn clear_record(tx: &Connection, coll: &str, id: &str) -> rusqlite::Result<()> {
    let (table, ref_kind) = match coll {
        "invoices" => ("invoices", "invoice"),
        "voids" => ("invoice_voids", "void"),
        "payments" => ("payments", "payment"),
        "returns" => ("returns", "return"),
        "stock" => ("stock_records", "stock"),
        "transfers" => {
            tx.prepare_cached(
                "DELETE FROM stock_movements WHERE ref_kind = 'transfer' AND ref_id = ?1",
            )?
            .execute([id])?;
            return Ok(());
        }
        "shifts" => ("shifts", ""),
        "orders" => ("service_orders", "order"),
        "products" => ("products", ""),
        "customers" => ("customers", ""),
        "vehicles" => ("vehicles", ""),
        "services" => ("services", ""),
        "technicians" => ("technicians", ""),
        "branches" => ("branches", ""),
        "channels" => {
            exec(tx, "DELETE FROM payment_channels WHERE code = ?1", [id])?;
            return Ok(());
        }
        _ => return Ok(()),
    };
    exec(tx, &format!("DELETE FROM {table} WHERE id = ?1"), [id])?;
    if !ref_kind.is_empty() {
        tx.prepare_cached("DELETE FROM stock_movements WHERE ref_kind = ?1 AND ref_id = ?2")?
            .execute([ref_kind, id])?;
        tx.prepare_cached("DELETE FROM ledger_entries WHERE ref_kind = ?1 AND ref_id = ?2")?
            .execute([ref_kind, id])?;
    }
    Ok(())
}

fn clear_meta(tx: &Connection, kind: &str, id: &str) -> rusqlite::Result<()> {
    exec(
        tx,
        "DELETE FROM field_conflicts WHERE record_kind = ?1 AND record_id = ?2",
        [kind, id],
    )?;
    exec(
        tx,
        "DELETE FROM record_history WHERE record_kind = ?1 AND record_id = ?2",
        [kind, id],
    )?;
    Ok(())
}

/// The `col` a record wanted before (none for a `fresh` record).
fn old_wanted(
    tx: &Connection,
    fresh: bool,
    table: &str,
    col: &str,
    id: &str,
) -> rusqlite::Result<Option<String>> {
    if fresh {
        return Ok(None);
    }
    Ok(tx
        .prepare_cached(&format!("SELECT {col} FROM {table} WHERE id = ?1"))?
        .query_row([id], |r| r.get::<_, Option<String>>(0))
        .optional()?
        .flatten())
}

/// Gives the unique column `col` of `table` to the record with the smallest
/// id among those whose `{col}_wanted` is `value`; the others get NULL.
fn resolve_unique(
    tx: &Connection,
    table: &str,
    col: &str,
    value: Option<&str>,
) -> rusqlite::Result<()> {
    let Some(value) = value else { return Ok(()) };
    let winner: Option<String> = tx
        .prepare_cached(&format!(
            "SELECT min(id) FROM {table} WHERE {col}_wanted = ?1"
        ))?
        .query_row([value], |r| r.get(0))?;
    tx.prepare_cached(&format!(
        "UPDATE {table} SET {col} = NULL WHERE {col} = ?1 AND id IS NOT ?2"
    ))?
    .execute(params![value, winner])?;
    if let Some(w) = winner {
        tx.prepare_cached(&format!(
            "UPDATE {table} SET {col} = ?1 WHERE id = ?2 AND {col} IS NOT ?1"
        ))?
        .execute(params![value, w])?;
    }
    Ok(())
}

/// Records the fields of `obj` that hold concurrent values. A record
/// projected from the value written has none: it was written by local
/// commands only, and created by them (a `fresh` one in this very change).
#[allow(clippy::too_many_arguments)]
fn conflicts(
    tx: &Connection,
    fresh: bool,
    src: Source<'_>,
    obj: &Option<ObjId>,
    kind: &str,
    id: &str,
    fields: &[&str],
) -> rusqlite::Result<()> {
    let (false, Source::Doc(doc), Some(obj)) = (fresh, src, obj) else {
        return Ok(());
    };
    tx.prepare_cached("DELETE FROM field_conflicts WHERE record_kind = ?1 AND record_id = ?2")?
        .execute([kind, id])?;
    for f in fields {
        let values = crate::document::codec_all_values(doc, obj, f);
        if values.len() > 1 {
            tx.prepare_cached(
                "INSERT INTO field_conflicts(record_kind, record_id, field, winner, losers)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![kind, id, f, values[0], values[1..].join(",")])?;
        }
    }
    Ok(())
}

/// Projects a record's history. A change usually appends one entry, so the
/// rows already projected are compared with the list first: those still
/// the same at their position stay, and only the rest is rewritten (a
/// merge may also insert entries in the middle, or a rebuild start over).
fn history(
    tx: &Connection,
    fresh: bool,
    kind: &str,
    id: &str,
    entries: &[HistoryEntry],
) -> rusqlite::Result<()> {
    let mut kept = 0;
    if !fresh {
        let mut stmt = tx.prepare_cached(
            "SELECT pos, field, value, user_id, replica, at FROM record_history
             WHERE record_kind = ?1 AND record_id = ?2 ORDER BY pos",
        )?;
        let mut rows = stmt.query([kind, id])?;
        while let Some(r) = rows.next()? {
            let same = entries.get(kept).is_some_and(|h| {
                r.get_ref(0).ok().and_then(|v| v.as_i64().ok()) == Some(kept as i64)
                    && r.get_ref(1).ok().and_then(|v| v.as_str().ok()) == Some(h.field.as_str())
                    && r.get_ref(2).ok().and_then(|v| v.as_str().ok()) == Some(h.value.as_str())
                    && r.get_ref(3).ok().and_then(|v| v.as_str().ok()) == Some(h.user.as_str())
                    && r.get_ref(4).ok().and_then(|v| v.as_str().ok()) == Some(h.replica.as_str())
                    && r.get_ref(5).ok().and_then(|v| v.as_i64().ok()) == Some(h.at)
            });
            if !same {
                break;
            }
            kept += 1;
        }
        drop(rows);
        tx.prepare_cached(
            "DELETE FROM record_history WHERE record_kind = ?1 AND record_id = ?2 AND pos >= ?3",
        )?
        .execute(params![kind, id, kept as i64])?;
    }
    let mut ins = tx.prepare_cached(
        "INSERT INTO record_history(record_kind, record_id, pos, field, value, user_id, replica, at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?;
    for (i, h) in entries.iter().enumerate().skip(kept) {
        ins.execute(params![
            kind, id, i as i64, h.field, h.value, h.user, h.replica, h.at
        ])?;
    }
    Ok(())
}

struct Movement<'a> {
    id: &'a str,
    product_id: &'a str,
    branch_id: &'a str,
    qty: Qty,
    kind: &'a str,
    ref_kind: &'a str,
    ref_id: &'a str,
    customer_id: Option<&'a str>,
    unit_cost: Money,
    at: Millis,
    terminal_id: &'a str,
    user_id: &'a str,
}

fn movement(tx: &Connection, m: &Movement<'_>) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO stock_movements(id, product_id, branch_id, qty, kind, ref_kind, ref_id, customer_id,
             unit_cost, at, terminal_id, user_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?
    .execute(params![
        m.id,
        m.product_id,
        m.branch_id,
        m.qty,
        m.kind,
        m.ref_kind,
        m.ref_id,
        m.customer_id,
        m.unit_cost,
        m.at,
        m.terminal_id,
        m.user_id
    ])?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn ledger(
    tx: &Connection,
    entry_id: &str,
    customer: &str,
    at: Millis,
    debit: Money,
    credit: Money,
    category: &str,
    ref_kind: &str,
    ref_id: &str,
) -> rusqlite::Result<()> {
    if debit == 0 && credit == 0 {
        return Ok(());
    }
    tx.prepare_cached(
        "INSERT INTO ledger_entries(id, customer_id, at, debit, credit, category, ref_kind, ref_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        entry_id, customer, at, debit, credit, category, ref_kind, ref_id
    ])?;
    Ok(())
}

/// Tables of the projection, in dump order, with the columns that identify a
/// row. Local storage details (`rid`) are left out of dumps.
pub(crate) const PROJECTION_TABLES: &[(&str, &str)] = &[
    ("branches", "id"),
    ("payment_channels", "code"),
    ("products", "id"),
    ("services", "id"),
    ("technicians", "id"),
    ("customers", "id"),
    ("vehicles", "id"),
    // Sums kept by triggers on the tables below them: listed first so that
    // `clear_all`, which deletes in reverse order, empties them last, once
    // the triggers have taken every row back out.
    ("daily_sales", "day, branch_id"),
    ("daily_payments", "day, branch_id, channel"),
    ("daily_category_sales", "day, branch_id, category"),
    ("daily_product_sales", "day, branch_id, product_id, kind"),
    ("invoices", "id"),
    ("invoice_lines", "invoice_id, line_no"),
    ("invoice_voids", "id"),
    ("payments", "id"),
    ("returns", "id"),
    ("return_lines", "return_id, line_no"),
    ("stock_records", "id"),
    ("stock_movements", "id"),
    ("stock_levels", "product_id, branch_id"),
    ("ledger_entries", "id"),
    ("customer_balances", "customer_id"),
    ("shifts", "id"),
    ("shift_counts", "shift_id, channel"),
    ("service_orders", "id"),
    ("service_order_labour", "order_id, line_id"),
    ("service_order_parts", "order_id, line_id"),
    ("field_conflicts", "record_kind, record_id, field"),
    ("record_history", "record_kind, record_id, pos"),
    ("rejected_records", "doc_id, collection, record_id"),
    // Kept by triggers on the stock levels and the products (step 10), on
    // the balances and the customers (step 11): listed last so that
    // `clear_all` empties them first. With no stock branch left, the
    // triggers keep nothing while the rows above go.
    ("stock_branches", "branch_id"),
    ("low_stock", "branch_id, product_id"),
    ("over_credit", "customer_id"),
];

/// Deletes every projected row (before a rebuild).
pub(crate) fn clear_all(tx: &Connection) -> rusqlite::Result<()> {
    for (table, _) in PROJECTION_TABLES.iter().rev() {
        exec(tx, &format!("DELETE FROM {table}"), [])?;
    }
    Ok(())
}

/// A canonical text dump of every projection table: identical text means
/// identical tables. Used by the convergence and rebuild tests.
pub(crate) fn dump(conn: &Connection) -> rusqlite::Result<String> {
    let mut out = String::new();
    for (table, order) in PROJECTION_TABLES {
        let cols: Vec<String> = {
            let mut stmt =
                conn.prepare(&format!("SELECT name FROM pragma_table_xinfo('{table}')"))?;
            stmt.query_map([], |r| r.get::<_, String>(0))?
                .filter_map(Result::ok)
                .filter(|c| c != "rid")
                .collect()
        };
        out.push_str(&format!("## {table} ({})\n", cols.join(", ")));
        let sql = format!("SELECT {} FROM {table} ORDER BY {order}", cols.join(", "));
        let mut stmt = conn.prepare(&sql)?;
        let n = cols.len();
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let mut line = Vec::with_capacity(n);
            for i in 0..n {
                let v: rusqlite::types::Value = r.get(i)?;
                line.push(match v {
                    rusqlite::types::Value::Null => "NULL".to_string(),
                    rusqlite::types::Value::Integer(i) => i.to_string(),
                    rusqlite::types::Value::Real(f) => f.to_string(),
                    rusqlite::types::Value::Text(t) => format!("{t:?}"),
                    rusqlite::types::Value::Blob(b) => format!("x{}", b.len()),
                });
            }
            out.push_str(&line.join("|"));
            out.push('\n');
        }
    }
    Ok(out)
}
