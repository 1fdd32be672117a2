//! Commands: everything a user can do, validated against the local
//! projection, then written as one automerge change per document touched.
//!
//! Each handler first validates (reads only), then writes through
//! [`WriteCtx`]. A handler that returns an error leaves no trace: its
//! uncommitted document operations are rolled back by the caller.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use automerge::AutoCommit;
use automerge::transaction::Transactable;
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::document::{DocId, DocStore, DocWrite, Pipeline, is_valid_id};
use crate::domain::*;
use crate::error::CommandError;
use crate::replica::ReplicaIdentity;

type Result<T> = std::result::Result<T, CommandError>;

/// Longest accepted name-like text.
pub const MAX_TEXT: usize = 200;
/// Longest accepted note or reason.
pub const MAX_NOTE: usize = 1000;
/// Most lines on one invoice, return or stock record.
pub const MAX_LINES: usize = 200;
/// Largest accepted amount or quantity (guards overflow in sums).
pub const MAX_AMOUNT: i64 = 1_000_000_000_000;

/// One line of a sale.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SaleLine {
    /// Product sold.
    pub product_id: String,
    /// Quantity in thousandths of the product's unit.
    pub qty: Qty,
    /// Price per unit; the catalogue price when absent.
    #[serde(default)]
    pub unit_price: Option<Money>,
    /// Discount on the line.
    #[serde(default)]
    pub discount: Money,
    /// Tax rate in basis points (1500 = 15%).
    #[serde(default)]
    pub tax_rate_bp: i64,
}

/// Money tendered in one channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tender {
    /// Channel code.
    pub channel: String,
    /// Amount.
    pub amount: Money,
}

/// One product line of a stock command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockLineInput {
    /// Product.
    pub product_id: String,
    /// Quantity (signed only for adjustments).
    pub qty: Qty,
    /// Unit cost; the catalogue cost when absent.
    #[serde(default)]
    pub unit_cost: Option<Money>,
}

/// One line of a return.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReturnLineInput {
    /// Index of the invoice line (0-based).
    pub line_no: i64,
    /// Quantity returned.
    pub qty: Qty,
}

/// Everything a user can ask a replica to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Command {
    /// Add a branch to the chain.
    CreateBranch {
        /// Short code used in bill numbers.
        code: String,
        /// Display name.
        name: String,
    },
    /// Create or edit a payment channel.
    SetPaymentChannel {
        /// Channel code (`cash`, `card`...).
        code: String,
        /// Display name.
        name: String,
        /// Counted in the drawer.
        is_cash: bool,
        /// Accepts payments.
        active: bool,
    },
    /// Add a product to the catalogue.
    CreateProduct {
        /// Unique SKU.
        sku: String,
        /// Unique barcode, if any.
        #[serde(default)]
        barcode: Option<String>,
        /// Name.
        name: String,
        /// Category.
        category: String,
        /// Grade.
        #[serde(default)]
        grade: Option<String>,
        /// Unit of sale.
        unit: String,
        /// Price.
        price: Money,
        /// Cost.
        cost: Money,
        /// Low-stock threshold.
        #[serde(default)]
        min_stock: Qty,
    },
    /// Edit a product; absent fields stay as they are. An empty barcode clears it.
    UpdateProduct {
        /// Product.
        product_id: String,
        /// New name.
        #[serde(default)]
        name: Option<String>,
        /// New category.
        #[serde(default)]
        category: Option<String>,
        /// New price.
        #[serde(default)]
        price: Option<Money>,
        /// New cost.
        #[serde(default)]
        cost: Option<Money>,
        /// New threshold.
        #[serde(default)]
        min_stock: Option<Qty>,
        /// New status.
        #[serde(default)]
        status: Option<ProductStatus>,
        /// New barcode ("" clears).
        #[serde(default)]
        barcode: Option<String>,
    },
    /// Add a workshop service to the catalogue.
    CreateService {
        /// Code.
        code: String,
        /// Name.
        name: String,
        /// Labour price.
        labour_price: Money,
        /// Planned minutes.
        duration_min: i64,
    },
    /// Add a technician to a branch (this replica's branch when absent).
    CreateTechnician {
        /// Branch.
        #[serde(default)]
        branch_id: Option<String>,
        /// Name.
        name: String,
        /// Skills.
        #[serde(default)]
        skills: Vec<String>,
    },
    /// Add a customer.
    CreateCustomer {
        /// Name.
        name: String,
        /// Phone, unique.
        #[serde(default)]
        phone: Option<String>,
        /// Address.
        #[serde(default)]
        address: Option<String>,
        /// Credit limit (0: cash only).
        #[serde(default)]
        credit_limit: Money,
        /// Tags.
        #[serde(default)]
        tags: Vec<String>,
    },
    /// Edit a customer; absent fields stay. An empty phone clears it.
    UpdateCustomer {
        /// Customer.
        customer_id: String,
        /// New name.
        #[serde(default)]
        name: Option<String>,
        /// New phone ("" clears).
        #[serde(default)]
        phone: Option<String>,
        /// New address.
        #[serde(default)]
        address: Option<String>,
        /// New credit limit.
        #[serde(default)]
        credit_limit: Option<Money>,
        /// New tags.
        #[serde(default)]
        tags: Option<Vec<String>>,
    },
    /// Register a customer's vehicle.
    RegisterVehicle {
        /// Owner.
        customer_id: String,
        /// Plate.
        plate: String,
        /// VIN.
        #[serde(default)]
        vin: Option<String>,
        /// Make.
        make: String,
        /// Model.
        model: String,
        /// Year.
        #[serde(default)]
        year: Option<i64>,
        /// Odometer.
        #[serde(default)]
        odometer: i64,
    },
    /// Receive goods into this branch.
    ReceiveStock {
        /// Lines (positive quantities).
        lines: Vec<StockLineInput>,
        /// Supplier, delivery note...
        #[serde(default)]
        note: String,
    },
    /// Correct counted stock (signed quantities); a reason is required.
    AdjustStock {
        /// Lines.
        lines: Vec<StockLineInput>,
        /// Why.
        note: String,
    },
    /// Move goods from this branch to another.
    TransferStock {
        /// Destination.
        to_branch: String,
        /// Lines (positive quantities).
        lines: Vec<StockLineInput>,
        /// Note.
        #[serde(default)]
        note: String,
        /// Allow this branch to go negative.
        #[serde(default)]
        allow_negative_stock: bool,
    },
    /// Sell: one invoice, with the payments tendered at the counter.
    Sell {
        /// Customer, none for walk-in.
        #[serde(default)]
        customer_id: Option<String>,
        /// Lines.
        lines: Vec<SaleLine>,
        /// Payments tendered now.
        #[serde(default)]
        payments: Vec<Tender>,
        /// Allow selling below zero on hand.
        #[serde(default)]
        allow_negative_stock: bool,
        /// Allow passing the customer's credit limit.
        #[serde(default)]
        allow_over_credit_limit: bool,
    },
    /// Take a payment, an advance or make a refund.
    TakePayment {
        /// Customer (required for advances and refunds without invoice).
        #[serde(default)]
        customer_id: Option<String>,
        /// Invoice (required for invoice payments).
        #[serde(default)]
        invoice_id: Option<String>,
        /// Amount.
        amount: Money,
        /// Channel.
        channel: String,
        /// Kind.
        kind: PaymentKind,
    },
    /// Return goods of an invoice (credit note).
    ReturnItems {
        /// Invoice.
        invoice_id: String,
        /// Lines returned.
        lines: Vec<ReturnLineInput>,
        /// Why.
        #[serde(default)]
        reason: String,
    },
    /// Void an invoice (goods back to stock, debit reversed).
    VoidInvoice {
        /// Invoice.
        invoice_id: String,
        /// Why.
        reason: String,
    },
    /// Open a cashier shift on this terminal.
    OpenShift {
        /// Cash in the drawer.
        opening_float: Money,
    },
    /// Close this terminal's shift with the counted amounts.
    CloseShift {
        /// Shift.
        shift_id: String,
        /// Counted per channel.
        counted: BTreeMap<String, Money>,
    },
    /// Book a vehicle into the workshop.
    CreateServiceOrder {
        /// Customer.
        customer_id: String,
        /// Vehicle (owned by the customer).
        vehicle_id: String,
        /// Day, `YYYY-MM-DD`.
        scheduled_date: String,
        /// Technician.
        #[serde(default)]
        technician_id: Option<String>,
        /// Complaint.
        #[serde(default)]
        complaint: String,
        /// Odometer at intake.
        #[serde(default)]
        odometer: Option<i64>,
    },
    /// Assign a technician.
    AssignTechnician {
        /// Order.
        order_id: String,
        /// Technician.
        technician_id: String,
    },
    /// Add a labour line.
    AddLabour {
        /// Order.
        order_id: String,
        /// Service.
        service_id: String,
        /// Technician.
        #[serde(default)]
        technician_id: Option<String>,
        /// Price (catalogue price when absent).
        #[serde(default)]
        price: Option<Money>,
    },
    /// Take a part from stock for an order.
    UsePart {
        /// Order.
        order_id: String,
        /// Product.
        product_id: String,
        /// Quantity.
        qty: Qty,
        /// Allow negative stock.
        #[serde(default)]
        allow_negative_stock: bool,
    },
    /// Move an order through its workflow.
    SetOrderStatus {
        /// Order.
        order_id: String,
        /// New status (not `invoiced`: see `InvoiceServiceOrder`).
        status: OrderStatus,
    },
    /// Invoice a finished order.
    InvoiceServiceOrder {
        /// Order.
        order_id: String,
        /// Payments tendered now.
        #[serde(default)]
        payments: Vec<Tender>,
        /// Allow passing the credit limit.
        #[serde(default)]
        allow_over_credit_limit: bool,
    },
}

impl Command {
    /// The command's name, recorded in the change message.
    pub fn name(&self) -> &'static str {
        match self {
            Self::CreateBranch { .. } => "create_branch",
            Self::SetPaymentChannel { .. } => "set_payment_channel",
            Self::CreateProduct { .. } => "create_product",
            Self::UpdateProduct { .. } => "update_product",
            Self::CreateService { .. } => "create_service",
            Self::CreateTechnician { .. } => "create_technician",
            Self::CreateCustomer { .. } => "create_customer",
            Self::UpdateCustomer { .. } => "update_customer",
            Self::RegisterVehicle { .. } => "register_vehicle",
            Self::ReceiveStock { .. } => "receive_stock",
            Self::AdjustStock { .. } => "adjust_stock",
            Self::TransferStock { .. } => "transfer_stock",
            Self::Sell { .. } => "sell",
            Self::TakePayment { .. } => "take_payment",
            Self::ReturnItems { .. } => "return_items",
            Self::VoidInvoice { .. } => "void_invoice",
            Self::OpenShift { .. } => "open_shift",
            Self::CloseShift { .. } => "close_shift",
            Self::CreateServiceOrder { .. } => "create_service_order",
            Self::AssignTechnician { .. } => "assign_technician",
            Self::AddLabour { .. } => "add_labour",
            Self::UsePart { .. } => "use_part",
            Self::SetOrderStatus { .. } => "set_order_status",
            Self::InvoiceServiceOrder { .. } => "invoice_service_order",
        }
    }
}

/// What a successful command produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    /// Id of the record created or changed.
    pub id: String,
    /// Human number (bill number, order number), when the record has one.
    pub number: Option<String>,
    /// Things the user should know (stock went negative under override...).
    pub warnings: Vec<String>,
}

impl Outcome {
    fn id(id: String) -> Self {
        Outcome {
            id,
            number: None,
            warnings: Vec::new(),
        }
    }
}

/// A document a batch writes: the document with the batch's writes made
/// in it; or, during a pipelined bulk load (see [`Pipeline`]), the writes
/// held back, and the document itself only once the batch has had to read
/// it (with the writes made until then).
pub(crate) struct OpenDoc {
    pub(crate) id: DocId,
    pub(crate) doc: Option<AutoCommit>,
    pub(crate) held: Vec<DocWrite>,
}

/// A record a command wrote: document index, collection, id, and, when the
/// command created it under a new id, the value it wrote (such a record is
/// projected from that value, see
/// [`project_written`](crate::projection::project_written)).
pub(crate) type Touched = (usize, String, String, Option<Arc<Value>>);

/// What a command writes, gathered before one SQLite transaction stores it.
pub(crate) struct WriteCtx<'a> {
    pub(crate) conn: &'a Connection,
    store: &'a mut DocStore,
    pub(crate) me: &'a ReplicaIdentity,
    random: &'a mut dyn FnMut(&mut [u8]),
    pub(crate) user: &'a str,
    pub(crate) now: Millis,
    docs: Vec<OpenDoc>,
    pub(crate) touched: Vec<Touched>,
    pub(crate) counters: Vec<(String, i64)>,
    /// During a bulk load, the thread that makes held-back writes: with
    /// it, documents are opened with their writes held back.
    pipeline: Option<&'a mut Pipeline>,
}

impl<'a> WriteCtx<'a> {
    pub(crate) fn new(
        conn: &'a Connection,
        store: &'a mut DocStore,
        me: &'a ReplicaIdentity,
        random: &'a mut dyn FnMut(&mut [u8]),
        user: &'a str,
        now: Millis,
        pipeline: Option<&'a mut Pipeline>,
    ) -> Self {
        WriteCtx {
            conn,
            store,
            me,
            random,
            user,
            now,
            docs: Vec::new(),
            touched: Vec::new(),
            counters: Vec::new(),
            pipeline,
        }
    }

    /// Discards every uncommitted operation and returns documents to the
    /// cache (held-back writes never reached a document).
    pub(crate) fn discard(self) {
        for d in self.docs {
            if let Some(mut doc) = d.doc {
                doc.rollback();
                self.store.put_back(d.id, doc);
            }
        }
    }

    /// Projects the records touched so far and stores the counters advanced,
    /// in the caller's transaction, so that the next command of a batch is
    /// validated against them.
    pub(crate) fn flush(&mut self) -> Result<()> {
        // Each record once, in the order first touched; it is new only if
        // every touch created it (created, then updated, is projected in
        // full, from its document).
        type Key = (usize, String, String);
        let mut order: Vec<Key> = Vec::new();
        let mut written: std::collections::HashMap<Key, Option<Arc<Value>>> =
            std::collections::HashMap::new();
        for (i, coll, id, value) in self.touched.drain(..) {
            let key = (i, coll, id);
            match written.get_mut(&key) {
                Some(w) => {
                    if w.is_some() {
                        *w = value;
                    }
                }
                None => {
                    written.insert(key.clone(), value);
                    order.push(key);
                }
            }
        }
        for key in order {
            let value = written.remove(&key).flatten();
            let (i, coll, id) = key;
            match value {
                Some(v) => crate::projection::project_written(
                    self.conn,
                    &v,
                    &self.docs[i].id,
                    &coll,
                    &id,
                    true,
                ),
                None => {
                    // Projected as merged: from the value the bulk load's
                    // commands wrote for it if they created it, otherwise
                    // from the document, which must then hold the writes.
                    let local = self
                        .pipeline
                        .as_deref()
                        .and_then(|p| p.local_record(&self.docs[i].id, &coll, &id));
                    if let Some(v) = local {
                        crate::projection::project_written(
                            self.conn,
                            &v,
                            &self.docs[i].id,
                            &coll,
                            &id,
                            false,
                        )
                        .map_err(|e| CommandError::Storage(e.to_string()))?;
                        continue;
                    }
                    self.materialize(i)?;
                    let d = &self.docs[i];
                    let doc = d.doc.as_ref().expect("materialized");
                    crate::projection::project(
                        self.conn,
                        doc,
                        &d.id,
                        &coll,
                        &id,
                        crate::projection::Mode::Strict,
                    )
                }
            }
            .map_err(|e| CommandError::Storage(e.to_string()))?;
        }
        for (name, value) in self.counters.drain(..) {
            self.conn
                .prepare_cached(
                    "INSERT INTO replica_counters(name, value) VALUES (?1, ?2)
                     ON CONFLICT(name) DO UPDATE SET value = max(value, excluded.value)",
                )?
                .execute(params![name, value])?;
        }
        Ok(())
    }

    /// Operations written to the open documents and not yet committed.
    pub(crate) fn pending_ops(&self) -> usize {
        self.docs
            .iter()
            .map(|d| d.held.len() + d.doc.as_ref().map_or(0, |doc| doc.pending_ops()))
            .sum()
    }

    /// Makes every write held back for document `i` in it, taking it from
    /// the cache first (once the pipeline has given it back, if the batch
    /// before wrote it too).
    fn materialize(&mut self, i: usize) -> Result<()> {
        if self.docs[i].doc.is_none() {
            let id = self.docs[i].id.clone();
            if let Some(p) = self.pipeline.as_deref_mut() {
                p.settle_doc(self.conn, self.store, &id)?;
            }
            self.docs[i].doc = Some(self.store.take(self.conn, &id)?);
        }
        let d = &mut self.docs[i];
        let doc = d.doc.as_mut().expect("just taken");
        for w in d.held.drain(..) {
            w.apply(doc)?;
        }
        Ok(())
    }

    /// Makes `write` in document `i`, or, during a pipelined bulk load,
    /// holds it back.
    fn write(&mut self, i: usize, write: DocWrite) -> Result<()> {
        match (&mut self.docs[i].doc, self.pipeline.as_deref_mut()) {
            (Some(doc), None) => write.apply(doc)?,
            (_, pipeline) => {
                if let Some(p) = pipeline {
                    p.note(&self.docs[i].id, &write)?;
                }
                self.docs[i].held.push(write);
            }
        }
        Ok(())
    }

    /// Forgets what a refused command recorded before it was refused (it
    /// wrote no document operation: handlers validate before they write).
    pub(crate) fn forget_refused(&mut self) {
        self.touched.clear();
        self.counters.clear();
    }

    /// The documents the batch wrote.
    pub(crate) fn into_docs(self) -> Vec<OpenDoc> {
        self.docs
    }

    /// A new record id: 24 hex digits, the command's time in seconds (4
    /// bytes, big-endian) then 8 random bytes.
    ///
    /// The time prefix keeps new records at the end of every index keyed by
    /// id (invoices, lines, movements, payments, ledger entries), so a write
    /// touches the few pages at the right edge of each b-tree instead of a
    /// random page of tables of a million rows: fewer pages dirtied and
    /// journaled per commit, and fuller pages. The 64 random bits keep ids
    /// of different replicas apart: thousands of terminals writing in the
    /// same second would need billions of ids in that second before a
    /// collision became likely.
    fn new_id(&mut self) -> String {
        let mut b = [0u8; 12];
        let secs = (self.now.max(0) / 1000).min(u32::MAX as i64) as u32;
        b[..4].copy_from_slice(&secs.to_be_bytes());
        (self.random)(&mut b[4..]);
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    fn open(&mut self, id: &DocId) -> Result<usize> {
        if let Some(i) = self.docs.iter().position(|d| &d.id == id) {
            return Ok(i);
        }
        let doc = if self.pipeline.is_some() {
            None
        } else {
            Some(self.store.take(self.conn, id)?)
        };
        self.docs.push(OpenDoc {
            id: id.clone(),
            doc,
            held: Vec::new(),
        });
        Ok(self.docs.len() - 1)
    }

    fn journal(&self) -> DocId {
        DocId::Journal {
            terminal: self.me.replica_id.clone(),
            month: month_of(self.now),
        }
    }

    /// Writes a new record.
    fn insert<T: Serialize>(
        &mut self,
        doc_id: &DocId,
        coll: &str,
        id: &str,
        rec: &T,
    ) -> Result<()> {
        let i = self.open(doc_id)?;
        let value =
            Arc::new(serde_json::to_value(rec).map_err(|e| CommandError::Storage(e.to_string()))?);
        self.write(
            i,
            DocWrite::Put {
                coll: coll.to_string(),
                id: id.to_string(),
                value: Arc::clone(&value),
            },
        )?;
        // Records are created under a new random id, except payment channels,
        // which are keyed by their code: another replica may have written (or
        // had rejected) the same code, so they are projected in full.
        let new = coll != "channels";
        self.touched
            .push((i, coll.to_string(), id.to_string(), new.then_some(value)));
        Ok(())
    }

    /// Sets fields of an existing record, one register each, and appends
    /// them to the record's history when `audit` is set.
    fn update(
        &mut self,
        doc_id: &DocId,
        coll: &str,
        id: &str,
        fields: &[(&str, Value)],
        audit: bool,
    ) -> Result<()> {
        let i = self.open(doc_id)?;
        let audit = audit.then(|| (self.user.to_string(), self.me.replica_id.clone(), self.now));
        self.write(
            i,
            DocWrite::Update {
                coll: coll.to_string(),
                id: id.to_string(),
                fields: fields
                    .iter()
                    .map(|(f, v)| (f.to_string(), v.clone()))
                    .collect(),
                audit,
            },
        )?;
        self.touched
            .push((i, coll.to_string(), id.to_string(), None));
        Ok(())
    }

    /// Next value of a per-replica counter, never lower than `floor + 1`.
    fn next_counter(&mut self, name: &str, floor: i64) -> Result<i64> {
        let stored: i64 = self
            .conn
            .prepare_cached("SELECT value FROM replica_counters WHERE name = ?1")?
            .query_row([name], |r| r.get(0))
            .optional()?
            .unwrap_or(0);
        let next = stored.max(floor) + 1;
        self.counters.push((name.to_string(), next));
        Ok(next)
    }

    fn history_entry(&self, field: &str, value: &str) -> HistoryEntry {
        HistoryEntry {
            field: field.to_string(),
            value: value.to_string(),
            user: self.user.to_string(),
            replica: self.me.replica_id.clone(),
            at: self.now,
        }
    }
}

// ------------------------------------------------------------------ validation helpers

fn text(field: &str, s: &str, max: usize) -> Result<()> {
    if s.trim().is_empty() {
        return Err(CommandError::invalid(field, "must not be empty"));
    }
    if s.chars().count() > max {
        return Err(CommandError::invalid(
            field,
            format!("longer than {max} characters"),
        ));
    }
    if s.chars().any(|c| c.is_control()) {
        return Err(CommandError::invalid(field, "contains control characters"));
    }
    Ok(())
}

fn opt_text(field: &str, s: &Option<String>, max: usize) -> Result<()> {
    match s {
        Some(s) => text(field, s, max),
        None => Ok(()),
    }
}

fn note(field: &str, s: &str) -> Result<()> {
    if s.chars().count() > MAX_NOTE {
        return Err(CommandError::invalid(
            field,
            format!("longer than {MAX_NOTE} characters"),
        ));
    }
    Ok(())
}

fn amount(field: &str, v: i64, allow_zero: bool) -> Result<()> {
    if v < 0 || (!allow_zero && v == 0) {
        return Err(CommandError::invalid(
            field,
            if allow_zero {
                "must not be negative"
            } else {
                "must be positive"
            },
        ));
    }
    if v > MAX_AMOUNT {
        return Err(CommandError::invalid(field, "is too large"));
    }
    Ok(())
}

fn id_field(field: &str, s: &str) -> Result<()> {
    if !is_valid_id(s) {
        return Err(CommandError::invalid(field, "is not a valid id"));
    }
    Ok(())
}

fn lines_count<T>(field: &str, lines: &[T]) -> Result<()> {
    if lines.is_empty() {
        return Err(CommandError::invalid(
            field,
            "at least one line is required",
        ));
    }
    if lines.len() > MAX_LINES {
        return Err(CommandError::invalid(
            field,
            format!("more than {MAX_LINES} lines"),
        ));
    }
    Ok(())
}

fn phone_ok(field: &str, p: &str) -> Result<()> {
    let ok = (3..=20).contains(&p.len())
        && p.chars()
            .enumerate()
            .all(|(i, c)| c.is_ascii_digit() || (i == 0 && c == '+') || c == ' ' || c == '-');
    if !ok {
        return Err(CommandError::invalid(
            field,
            "must be 3 to 20 digits, spaces or dashes, optionally starting with +",
        ));
    }
    Ok(())
}

// ------------------------------------------------------------------ lookups

/// What validation reads of a product.
#[derive(Debug, Clone)]
pub(crate) struct Product {
    name: String,
    price: Money,
    cost: Money,
    active: bool,
}

impl WriteCtx<'_> {
    /// Product `id` as projected. A sale line, a delivery line and a part
    /// each look their product up, and the query was 4 s of a terminal
    /// dataset's generation. So during a pipelined bulk load, the products
    /// looked up are kept until a command writes them (see
    /// `Pipeline::note`; other replicas' changes wait for the load's end),
    /// and a product the load created is read from the value its commands
    /// wrote, which is what its row holds.
    fn product(&mut self, id: &str) -> Result<Product> {
        if let Some(p) = self.pipeline.as_deref().and_then(|p| p.products.get(id)) {
            return Ok(p.clone());
        }
        let noted = self
            .pipeline
            .as_deref()
            .and_then(|p| p.local_record(&DocId::Catalog, "products", id))
            .and_then(|v| {
                Some(Product {
                    name: v.get("name")?.as_str()?.to_string(),
                    price: v.get("price")?.as_i64()?,
                    cost: v.get("cost")?.as_i64()?,
                    active: v.get("status")?.as_str()? == ProductStatus::Active.as_str(),
                })
            });
        let p = match noted {
            Some(p) => p,
            None => product(self.conn, id)?,
        };
        if let Some(pipeline) = self.pipeline.as_deref_mut() {
            pipeline.products.insert(id.to_string(), p.clone());
        }
        Ok(p)
    }
}

fn product(conn: &Connection, id: &str) -> Result<Product> {
    conn.prepare_cached("SELECT name, price, cost, status FROM products WHERE id = ?1")?
        .query_row([id], |r| {
            Ok(Product {
                name: r.get(0)?,
                price: r.get(1)?,
                cost: r.get(2)?,
                active: r.get::<_, String>(3)? == "active",
            })
        })
        .optional()?
        .ok_or_else(|| CommandError::NotFound {
            kind: "product",
            id: id.to_string(),
        })
}

fn on_hand(conn: &Connection, product_id: &str, branch_id: &str) -> Result<Qty> {
    Ok(conn
        .prepare_cached("SELECT qty FROM stock_levels WHERE product_id = ?1 AND branch_id = ?2")?
        .query_row([product_id, branch_id], |r| r.get(0))
        .optional()?
        .unwrap_or(0))
}

fn customer(conn: &Connection, id: &str) -> Result<(Money, Money)> {
    conn.prepare_cached(
        "SELECT c.credit_limit, coalesce(b.balance, 0) FROM customers c
         LEFT JOIN customer_balances b ON b.customer_id = c.id WHERE c.id = ?1",
    )?
    .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
    .optional()?
    .ok_or_else(|| CommandError::NotFound {
        kind: "customer",
        id: id.to_string(),
    })
}

fn channel(conn: &Connection, code: &str) -> Result<()> {
    let active: Option<bool> = conn
        .prepare_cached("SELECT active FROM payment_channels WHERE code = ?1")?
        .query_row([code], |r| r.get(0))
        .optional()?;
    match active {
        None => Err(CommandError::NotFound {
            kind: "payment channel",
            id: code.to_string(),
        }),
        Some(false) => Err(CommandError::Inactive {
            kind: "payment channel",
            id: code.to_string(),
        }),
        Some(true) => Ok(()),
    }
}

fn exists(conn: &Connection, sql: &str, id: &str, kind: &'static str) -> Result<()> {
    let found: Option<i64> = conn
        .prepare_cached(sql)?
        .query_row([id], |r| r.get(0))
        .optional()?;
    found.map(|_| ()).ok_or_else(|| CommandError::NotFound {
        kind,
        id: id.to_string(),
    })
}

struct Invoice {
    customer_id: Option<String>,
    branch_id: String,
    total: Money,
    paid: Money,
    returned: Money,
    remaining: Money,
    voided: bool,
}

fn invoice(conn: &Connection, id: &str) -> Result<Invoice> {
    conn.prepare_cached(
        "SELECT customer_id, branch_id, total, paid, returned, remaining, voided FROM invoices WHERE id = ?1",
    )?
    .query_row([id], |r| {
        Ok(Invoice {
            customer_id: r.get(0)?,
            branch_id: r.get(1)?,
            total: r.get(2)?,
            paid: r.get(3)?,
            returned: r.get(4)?,
            remaining: r.get(5)?,
            voided: r.get(6)?,
        })
    })
    .optional()?
    .ok_or_else(|| CommandError::NotFound {
        kind: "invoice",
        id: id.to_string(),
    })
}

fn open_shift(conn: &Connection, terminal: &str) -> Result<Option<String>> {
    Ok(conn
        .prepare_cached("SELECT id FROM shifts WHERE terminal_id = ?1 AND closed_at IS NULL ORDER BY opened_at DESC LIMIT 1")?
        .query_row([terminal], |r| r.get(0))
        .optional()?)
}

struct Order {
    doc_id: DocId,
    customer_id: String,
    branch_id: String,
    status: OrderStatus,
}

fn order(conn: &Connection, id: &str) -> Result<Order> {
    let row: Option<(String, String, String, String)> = conn
        .prepare_cached(
            "SELECT doc_id, customer_id, branch_id, status FROM service_orders WHERE id = ?1",
        )?
        .query_row([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .optional()?;
    let (doc, customer_id, branch_id, status) = row.ok_or_else(|| CommandError::NotFound {
        kind: "service order",
        id: id.to_string(),
    })?;
    Ok(Order {
        doc_id: DocId::parse(&doc).map_err(|e| CommandError::Storage(e.to_string()))?,
        customer_id,
        branch_id,
        status: OrderStatus::parse(&status)
            .ok_or_else(|| CommandError::Storage(format!("bad status {status}")))?,
    })
}

fn check_stock(
    conn: &Connection,
    branch: &str,
    wanted: &BTreeMap<String, Qty>,
    allow_negative: bool,
    warnings: &mut Vec<String>,
) -> Result<()> {
    for (p, q) in wanted {
        let have = on_hand(conn, p, branch)?;
        if have < *q {
            if !allow_negative {
                return Err(CommandError::InsufficientStock {
                    product_id: p.clone(),
                    available: have,
                    requested: *q,
                });
            }
            warnings.push(format!(
                "stock of {p} goes negative: {} after this",
                have - q
            ));
        }
    }
    Ok(())
}

/// Checks tenders and returns their sum.
fn tenders(conn: &Connection, payments: &[Tender]) -> Result<Money> {
    if payments.len() > 20 {
        return Err(CommandError::invalid("payments", "more than 20 tenders"));
    }
    let mut sum: Money = 0;
    for (i, t) in payments.iter().enumerate() {
        amount(&format!("payments[{i}].amount"), t.amount, false)?;
        channel(conn, &t.channel)?;
        sum += t.amount;
    }
    Ok(sum)
}

fn check_credit(
    conn: &Connection,
    customer_id: &str,
    unpaid: Money,
    allow: bool,
    warnings: &mut Vec<String>,
) -> Result<()> {
    if unpaid <= 0 {
        return Ok(());
    }
    let (limit, balance) = customer(conn, customer_id)?;
    let after = balance + unpaid;
    if after > limit {
        if !allow {
            return Err(CommandError::CreditLimitExceeded {
                customer_id: customer_id.to_string(),
                limit,
                balance_after: after,
            });
        }
        warnings.push(format!("credit limit {limit} passed: balance {after}"));
    }
    Ok(())
}

/// Writes an invoice and the payments tendered with it into this terminal's journal.
fn write_invoice(
    ctx: &mut WriteCtx<'_>,
    customer_id: Option<String>,
    lines: Vec<InvoiceLine>,
    payments: &[Tender],
    service_order_id: Option<String>,
) -> Result<(String, String)> {
    let floor: i64 = ctx
        .conn
        .prepare_cached("SELECT coalesce(max(seq), 0) FROM invoices WHERE terminal_id = ?1")?
        .query_row([&ctx.me.replica_id], |r| r.get(0))?;
    let seq = ctx.next_counter("bill", floor)?;
    let bill_no = format!("{}-{}-{seq:06}", ctx.me.branch_code, ctx.me.terminal_code);
    let subtotal = lines
        .iter()
        .map(|l| gross(l.qty, l.unit_price).unwrap_or(0))
        .sum();
    let discount = lines.iter().map(|l| l.discount).sum();
    let tax = lines.iter().map(|l| l.tax).sum();
    let total = lines.iter().map(|l| l.total).sum();
    let id = ctx.new_id();
    let inv = InvoiceRecord {
        bill_no: bill_no.clone(),
        seq,
        customer_id: customer_id.clone(),
        branch_id: ctx.me.branch_id.clone(),
        terminal_id: ctx.me.replica_id.clone(),
        user_id: ctx.user.to_string(),
        at: ctx.now,
        lines,
        subtotal,
        discount,
        tax,
        total,
        service_order_id,
    };
    let journal = ctx.journal();
    ctx.insert(&journal, "invoices", &id, &inv)?;
    let shift_id = open_shift(ctx.conn, &ctx.me.replica_id)?;
    for t in payments {
        let pid = ctx.new_id();
        let p = PaymentRecord {
            customer_id: customer_id.clone(),
            invoice_id: Some(id.clone()),
            branch_id: ctx.me.branch_id.clone(),
            terminal_id: ctx.me.replica_id.clone(),
            user_id: ctx.user.to_string(),
            shift_id: shift_id.clone(),
            at: ctx.now,
            amount: t.amount,
            channel: t.channel.clone(),
            kind: PaymentKind::Invoice,
        };
        ctx.insert(&journal, "payments", &pid, &p)?;
    }
    Ok((id, bill_no))
}

// ------------------------------------------------------------------ handlers

/// Validates and writes one command.
pub(crate) fn run(ctx: &mut WriteCtx<'_>, cmd: &Command) -> Result<Outcome> {
    let conn = ctx.conn;
    let now = ctx.now;
    match cmd {
        Command::CreateBranch { code, name } => {
            id_field("code", code)?;
            if code.len() > 8 {
                return Err(CommandError::invalid("code", "at most 8 characters"));
            }
            text("name", name, MAX_TEXT)?;
            if conn
                .query_row(
                    "SELECT 1 FROM branches WHERE code_wanted = ?1",
                    [code],
                    |_| Ok(()),
                )
                .optional()?
                .is_some()
            {
                return Err(CommandError::Duplicate {
                    field: "code",
                    value: code.clone(),
                });
            }
            let id = ctx.new_id();
            ctx.insert(
                &DocId::Catalog,
                "branches",
                &id,
                &BranchRecord {
                    code: code.clone(),
                    name: name.clone(),
                },
            )?;
            Ok(Outcome::id(id))
        }
        Command::SetPaymentChannel {
            code,
            name,
            is_cash,
            active,
        } => {
            id_field("code", code)?;
            text("name", name, MAX_TEXT)?;
            let existing: Option<i64> = conn
                .query_row(
                    "SELECT 1 FROM payment_channels WHERE code = ?1",
                    [code],
                    |r| r.get(0),
                )
                .optional()?;
            if existing.is_some() {
                ctx.update(
                    &DocId::Catalog,
                    "channels",
                    code,
                    &[
                        ("name", json!(name)),
                        ("is_cash", json!(is_cash)),
                        ("active", json!(active)),
                    ],
                    false,
                )?;
            } else {
                ctx.insert(
                    &DocId::Catalog,
                    "channels",
                    code,
                    &ChannelRecord {
                        name: name.clone(),
                        active: *active,
                        is_cash: *is_cash,
                    },
                )?;
            }
            Ok(Outcome::id(code.clone()))
        }
        Command::CreateProduct {
            sku,
            barcode,
            name,
            category,
            grade,
            unit,
            price,
            cost,
            min_stock,
        } => {
            text("sku", sku, 64)?;
            opt_text("barcode", barcode, 64)?;
            text("name", name, MAX_TEXT)?;
            text("category", category, MAX_TEXT)?;
            opt_text("grade", grade, MAX_TEXT)?;
            text("unit", unit, 32)?;
            amount("price", *price, true)?;
            amount("cost", *cost, true)?;
            amount("min_stock", *min_stock, true)?;
            unique(conn, "products", "sku_wanted", "sku", sku, None)?;
            if let Some(b) = barcode {
                unique(conn, "products", "barcode_wanted", "barcode", b, None)?;
            }
            let id = ctx.new_id();
            let rec = ProductRecord {
                sku: sku.clone(),
                barcode: barcode.clone(),
                name: name.clone(),
                category: category.clone(),
                grade: grade.clone(),
                unit: unit.clone(),
                price: *price,
                cost: *cost,
                min_stock: *min_stock,
                status: ProductStatus::Active,
                updated_at: now,
                history: vec![ctx.history_entry("created", &format!("price={price}"))],
            };
            ctx.insert(&DocId::Catalog, "products", &id, &rec)?;
            Ok(Outcome::id(id))
        }
        Command::UpdateProduct {
            product_id,
            name,
            category,
            price,
            cost,
            min_stock,
            status,
            barcode,
        } => {
            id_field("product_id", product_id)?;
            ctx.product(product_id)?;
            let mut fields: Vec<(&str, Value)> = Vec::new();
            if let Some(v) = name {
                text("name", v, MAX_TEXT)?;
                fields.push(("name", json!(v)));
            }
            if let Some(v) = category {
                text("category", v, MAX_TEXT)?;
                fields.push(("category", json!(v)));
            }
            if let Some(v) = price {
                amount("price", *v, true)?;
                fields.push(("price", json!(v)));
            }
            if let Some(v) = cost {
                amount("cost", *v, true)?;
                fields.push(("cost", json!(v)));
            }
            if let Some(v) = min_stock {
                amount("min_stock", *v, true)?;
                fields.push(("min_stock", json!(v)));
            }
            if let Some(v) = status {
                fields.push(("status", json!(v)));
            }
            if let Some(b) = barcode {
                if b.is_empty() {
                    fields.push(("barcode", Value::Null));
                } else {
                    text("barcode", b, 64)?;
                    unique(
                        conn,
                        "products",
                        "barcode_wanted",
                        "barcode",
                        b,
                        Some(product_id),
                    )?;
                    fields.push(("barcode", json!(b)));
                }
            }
            if fields.is_empty() {
                return Err(CommandError::invalid("product", "nothing to change"));
            }
            fields.push(("updated_at", json!(now)));
            ctx.update(&DocId::Catalog, "products", product_id, &fields, true)?;
            Ok(Outcome::id(product_id.clone()))
        }
        Command::CreateService {
            code,
            name,
            labour_price,
            duration_min,
        } => {
            id_field("code", code)?;
            text("name", name, MAX_TEXT)?;
            amount("labour_price", *labour_price, true)?;
            if !(1..=24 * 60 * 7).contains(duration_min) {
                return Err(CommandError::invalid(
                    "duration_min",
                    "must be 1 to 10080 minutes",
                ));
            }
            let id = ctx.new_id();
            ctx.insert(
                &DocId::Catalog,
                "services",
                &id,
                &ServiceRecord {
                    code: code.clone(),
                    name: name.clone(),
                    labour_price: *labour_price,
                    duration_min: *duration_min,
                    active: true,
                },
            )?;
            Ok(Outcome::id(id))
        }
        Command::CreateTechnician {
            branch_id,
            name,
            skills,
        } => {
            let branch = branch_id
                .clone()
                .unwrap_or_else(|| ctx.me.branch_id.clone());
            id_field("branch_id", &branch)?;
            text("name", name, MAX_TEXT)?;
            for (i, s) in skills.iter().enumerate() {
                text(&format!("skills[{i}]"), s, 64)?;
            }
            let id = ctx.new_id();
            ctx.insert(
                &DocId::Catalog,
                "technicians",
                &id,
                &TechnicianRecord {
                    branch_id: branch,
                    name: name.clone(),
                    skills: skills.clone(),
                    active: true,
                },
            )?;
            Ok(Outcome::id(id))
        }
        Command::CreateCustomer {
            name,
            phone,
            address,
            credit_limit,
            tags,
        } => {
            text("name", name, MAX_TEXT)?;
            if let Some(p) = phone {
                phone_ok("phone", p)?;
                unique(conn, "customers", "phone_wanted", "phone", p, None)?;
            }
            opt_text("address", address, MAX_NOTE)?;
            amount("credit_limit", *credit_limit, true)?;
            for (i, t) in tags.iter().enumerate() {
                text(&format!("tags[{i}]"), t, 64)?;
            }
            let id = ctx.new_id();
            let rec = CustomerRecord {
                name: name.clone(),
                phone: phone.clone(),
                address: address.clone(),
                credit_limit: *credit_limit,
                tags: tags.clone(),
                created_at: now,
                updated_at: now,
                history: vec![ctx.history_entry("created", name)],
            };
            ctx.insert(&DocId::customer_shard(&id), "customers", &id, &rec)?;
            Ok(Outcome::id(id))
        }
        Command::UpdateCustomer {
            customer_id,
            name,
            phone,
            address,
            credit_limit,
            tags,
        } => {
            id_field("customer_id", customer_id)?;
            customer(conn, customer_id)?;
            let mut fields: Vec<(&str, Value)> = Vec::new();
            if let Some(v) = name {
                text("name", v, MAX_TEXT)?;
                fields.push(("name", json!(v)));
            }
            if let Some(p) = phone {
                if p.is_empty() {
                    fields.push(("phone", Value::Null));
                } else {
                    phone_ok("phone", p)?;
                    unique(
                        conn,
                        "customers",
                        "phone_wanted",
                        "phone",
                        p,
                        Some(customer_id),
                    )?;
                    fields.push(("phone", json!(p)));
                }
            }
            if let Some(v) = address {
                note("address", v)?;
                fields.push(("address", json!(v)));
            }
            if let Some(v) = credit_limit {
                amount("credit_limit", *v, true)?;
                fields.push(("credit_limit", json!(v)));
            }
            if let Some(v) = tags {
                for (i, t) in v.iter().enumerate() {
                    text(&format!("tags[{i}]"), t, 64)?;
                }
                fields.push(("tags", json!(v)));
            }
            if fields.is_empty() {
                return Err(CommandError::invalid("customer", "nothing to change"));
            }
            fields.push(("updated_at", json!(now)));
            ctx.update(
                &DocId::customer_shard(customer_id),
                "customers",
                customer_id,
                &fields,
                true,
            )?;
            Ok(Outcome::id(customer_id.clone()))
        }
        Command::RegisterVehicle {
            customer_id,
            plate,
            vin,
            make,
            model,
            year,
            odometer,
        } => {
            id_field("customer_id", customer_id)?;
            text("plate", plate, 20)?;
            opt_text("vin", vin, 17)?;
            text("make", make, 64)?;
            text("model", model, 64)?;
            if let Some(y) = year
                && !(1900..=2200).contains(y)
            {
                return Err(CommandError::invalid(
                    "year",
                    "must be between 1900 and 2200",
                ));
            }
            amount("odometer", *odometer, true)?;
            customer(conn, customer_id)?;
            let id = ctx.new_id();
            ctx.insert(
                &DocId::customer_shard(customer_id),
                "vehicles",
                &id,
                &VehicleRecord {
                    customer_id: customer_id.clone(),
                    plate: plate.clone(),
                    vin: vin.clone(),
                    make: make.clone(),
                    model: model.clone(),
                    year: *year,
                    odometer: *odometer,
                    created_at: now,
                },
            )?;
            Ok(Outcome::id(id))
        }
        Command::ReceiveStock { lines, note: n } => {
            stock(ctx, StockRecordKind::Receipt, None, lines, n, false)
        }
        Command::AdjustStock { lines, note: n } => {
            text("note", n, MAX_NOTE)?;
            stock(ctx, StockRecordKind::Adjustment, None, lines, n, true)
        }
        Command::TransferStock {
            to_branch,
            lines,
            note: n,
            allow_negative_stock,
        } => {
            id_field("to_branch", to_branch)?;
            if *to_branch == ctx.me.branch_id {
                return Err(CommandError::invalid("to_branch", "is this branch"));
            }
            exists(
                conn,
                "SELECT 1 FROM branches WHERE id = ?1",
                to_branch,
                "branch",
            )?;
            stock(
                ctx,
                StockRecordKind::Transfer,
                Some(to_branch.clone()),
                lines,
                n,
                *allow_negative_stock,
            )
        }
        Command::Sell {
            customer_id,
            lines,
            payments,
            allow_negative_stock,
            allow_over_credit_limit,
        } => {
            lines_count("lines", lines)?;
            if let Some(c) = customer_id {
                id_field("customer_id", c)?;
                customer(conn, c)?;
            }
            let mut inv_lines = Vec::with_capacity(lines.len());
            let mut wanted: BTreeMap<String, Qty> = BTreeMap::new();
            for (i, l) in lines.iter().enumerate() {
                let f = |s: &str| format!("lines[{i}].{s}");
                id_field(&f("product_id"), &l.product_id)?;
                amount(&f("qty"), l.qty, false)?;
                amount(&f("discount"), l.discount, true)?;
                if !(0..=10_000).contains(&l.tax_rate_bp) {
                    return Err(CommandError::invalid(
                        f("tax_rate_bp"),
                        "must be 0 to 10000",
                    ));
                }
                let p = ctx.product(&l.product_id)?;
                if !p.active {
                    return Err(CommandError::Inactive {
                        kind: "product",
                        id: l.product_id.clone(),
                    });
                }
                let unit_price = l.unit_price.unwrap_or(p.price);
                amount(&f("unit_price"), unit_price, true)?;
                let g = gross(l.qty, unit_price)
                    .filter(|g| *g <= MAX_AMOUNT)
                    .ok_or_else(|| CommandError::invalid(f("qty"), "amount too large"))?;
                if l.discount > g {
                    return Err(CommandError::invalid(
                        f("discount"),
                        "larger than the line amount",
                    ));
                }
                let tax = tax_on(g - l.discount, l.tax_rate_bp).unwrap_or(0);
                *wanted.entry(l.product_id.clone()).or_default() += l.qty;
                inv_lines.push(InvoiceLine {
                    kind: LineKind::Product,
                    product_id: Some(l.product_id.clone()),
                    description: p.name,
                    qty: l.qty,
                    unit_price,
                    discount: l.discount,
                    tax,
                    total: g - l.discount + tax,
                    cost: p.cost,
                });
            }
            let total: Money = inv_lines.iter().map(|l| l.total).sum();
            let paid = tenders(conn, payments)?;
            if paid > total {
                return Err(CommandError::Overpayment {
                    owed: total,
                    amount: paid,
                });
            }
            let mut warnings = Vec::new();
            match customer_id {
                None if paid < total => {
                    return Err(CommandError::FullPaymentRequired { total, paid });
                }
                None => {}
                Some(c) => check_credit(
                    conn,
                    c,
                    total - paid,
                    *allow_over_credit_limit,
                    &mut warnings,
                )?,
            }
            let branch = ctx.me.branch_id.clone();
            check_stock(conn, &branch, &wanted, *allow_negative_stock, &mut warnings)?;
            let (id, bill) = write_invoice(ctx, customer_id.clone(), inv_lines, payments, None)?;
            Ok(Outcome {
                id,
                number: Some(bill),
                warnings,
            })
        }
        Command::TakePayment {
            customer_id,
            invoice_id,
            amount: amt,
            channel: ch,
            kind,
        } => {
            amount("amount", *amt, false)?;
            channel(conn, ch)?;
            let mut customer_id = customer_id.clone();
            if let Some(c) = &customer_id {
                id_field("customer_id", c)?;
                customer(conn, c)?;
            }
            match (kind, invoice_id) {
                (PaymentKind::Invoice, None) => {
                    return Err(CommandError::invalid(
                        "invoice_id",
                        "required for an invoice payment",
                    ));
                }
                (PaymentKind::Advance, Some(_)) => {
                    return Err(CommandError::invalid(
                        "invoice_id",
                        "an advance is not tied to an invoice",
                    ));
                }
                (PaymentKind::Advance, None) if customer_id.is_none() => {
                    return Err(CommandError::invalid(
                        "customer_id",
                        "required for an advance",
                    ));
                }
                (PaymentKind::Refund, None) => {
                    let Some(c) = &customer_id else {
                        return Err(CommandError::invalid(
                            "customer_id",
                            "required for a refund without invoice",
                        ));
                    };
                    let (_, balance) = customer(conn, c)?;
                    if *amt > -balance {
                        return Err(CommandError::RefundExceedsCredit {
                            credit: (-balance).max(0),
                            amount: *amt,
                        });
                    }
                }
                (_, Some(inv_id)) => {
                    id_field("invoice_id", inv_id)?;
                    let inv = invoice(conn, inv_id)?;
                    if customer_id.is_some() && customer_id != inv.customer_id {
                        return Err(CommandError::invalid(
                            "customer_id",
                            "differs from the invoice's customer",
                        ));
                    }
                    customer_id = inv.customer_id.clone();
                    if *kind == PaymentKind::Invoice {
                        if inv.voided {
                            return Err(CommandError::InvoiceVoided {
                                invoice_id: inv_id.clone(),
                            });
                        }
                        if *amt > inv.remaining {
                            return Err(CommandError::Overpayment {
                                owed: inv.remaining.max(0),
                                amount: *amt,
                            });
                        }
                    } else {
                        let credit = if inv.voided {
                            inv.paid
                        } else {
                            inv.paid + inv.returned - inv.total
                        };
                        if *amt > credit {
                            return Err(CommandError::RefundExceedsCredit {
                                credit: credit.max(0),
                                amount: *amt,
                            });
                        }
                    }
                }
                (PaymentKind::Advance, None) => {}
            }
            let id = ctx.new_id();
            let rec = PaymentRecord {
                customer_id,
                invoice_id: invoice_id.clone(),
                branch_id: ctx.me.branch_id.clone(),
                terminal_id: ctx.me.replica_id.clone(),
                user_id: ctx.user.to_string(),
                shift_id: open_shift(conn, &ctx.me.replica_id)?,
                at: now,
                amount: *amt,
                channel: ch.clone(),
                kind: *kind,
            };
            let journal = ctx.journal();
            ctx.insert(&journal, "payments", &id, &rec)?;
            Ok(Outcome::id(id))
        }
        Command::ReturnItems {
            invoice_id,
            lines,
            reason,
        } => {
            id_field("invoice_id", invoice_id)?;
            lines_count("lines", lines)?;
            note("reason", reason)?;
            let inv = invoice(conn, invoice_id)?;
            if inv.voided {
                return Err(CommandError::InvoiceVoided {
                    invoice_id: invoice_id.clone(),
                });
            }
            let sold: HashMap<i64, (String, Option<String>, Qty, Money, Money)> = conn
                .prepare_cached("SELECT line_no, kind, product_id, qty, total, cost FROM invoice_lines WHERE invoice_id = ?1")?
                .query_map([invoice_id], |r| Ok((r.get(0)?, (r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?))))?
                .collect::<rusqlite::Result<_>>()?;
            let returned: HashMap<i64, Qty> = conn
                .prepare_cached(
                    "SELECT rl.invoice_line_no, sum(rl.qty) FROM returns r JOIN return_lines rl ON rl.return_id = r.id
                     WHERE r.invoice_id = ?1 GROUP BY rl.invoice_line_no",
                )?
                .query_map([invoice_id], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?;
            let mut this: HashMap<i64, Qty> = HashMap::new();
            let mut out = Vec::new();
            for (i, l) in lines.iter().enumerate() {
                amount(&format!("lines[{i}].qty"), l.qty, false)?;
                let Some((kind, product_id, qty, total, cost)) = sold.get(&l.line_no) else {
                    return Err(CommandError::invalid(
                        format!("lines[{i}].line_no"),
                        "no such line on the invoice",
                    ));
                };
                if kind != "product" {
                    return Err(CommandError::invalid(
                        format!("lines[{i}].line_no"),
                        "only product lines can be returned",
                    ));
                }
                let before = returned.get(&l.line_no).copied().unwrap_or(0)
                    + this.get(&l.line_no).copied().unwrap_or(0);
                if before + l.qty > *qty {
                    return Err(CommandError::ReturnExceedsSold {
                        line_no: l.line_no,
                        sold: *qty,
                        returned: before,
                        requested: l.qty,
                    });
                }
                *this.entry(l.line_no).or_default() += l.qty;
                // Credit the difference between the line's rounded share for
                // everything returned so far, this line included, and for what
                // was returned before it. Rounding each return on its own
                // (share(l.qty)) let partial returns add up to more than the
                // line total (three returns of one unit of a 3-unit line of
                // 10.01 credited 3 x 3.34 = 10.02); the differences telescope,
                // so all returns of a line credit exactly its total.
                let share = |q: Qty| -> Money {
                    ((*total as i128 * q as i128 + (*qty as i128) / 2) / *qty as i128) as i64
                };
                let amount = share(before + l.qty) - share(before);
                out.push(ReturnLine {
                    invoice_line_no: l.line_no,
                    product_id: product_id.clone(),
                    qty: l.qty,
                    amount,
                    unit_cost: *cost,
                });
            }
            let id = ctx.new_id();
            let rec = ReturnRecord {
                invoice_id: invoice_id.clone(),
                customer_id: inv.customer_id,
                branch_id: ctx.me.branch_id.clone(),
                terminal_id: ctx.me.replica_id.clone(),
                user_id: ctx.user.to_string(),
                at: now,
                total: out.iter().map(|l| l.amount).sum(),
                lines: out,
                reason: reason.clone(),
            };
            let journal = ctx.journal();
            ctx.insert(&journal, "returns", &id, &rec)?;
            Ok(Outcome::id(id))
        }
        Command::VoidInvoice { invoice_id, reason } => {
            id_field("invoice_id", invoice_id)?;
            text("reason", reason, MAX_NOTE)?;
            let inv = invoice(conn, invoice_id)?;
            if inv.voided {
                return Err(CommandError::InvoiceVoided {
                    invoice_id: invoice_id.clone(),
                });
            }
            if inv.returned > 0 {
                return Err(CommandError::InvoiceHasReturns {
                    invoice_id: invoice_id.clone(),
                });
            }
            let restock: Vec<Restock> = conn
                .prepare_cached(
                    "SELECT product_id, qty, cost FROM invoice_lines WHERE invoice_id = ?1 AND kind = 'product' ORDER BY line_no",
                )?
                .query_map([invoice_id], |r| {
                    Ok(Restock {
                        product_id: r.get(0)?,
                        qty: r.get(1)?,
                        unit_cost: r.get(2)?,
                    })
                })?
                .collect::<rusqlite::Result<_>>()?;
            let id = ctx.new_id();
            let rec = VoidRecord {
                invoice_id: invoice_id.clone(),
                customer_id: inv.customer_id,
                branch_id: inv.branch_id,
                amount: inv.total,
                user_id: ctx.user.to_string(),
                terminal_id: ctx.me.replica_id.clone(),
                at: now,
                reason: reason.clone(),
                restock,
            };
            let journal = ctx.journal();
            ctx.insert(&journal, "voids", &id, &rec)?;
            let mut o = Outcome::id(id);
            if inv.paid > 0 {
                o.warnings.push(format!(
                    "{} was paid on this invoice and is now due back to the customer",
                    inv.paid
                ));
            }
            Ok(o)
        }
        Command::OpenShift { opening_float } => {
            amount("opening_float", *opening_float, true)?;
            if let Some(s) = open_shift(conn, &ctx.me.replica_id)? {
                return Err(CommandError::ShiftAlreadyOpen { shift_id: s });
            }
            let id = ctx.new_id();
            let rec = ShiftRecord {
                terminal_id: ctx.me.replica_id.clone(),
                branch_id: ctx.me.branch_id.clone(),
                user_id: ctx.user.to_string(),
                opened_at: now,
                opening_float: *opening_float,
                closed_at: None,
                closed_by: None,
                counted: BTreeMap::new(),
            };
            let journal = ctx.journal();
            ctx.insert(&journal, "shifts", &id, &rec)?;
            Ok(Outcome::id(id))
        }
        Command::CloseShift { shift_id, counted } => {
            id_field("shift_id", shift_id)?;
            let row: Option<(String, String, Option<i64>)> = conn
                .query_row(
                    "SELECT doc_id, terminal_id, closed_at FROM shifts WHERE id = ?1",
                    [shift_id],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()?;
            let Some((doc, terminal, closed)) = row else {
                return Err(CommandError::NotFound {
                    kind: "shift",
                    id: shift_id.clone(),
                });
            };
            if terminal != ctx.me.replica_id {
                return Err(CommandError::NotPermitted(
                    "a shift is closed on the terminal that opened it".into(),
                ));
            }
            if closed.is_some() {
                return Err(CommandError::ShiftAlreadyClosed {
                    shift_id: shift_id.clone(),
                });
            }
            for (ch, v) in counted {
                amount(&format!("counted.{ch}"), *v, true)?;
                exists(
                    conn,
                    "SELECT 1 FROM payment_channels WHERE code = ?1",
                    ch,
                    "payment channel",
                )?;
            }
            let doc = DocId::parse(&doc).map_err(|e| CommandError::Storage(e.to_string()))?;
            ctx.update(
                &doc,
                "shifts",
                shift_id,
                &[
                    ("closed_at", json!(now)),
                    ("closed_by", json!(ctx.user)),
                    ("counted", json!(counted)),
                ],
                false,
            )?;
            Ok(Outcome::id(shift_id.clone()))
        }
        Command::CreateServiceOrder {
            customer_id,
            vehicle_id,
            scheduled_date,
            technician_id,
            complaint,
            odometer,
        } => {
            id_field("customer_id", customer_id)?;
            id_field("vehicle_id", vehicle_id)?;
            if !is_valid_date(scheduled_date) {
                return Err(CommandError::invalid(
                    "scheduled_date",
                    "must be a date YYYY-MM-DD",
                ));
            }
            note("complaint", complaint)?;
            if let Some(o) = odometer {
                amount("odometer", *o, true)?;
            }
            customer(conn, customer_id)?;
            let owner: Option<String> = conn
                .query_row(
                    "SELECT customer_id FROM vehicles WHERE id = ?1",
                    [vehicle_id],
                    |r| r.get(0),
                )
                .optional()?;
            match owner {
                None => {
                    return Err(CommandError::NotFound {
                        kind: "vehicle",
                        id: vehicle_id.clone(),
                    });
                }
                Some(o) if o != *customer_id => {
                    return Err(CommandError::invalid(
                        "vehicle_id",
                        "belongs to another customer",
                    ));
                }
                Some(_) => {}
            }
            if let Some(t) = technician_id {
                id_field("technician_id", t)?;
                exists(
                    conn,
                    "SELECT 1 FROM technicians WHERE id = ?1",
                    t,
                    "technician",
                )?;
            }
            let prefix = format!("SO-{}-{}-", ctx.me.branch_code, ctx.me.terminal_code);
            let last: Option<String> = conn
                .prepare_cached("SELECT max(number) FROM service_orders WHERE number > ?1 AND number < ?1 || '~'")?
                .query_row([&prefix], |r| r.get(0))?;
            let floor = last
                .and_then(|n| n[prefix.len()..].parse::<i64>().ok())
                .unwrap_or(0);
            let seq = ctx.next_counter("service_order", floor)?;
            let number = format!(
                "SO-{}-{}-{seq:06}",
                ctx.me.branch_code, ctx.me.terminal_code
            );
            let id = ctx.new_id();
            let rec = ServiceOrderRecord {
                number: number.clone(),
                customer_id: customer_id.clone(),
                vehicle_id: vehicle_id.clone(),
                branch_id: ctx.me.branch_id.clone(),
                status: OrderStatus::Booked,
                scheduled_date: scheduled_date.clone(),
                technician_id: technician_id.clone(),
                complaint: complaint.clone(),
                odometer: *odometer,
                invoice_id: None,
                created_at: now,
                updated_at: now,
                labour: BTreeMap::new(),
                parts: BTreeMap::new(),
                history: vec![ctx.history_entry("status", OrderStatus::Booked.as_str())],
            };
            let doc = DocId::Workshop {
                branch: ctx.me.branch_id.clone(),
                month: month_of(now),
            };
            ctx.insert(&doc, "orders", &id, &rec)?;
            Ok(Outcome {
                id,
                number: Some(number),
                warnings: Vec::new(),
            })
        }
        Command::AssignTechnician {
            order_id,
            technician_id,
        } => {
            id_field("order_id", order_id)?;
            id_field("technician_id", technician_id)?;
            let o = order(conn, order_id)?;
            if matches!(o.status, OrderStatus::Invoiced | OrderStatus::Cancelled) {
                return Err(CommandError::invalid("order_id", "the order is closed"));
            }
            exists(
                conn,
                "SELECT 1 FROM technicians WHERE id = ?1",
                technician_id,
                "technician",
            )?;
            ctx.update(
                &o.doc_id,
                "orders",
                order_id,
                &[
                    ("technician_id", json!(technician_id)),
                    ("updated_at", json!(now)),
                ],
                true,
            )?;
            Ok(Outcome::id(order_id.clone()))
        }
        Command::AddLabour {
            order_id,
            service_id,
            technician_id,
            price,
        } => {
            id_field("order_id", order_id)?;
            id_field("service_id", service_id)?;
            let o = order(conn, order_id)?;
            if matches!(o.status, OrderStatus::Invoiced | OrderStatus::Cancelled) {
                return Err(CommandError::invalid("order_id", "the order is closed"));
            }
            let svc: Option<(String, Money, i64, bool)> = conn
                .query_row(
                    "SELECT name, labour_price, duration_min, active FROM services WHERE id = ?1",
                    [service_id],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                )
                .optional()?;
            let Some((name, list_price, duration, active)) = svc else {
                return Err(CommandError::NotFound {
                    kind: "service",
                    id: service_id.clone(),
                });
            };
            if !active {
                return Err(CommandError::Inactive {
                    kind: "service",
                    id: service_id.clone(),
                });
            }
            if let Some(t) = technician_id {
                id_field("technician_id", t)?;
                exists(
                    conn,
                    "SELECT 1 FROM technicians WHERE id = ?1",
                    t,
                    "technician",
                )?;
            }
            let price = price.unwrap_or(list_price);
            amount("price", price, true)?;
            let line_id = ctx.new_id();
            let line = LabourLine {
                service_id: service_id.clone(),
                description: name,
                technician_id: technician_id.clone(),
                price,
                duration_min: duration,
            };
            add_order_line(ctx, &o.doc_id, order_id, "labour", &line_id, &line)?;
            Ok(Outcome::id(line_id))
        }
        Command::UsePart {
            order_id,
            product_id,
            qty,
            allow_negative_stock,
        } => {
            id_field("order_id", order_id)?;
            id_field("product_id", product_id)?;
            amount("qty", *qty, false)?;
            let o = order(conn, order_id)?;
            if !matches!(
                o.status,
                OrderStatus::InProgress | OrderStatus::WaitingParts
            ) {
                return Err(CommandError::invalid(
                    "order_id",
                    "parts are used only while the order is in progress",
                ));
            }
            let p = ctx.product(product_id)?;
            if !p.active {
                return Err(CommandError::Inactive {
                    kind: "product",
                    id: product_id.clone(),
                });
            }
            let mut warnings = Vec::new();
            let wanted = BTreeMap::from([(product_id.clone(), *qty)]);
            check_stock(
                conn,
                &ctx.me.branch_id.clone(),
                &wanted,
                *allow_negative_stock,
                &mut warnings,
            )?;
            let line_id = ctx.new_id();
            let line = PartLine {
                product_id: product_id.clone(),
                qty: *qty,
                unit_price: p.price,
                unit_cost: p.cost,
                branch_id: ctx.me.branch_id.clone(),
                terminal_id: ctx.me.replica_id.clone(),
                user_id: ctx.user.to_string(),
                at: now,
            };
            add_order_line(ctx, &o.doc_id, order_id, "parts", &line_id, &line)?;
            Ok(Outcome {
                id: line_id,
                number: None,
                warnings,
            })
        }
        Command::SetOrderStatus { order_id, status } => {
            id_field("order_id", order_id)?;
            let o = order(conn, order_id)?;
            if !o.status.can_move_to(*status) {
                return Err(CommandError::IllegalTransition {
                    from: o.status,
                    to: *status,
                });
            }
            ctx.update(
                &o.doc_id,
                "orders",
                order_id,
                &[("status", json!(status)), ("updated_at", json!(now))],
                true,
            )?;
            Ok(Outcome::id(order_id.clone()))
        }
        Command::InvoiceServiceOrder {
            order_id,
            payments,
            allow_over_credit_limit,
        } => {
            id_field("order_id", order_id)?;
            let o = order(conn, order_id)?;
            if o.status != OrderStatus::Done {
                return Err(CommandError::IllegalTransition {
                    from: o.status,
                    to: OrderStatus::Invoiced,
                });
            }
            if o.branch_id != ctx.me.branch_id {
                return Err(CommandError::NotPermitted(
                    "an order is invoiced at its own branch".into(),
                ));
            }
            let mut lines: Vec<InvoiceLine> = conn
                .prepare_cached("SELECT description, price FROM service_order_labour WHERE order_id = ?1 ORDER BY line_id")?
                .query_map([order_id], |r| {
                    let price: Money = r.get(1)?;
                    Ok(InvoiceLine {
                        kind: LineKind::Labour,
                        product_id: None,
                        description: r.get(0)?,
                        qty: ONE,
                        unit_price: price,
                        discount: 0,
                        tax: 0,
                        total: price,
                        cost: 0,
                    })
                })?
                .collect::<rusqlite::Result<_>>()?;
            let parts: Vec<InvoiceLine> = conn
                .prepare_cached(
                    "SELECT p.product_id, coalesce(pr.name, p.product_id), p.qty, p.unit_price, coalesce(pr.cost, 0)
                     FROM service_order_parts p LEFT JOIN products pr ON pr.id = p.product_id
                     WHERE p.order_id = ?1 ORDER BY p.line_id",
                )?
                .query_map([order_id], |r| {
                    let qty: Qty = r.get(2)?;
                    let unit_price: Money = r.get(3)?;
                    Ok(InvoiceLine {
                        kind: LineKind::Part,
                        product_id: Some(r.get(0)?),
                        description: r.get(1)?,
                        qty,
                        unit_price,
                        discount: 0,
                        tax: 0,
                        total: gross(qty, unit_price).unwrap_or(0),
                        cost: r.get(4)?,
                    })
                })?
                .collect::<rusqlite::Result<_>>()?;
            lines.extend(parts);
            if lines.is_empty() {
                return Err(CommandError::invalid(
                    "order_id",
                    "the order has no labour or parts to invoice",
                ));
            }
            let total: Money = lines.iter().map(|l| l.total).sum();
            let paid = tenders(conn, payments)?;
            if paid > total {
                return Err(CommandError::Overpayment {
                    owed: total,
                    amount: paid,
                });
            }
            let mut warnings = Vec::new();
            check_credit(
                conn,
                &o.customer_id,
                total - paid,
                *allow_over_credit_limit,
                &mut warnings,
            )?;
            let (inv_id, bill) = write_invoice(
                ctx,
                Some(o.customer_id.clone()),
                lines,
                payments,
                Some(order_id.clone()),
            )?;
            ctx.update(
                &o.doc_id,
                "orders",
                order_id,
                &[
                    ("status", json!(OrderStatus::Invoiced)),
                    ("invoice_id", json!(inv_id)),
                    ("updated_at", json!(now)),
                ],
                true,
            )?;
            Ok(Outcome {
                id: inv_id,
                number: Some(bill),
                warnings,
            })
        }
    }
}

fn unique(
    conn: &Connection,
    table: &str,
    col: &str,
    field: &'static str,
    value: &str,
    except: Option<&str>,
) -> Result<()> {
    let other: Option<String> = conn
        .prepare_cached(&format!(
            "SELECT id FROM {table} WHERE {col} = ?1 AND id IS NOT ?2 LIMIT 1"
        ))?
        .query_row(params![value, except], |r| r.get(0))
        .optional()?;
    match other {
        Some(_) => Err(CommandError::Duplicate {
            field,
            value: value.to_string(),
        }),
        None => Ok(()),
    }
}

fn add_order_line<T: Serialize>(
    ctx: &mut WriteCtx<'_>,
    doc_id: &DocId,
    order_id: &str,
    map: &str,
    line_id: &str,
    line: &T,
) -> Result<()> {
    let i = ctx.open(doc_id)?;
    let value = serde_json::to_value(line).map_err(|e| CommandError::Storage(e.to_string()))?;
    let now = ctx.now;
    ctx.write(
        i,
        DocWrite::OrderLine {
            order_id: order_id.to_string(),
            map: map.to_string(),
            line_id: line_id.to_string(),
            value,
            now,
        },
    )?;
    ctx.touched
        .push((i, "orders".into(), order_id.to_string(), None));
    Ok(())
}

fn stock(
    ctx: &mut WriteCtx<'_>,
    kind: StockRecordKind,
    to_branch: Option<String>,
    lines: &[StockLineInput],
    n: &str,
    allow_negative: bool,
) -> Result<Outcome> {
    let conn = ctx.conn;
    lines_count("lines", lines)?;
    note("note", n)?;
    let mut out = Vec::with_capacity(lines.len());
    let mut outgoing: BTreeMap<String, Qty> = BTreeMap::new();
    for (i, l) in lines.iter().enumerate() {
        let f = |s: &str| format!("lines[{i}].{s}");
        id_field(&f("product_id"), &l.product_id)?;
        if kind == StockRecordKind::Adjustment {
            if l.qty == 0 || l.qty.abs() > MAX_AMOUNT {
                return Err(CommandError::invalid(
                    f("qty"),
                    "must be non-zero and not too large",
                ));
            }
        } else {
            amount(&f("qty"), l.qty, false)?;
        }
        let p = ctx.product(&l.product_id)?;
        let unit_cost = l.unit_cost.unwrap_or(p.cost);
        amount(&f("unit_cost"), unit_cost, true)?;
        if kind == StockRecordKind::Transfer {
            *outgoing.entry(l.product_id.clone()).or_default() += l.qty;
        } else if l.qty < 0 {
            *outgoing.entry(l.product_id.clone()).or_default() += -l.qty;
        }
        out.push(StockLine {
            product_id: l.product_id.clone(),
            qty: l.qty,
            unit_cost,
        });
    }
    let mut warnings = Vec::new();
    let branch = ctx.me.branch_id.clone();
    check_stock(conn, &branch, &outgoing, allow_negative, &mut warnings)?;
    let id = ctx.new_id();
    let rec = StockRecord {
        kind,
        branch_id: branch,
        to_branch,
        terminal_id: ctx.me.replica_id.clone(),
        user_id: ctx.user.to_string(),
        at: ctx.now,
        note: n.to_string(),
        lines: out,
    };
    let journal = ctx.journal();
    if let (StockRecordKind::Transfer, Some(to)) = (kind, &rec.to_branch) {
        // The receiving branch's terminals do not read this journal: the
        // incoming side goes where they do.
        let incoming = TransferInRecord {
            from_branch: rec.branch_id.clone(),
            to_branch: to.clone(),
            terminal_id: rec.terminal_id.clone(),
            user_id: rec.user_id.clone(),
            at: rec.at,
            note: rec.note.clone(),
            lines: rec.lines.clone(),
        };
        let inbound = DocId::Inbound {
            branch: to.clone(),
            month: month_of(ctx.now),
        };
        ctx.insert(&inbound, "transfers", &id, &incoming)?;
    }
    ctx.insert(&journal, "stock", &id, &rec)?;
    Ok(Outcome {
        id,
        number: None,
        warnings,
    })
}
