//! Conflicts and alerts: what merges and offline work surfaced.

use rusqlite::params;
use serde::{Deserialize, Serialize};

use super::{Page, Queries, Text3Cursor, TextCursor, cap};
use crate::domain::Qty;

pub(super) const FIELD_CONFLICTS: &str = "
SELECT record_kind, record_id, field, winner, losers
FROM field_conflicts
WHERE (record_kind, record_id, field) > (?1, ?2, ?3)
ORDER BY record_kind, record_id, field
LIMIT ?4";

pub(super) const REJECTED_RECORDS: &str = "
SELECT doc_id, collection, record_id, reason
FROM rejected_records
WHERE (doc_id, collection, record_id) > (?1, ?2, ?3)
ORDER BY doc_id, collection, record_id
LIMIT ?4";

/// Records that want a unique key held by another record: the unique column
/// is NULL while `*_wanted` is set. `holder` is the record that has it (it
/// also wants the key: that redundant condition lets the partial `*_wanted`
/// indexes serve the lookup when most rows have no phone or barcode).
pub(super) const DUPLICATE_KEYS: &str = "
SELECT kind, field, id, wanted, holder FROM (
    SELECT 'branch' AS kind, 'code' AS field, b.id AS id, b.code_wanted AS wanted, hb.id AS holder
    FROM branches b LEFT JOIN branches hb ON hb.code = b.code_wanted
    WHERE b.code IS NULL
    UNION ALL
    SELECT 'customer', 'phone', c.id, c.phone_wanted, hc.id
    FROM customers c LEFT JOIN customers hc
        ON hc.phone = c.phone_wanted AND hc.phone_wanted = c.phone_wanted
    WHERE c.phone_wanted IS NOT NULL AND c.phone IS NULL
    UNION ALL
    SELECT 'invoice', 'bill_no', i.id, i.bill_no_wanted, hi.id
    FROM invoices i LEFT JOIN invoices hi ON hi.bill_no = i.bill_no_wanted
    WHERE i.bill_no IS NULL
    UNION ALL
    SELECT 'product', 'barcode', p.id, p.barcode_wanted, hp.id
    FROM products p LEFT JOIN products hp
        ON hp.barcode = p.barcode_wanted AND hp.barcode_wanted = p.barcode_wanted
    WHERE p.barcode_wanted IS NOT NULL AND p.barcode IS NULL
    UNION ALL
    SELECT 'product', 'sku', s.id, s.sku_wanted, hs.id
    FROM products s LEFT JOIN products hs ON hs.sku = s.sku_wanted
    WHERE s.sku IS NULL
)
WHERE (kind, field, id) > (?1, ?2, ?3)
ORDER BY kind, field, id
LIMIT ?4";

/// Branches are enumerated through `idx_stock_levels_branch` (one seek per
/// branch), then each branch's negative range is read from the same index
/// (`CROSS JOIN` keeps the branch list as the outer loop).
pub(super) const NEGATIVE_STOCK: &str = "
WITH RECURSIVE br(b) AS (
    SELECT (SELECT min(branch_id) FROM stock_levels WHERE branch_id >= ?1)
    UNION ALL
    SELECT (SELECT min(branch_id) FROM stock_levels WHERE branch_id > br.b) FROM br WHERE br.b IS NOT NULL
)
SELECT s.branch_id, s.product_id, p.sku_wanted, p.name, p.unit, s.qty
FROM br
CROSS JOIN stock_levels s ON s.branch_id = br.b AND s.qty < 0
LEFT JOIN products p ON p.id = s.product_id
WHERE (s.branch_id, s.product_id) > (?1, ?2)
ORDER BY s.branch_id, s.product_id
LIMIT ?3";

pub(super) const ALERTS_SUMMARY: &str = "
WITH RECURSIVE br(b) AS (
    SELECT (SELECT min(branch_id) FROM stock_levels)
    UNION ALL
    SELECT (SELECT min(branch_id) FROM stock_levels WHERE branch_id > br.b) FROM br WHERE br.b IS NOT NULL
)
SELECT
    (SELECT count(*) FROM field_conflicts),
    (SELECT count(*) FROM rejected_records),
    (SELECT count(*) FROM branches WHERE code IS NULL)
      + (SELECT count(*) FROM customers WHERE phone_wanted IS NOT NULL AND phone IS NULL)
      + (SELECT count(*) FROM invoices WHERE bill_no IS NULL)
      + (SELECT count(*) FROM products WHERE barcode_wanted IS NOT NULL AND barcode IS NULL)
      + (SELECT count(*) FROM products WHERE sku IS NULL),
    (SELECT count(*) FROM over_credit),
    (SELECT count(*) FROM br JOIN stock_levels s ON s.branch_id = br.b AND s.qty < 0)";

pub(super) const STATEMENTS: &[(&str, &str)] = &[
    ("field_conflicts", FIELD_CONFLICTS),
    ("rejected_records", REJECTED_RECORDS),
    ("duplicate_keys", DUPLICATE_KEYS),
    ("negative_stock", NEGATIVE_STOCK),
    ("alerts_summary", ALERTS_SUMMARY),
];

/// Two concurrent edits of one field: the projected winner and the losers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldConflict {
    /// `product`, `customer`, `service_order`...
    pub record_kind: String,
    /// Record id.
    pub record_id: String,
    /// Field.
    pub field: String,
    /// Value kept.
    pub winner: String,
    /// Values that lost, comma separated.
    pub losers: String,
}

/// A record from another replica that could not be projected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectedRecord {
    /// Document.
    pub doc_id: String,
    /// Collection in it.
    pub collection: String,
    /// Record id.
    pub record_id: String,
    /// Why.
    pub reason: String,
}

/// A record whose unique key is held by another record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DuplicateKey {
    /// `branch`, `customer`, `invoice` or `product`.
    pub kind: String,
    /// `code`, `phone`, `bill_no`, `barcode` or `sku`.
    pub field: String,
    /// The record that lost the key.
    pub id: String,
    /// The key it wants.
    pub wanted: String,
    /// The record holding it.
    pub holder: Option<String>,
}

/// A product with negative stock at a branch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NegativeStock {
    /// Branch.
    pub branch_id: String,
    /// Product.
    pub product_id: String,
    /// SKU.
    pub sku: Option<String>,
    /// Name.
    pub name: Option<String>,
    /// Unit.
    pub unit: Option<String>,
    /// On hand (negative).
    pub qty: Qty,
}

/// How many alerts of each kind there are.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertsSummary {
    /// Concurrent field edits.
    pub field_conflicts: i64,
    /// Records refused by the projection.
    pub rejected_records: i64,
    /// Records whose unique key another record holds.
    pub duplicate_keys: i64,
    /// Customers above their credit limit.
    pub customers_over_credit: i64,
    /// Product and branch pairs with negative stock.
    pub negative_stock: i64,
}

impl<'a> Queries<'a> {
    /// Field conflicts by `(record_kind, record_id, field)` (the cursor).
    pub fn field_conflicts(
        &self,
        after: Option<&Text3Cursor>,
        limit: u32,
    ) -> rusqlite::Result<Page<FieldConflict, Text3Cursor>> {
        let limit = cap(limit);
        let (a, b, c) = text3(after);
        let rows = self
            .prep(FIELD_CONFLICTS)?
            .query_map(params![a, b, c, limit], |r| {
                Ok(FieldConflict {
                    record_kind: r.get(0)?,
                    record_id: r.get(1)?,
                    field: r.get(2)?,
                    winner: r.get(3)?,
                    losers: r.get(4)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(Page::new(rows, limit, |f| {
            (f.record_kind.clone(), f.record_id.clone(), f.field.clone())
        }))
    }

    /// Rejected records by `(doc_id, collection, record_id)` (the cursor).
    pub fn rejected_records(
        &self,
        after: Option<&Text3Cursor>,
        limit: u32,
    ) -> rusqlite::Result<Page<RejectedRecord, Text3Cursor>> {
        let limit = cap(limit);
        let (a, b, c) = text3(after);
        let rows = self
            .prep(REJECTED_RECORDS)?
            .query_map(params![a, b, c, limit], |r| {
                Ok(RejectedRecord {
                    doc_id: r.get(0)?,
                    collection: r.get(1)?,
                    record_id: r.get(2)?,
                    reason: r.get(3)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(Page::new(rows, limit, |x| {
            (x.doc_id.clone(), x.collection.clone(), x.record_id.clone())
        }))
    }

    /// Duplicate unique keys (SKU, barcode, phone, bill number, branch
    /// code) left by merges, by `(kind, field, id)` (the cursor).
    pub fn duplicate_keys(
        &self,
        after: Option<&Text3Cursor>,
        limit: u32,
    ) -> rusqlite::Result<Page<DuplicateKey, Text3Cursor>> {
        let limit = cap(limit);
        let (a, b, c) = text3(after);
        let rows = self
            .prep(DUPLICATE_KEYS)?
            .query_map(params![a, b, c, limit], |r| {
                Ok(DuplicateKey {
                    kind: r.get(0)?,
                    field: r.get(1)?,
                    id: r.get(2)?,
                    wanted: r.get(3)?,
                    holder: r.get(4)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(Page::new(rows, limit, |d| {
            (d.kind.clone(), d.field.clone(), d.id.clone())
        }))
    }

    /// Negative stock at every branch, by `(branch_id, product_id)` (the
    /// cursor).
    pub fn negative_stock(
        &self,
        after: Option<&TextCursor>,
        limit: u32,
    ) -> rusqlite::Result<Page<NegativeStock, TextCursor>> {
        let limit = cap(limit);
        let (b, p) = after.map_or(("", ""), |(b, p)| (b.as_str(), p.as_str()));
        let rows = self
            .prep(NEGATIVE_STOCK)?
            .query_map(params![b, p, limit], |r| {
                Ok(NegativeStock {
                    branch_id: r.get(0)?,
                    product_id: r.get(1)?,
                    sku: r.get(2)?,
                    name: r.get(3)?,
                    unit: r.get(4)?,
                    qty: r.get(5)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(Page::new(rows, limit, |n| {
            (n.branch_id.clone(), n.product_id.clone())
        }))
    }

    /// Counts of every kind of alert, for a dashboard: one statement.
    pub fn alerts_summary(&self) -> rusqlite::Result<AlertsSummary> {
        self.prep(ALERTS_SUMMARY)?.query_row([], |r| {
            Ok(AlertsSummary {
                field_conflicts: r.get(0)?,
                rejected_records: r.get(1)?,
                duplicate_keys: r.get(2)?,
                customers_over_credit: r.get(3)?,
                negative_stock: r.get(4)?,
            })
        })
    }
}

fn text3(after: Option<&Text3Cursor>) -> (&str, &str, &str) {
    after.map_or(("", "", ""), |(a, b, c)| {
        (a.as_str(), b.as_str(), c.as_str())
    })
}
