//! Stock: on hand per branch and per product, valuation, stock card.

use rusqlite::params;
use serde::{Deserialize, Serialize};

use super::{AmountCursor, Page, Queries, TimeCursor, cap, round_milli};
use crate::domain::{Millis, Money, Qty};

pub(super) const STOCK_BY_BRANCH: &str = "
SELECT s.product_id, p.sku_wanted, p.name, p.category, p.unit, s.qty, p.cost, p.min_stock
FROM stock_levels s
LEFT JOIN products p ON p.id = s.product_id
WHERE s.branch_id = ?1 AND (s.qty, s.product_id) > (?2, ?3)
ORDER BY s.qty, s.product_id
LIMIT ?4";

pub(super) const STOCK_OF_PRODUCT: &str = "
SELECT s.branch_id, b.name, s.qty
FROM stock_levels s
LEFT JOIN branches b ON b.id = s.branch_id
WHERE s.product_id = ?1 AND s.branch_id > ?2
ORDER BY s.branch_id
LIMIT ?3";

/// Kept per branch and category by schema step 9 (`stock_values`), as
/// `SELECT p.category, count(*), sum(s.qty), sum(s.qty * coalesce(p.cost, 0))
/// FROM stock_levels s LEFT JOIN products p ON p.id = s.product_id
/// WHERE s.branch_id = ?1 AND s.qty <> 0 GROUP BY p.category` would sum
/// it; category '' is stock of products this replica does not have.
pub(super) const STOCK_VALUATION: &str = "
SELECT nullif(category, ''), products, qty, value
FROM stock_values
WHERE branch_id = ?1
ORDER BY category";

/// Balance just after the newest movement that the page will show: stock on
/// hand minus every movement already shown (at or after the cursor).
pub(super) const STOCK_CARD_START: &str = "
SELECT coalesce((SELECT qty FROM stock_levels WHERE product_id = ?1 AND branch_id = ?2), 0)
     - coalesce((SELECT sum(qty) FROM stock_movements
                 WHERE product_id = ?1 AND branch_id = ?2 AND at >= ?3 AND (at > ?3 OR id >= ?4)), 0)";

pub(super) const STOCK_CARD_PAGE: &str = "
SELECT m.id, m.at, m.qty, m.kind, m.ref_kind, m.ref_id,
       coalesce(i.bill_no, i.bill_no_wanted, o.number), m.customer_id, m.unit_cost,
       m.terminal_id, m.user_id,
       ?5 - coalesce(sum(m.qty) OVER (ORDER BY m.at DESC, m.id DESC
                                      ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0)
FROM (SELECT id, at, qty, kind, ref_kind, ref_id, customer_id, unit_cost, terminal_id, user_id
      FROM stock_movements
      WHERE product_id = ?1 AND branch_id = ?2 AND at <= ?3 AND (at < ?3 OR id < ?4)
      ORDER BY at DESC, id DESC
      LIMIT ?6) m
LEFT JOIN invoices i ON m.ref_kind = 'invoice' AND i.id = m.ref_id
LEFT JOIN service_orders o ON m.ref_kind = 'order' AND o.id = m.ref_id
ORDER BY m.at DESC, m.id DESC";

pub(super) const STATEMENTS: &[(&str, &str)] = &[
    ("stock_by_branch", STOCK_BY_BRANCH),
    ("stock_of_product", STOCK_OF_PRODUCT),
    ("stock_valuation", STOCK_VALUATION),
    ("stock_card_start", STOCK_CARD_START),
    ("stock_card_page", STOCK_CARD_PAGE),
];

/// Stock of one product at a branch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockRow {
    /// Product id.
    pub product_id: String,
    /// SKU (`None` while the product has not arrived on this replica).
    pub sku: Option<String>,
    /// Name.
    pub name: Option<String>,
    /// Category.
    pub category: Option<String>,
    /// Unit.
    pub unit: Option<String>,
    /// On hand.
    pub qty: Qty,
    /// Current unit cost.
    pub cost: Option<Money>,
    /// Alert threshold.
    pub min_stock: Option<Qty>,
    /// `qty * cost`, rounded to minor units.
    pub value: Money,
}

/// Stock of a product at one branch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BranchStock {
    /// Branch id.
    pub branch_id: String,
    /// Branch name, when the branch is in the catalogue.
    pub branch_name: Option<String>,
    /// On hand.
    pub qty: Qty,
}

/// Stock value of one category at a branch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CategoryValuation {
    /// Category (`None` for products not yet on this replica).
    pub category: Option<String>,
    /// Products with non-zero stock.
    pub products: i64,
    /// Sum of quantities (thousandths; mixed units).
    pub qty: Qty,
    /// Sum of `qty * cost`, rounded to minor units.
    pub value: Money,
}

/// Stock valuation of a branch at current cost.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Valuation {
    /// Per category.
    pub categories: Vec<CategoryValuation>,
    /// Sum over every product (rounded once, so it may differ by a cent
    /// from the sum of the rounded categories). Negative stock counts
    /// negatively.
    pub total: Money,
}

/// One movement on a stock card.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockCardEntry {
    /// Movement id.
    pub id: String,
    /// When.
    pub at: Millis,
    /// Signed quantity.
    pub qty: Qty,
    /// `receipt`, `sale`, `return`, `void`, `adjustment`, `transfer_out`,
    /// `transfer_in` or `part_use`.
    pub kind: String,
    /// Kind of the record behind it.
    pub ref_kind: String,
    /// Its id.
    pub ref_id: String,
    /// Bill number or service order number, when there is one.
    pub reference: Option<String>,
    /// Customer concerned.
    pub customer_id: Option<String>,
    /// Unit cost.
    pub unit_cost: Money,
    /// Terminal.
    pub terminal_id: String,
    /// User.
    pub user_id: String,
    /// On hand just after this movement.
    pub balance: Qty,
}

/// A page of a stock card, newest movement first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockCardPage {
    /// On hand after the newest movement of the page.
    pub closing_balance: Qty,
    /// Movements, newest first, each with the balance after it.
    pub rows: Vec<StockCardEntry>,
    /// Cursor for the next (older) page.
    pub next: Option<TimeCursor>,
}

impl<'a> Queries<'a> {
    /// Stock on hand at a branch, product by product, lowest quantity first
    /// (negative stock on top), ties by product id; the cursor is
    /// `(qty, product_id)`. Products without any movement at the branch are
    /// not listed.
    pub fn stock_by_branch(
        &self,
        branch_id: &str,
        after: Option<&AmountCursor>,
        limit: u32,
    ) -> rusqlite::Result<Page<StockRow, AmountCursor>> {
        let limit = cap(limit);
        let (qty, id) = after.map_or((i64::MIN, ""), |(q, i)| (*q, i.as_str()));
        let rows = self
            .prep(STOCK_BY_BRANCH)?
            .query_map(params![branch_id, qty, id, limit], |r| {
                let qty: Qty = r.get(5)?;
                let cost: Option<Money> = r.get(6)?;
                Ok(StockRow {
                    product_id: r.get(0)?,
                    sku: r.get(1)?,
                    name: r.get(2)?,
                    category: r.get(3)?,
                    unit: r.get(4)?,
                    qty,
                    cost,
                    min_stock: r.get(7)?,
                    value: round_milli(qty as i128 * cost.unwrap_or(0) as i128),
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(Page::new(rows, limit, |s| (s.qty, s.product_id.clone())))
    }

    /// Stock of one product at every branch that has moved it, by branch
    /// id (the cursor).
    pub fn stock_of_product(
        &self,
        product_id: &str,
        after: Option<&str>,
        limit: u32,
    ) -> rusqlite::Result<Page<BranchStock, String>> {
        let limit = cap(limit);
        let rows = self
            .prep(STOCK_OF_PRODUCT)?
            .query_map(params![product_id, after.unwrap_or(""), limit], |r| {
                Ok(BranchStock {
                    branch_id: r.get(0)?,
                    branch_name: r.get(1)?,
                    qty: r.get(2)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(Page::new(rows, limit, |b| b.branch_id.clone()))
    }

    /// Stock value of a branch at current cost (`qty * products.cost`), per
    /// category and in total.
    pub fn stock_valuation(&self, branch_id: &str) -> rusqlite::Result<Valuation> {
        let mut total: i128 = 0;
        let categories = self
            .prep(STOCK_VALUATION)?
            .query_map([branch_id], |r| {
                Ok((
                    r.get::<_, Option<String>>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, Qty>(2)?,
                    r.get::<_, i64>(3)?,
                ))
            })?
            .map(|row| {
                let (category, products, qty, milli) = row?;
                total += milli as i128;
                Ok(CategoryValuation {
                    category,
                    products,
                    qty,
                    value: round_milli(milli as i128),
                })
            })
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(Valuation {
            categories,
            total: round_milli(total),
        })
    }

    /// The stock card of a product at a branch: its movements, newest
    /// first (by `(at, id)` descending, the cursor), each with the balance
    /// just after it. Two statements: the balance where the page starts
    /// (on hand minus the movements already shown), and the page with a
    /// window sum.
    pub fn stock_card(
        &self,
        product_id: &str,
        branch_id: &str,
        after: Option<&TimeCursor>,
        limit: u32,
    ) -> rusqlite::Result<StockCardPage> {
        let limit = cap(limit);
        let (at, id) = after.map_or((i64::MAX, ""), |(a, i)| (*a, i.as_str()));
        let start: Qty = self
            .prep(STOCK_CARD_START)?
            .query_row(params![product_id, branch_id, at, id], |r| r.get(0))?;
        let rows = self
            .prep(STOCK_CARD_PAGE)?
            .query_map(params![product_id, branch_id, at, id, start, limit], |r| {
                Ok(StockCardEntry {
                    id: r.get(0)?,
                    at: r.get(1)?,
                    qty: r.get(2)?,
                    kind: r.get(3)?,
                    ref_kind: r.get(4)?,
                    ref_id: r.get(5)?,
                    reference: r.get(6)?,
                    customer_id: r.get(7)?,
                    unit_cost: r.get(8)?,
                    terminal_id: r.get(9)?,
                    user_id: r.get(10)?,
                    balance: r.get(11)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let page = Page::new(rows, limit, |m| (m.at, m.id.clone()));
        Ok(StockCardPage {
            closing_balance: start,
            rows: page.rows,
            next: page.next,
        })
    }
}
