//! The short reference lists a terminal's screens pick from: payment
//! channels, services, technicians, a customer's vehicles, the terminal's
//! open shift. Each list is small by nature (tens of rows), so it is
//! returned whole; the one that could grow, vehicles, is read through the
//! customer's index.

use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::Queries;
use crate::domain::{Millis, Money};

pub(super) const PAYMENT_CHANNELS: &str = "
SELECT code, name, is_cash, active FROM payment_channels ORDER BY code";

pub(super) const SERVICES: &str = "
SELECT id, code, name, labour_price, duration_min
FROM services WHERE active = 1 ORDER BY code, id";

pub(super) const TECHNICIANS: &str = "
SELECT id, name, skills
FROM technicians WHERE branch_id = ?1 AND active = 1 ORDER BY name, id";

pub(super) const VEHICLES_OF_CUSTOMER: &str = "
SELECT id, plate, vin, make, model, year, odometer
FROM vehicles WHERE customer_id = ?1 ORDER BY plate, id";

pub(super) const OPEN_SHIFT: &str = "
SELECT id, user_id, opened_at, opening_float
FROM shifts WHERE terminal_id = ?1 AND closed_at IS NULL
ORDER BY opened_at DESC LIMIT 1";

pub(super) const STATEMENTS: &[(&str, &str)] = &[
    ("payment_channels", PAYMENT_CHANNELS),
    ("services", SERVICES),
    ("technicians", TECHNICIANS),
    ("vehicles_of_customer", VEHICLES_OF_CUSTOMER),
    ("open_shift", OPEN_SHIFT),
];

/// A way to pay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentChannelRow {
    /// Code, as tenders name it.
    pub code: String,
    /// Name shown to the cashier.
    pub name: String,
    /// Counted in the drawer at shift close.
    pub is_cash: bool,
    /// Offered at checkout.
    pub active: bool,
}

/// A workshop service from the price list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceRow {
    /// Service id.
    pub id: String,
    /// Code.
    pub code: String,
    /// Name.
    pub name: String,
    /// Labour price.
    pub labour_price: Money,
    /// Planned duration in minutes.
    pub duration_min: i64,
}

/// A technician of a branch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TechnicianRow {
    /// Technician id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Skills.
    pub skills: Vec<String>,
}

/// A customer's vehicle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VehicleRow {
    /// Vehicle id.
    pub id: String,
    /// Plate.
    pub plate: String,
    /// VIN.
    pub vin: Option<String>,
    /// Make.
    pub make: String,
    /// Model.
    pub model: String,
    /// Model year.
    pub year: Option<i64>,
    /// Odometer at registration or last visit.
    pub odometer: i64,
}

/// The shift a terminal has open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenShift {
    /// Shift id.
    pub shift_id: String,
    /// Who opened it.
    pub user_id: String,
    /// When.
    pub opened_at: Millis,
    /// Cash in the drawer at opening.
    pub opening_float: Money,
}

impl<'a> Queries<'a> {
    /// Every payment channel, active or not, by code.
    pub fn payment_channels(&self) -> rusqlite::Result<Vec<PaymentChannelRow>> {
        self.prep(PAYMENT_CHANNELS)?
            .query_map([], |r| {
                Ok(PaymentChannelRow {
                    code: r.get(0)?,
                    name: r.get(1)?,
                    is_cash: r.get(2)?,
                    active: r.get(3)?,
                })
            })?
            .collect()
    }

    /// Active services, by code.
    pub fn services(&self) -> rusqlite::Result<Vec<ServiceRow>> {
        self.prep(SERVICES)?
            .query_map([], |r| {
                Ok(ServiceRow {
                    id: r.get(0)?,
                    code: r.get(1)?,
                    name: r.get(2)?,
                    labour_price: r.get(3)?,
                    duration_min: r.get(4)?,
                })
            })?
            .collect()
    }

    /// Active technicians of a branch, by name.
    pub fn technicians(&self, branch_id: &str) -> rusqlite::Result<Vec<TechnicianRow>> {
        self.prep(TECHNICIANS)?
            .query_map([branch_id], |r| {
                let skills: String = r.get(2)?;
                Ok(TechnicianRow {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    // The projection stores them comma-separated.
                    skills: skills
                        .split(',')
                        .filter(|s| !s.is_empty())
                        .map(str::to_string)
                        .collect(),
                })
            })?
            .collect()
    }

    /// A customer's vehicles, by plate.
    pub fn vehicles_of_customer(&self, customer_id: &str) -> rusqlite::Result<Vec<VehicleRow>> {
        self.prep(VEHICLES_OF_CUSTOMER)?
            .query_map(params![customer_id], |r| {
                Ok(VehicleRow {
                    id: r.get(0)?,
                    plate: r.get(1)?,
                    vin: r.get(2)?,
                    make: r.get(3)?,
                    model: r.get(4)?,
                    year: r.get(5)?,
                    odometer: r.get(6)?,
                })
            })?
            .collect()
    }

    /// The shift open on a terminal, the latest if several are (two
    /// installations of one terminal may each have opened one offline).
    pub fn open_shift(&self, terminal_id: &str) -> rusqlite::Result<Option<OpenShift>> {
        self.prep(OPEN_SHIFT)?
            .query_row([terminal_id], |r| {
                Ok(OpenShift {
                    shift_id: r.get(0)?,
                    user_id: r.get(1)?,
                    opened_at: r.get(2)?,
                    opening_float: r.get(3)?,
                })
            })
            .optional()
    }
}
