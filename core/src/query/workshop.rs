//! Workshop: vehicle service history, technician workload, day schedule.

use rusqlite::params;
use serde::{Deserialize, Serialize};

use super::{Page, Queries, TextCursor, cap};
use crate::domain::Money;

/// The page of orders is selected first (`page`, materialised because it is
/// used three times), then labour and parts are summed for those orders
/// only, through the primary keys of the line tables (`CROSS JOIN` keeps the
/// page as the outer loop whatever the statistics say).
pub(super) const VEHICLE_HISTORY: &str = "
WITH page AS (
    SELECT id, number, status, scheduled_date, technician_id, complaint, odometer, invoice_id
    FROM service_orders
    WHERE vehicle_id = ?1 AND scheduled_date <= ?2 AND (scheduled_date < ?2 OR id < ?3)
    ORDER BY scheduled_date DESC, id DESC
    LIMIT ?4
),
lab AS (
    SELECT l.order_id, sum(l.price) AS price, sum(l.duration_min) AS minutes, count(*) AS n
    FROM page CROSS JOIN service_order_labour l ON l.order_id = page.id
    GROUP BY l.order_id
),
par AS (
    SELECT p.order_id, sum((p.qty * p.unit_price + 500) / 1000) AS price, count(*) AS n
    FROM page CROSS JOIN service_order_parts p ON p.order_id = page.id
    GROUP BY p.order_id
)
SELECT page.id, page.number, page.status, page.scheduled_date, page.technician_id, t.name,
       page.complaint, page.odometer, page.invoice_id, inv.total, inv.remaining,
       coalesce(lab.n, 0), coalesce(lab.price, 0), coalesce(lab.minutes, 0),
       coalesce(par.n, 0), coalesce(par.price, 0)
FROM page
LEFT JOIN technicians t ON t.id = page.technician_id
LEFT JOIN invoices inv ON inv.id = page.invoice_id
LEFT JOIN lab ON lab.order_id = page.id
LEFT JOIN par ON par.order_id = page.id
ORDER BY page.scheduled_date DESC, page.id DESC";

pub(super) const TECHNICIAN_WORKLOAD: &str = "
SELECT t.id, t.name, o.status, count(DISTINCT o.id),
       coalesce(sum(l.duration_min), 0), coalesce(sum(l.price), 0)
FROM technicians t
JOIN service_orders o
  ON o.technician_id = t.id AND o.scheduled_date >= ?2 AND o.scheduled_date <= ?3
LEFT JOIN service_order_labour l ON l.order_id = o.id
WHERE t.branch_id = ?1
GROUP BY t.id, o.status
ORDER BY t.name, t.id, o.status";

/// The unary `+` keeps the planner from walking `idx_service_orders_number`
/// in order and filtering every order of the branch: the day's orders come
/// from `idx_service_orders_branch_date` and are sorted (a day is small).
pub(super) const DAY_SCHEDULE: &str = "
WITH page AS (
    SELECT id, number, status, customer_id, vehicle_id, technician_id, complaint, odometer
    FROM service_orders
    WHERE branch_id = ?1 AND scheduled_date = ?2 AND (+number, +id) > (?3, ?4)
    ORDER BY +number, +id
    LIMIT ?5
),
lab AS (
    SELECT l.order_id, sum(l.duration_min) AS minutes, sum(l.price) AS price
    FROM page CROSS JOIN service_order_labour l ON l.order_id = page.id
    GROUP BY l.order_id
)
SELECT page.id, page.number, page.status, page.customer_id, c.name, page.vehicle_id, v.plate,
       v.make, v.model, page.technician_id, t.name, page.complaint, page.odometer,
       coalesce(lab.minutes, 0), coalesce(lab.price, 0)
FROM page
LEFT JOIN customers c ON c.id = page.customer_id
LEFT JOIN vehicles v ON v.id = page.vehicle_id
LEFT JOIN technicians t ON t.id = page.technician_id
LEFT JOIN lab ON lab.order_id = page.id
ORDER BY page.number, page.id";

pub(super) const STATEMENTS: &[(&str, &str)] = &[
    ("vehicle_history", VEHICLE_HISTORY),
    ("technician_workload", TECHNICIAN_WORKLOAD),
    ("day_schedule", DAY_SCHEDULE),
];

/// One service order in a vehicle's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceHistoryEntry {
    /// Order id.
    pub order_id: String,
    /// Order number.
    pub number: String,
    /// Status.
    pub status: String,
    /// Scheduled day.
    pub scheduled_date: String,
    /// Technician.
    pub technician_id: Option<String>,
    /// Technician's name.
    pub technician_name: Option<String>,
    /// What the customer reported.
    pub complaint: String,
    /// Odometer at intake.
    pub odometer: Option<i64>,
    /// Invoice, once invoiced.
    pub invoice_id: Option<String>,
    /// The invoice's total.
    pub invoice_total: Option<Money>,
    /// What remains owed on it.
    pub invoice_remaining: Option<Money>,
    /// Labour lines.
    pub labour_lines: i64,
    /// Labour total.
    pub labour_total: Money,
    /// Planned labour minutes.
    pub labour_minutes: i64,
    /// Part lines.
    pub part_lines: i64,
    /// Parts total (each line `qty * unit_price` rounded, as invoiced).
    pub parts_total: Money,
}

/// Orders and planned minutes of one technician in one status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TechnicianWorkload {
    /// Technician id.
    pub technician_id: String,
    /// Name.
    pub name: String,
    /// Order status.
    pub status: String,
    /// Orders.
    pub orders: i64,
    /// Planned minutes (sum of the orders' labour lines).
    pub planned_minutes: i64,
    /// Labour value.
    pub labour_total: Money,
}

/// One order on a branch's day schedule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduledOrder {
    /// Order id.
    pub order_id: String,
    /// Order number.
    pub number: String,
    /// Status.
    pub status: String,
    /// Customer.
    pub customer_id: String,
    /// Customer's name.
    pub customer_name: Option<String>,
    /// Vehicle.
    pub vehicle_id: String,
    /// Plate.
    pub plate: Option<String>,
    /// Make.
    pub make: Option<String>,
    /// Model.
    pub model: Option<String>,
    /// Technician.
    pub technician_id: Option<String>,
    /// Technician's name.
    pub technician_name: Option<String>,
    /// Complaint.
    pub complaint: String,
    /// Odometer at intake.
    pub odometer: Option<i64>,
    /// Planned labour minutes.
    pub planned_minutes: i64,
    /// Labour value.
    pub labour_total: Money,
}

impl<'a> Queries<'a> {
    /// A vehicle's service orders, latest scheduled first (by
    /// `(scheduled_date, id)` descending, the cursor), with labour and parts
    /// totals and the invoice's amounts: one statement per page.
    pub fn vehicle_history(
        &self,
        vehicle_id: &str,
        after: Option<&TextCursor>,
        limit: u32,
    ) -> rusqlite::Result<Page<ServiceHistoryEntry, TextCursor>> {
        let limit = cap(limit);
        // '~' sorts after every date.
        let (date, id) = after.map_or(("~", ""), |(d, i)| (d.as_str(), i.as_str()));
        let rows = self
            .prep(VEHICLE_HISTORY)?
            .query_map(params![vehicle_id, date, id, limit], |r| {
                Ok(ServiceHistoryEntry {
                    order_id: r.get(0)?,
                    number: r.get(1)?,
                    status: r.get(2)?,
                    scheduled_date: r.get(3)?,
                    technician_id: r.get(4)?,
                    technician_name: r.get(5)?,
                    complaint: r.get(6)?,
                    odometer: r.get(7)?,
                    invoice_id: r.get(8)?,
                    invoice_total: r.get(9)?,
                    invoice_remaining: r.get(10)?,
                    labour_lines: r.get(11)?,
                    labour_total: r.get(12)?,
                    labour_minutes: r.get(13)?,
                    part_lines: r.get(14)?,
                    parts_total: r.get(15)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(Page::new(rows, limit, |o| {
            (o.scheduled_date.clone(), o.order_id.clone())
        }))
    }

    /// Per technician of a branch and per order status, the orders
    /// scheduled in `from..=to` and their planned labour minutes. Bounded by
    /// technicians x statuses, so not paginated.
    pub fn technician_workload(
        &self,
        branch_id: &str,
        from: &str,
        to: &str,
    ) -> rusqlite::Result<Vec<TechnicianWorkload>> {
        self.prep(TECHNICIAN_WORKLOAD)?
            .query_map(params![branch_id, from, to], |r| {
                Ok(TechnicianWorkload {
                    technician_id: r.get(0)?,
                    name: r.get(1)?,
                    status: r.get(2)?,
                    orders: r.get(3)?,
                    planned_minutes: r.get(4)?,
                    labour_total: r.get(5)?,
                })
            })?
            .collect()
    }

    /// A branch's workshop schedule for one day, by order number then id
    /// (the cursor), with customer name, plate, technician name and planned
    /// minutes.
    pub fn day_schedule(
        &self,
        branch_id: &str,
        day: &str,
        after: Option<&TextCursor>,
        limit: u32,
    ) -> rusqlite::Result<Page<ScheduledOrder, TextCursor>> {
        let limit = cap(limit);
        let (number, id) = after.map_or(("", ""), |(n, i)| (n.as_str(), i.as_str()));
        let rows = self
            .prep(DAY_SCHEDULE)?
            .query_map(params![branch_id, day, number, id, limit], |r| {
                Ok(ScheduledOrder {
                    order_id: r.get(0)?,
                    number: r.get(1)?,
                    status: r.get(2)?,
                    customer_id: r.get(3)?,
                    customer_name: r.get(4)?,
                    vehicle_id: r.get(5)?,
                    plate: r.get(6)?,
                    make: r.get(7)?,
                    model: r.get(8)?,
                    technician_id: r.get(9)?,
                    technician_name: r.get(10)?,
                    complaint: r.get(11)?,
                    odometer: r.get(12)?,
                    planned_minutes: r.get(13)?,
                    labour_total: r.get(14)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(Page::new(rows, limit, |o| {
            (o.number.clone(), o.order_id.clone())
        }))
    }
}
