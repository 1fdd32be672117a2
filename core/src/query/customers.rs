//! Receivables: balances, statements with running balance, aging, credit.

use rusqlite::{Row, params};
use serde::{Deserialize, Serialize};

use super::{AmountCursor, Page, Queries, TimeCursor, cap};
use crate::domain::{Millis, Money};

pub(super) const CUSTOMERS_WITH_BALANCE: &str = "
SELECT b.customer_id, c.name, c.phone_wanted, c.credit_limit, b.balance
FROM customer_balances b
LEFT JOIN customers c ON c.id = b.customer_id
WHERE b.balance <> 0
  AND b.balance <= ?1 AND (b.balance < ?1 OR b.customer_id > ?2)
ORDER BY b.balance DESC, b.customer_id
LIMIT ?3";

/// Kept by schema step 11 (`over_credit`): the page is a walk of its
/// balance index from the cursor. `CROSS JOIN` keeps that walk the outer
/// loop: with few customers over, the statistics would otherwise make
/// the planner scan every customer and sort.
pub(super) const CUSTOMERS_OVER_CREDIT: &str = "
SELECT o.customer_id, c.name, c.phone_wanted, c.credit_limit, o.balance
FROM over_credit o
CROSS JOIN customers c ON c.id = o.customer_id
WHERE o.balance <= ?1 AND (o.balance < ?1 OR o.customer_id > ?2)
ORDER BY o.balance DESC, o.customer_id
LIMIT ?3";

pub(super) const STATEMENT_OPENING: &str = "
SELECT coalesce(sum(debit) - sum(credit), 0)
FROM ledger_entries
WHERE customer_id = ?1 AND (at, id) <= (?2, ?3)";

pub(super) const STATEMENT_PAGE: &str = "
SELECT e.id, e.at, e.category, e.ref_kind, e.ref_id,
       coalesce(i.bill_no, i.bill_no_wanted), p.channel, e.debit, e.credit,
       ?4 + sum(e.debit - e.credit) OVER (ORDER BY e.at, e.id ROWS UNBOUNDED PRECEDING)
FROM (SELECT id, at, debit, credit, category, ref_kind, ref_id
      FROM ledger_entries
      WHERE customer_id = ?1 AND (at, id) > (?2, ?3)
      ORDER BY at, id
      LIMIT ?5) e
LEFT JOIN payments p ON e.ref_kind = 'payment' AND p.id = e.ref_id
LEFT JOIN returns r ON e.ref_kind = 'return' AND r.id = e.ref_id
LEFT JOIN invoice_voids v ON e.ref_kind = 'void' AND v.id = e.ref_id
LEFT JOIN invoices i ON i.id = CASE e.ref_kind
        WHEN 'invoice' THEN e.ref_id
        WHEN 'payment' THEN p.invoice_id
        WHEN 'return' THEN r.invoice_id
        WHEN 'void' THEN v.invoice_id
    END
ORDER BY e.at, e.id";

/// Bucket sums over open invoices; `?1` is the `as_of` time in ms.
macro_rules! aging_columns {
    () => {
        "count(*) AS n, coalesce(sum(remaining), 0) AS total,
         coalesce(sum(CASE WHEN (?1 - at) / 86400000 <= 30 THEN remaining END), 0) AS b0,
         coalesce(sum(CASE WHEN (?1 - at) / 86400000 BETWEEN 31 AND 60 THEN remaining END), 0) AS b1,
         coalesce(sum(CASE WHEN (?1 - at) / 86400000 BETWEEN 61 AND 90 THEN remaining END), 0) AS b2,
         coalesce(sum(CASE WHEN (?1 - at) / 86400000 > 90 THEN remaining END), 0) AS b3,
         min(at) AS oldest"
    };
}

/// `remaining > 0` holds exactly for non-void invoices whose status is
/// unpaid, partial or returned (returned with more refunded than paid), so
/// the status index serves the whole-book totals.
pub(super) const AGING_TOTALS: &str = concat!(
    "SELECT ",
    aging_columns!(),
    "
FROM invoices
WHERE status IN ('unpaid', 'partial', 'returned') AND remaining > 0"
);

pub(super) const AGING_BY_CUSTOMER: &str = concat!(
    "SELECT a.customer_id, c.name, c.credit_limit, a.n, a.total, a.b0, a.b1, a.b2, a.b3, a.oldest
FROM (SELECT customer_id, ",
    aging_columns!(),
    "
      FROM invoices
      WHERE remaining > 0 AND customer_id > ?2
      GROUP BY customer_id
      ORDER BY customer_id
      LIMIT ?3) AS a
LEFT JOIN customers c ON c.id = a.customer_id
ORDER BY a.customer_id"
);

pub(super) const STATEMENTS: &[(&str, &str)] = &[
    ("customers_with_balance", CUSTOMERS_WITH_BALANCE),
    ("customers_over_credit", CUSTOMERS_OVER_CREDIT),
    ("statement_opening", STATEMENT_OPENING),
    ("statement_page", STATEMENT_PAGE),
    ("aging_totals", AGING_TOTALS),
    ("aging_by_customer", AGING_BY_CUSTOMER),
];

/// A customer and its balance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerBalance {
    /// Customer id.
    pub customer_id: String,
    /// Name (`None` while the customer's record has not arrived on this replica).
    pub name: Option<String>,
    /// Phone.
    pub phone: Option<String>,
    /// Credit limit.
    pub credit_limit: Option<Money>,
    /// Balance: positive when the customer owes, negative when in credit.
    pub balance: Money,
}

impl CustomerBalance {
    fn from_row(r: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(CustomerBalance {
            customer_id: r.get(0)?,
            name: r.get(1)?,
            phone: r.get(2)?,
            credit_limit: r.get(3)?,
            balance: r.get(4)?,
        })
    }
}

/// One ledger entry of a customer statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatementEntry {
    /// Ledger entry id.
    pub id: String,
    /// When.
    pub at: Millis,
    /// `sale`, `payment`, `advance`, `refund`, `return` or `void`.
    pub category: String,
    /// Kind of the record behind the entry (`invoice`, `payment`, `return`, `void`).
    pub ref_kind: String,
    /// Its id.
    pub ref_id: String,
    /// Bill number of the invoice concerned, if any.
    pub bill_no: Option<String>,
    /// Payment channel, for payments and refunds.
    pub channel: Option<String>,
    /// Debit (the customer owes more).
    pub debit: Money,
    /// Credit (the customer owes less).
    pub credit: Money,
    /// Balance after this entry.
    pub balance: Money,
}

/// A page of a customer statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatementPage {
    /// Balance before the first entry of the page.
    pub opening_balance: Money,
    /// Entries, oldest first, each with its running balance.
    pub rows: Vec<StatementEntry>,
    /// Cursor for the next page (`None` when this page was not full).
    pub next: Option<TimeCursor>,
}

/// Open receivables split by age.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgingBuckets {
    /// Open invoices counted.
    pub invoices: i64,
    /// Sum of their remaining amounts.
    pub total: Money,
    /// Remaining on invoices 0 to 30 days old (and any dated after `as_of`).
    pub days_0_30: Money,
    /// 31 to 60 days old.
    pub days_31_60: Money,
    /// 61 to 90 days old.
    pub days_61_90: Money,
    /// More than 90 days old.
    pub over_90: Money,
    /// Time of the oldest open invoice.
    pub oldest_at: Option<Millis>,
}

impl AgingBuckets {
    fn from_row(r: &Row<'_>, first: usize) -> rusqlite::Result<Self> {
        Ok(AgingBuckets {
            invoices: r.get(first)?,
            total: r.get(first + 1)?,
            days_0_30: r.get(first + 2)?,
            days_31_60: r.get(first + 3)?,
            days_61_90: r.get(first + 4)?,
            over_90: r.get(first + 5)?,
            oldest_at: r.get(first + 6)?,
        })
    }
}

/// Aging of one customer's open invoices.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerAging {
    /// Customer id.
    pub customer_id: String,
    /// Name, when the customer's record is on this replica.
    pub name: Option<String>,
    /// Credit limit.
    pub credit_limit: Option<Money>,
    /// The buckets.
    pub buckets: AgingBuckets,
}

impl<'a> Queries<'a> {
    /// Customers whose balance is not zero, largest balance first, then by
    /// id. The cursor is `(balance, customer_id)`.
    pub fn customers_with_balance(
        &self,
        after: Option<&AmountCursor>,
        limit: u32,
    ) -> rusqlite::Result<Page<CustomerBalance, AmountCursor>> {
        self.balance_list(CUSTOMERS_WITH_BALANCE, after, limit)
    }

    /// Customers whose balance is above their credit limit (a limit passed
    /// offline is flagged here), largest balance first. Cursor as
    /// [`Queries::customers_with_balance`].
    pub fn customers_over_credit(
        &self,
        after: Option<&AmountCursor>,
        limit: u32,
    ) -> rusqlite::Result<Page<CustomerBalance, AmountCursor>> {
        self.balance_list(CUSTOMERS_OVER_CREDIT, after, limit)
    }

    fn balance_list(
        &self,
        sql: &'static str,
        after: Option<&AmountCursor>,
        limit: u32,
    ) -> rusqlite::Result<Page<CustomerBalance, AmountCursor>> {
        let limit = cap(limit);
        let (bal, id) = after.map_or((i64::MAX, ""), |(b, i)| (*b, i.as_str()));
        let rows = self
            .prep(sql)?
            .query_map(params![bal, id, limit], CustomerBalance::from_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(Page::new(rows, limit, |c| {
            (c.balance, c.customer_id.clone())
        }))
    }

    /// A page of a customer's statement: ledger entries by `(at, id)`, each
    /// with the balance after it. The page's opening balance is the sum of
    /// every entry before it (one aggregate over the customer's index range),
    /// and the running balance inside the page a window sum. The cursor is
    /// `(at, id)` of the last entry shown.
    pub fn customer_statement(
        &self,
        customer_id: &str,
        after: Option<&TimeCursor>,
        limit: u32,
    ) -> rusqlite::Result<StatementPage> {
        let limit = cap(limit);
        let (at, id) = after.map_or((i64::MIN, ""), |(a, i)| (*a, i.as_str()));
        let opening: Money = self
            .prep(STATEMENT_OPENING)?
            .query_row(params![customer_id, at, id], |r| r.get(0))?;
        let rows = self
            .prep(STATEMENT_PAGE)?
            .query_map(params![customer_id, at, id, opening, limit], |r| {
                Ok(StatementEntry {
                    id: r.get(0)?,
                    at: r.get(1)?,
                    category: r.get(2)?,
                    ref_kind: r.get(3)?,
                    ref_id: r.get(4)?,
                    bill_no: r.get(5)?,
                    channel: r.get(6)?,
                    debit: r.get(7)?,
                    credit: r.get(8)?,
                    balance: r.get(9)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let page = Page::new(rows, limit, |e| (e.at, e.id.clone()));
        Ok(StatementPage {
            opening_balance: opening,
            rows: page.rows,
            next: page.next,
        })
    }

    /// Open receivables of the whole book (every non-void invoice with
    /// something remaining) split by days since the invoice, counted at
    /// `as_of` (ms): 0-30, 31-60, 61-90, over 90.
    pub fn receivables_aging(&self, as_of: Millis) -> rusqlite::Result<AgingBuckets> {
        self.prep(AGING_TOTALS)?
            .query_row(params![as_of], |r| AgingBuckets::from_row(r, 0))
    }

    /// The same buckets per customer, ordered by customer id (the cursor).
    pub fn receivables_aging_by_customer(
        &self,
        as_of: Millis,
        after: Option<&str>,
        limit: u32,
    ) -> rusqlite::Result<Page<CustomerAging, String>> {
        let limit = cap(limit);
        let rows = self
            .prep(AGING_BY_CUSTOMER)?
            .query_map(params![as_of, after.unwrap_or(""), limit], |r| {
                Ok(CustomerAging {
                    customer_id: r.get(0)?,
                    name: r.get(1)?,
                    credit_limit: r.get(2)?,
                    buckets: AgingBuckets::from_row(r, 3)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(Page::new(rows, limit, |a| a.customer_id.clone()))
    }
}
