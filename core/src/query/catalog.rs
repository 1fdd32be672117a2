//! Catalogue: product and customer search, barcode lookup, low stock.

use rusqlite::{OptionalExtension, Row, params};
use serde::{Deserialize, Serialize};

use super::{Page, Queries, TextCursor, cap};
use crate::domain::{Money, Qty};

/// Most search tokens taken from the user's text.
const MAX_TOKENS: usize = 8;
/// Longest search token, in characters.
const MAX_TOKEN_CHARS: usize = 64;

pub(super) const PRODUCT_SEARCH: &str = "
SELECT p.rid, p.id, p.sku_wanted, p.barcode_wanted, p.name, p.category, p.grade, p.unit,
       p.price, p.status, coalesce(s.qty, 0),
       p.sku IS NULL OR (p.barcode_wanted IS NOT NULL AND p.barcode IS NULL)
FROM product_fts
JOIN products p ON p.rid = product_fts.rowid
LEFT JOIN stock_levels s ON s.product_id = p.id AND s.branch_id = ?2
WHERE product_fts MATCH ?1 AND product_fts.rowid > ?3
ORDER BY product_fts.rowid
LIMIT ?4";

/// The holder of a barcode also wants it, so `barcode_wanted = ?1` is
/// redundant but lets the planner use the partial index of products that
/// have a barcode when most products have none (steel rarely does), where
/// the statistics of the unique index count the NULLs as one huge group.
pub(super) const PRODUCT_BY_BARCODE: &str = "
SELECT p.rid, p.id, p.sku_wanted, p.barcode_wanted, p.name, p.category, p.grade, p.unit,
       p.price, p.status, coalesce(s.qty, 0),
       p.sku IS NULL OR (p.barcode_wanted IS NOT NULL AND p.barcode IS NULL)
FROM products p
LEFT JOIN stock_levels s ON s.product_id = p.id AND s.branch_id = ?2
WHERE p.barcode = ?1 AND p.barcode_wanted = ?1";

pub(super) const CUSTOMER_SEARCH: &str = "
SELECT c.rid, c.id, c.name, c.phone_wanted, c.phone IS NULL AND c.phone_wanted IS NOT NULL,
       c.address, c.credit_limit, coalesce(b.balance, 0)
FROM customer_fts
JOIN customers c ON c.rid = customer_fts.rowid
LEFT JOIN customer_balances b ON b.customer_id = c.id
WHERE customer_fts MATCH ?1 AND customer_fts.rowid > ?2
ORDER BY customer_fts.rowid
LIMIT ?3";

/// Whether the low-stock pairs of a branch are kept (schema step 10): it
/// has stock levels. `stock_branches` is the set of branches of the stock
/// levels, kept as a table because the triggers need that list (a product
/// that arrives is placed at each branch) and a trigger cannot use the
/// recursive skip-scan that finds it without reading every stock level.
pub(super) const STOCK_BRANCH: &str =
    "SELECT EXISTS (SELECT 1 FROM stock_branches WHERE branch_id = ?1)";

/// A page of a kept branch's low-stock pairs, in name order. The explicit
/// `COLLATE NOCASE` on the cursor makes the row value compare names
/// case-insensitively and lets `idx_low_stock_branch_name` start the range
/// at the cursor (`SEARCH ... (branch_id=? AND (name,product_id)>(?,?))`).
/// `CROSS JOIN` keeps that walk the outer loop whatever the statistics say
/// of the few low pairs.
pub(super) const LOW_STOCK: &str = "
SELECT p.id, p.sku_wanted, p.name, p.category, p.unit, p.min_stock, coalesce(s.qty, 0) AS on_hand
FROM low_stock l
CROSS JOIN products p ON p.id = l.product_id
LEFT JOIN stock_levels s ON s.product_id = l.product_id AND s.branch_id = l.branch_id
WHERE l.branch_id = ?1
  AND (l.name, l.product_id) > (?2 COLLATE NOCASE, ?3)
ORDER BY l.name COLLATE NOCASE, l.product_id
LIMIT ?4";

/// The same page for a branch without stock levels, whose pairs are not
/// kept: every active product is low there, so the walk of
/// `idx_products_name_nocase` from the cursor stops after a page.
pub(super) const LOW_STOCK_UNKEPT: &str = "
SELECT p.id, p.sku_wanted, p.name, p.category, p.unit, p.min_stock, coalesce(s.qty, 0) AS on_hand
FROM products p
LEFT JOIN stock_levels s ON s.product_id = p.id AND s.branch_id = ?1
WHERE p.status = 'active'
  AND coalesce(s.qty, 0) <= p.min_stock
  AND (p.name, p.id) > (?2 COLLATE NOCASE, ?3)
ORDER BY p.name COLLATE NOCASE, p.id
LIMIT ?4";

pub(super) const STATEMENTS: &[(&str, &str)] = &[
    ("product_search", PRODUCT_SEARCH),
    ("product_by_barcode", PRODUCT_BY_BARCODE),
    ("customer_search", CUSTOMER_SEARCH),
    ("stock_branch", STOCK_BRANCH),
    ("low_stock", LOW_STOCK),
    ("low_stock_unkept", LOW_STOCK_UNKEPT),
];

/// Builds a safe FTS5 query from what a user typed: every run of letters
/// and digits becomes a quoted prefix token (`"reb"* "12"*`, all required).
/// Everything else (quotes, operators, parentheses, `*`, `:`, `-`...) only
/// separates tokens, as it does for the tokenizer that indexed the text, so
/// no input can break the FTS syntax or reach its operators. At most 8
/// tokens of 64 characters are kept. `None` when nothing searchable is left.
pub fn fts_query(text: &str) -> Option<String> {
    let cleaned: String = text
        .chars()
        .map(|c| if c.is_alphanumeric() { c } else { ' ' })
        .collect();
    let tokens: Vec<String> = cleaned
        .split_whitespace()
        .take(MAX_TOKENS)
        .map(|t| {
            let t: String = t.chars().take(MAX_TOKEN_CHARS).collect();
            format!("\"{t}\"*")
        })
        .collect();
    if tokens.is_empty() {
        None
    } else {
        Some(tokens.join(" "))
    }
}

/// A product found by search or barcode, with its stock at one branch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductHit {
    /// Local row id: the search cursor.
    pub rid: i64,
    /// Product id.
    pub id: String,
    /// SKU as the product record has it.
    pub sku: String,
    /// Barcode as the product record has it.
    pub barcode: Option<String>,
    /// Name.
    pub name: String,
    /// Category.
    pub category: String,
    /// Grade.
    pub grade: Option<String>,
    /// Unit of sale.
    pub unit: String,
    /// Price per unit.
    pub price: Money,
    /// `active` or `inactive`.
    pub status: String,
    /// On hand at the branch asked for (0 when it never had any).
    pub on_hand: Qty,
    /// The SKU or barcode is also wanted by another product (after a merge)
    /// and this product lost it: see the conflicts report.
    pub key_conflict: bool,
}

impl ProductHit {
    fn from_row(r: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(ProductHit {
            rid: r.get(0)?,
            id: r.get(1)?,
            sku: r.get(2)?,
            barcode: r.get(3)?,
            name: r.get(4)?,
            category: r.get(5)?,
            grade: r.get(6)?,
            unit: r.get(7)?,
            price: r.get(8)?,
            status: r.get(9)?,
            on_hand: r.get(10)?,
            key_conflict: r.get(11)?,
        })
    }
}

/// A customer found by search.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerHit {
    /// Local row id: the search cursor.
    pub rid: i64,
    /// Customer id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Phone as the customer record has it.
    pub phone: Option<String>,
    /// The phone is also wanted by another customer and this one lost it.
    pub phone_conflict: bool,
    /// Address.
    pub address: Option<String>,
    /// Credit limit.
    pub credit_limit: Money,
    /// Balance (sum of the ledger; positive: the customer owes).
    pub balance: Money,
}

/// An active product at or below its minimum stock at a branch (negative
/// stock included: two terminals sold the last unit offline).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LowStock {
    /// Product id.
    pub product_id: String,
    /// SKU.
    pub sku: String,
    /// Name.
    pub name: String,
    /// Category.
    pub category: String,
    /// Unit.
    pub unit: String,
    /// Alert threshold.
    pub min_stock: Qty,
    /// On hand at the branch (0 when it never had any).
    pub on_hand: Qty,
}

impl<'a> Queries<'a> {
    /// Products whose name, SKU or barcode has words starting with the
    /// words of `text` (see [`fts_query`]), with their stock at `branch_id`.
    /// Ordered by the product's local row id, which is also the cursor.
    pub fn search_products(
        &self,
        text: &str,
        branch_id: &str,
        after: Option<i64>,
        limit: u32,
    ) -> rusqlite::Result<Page<ProductHit, i64>> {
        let limit = cap(limit);
        let Some(q) = fts_query(text) else {
            return Ok(Page {
                rows: Vec::new(),
                next: None,
            });
        };
        let rows = self
            .prep(PRODUCT_SEARCH)?
            .query_map(
                params![q, branch_id, after.unwrap_or(i64::MIN), limit],
                ProductHit::from_row,
            )?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(Page::new(rows, limit, |h| h.rid))
    }

    /// The product holding exactly this barcode, with its stock at `branch_id`.
    pub fn product_by_barcode(
        &self,
        barcode: &str,
        branch_id: &str,
    ) -> rusqlite::Result<Option<ProductHit>> {
        self.prep(PRODUCT_BY_BARCODE)?
            .query_row(params![barcode, branch_id], ProductHit::from_row)
            .optional()
    }

    /// Customers whose name or phone has words starting with the words of
    /// `text`, with their balance. Ordered by local row id (the cursor).
    pub fn search_customers(
        &self,
        text: &str,
        after: Option<i64>,
        limit: u32,
    ) -> rusqlite::Result<Page<CustomerHit, i64>> {
        let limit = cap(limit);
        let Some(q) = fts_query(text) else {
            return Ok(Page {
                rows: Vec::new(),
                next: None,
            });
        };
        let rows = self
            .prep(CUSTOMER_SEARCH)?
            .query_map(params![q, after.unwrap_or(i64::MIN), limit], |r| {
                Ok(CustomerHit {
                    rid: r.get(0)?,
                    id: r.get(1)?,
                    name: r.get(2)?,
                    phone: r.get(3)?,
                    phone_conflict: r.get(4)?,
                    address: r.get(5)?,
                    credit_limit: r.get(6)?,
                    balance: r.get(7)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(Page::new(rows, limit, |h| h.rid))
    }

    /// Low-stock alerts of a branch: active products whose on-hand is at or
    /// below their minimum (products never stocked count as 0, negative stock
    /// is included). Ordered by name (case-insensitive) then id; the cursor
    /// is `(name, id)`.
    pub fn low_stock(
        &self,
        branch_id: &str,
        after: Option<&TextCursor>,
        limit: u32,
    ) -> rusqlite::Result<Page<LowStock, TextCursor>> {
        let limit = cap(limit);
        let (name, id) = after.map_or(("", ""), |(n, i)| (n.as_str(), i.as_str()));
        // The walk over the products is right for any branch, the kept
        // pairs only for one with stock, where the walk would be long.
        let kept: bool = self
            .prep(STOCK_BRANCH)?
            .query_row([branch_id], |r| r.get(0))?;
        let rows = self
            .prep(if kept { LOW_STOCK } else { LOW_STOCK_UNKEPT })?
            .query_map(params![branch_id, name, id, limit], |r| {
                Ok(LowStock {
                    product_id: r.get(0)?,
                    sku: r.get(1)?,
                    name: r.get(2)?,
                    category: r.get(3)?,
                    unit: r.get(4)?,
                    min_stock: r.get(5)?,
                    on_hand: r.get(6)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(Page::new(rows, limit, |l| {
            (l.name.clone(), l.product_id.clone())
        }))
    }
}
