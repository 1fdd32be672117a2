//! The offline-first store engine.
//!
//! A [`Replica`] is one SQLite database: a terminal's, or the server's. Every
//! [`Command`] is validated against the replica's relational *projection*,
//! then written as one automerge change in the document that owns the record,
//! and the change and the projection rows are stored in one SQLite
//! transaction: a crash leaves both or neither. Replicas exchange changes
//! ([`Replica::changes_since`], [`Replica::apply_changes`]); automerge merges
//! them without conflicts and the projection follows, so every replica ends
//! with the same documents and the same tables whatever the order.
//!
//! ```
//! use store_core::{Command, OpenOptions, Replica, ReplicaIdentity, SaleLine, SeededEnv, Tender};
//!
//! let me = ReplicaIdentity {
//!     replica_id: "T1".into(),
//!     branch_id: "B1".into(),
//!     branch_code: "B1".into(),
//!     terminal_code: "T1".into(),
//! };
//! let dir = tempfile::tempdir()?;
//! let env = Box::new(SeededEnv::new(7, 1_790_000_000_000, 1_000));
//! let mut r = Replica::open(dir.path().join("t1.sqlite"), me, env, &OpenOptions::default())?;
//!
//! r.execute("alice", &Command::SetPaymentChannel {
//!     code: "cash".into(), name: "Cash".into(), is_cash: true, active: true,
//! })?;
//! let rebar = r.execute("alice", &Command::CreateProduct {
//!     sku: "RB-12".into(), barcode: None, name: "Rebar 12mm".into(),
//!     category: "rebar".into(), grade: Some("B500".into()), unit: "kg".into(),
//!     price: 95, cost: 70, min_stock: 100_000,
//! })?.id;
//! r.execute("alice", &Command::ReceiveStock {
//!     lines: vec![store_core::StockLineInput { product_id: rebar.clone(), qty: 500_000, unit_cost: None }],
//!     note: "supplier delivery".into(),
//! })?;
//! let sale = r.execute("alice", &Command::Sell {
//!     customer_id: None,
//!     lines: vec![SaleLine { product_id: rebar.clone(), qty: 12_500, unit_price: None, discount: 0, tax_rate_bp: 0 }],
//!     payments: vec![Tender { channel: "cash".into(), amount: 1188 }],
//!     allow_negative_stock: false,
//!     allow_over_credit_limit: false,
//! })?;
//! assert_eq!(sale.number.as_deref(), Some("B1-T1-000001"));
//!
//! let q = store_core::query::Queries::new(r.connection());
//! assert_eq!(q.stock_on_hand(&rebar, "B1")?, 487_500);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Layout:
//! - [`domain`](crate::domain): the records stored in documents, money and quantity conventions.
//! - `document`: partitioning into documents, the record codec, persistence.
//! - `projection`: documents to tables.
//! - [`commands`](crate::Command): validation and the write path.
//! - [`query`]: reads and reports over the projection.
//! - [`schema`]: versioned migrations.
//! - [`sync`]: the sync protocol's frames and decisions (no I/O).
//! - [`generate`]: the seeded dataset generator (demo data, tests, benchmarks).
//! - `ops`: integrity check, verified online backup, optimize.

#![warn(missing_docs)]

mod commands;
pub mod document;
pub mod domain;
mod error;
pub mod generate;
mod ops;
mod projection;
pub mod query;
mod replica;
pub mod schema;
pub mod sync;
#[cfg(test)]
mod testing;

pub use commands::{
    Command, MAX_LINES, Outcome, ReturnLineInput, SaleLine, StockLineInput, Tender,
};
pub use document::{DocId, DocKind};
pub use domain::{Millis, Money, OrderStatus, PaymentKind, ProductStatus, Qty};
pub use error::{ApplyError, CommandError, OpenError};
pub use ops::{BackupReport, OpsError};
#[cfg(not(target_family = "wasm"))]
pub use replica::SystemEnv;
pub use replica::{
    ApplyReport, Env, MAX_BATCH, MAX_CHANGE_BYTES, OpenOptions, Replica, ReplicaIdentity, SeededEnv,
};

/// Re-exported so callers can name actors and change hashes without depending on automerge.
pub use automerge::{ActorId, ChangeHash};
