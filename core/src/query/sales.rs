//! Sales: invoice lists and detail, sales reports, top products.

use rusqlite::{OptionalExtension, Row, params};
use serde::{Deserialize, Serialize};

use super::{Page, Queries, TextCursor, TimeCursor, cap, round_milli};
use crate::domain::{Millis, Money, Qty};

/// Columns of an [`InvoiceSummary`]; the invoice is `i`, its customer `c`.
macro_rules! summary_columns {
    () => {
        "i.id, coalesce(i.bill_no, i.bill_no_wanted), i.customer_id, c.name, i.branch_id,
         i.terminal_id, i.at, i.day, i.total, i.paid, i.returned, i.remaining, i.status"
    };
}

pub(super) const INVOICES_BY_STATUS: &str = concat!(
    "SELECT ",
    summary_columns!(),
    "
FROM invoices i
LEFT JOIN customers c ON c.id = i.customer_id
WHERE i.status = ?1 AND (i.day, i.id) > (?2, ?3) AND i.day <= ?4
ORDER BY i.day, i.id
LIMIT ?5"
);

pub(super) const INVOICES_BY_BRANCH_DAY: &str = concat!(
    "SELECT ",
    summary_columns!(),
    "
FROM invoices i
LEFT JOIN customers c ON c.id = i.customer_id
WHERE i.branch_id = ?1 AND (i.day, i.id) > (?2, ?3) AND i.day <= ?4
ORDER BY i.day, i.id
LIMIT ?5"
);

pub(super) const INVOICES_OF_CUSTOMER: &str = concat!(
    "SELECT ",
    summary_columns!(),
    "
FROM invoices i
LEFT JOIN customers c ON c.id = i.customer_id
WHERE i.customer_id = ?1 AND i.at <= ?2 AND (i.at < ?2 OR i.id < ?3)
ORDER BY i.at DESC, i.id DESC
LIMIT ?4"
);

pub(super) const INVOICE_ID_BY_BILL_NO: &str = "
SELECT id FROM invoices WHERE bill_no_wanted = ?1 ORDER BY bill_no IS NULL, id LIMIT 1";

pub(super) const INVOICE_HEADER: &str = "
SELECT i.id, coalesce(i.bill_no, i.bill_no_wanted), i.bill_no IS NULL, i.seq, i.customer_id,
       c.name, i.branch_id, i.terminal_id, i.user_id, i.at, i.day, i.subtotal, i.discount,
       i.tax, i.total, i.paid, i.returned, i.remaining, i.status, i.service_order_id
FROM invoices i
LEFT JOIN customers c ON c.id = i.customer_id
WHERE i.id = ?1";

pub(super) const INVOICE_LINES: &str = "
SELECT l.line_no, l.kind, l.product_id, p.sku_wanted, l.description, l.qty, l.unit_price,
       l.discount, l.tax, l.total, l.cost, coalesce(rq.qty, 0)
FROM invoice_lines l
LEFT JOIN products p ON p.id = l.product_id
LEFT JOIN (SELECT rl.invoice_line_no AS line_no, sum(rl.qty) AS qty
           FROM returns r JOIN return_lines rl ON rl.return_id = r.id
           WHERE r.invoice_id = ?1
           GROUP BY rl.invoice_line_no) rq ON rq.line_no = l.line_no
WHERE l.invoice_id = ?1
ORDER BY l.line_no";

pub(super) const INVOICE_SETTLEMENTS: &str = "
SELECT CASE p.kind WHEN 'refund' THEN 'refund' ELSE 'payment' END AS kind, p.id AS id,
       p.at AS at, p.amount, p.channel, p.user_id, p.terminal_id, NULL
FROM payments p WHERE p.invoice_id = ?1
UNION ALL
SELECT 'return', r.id, r.at, r.total, NULL, r.user_id, r.terminal_id, r.reason
FROM returns r WHERE r.invoice_id = ?1
UNION ALL
SELECT 'void', v.id, v.at, v.amount, NULL, v.user_id, v.terminal_id, v.reason
FROM invoice_voids v WHERE v.invoice_id = ?1
ORDER BY at, id";

/// `?1..?2` is the day range, `?3` the length of the period key (10 for
/// days, 7 for months).
///
/// The sales reports read the daily sums kept by triggers (schema step 4,
/// `daily_*` tables) rather than the invoices and lines themselves: a month
/// is a few thousand summary rows instead of some 40k lines, and the sums
/// are those of the same rows (a test compares them with the raw tables).
pub(super) const SALES_BY_BRANCH: &str = "
SELECT substr(day, 1, ?3) AS period, branch_id,
       sum(invoices), sum(subtotal), sum(discount), sum(tax), sum(total), sum(paid),
       sum(voided), sum(voided_total)
FROM daily_sales
WHERE day >= ?1 AND day <= ?2
GROUP BY period, branch_id
ORDER BY period, branch_id";

/// Returns have no index on `day` alone: the branches that have returns are
/// enumerated through `idx_returns_branch_day` (one seek per branch), and
/// each branch's day range is read from the same index.
pub(super) const RETURNS_BY_BRANCH: &str = "
WITH RECURSIVE br(b) AS (
    SELECT (SELECT min(branch_id) FROM returns)
    UNION ALL
    SELECT (SELECT min(branch_id) FROM returns WHERE branch_id > br.b) FROM br WHERE br.b IS NOT NULL
)
SELECT substr(r.day, 1, ?3) AS period, r.branch_id, count(*), sum(r.total)
FROM br
JOIN returns r ON r.branch_id = br.b AND r.day >= ?1 AND r.day <= ?2
GROUP BY period, r.branch_id
ORDER BY period, r.branch_id";

pub(super) const SALES_BY_CHANNEL: &str = "
SELECT substr(d.day, 1, ?3) AS period, d.branch_id, d.channel, pc.name,
       coalesce(pc.is_cash, 0), sum(d.payments), sum(d.invoice), sum(d.advance), sum(d.refund)
FROM daily_payments d
LEFT JOIN payment_channels pc ON pc.code = d.channel
WHERE d.day >= ?1 AND d.day <= ?2
GROUP BY period, d.branch_id, d.channel
ORDER BY period, d.branch_id, d.channel";

/// Categories as the products are now (see schema step 5): a line without
/// product, or whose product this replica does not have, counts under its
/// kind.
pub(super) const SALES_BY_CATEGORY: &str = "
SELECT substr(day, 1, ?3) AS period, branch_id, category,
       sum(lines), sum(qty), sum(discount), sum(tax), sum(total), sum(cost)
FROM daily_category_sales
WHERE day >= ?1 AND day <= ?2
GROUP BY period, branch_id, category
ORDER BY period, branch_id, category";

/// `?3` = 1 orders by revenue, otherwise by quantity. Lines without
/// product are filed under `''` in `daily_product_sales` and left out.
pub(super) const TOP_PRODUCTS: &str = "
SELECT d.product_id, p.sku_wanted, p.name, p.category, p.unit,
       sum(d.qty) AS qty, sum(d.total) AS revenue, sum(d.invoices)
FROM daily_product_sales d
LEFT JOIN products p ON p.id = d.product_id
WHERE d.day >= ?1 AND d.day <= ?2 AND d.product_id <> ''
GROUP BY d.product_id
ORDER BY CASE WHEN ?3 = 1 THEN sum(d.total) ELSE sum(d.qty) END DESC, d.product_id
LIMIT ?4";

/// As [`TOP_PRODUCTS`] for one branch (`?5`). Lines without product are
/// left out here too: when this read the lines it let them through, as one
/// entry without product id, which [`TopProduct::product_id`] cannot hold
/// (the call failed whenever workshop labour ranked).
pub(super) const TOP_PRODUCTS_BRANCH: &str = "
SELECT d.product_id, p.sku_wanted, p.name, p.category, p.unit,
       sum(d.qty) AS qty, sum(d.total) AS revenue, sum(d.invoices)
FROM daily_product_sales d
LEFT JOIN products p ON p.id = d.product_id
WHERE d.day >= ?1 AND d.day <= ?2 AND d.branch_id = ?5 AND d.product_id <> ''
GROUP BY d.product_id
ORDER BY CASE WHEN ?3 = 1 THEN sum(d.total) ELSE sum(d.qty) END DESC, d.product_id
LIMIT ?4";

pub(super) const STATEMENTS: &[(&str, &str)] = &[
    ("invoices_by_status", INVOICES_BY_STATUS),
    ("invoices_by_branch_day", INVOICES_BY_BRANCH_DAY),
    ("invoices_of_customer", INVOICES_OF_CUSTOMER),
    ("invoice_id_by_bill_no", INVOICE_ID_BY_BILL_NO),
    ("invoice_header", INVOICE_HEADER),
    ("invoice_lines", INVOICE_LINES),
    ("invoice_settlements", INVOICE_SETTLEMENTS),
    ("sales_by_branch", SALES_BY_BRANCH),
    ("returns_by_branch", RETURNS_BY_BRANCH),
    ("sales_by_channel", SALES_BY_CHANNEL),
    ("sales_by_category", SALES_BY_CATEGORY),
    ("top_products", TOP_PRODUCTS),
    ("top_products_branch", TOP_PRODUCTS_BRANCH),
];

/// One invoice in a list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceSummary {
    /// Invoice id.
    pub id: String,
    /// Bill number (the wanted one when a merge made it a duplicate).
    pub bill_no: String,
    /// Customer, none for a walk-in sale.
    pub customer_id: Option<String>,
    /// Customer's name, when known on this replica.
    pub customer_name: Option<String>,
    /// Branch.
    pub branch_id: String,
    /// Terminal.
    pub terminal_id: String,
    /// Time of sale.
    pub at: Millis,
    /// Day of sale.
    pub day: String,
    /// Amount due.
    pub total: Money,
    /// Paid (payments minus refunds).
    pub paid: Money,
    /// Credited by returns.
    pub returned: Money,
    /// Still owed.
    pub remaining: Money,
    /// `unpaid`, `partial`, `paid`, `void` or `returned`.
    pub status: String,
}

impl InvoiceSummary {
    fn from_row(r: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(InvoiceSummary {
            id: r.get(0)?,
            bill_no: r.get(1)?,
            customer_id: r.get(2)?,
            customer_name: r.get(3)?,
            branch_id: r.get(4)?,
            terminal_id: r.get(5)?,
            at: r.get(6)?,
            day: r.get(7)?,
            total: r.get(8)?,
            paid: r.get(9)?,
            returned: r.get(10)?,
            remaining: r.get(11)?,
            status: r.get(12)?,
        })
    }
}

/// The header of an invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceHeader {
    /// Invoice id.
    pub id: String,
    /// Bill number (the wanted one when it is a duplicate).
    pub bill_no: String,
    /// The bill number is also wanted by another invoice, which holds it.
    pub bill_no_conflict: bool,
    /// The terminal's sequence number.
    pub seq: i64,
    /// Customer.
    pub customer_id: Option<String>,
    /// Customer's name.
    pub customer_name: Option<String>,
    /// Branch.
    pub branch_id: String,
    /// Terminal.
    pub terminal_id: String,
    /// Cashier.
    pub user_id: String,
    /// Time of sale.
    pub at: Millis,
    /// Day of sale.
    pub day: String,
    /// Sum of gross line amounts.
    pub subtotal: Money,
    /// Sum of discounts.
    pub discount: Money,
    /// Sum of taxes.
    pub tax: Money,
    /// Amount due.
    pub total: Money,
    /// Paid (payments minus refunds).
    pub paid: Money,
    /// Credited by returns.
    pub returned: Money,
    /// Still owed.
    pub remaining: Money,
    /// Derived status.
    pub status: String,
    /// Service order billed, if any.
    pub service_order_id: Option<String>,
}

/// One line of an invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceLineRow {
    /// Line number (0-based).
    pub line_no: i64,
    /// `product`, `labour` or `part`.
    pub kind: String,
    /// Product, for product and part lines.
    pub product_id: Option<String>,
    /// The product's SKU.
    pub sku: Option<String>,
    /// Text on the bill.
    pub description: String,
    /// Quantity.
    pub qty: Qty,
    /// Price per unit.
    pub unit_price: Money,
    /// Discount.
    pub discount: Money,
    /// Tax.
    pub tax: Money,
    /// Line total.
    pub total: Money,
    /// Unit cost.
    pub cost: Money,
    /// Quantity already returned.
    pub returned_qty: Qty,
}

/// A payment, refund, return or void of an invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settlement {
    /// `payment`, `refund`, `return` or `void`.
    pub kind: String,
    /// Id of the payment, return or void.
    pub id: String,
    /// When.
    pub at: Millis,
    /// Amount (positive).
    pub amount: Money,
    /// Channel of a payment or refund.
    pub channel: Option<String>,
    /// Who.
    pub user_id: String,
    /// Where.
    pub terminal_id: String,
    /// Reason of a return or void.
    pub reason: Option<String>,
}

/// An invoice with its lines and everything that settled it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceDetail {
    /// Header and derived amounts.
    pub header: InvoiceHeader,
    /// Lines, by line number, with the quantity returned.
    pub lines: Vec<InvoiceLineRow>,
    /// Payments, refunds, returns and voids, oldest first.
    pub settlements: Vec<Settlement>,
}

/// Period of a sales report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    /// Per day (`YYYY-MM-DD`).
    Day,
    /// Per month (`YYYY-MM`).
    Month,
}

impl Period {
    fn key_len(self) -> i64 {
        match self {
            Period::Day => 10,
            Period::Month => 7,
        }
    }
}

/// Sales of one branch in one period (void invoices apart).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SalesTotals {
    /// Day or month.
    pub period: String,
    /// Branch.
    pub branch_id: String,
    /// Invoices not void.
    pub invoices: i64,
    /// Gross amount.
    pub subtotal: Money,
    /// Discounts.
    pub discount: Money,
    /// Taxes.
    pub tax: Money,
    /// Totals.
    pub total: Money,
    /// Paid on them so far.
    pub paid: Money,
    /// Invoices voided.
    pub voided: i64,
    /// Their totals.
    pub voided_total: Money,
}

/// Returns (credit notes) of one branch in one period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReturnsTotals {
    /// Day or month.
    pub period: String,
    /// Branch.
    pub branch_id: String,
    /// Number of returns.
    pub returns: i64,
    /// Amount credited.
    pub total: Money,
}

/// Money taken in one channel at one branch in one period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelSales {
    /// Day or month.
    pub period: String,
    /// Branch.
    pub branch_id: String,
    /// Channel code.
    pub channel: String,
    /// Channel name.
    pub channel_name: Option<String>,
    /// Counted in the drawer.
    pub is_cash: bool,
    /// Number of payments and refunds.
    pub payments: i64,
    /// Paid against invoices.
    pub invoice_payments: Money,
    /// Advances taken.
    pub advances: Money,
    /// Refunds paid out.
    pub refunds: Money,
    /// Invoice payments + advances - refunds.
    pub net: Money,
}

/// Sales of one category at one branch in one period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CategorySales {
    /// Day or month.
    pub period: String,
    /// Branch.
    pub branch_id: String,
    /// Product category (`labour` for workshop labour lines).
    pub category: String,
    /// Invoice lines.
    pub lines: i64,
    /// Quantity (thousandths; only meaningful within one unit).
    pub qty: Qty,
    /// Discounts.
    pub discount: Money,
    /// Taxes.
    pub tax: Money,
    /// Line totals.
    pub total: Money,
    /// Cost of the goods sold.
    pub cost: Money,
}

/// A sales report over a date range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SalesReport {
    /// Per period and branch.
    pub sales: Vec<SalesTotals>,
    /// Returns per period and branch, reported apart from sales.
    pub returns: Vec<ReturnsTotals>,
    /// Payments per period, branch and channel.
    pub channels: Vec<ChannelSales>,
    /// Sales per period, branch and product category.
    pub categories: Vec<CategorySales>,
}

/// What to rank top products by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TopBy {
    /// Quantity sold.
    Quantity,
    /// Revenue (line totals).
    Revenue,
}

/// A product ranked by sales over a date range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopProduct {
    /// Product id.
    pub product_id: String,
    /// SKU.
    pub sku: Option<String>,
    /// Name.
    pub name: Option<String>,
    /// Category.
    pub category: Option<String>,
    /// Unit.
    pub unit: Option<String>,
    /// Quantity sold.
    pub qty: Qty,
    /// Revenue.
    pub revenue: Money,
    /// Invoices it appears on.
    pub invoices: i64,
}

impl<'a> Queries<'a> {
    /// Invoices with a status (`unpaid`, `partial`, `paid`, `void`,
    /// `returned`) whose day is in `from..=to`, by `(day, id)` (the cursor).
    pub fn invoices_by_status(
        &self,
        status: &str,
        from: &str,
        to: &str,
        after: Option<&TextCursor>,
        limit: u32,
    ) -> rusqlite::Result<Page<InvoiceSummary, TextCursor>> {
        self.invoice_range(INVOICES_BY_STATUS, status, from, to, after, limit)
    }

    /// Invoices of a branch whose day is in `from..=to`, by `(day, id)`
    /// (the cursor).
    pub fn invoices_by_branch_day(
        &self,
        branch_id: &str,
        from: &str,
        to: &str,
        after: Option<&TextCursor>,
        limit: u32,
    ) -> rusqlite::Result<Page<InvoiceSummary, TextCursor>> {
        self.invoice_range(INVOICES_BY_BRANCH_DAY, branch_id, from, to, after, limit)
    }

    fn invoice_range(
        &self,
        sql: &'static str,
        key: &str,
        from: &str,
        to: &str,
        after: Option<&TextCursor>,
        limit: u32,
    ) -> rusqlite::Result<Page<InvoiceSummary, TextCursor>> {
        let limit = cap(limit);
        // Start at the later of the range start and the cursor.
        let (day, id) = match after {
            Some((d, i)) if d.as_str() >= from => (d.as_str(), i.as_str()),
            _ => (from, ""),
        };
        let rows = self
            .prep(sql)?
            .query_map(params![key, day, id, to, limit], InvoiceSummary::from_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(Page::new(rows, limit, |i| (i.day.clone(), i.id.clone())))
    }

    /// A customer's invoices, newest first, by `(at, id)` descending (the
    /// cursor).
    pub fn invoices_of_customer(
        &self,
        customer_id: &str,
        after: Option<&TimeCursor>,
        limit: u32,
    ) -> rusqlite::Result<Page<InvoiceSummary, TimeCursor>> {
        let limit = cap(limit);
        let (at, id) = after.map_or((i64::MAX, ""), |(a, i)| (*a, i.as_str()));
        let rows = self
            .prep(INVOICES_OF_CUSTOMER)?
            .query_map(
                params![customer_id, at, id, limit],
                InvoiceSummary::from_row,
            )?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(Page::new(rows, limit, |i| (i.at, i.id.clone())))
    }

    /// The id of the invoice with this bill number (the one holding it when
    /// a merge made it a duplicate).
    pub fn invoice_id_by_bill_no(&self, bill_no: &str) -> rusqlite::Result<Option<String>> {
        self.prep(INVOICE_ID_BY_BILL_NO)?
            .query_row([bill_no], |r| r.get(0))
            .optional()
    }

    /// An invoice with its lines (and the quantity returned of each), its
    /// payments, refunds, returns and voids: three statements whatever the
    /// number of lines.
    pub fn invoice(&self, invoice_id: &str) -> rusqlite::Result<Option<InvoiceDetail>> {
        let header = self
            .prep(INVOICE_HEADER)?
            .query_row([invoice_id], |r| {
                Ok(InvoiceHeader {
                    id: r.get(0)?,
                    bill_no: r.get(1)?,
                    bill_no_conflict: r.get(2)?,
                    seq: r.get(3)?,
                    customer_id: r.get(4)?,
                    customer_name: r.get(5)?,
                    branch_id: r.get(6)?,
                    terminal_id: r.get(7)?,
                    user_id: r.get(8)?,
                    at: r.get(9)?,
                    day: r.get(10)?,
                    subtotal: r.get(11)?,
                    discount: r.get(12)?,
                    tax: r.get(13)?,
                    total: r.get(14)?,
                    paid: r.get(15)?,
                    returned: r.get(16)?,
                    remaining: r.get(17)?,
                    status: r.get(18)?,
                    service_order_id: r.get(19)?,
                })
            })
            .optional()?;
        let Some(header) = header else {
            return Ok(None);
        };
        let lines = self
            .prep(INVOICE_LINES)?
            .query_map([invoice_id], |r| {
                Ok(InvoiceLineRow {
                    line_no: r.get(0)?,
                    kind: r.get(1)?,
                    product_id: r.get(2)?,
                    sku: r.get(3)?,
                    description: r.get(4)?,
                    qty: r.get(5)?,
                    unit_price: r.get(6)?,
                    discount: r.get(7)?,
                    tax: r.get(8)?,
                    total: r.get(9)?,
                    cost: r.get(10)?,
                    returned_qty: r.get(11)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let settlements = self
            .prep(INVOICE_SETTLEMENTS)?
            .query_map([invoice_id], |r| {
                Ok(Settlement {
                    kind: r.get(0)?,
                    id: r.get(1)?,
                    at: r.get(2)?,
                    amount: r.get(3)?,
                    channel: r.get(4)?,
                    user_id: r.get(5)?,
                    terminal_id: r.get(6)?,
                    reason: r.get(7)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(Some(InvoiceDetail {
            header,
            lines,
            settlements,
        }))
    }

    /// Sales, returns, payments by channel and sales by category for the
    /// days `from..=to`, per day or per month and per branch: four
    /// statements.
    pub fn sales_report(
        &self,
        period: Period,
        from: &str,
        to: &str,
    ) -> rusqlite::Result<SalesReport> {
        let len = period.key_len();
        let sales = self
            .prep(SALES_BY_BRANCH)?
            .query_map(params![from, to, len], |r| {
                Ok(SalesTotals {
                    period: r.get(0)?,
                    branch_id: r.get(1)?,
                    invoices: r.get(2)?,
                    subtotal: r.get(3)?,
                    discount: r.get(4)?,
                    tax: r.get(5)?,
                    total: r.get(6)?,
                    paid: r.get(7)?,
                    voided: r.get(8)?,
                    voided_total: r.get(9)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let returns = self
            .prep(RETURNS_BY_BRANCH)?
            .query_map(params![from, to, len], |r| {
                Ok(ReturnsTotals {
                    period: r.get(0)?,
                    branch_id: r.get(1)?,
                    returns: r.get(2)?,
                    total: r.get(3)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let channels = self
            .prep(SALES_BY_CHANNEL)?
            .query_map(params![from, to, len], |r| {
                let invoice_payments: Money = r.get(6)?;
                let advances: Money = r.get(7)?;
                let refunds: Money = r.get(8)?;
                Ok(ChannelSales {
                    period: r.get(0)?,
                    branch_id: r.get(1)?,
                    channel: r.get(2)?,
                    channel_name: r.get(3)?,
                    is_cash: r.get(4)?,
                    payments: r.get(5)?,
                    invoice_payments,
                    advances,
                    refunds,
                    net: invoice_payments + advances - refunds,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let categories = self
            .prep(SALES_BY_CATEGORY)?
            .query_map(params![from, to, len], |r| {
                Ok(CategorySales {
                    period: r.get(0)?,
                    branch_id: r.get(1)?,
                    category: r.get(2)?,
                    lines: r.get(3)?,
                    qty: r.get(4)?,
                    discount: r.get(5)?,
                    tax: r.get(6)?,
                    total: r.get(7)?,
                    cost: round_milli(r.get::<_, i64>(8)? as i128),
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(SalesReport {
            sales,
            returns,
            channels,
            categories,
        })
    }

    /// The best-selling products of the days `from..=to` (void invoices
    /// excluded, returns not deducted), at one branch or all, by quantity or
    /// revenue, ties by product id. A ranking, not a list: `limit` rows at
    /// most ([`super::MAX_PAGE`]).
    pub fn top_products(
        &self,
        branch_id: Option<&str>,
        from: &str,
        to: &str,
        by: TopBy,
        limit: u32,
    ) -> rusqlite::Result<Vec<TopProduct>> {
        let limit = cap(limit);
        let by = i64::from(by == TopBy::Revenue);
        let map = |r: &Row<'_>| {
            Ok(TopProduct {
                product_id: r.get(0)?,
                sku: r.get(1)?,
                name: r.get(2)?,
                category: r.get(3)?,
                unit: r.get(4)?,
                qty: r.get(5)?,
                revenue: r.get(6)?,
                invoices: r.get(7)?,
            })
        };
        match branch_id {
            None => self
                .prep(TOP_PRODUCTS)?
                .query_map(params![from, to, by, limit], map)?
                .collect(),
            Some(b) => self
                .prep(TOP_PRODUCTS_BRANCH)?
                .query_map(params![from, to, by, limit, b], map)?
                .collect(),
        }
    }
}
