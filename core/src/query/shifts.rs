//! Cashier shifts: expected against counted, per channel.

use rusqlite::OptionalExtension;
use serde::{Deserialize, Serialize};

use super::Queries;
use crate::domain::{Millis, Money};

pub(super) const SHIFT_HEADER: &str = "
SELECT id, terminal_id, branch_id, user_id, opened_at, opening_float, closed_at, closed_by
FROM shifts
WHERE id = ?1";

/// Every channel that took money during the shift, was counted at its
/// close, or is a cash channel (the opening float sits in one).
pub(super) const SHIFT_CHANNELS: &str = "
WITH pay AS (
    SELECT channel, count(*) AS n,
           sum(CASE WHEN kind <> 'refund' THEN amount ELSE 0 END) AS received,
           sum(CASE WHEN kind = 'refund' THEN amount ELSE 0 END) AS refunded
    FROM payments
    WHERE shift_id = ?1
    GROUP BY channel
),
cnt AS (
    SELECT channel, counted FROM shift_counts WHERE shift_id = ?1
),
ch AS (
    SELECT channel FROM pay
    UNION SELECT channel FROM cnt
    UNION SELECT code FROM payment_channels WHERE is_cash = 1
)
SELECT ch.channel, pc.name, coalesce(pc.is_cash, 0), coalesce(pay.n, 0),
       coalesce(pay.received, 0), coalesce(pay.refunded, 0), cnt.counted
FROM ch
LEFT JOIN pay ON pay.channel = ch.channel
LEFT JOIN cnt ON cnt.channel = ch.channel
LEFT JOIN payment_channels pc ON pc.code = ch.channel
ORDER BY ch.channel";

pub(super) const STATEMENTS: &[(&str, &str)] = &[
    ("shift_header", SHIFT_HEADER),
    ("shift_channels", SHIFT_CHANNELS),
];

/// One payment channel of a shift.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShiftChannel {
    /// Channel code.
    pub channel: String,
    /// Channel name.
    pub name: Option<String>,
    /// Counted in the drawer.
    pub is_cash: bool,
    /// Payments and refunds in the channel.
    pub payments: i64,
    /// Taken (invoice payments and advances).
    pub received: Money,
    /// Paid out (refunds).
    pub refunded: Money,
    /// What should be there: received - refunded, plus the opening float for
    /// the cash channel holding it (the first cash channel by code).
    pub expected: Money,
    /// Counted at close (`None` when not counted).
    pub counted: Option<Money>,
    /// `counted - expected` when counted.
    pub difference: Option<Money>,
}

/// A shift with what was expected and counted in each channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShiftSummary {
    /// Shift id.
    pub shift_id: String,
    /// Terminal.
    pub terminal_id: String,
    /// Branch.
    pub branch_id: String,
    /// Who opened it.
    pub user_id: String,
    /// When.
    pub opened_at: Millis,
    /// Cash in the drawer at opening.
    pub opening_float: Money,
    /// When closed.
    pub closed_at: Option<Millis>,
    /// Who closed it.
    pub closed_by: Option<String>,
    /// Per channel, by code.
    pub channels: Vec<ShiftChannel>,
    /// Taken in every channel.
    pub received: Money,
    /// Refunded in every channel.
    pub refunded: Money,
    /// Opening float + cash taken - cash refunded.
    pub expected_cash: Money,
    /// Counted in the cash channels (`None` when none was counted).
    pub counted_cash: Option<Money>,
    /// `counted_cash - expected_cash`.
    pub cash_difference: Option<Money>,
}

impl<'a> Queries<'a> {
    /// A shift's summary: opening float, payments and refunds per channel
    /// (through the payments' shift index), expected amount, counted amount
    /// and difference per channel and for cash. Two statements.
    pub fn shift_summary(&self, shift_id: &str) -> rusqlite::Result<Option<ShiftSummary>> {
        let head = self
            .prep(SHIFT_HEADER)?
            .query_row([shift_id], |r| {
                Ok(ShiftSummary {
                    shift_id: r.get(0)?,
                    terminal_id: r.get(1)?,
                    branch_id: r.get(2)?,
                    user_id: r.get(3)?,
                    opened_at: r.get(4)?,
                    opening_float: r.get(5)?,
                    closed_at: r.get(6)?,
                    closed_by: r.get(7)?,
                    channels: Vec::new(),
                    received: 0,
                    refunded: 0,
                    expected_cash: 0,
                    counted_cash: None,
                    cash_difference: None,
                })
            })
            .optional()?;
        let Some(mut s) = head else { return Ok(None) };
        let mut channels = self
            .prep(SHIFT_CHANNELS)?
            .query_map([shift_id], |r| {
                let received: Money = r.get(4)?;
                let refunded: Money = r.get(5)?;
                Ok(ShiftChannel {
                    channel: r.get(0)?,
                    name: r.get(1)?,
                    is_cash: r.get(2)?,
                    payments: r.get(3)?,
                    received,
                    refunded,
                    expected: received - refunded,
                    counted: r.get(6)?,
                    difference: None,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        if let Some(float_channel) = channels.iter_mut().find(|c| c.is_cash) {
            float_channel.expected += s.opening_float;
        }
        let mut expected_cash = s.opening_float;
        let mut counted_cash: Option<Money> = None;
        for c in &mut channels {
            c.difference = c.counted.map(|n| n - c.expected);
            s.received += c.received;
            s.refunded += c.refunded;
            if c.is_cash {
                expected_cash += c.received - c.refunded;
                if let Some(n) = c.counted {
                    counted_cash = Some(counted_cash.unwrap_or(0) + n);
                }
            }
        }
        s.channels = channels;
        s.expected_cash = expected_cash;
        s.counted_cash = counted_cash;
        s.cash_difference = counted_cash.map(|n| n - expected_cash);
        Ok(Some(s))
    }
}
