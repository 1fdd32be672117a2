//! The back office: read-only JSON reports over the server's projection.
//!
//! Every endpoint is a `GET` under `/api/`, requires the admin token
//! (`Authorization: Bearer <token>`, else 401) and reads through the store's
//! pooled read-only connections ([`crate::store::Store::read`]), never the
//! writer. Each one wraps one method of [`store_core::query::Queries`].
//!
//! # Parameters
//!
//! Query parameters are checked before anything is read; a bad one answers
//! 400 `{"error":{"code":"invalid","message":...}}`. Unknown or repeated
//! parameters are refused too, so that a typo does not silently widen a
//! report. An empty value (`branch=`) counts as absent.
//!
//! - Days are `YYYY-MM-DD` (UTC, a real calendar date); `from` and `to` are
//!   inclusive, default to the whole history, and `from` must not be after
//!   `to`.
//! - `limit` is 1..=500 (default 50).
//! - Ids (path segments, `branch`) are 1..=128 characters of ASCII letters,
//!   digits, `-`, `_`, `.` and `:`.
//! - Enumerations (`status`, `period`, `by`) take only their listed values.
//!
//! # Pagination
//!
//! Lists answer `{"rows": [...], "next": <cursor or null>}` (the short,
//! unpaginated lists too, with `next` always `null`). The cursor is
//! opaque: pass it back unchanged as `after` to get the following page; `null`
//! means there is nothing after this page. (It is the list's typed keyset
//! cursor, JSON-encoded and then hex-encoded.)
//!
//! # Endpoints
//!
//! | Path | Parameters |
//! |---|---|
//! | `/api/branches` | |
//! | `/api/products/search` | `q`, `branch`*, `after`, `limit` |
//! | `/api/products/by-barcode/{code}` | `branch`* (404 when unknown) |
//! | `/api/products/{id}/stock` | `after`, `limit` |
//! | `/api/products/{id}/stock-card` | `branch`*, `after`, `limit` |
//! | `/api/customers/search` | `q`, `after`, `limit` |
//! | `/api/customers/balances` | `after`, `limit` |
//! | `/api/customers/over-credit` | `after`, `limit` |
//! | `/api/customers/{id}/statement` | `after`, `limit` |
//! | `/api/customers/{id}/invoices` | `after`, `limit` |
//! | `/api/receivables/aging` | `as_of` |
//! | `/api/receivables/aging/customers` | `as_of`, `after`, `limit` |
//! | `/api/invoices` | `status` or `branch` (one of them), `from`, `to`, `after`, `limit` |
//! | `/api/invoices/{id}` | (404 when unknown) |
//! | `/api/invoices/by-bill-no/{bill_no}` | (404 when unknown) |
//! | `/api/reports/sales` | `period` (`day`, `month`), `from`, `to`, `branch` |
//! | `/api/reports/top-products` | `branch`, `from`, `to`, `by` (`quantity`, `revenue`), `limit` |
//! | `/api/stock` | `branch`*, `after`, `limit` |
//! | `/api/stock/valuation` | `branch`* |
//! | `/api/low-stock` | `branch`*, `after`, `limit` |
//! | `/api/vehicles/{id}/history` | `after`, `limit` |
//! | `/api/workshop/schedule` | `branch`*, `day`*, `after`, `limit` |
//! | `/api/workshop/workload` | `branch`*, `from`, `to` |
//! | `/api/shifts/{id}` | (404 when unknown) |
//! | `/api/alerts` | |
//! | `/api/alerts/conflicts`, `/rejected`, `/duplicates`, `/negative-stock` | `after`, `limit` |
//!
//! (`*`: required.) `as_of` is a day: the aging is counted at the end of
//! that day (UTC), now when absent.

use std::collections::HashMap;

use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use store_core::query::{
    AmountCursor, Page, Period, Queries, Text3Cursor, TextCursor, TimeCursor, TopBy,
};

use super::admin::require_admin;
use super::error::ApiError;
use crate::state::AppState;

/// Default page size.
const DEFAULT_LIMIT: u32 = 50;
/// Largest page size accepted.
const MAX_LIMIT: u32 = store_core::query::MAX_PAGE;
/// Default number of top products.
const DEFAULT_TOP: u32 = 10;
/// Longest search text accepted, in characters.
const MAX_SEARCH: usize = 200;
/// Longest id accepted, in bytes.
const MAX_ID: usize = 128;
/// Longest encoded cursor accepted, in bytes.
const MAX_CURSOR: usize = 4096;
/// First and last day of the default range (the whole history).
const FIRST_DAY: &str = "0000-01-01";
const LAST_DAY: &str = "9999-12-31";
const DAY_MS: i64 = 86_400_000;
/// Invoice statuses `/api/invoices?status=` takes.
const STATUSES: &[&str] = &["unpaid", "partial", "paid", "void", "returned"];

/// The back-office routes (all `GET`, all behind the admin token).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/branches", get(branches))
        .route("/api/products/search", get(products_search))
        .route("/api/products/by-barcode/{code}", get(product_by_barcode))
        .route("/api/products/{id}/stock", get(product_stock))
        .route("/api/products/{id}/stock-card", get(stock_card))
        .route("/api/customers/search", get(customers_search))
        .route("/api/customers/balances", get(customer_balances))
        .route("/api/customers/over-credit", get(customers_over_credit))
        .route("/api/customers/{id}/statement", get(customer_statement))
        .route("/api/customers/{id}/invoices", get(customer_invoices))
        .route("/api/receivables/aging", get(aging))
        .route("/api/receivables/aging/customers", get(aging_by_customer))
        .route("/api/invoices", get(invoices))
        .route("/api/invoices/{id}", get(invoice))
        .route(
            "/api/invoices/by-bill-no/{bill_no}",
            get(invoice_by_bill_no),
        )
        .route("/api/reports/sales", get(sales_report))
        .route("/api/reports/top-products", get(top_products))
        .route("/api/stock", get(stock))
        .route("/api/stock/valuation", get(stock_valuation))
        .route("/api/low-stock", get(low_stock))
        .route("/api/vehicles/{id}/history", get(vehicle_history))
        .route("/api/workshop/schedule", get(workshop_schedule))
        .route("/api/workshop/workload", get(workshop_workload))
        .route("/api/shifts/{id}", get(shift))
        .route("/api/alerts", get(alerts))
        .route("/api/alerts/conflicts", get(alerts_conflicts))
        .route("/api/alerts/rejected", get(alerts_rejected))
        .route("/api/alerts/duplicates", get(alerts_duplicates))
        .route("/api/alerts/negative-stock", get(alerts_negative_stock))
}

type Out = Result<Json<Value>, ApiError>;

// ---------------------------------------------------------------------------
// Request: admin check, then the query string.

/// An authorised back-office request with its raw query parameters. The
/// admin token is checked first, so an unauthenticated request is 401
/// whatever its parameters.
struct Req {
    pairs: Vec<(String, String)>,
}

impl FromRequestParts<AppState> for Req {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        require_admin(state, &parts.headers)?;
        let Query(pairs) = Query::<Vec<(String, String)>>::try_from_uri(&parts.uri)
            .map_err(|e| ApiError::invalid(format!("bad query string: {}", e.body_text())))?;
        Ok(Req { pairs })
    }
}

impl Req {
    /// The parameters, refusing any not in `allowed` and any given twice.
    fn params(self, allowed: &[&str]) -> Result<Params, ApiError> {
        let mut map = HashMap::new();
        for (k, v) in self.pairs {
            if !allowed.contains(&k.as_str()) {
                return Err(ApiError::invalid(if allowed.is_empty() {
                    format!("unknown parameter `{k}`: this endpoint takes none")
                } else {
                    format!(
                        "unknown parameter `{k}` (expected one of: {})",
                        allowed.join(", ")
                    )
                }));
            }
            if map.insert(k.clone(), v).is_some() {
                return Err(ApiError::invalid(format!("parameter `{k}` given twice")));
            }
        }
        Ok(Params(map))
    }
}

/// Checked query parameters.
struct Params(HashMap<String, String>);

impl Params {
    /// The raw value, `None` when absent or empty.
    fn raw(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// Free search text (may be empty).
    fn search(&self, name: &str) -> Result<String, ApiError> {
        let v = self.0.get(name).cloned().unwrap_or_default();
        if v.chars().count() > MAX_SEARCH {
            return Err(ApiError::invalid(format!(
                "`{name}` is longer than {MAX_SEARCH} characters"
            )));
        }
        if v.chars().any(char::is_control) {
            return Err(ApiError::invalid(format!(
                "`{name}` holds control characters"
            )));
        }
        Ok(v)
    }

    fn id(&self, name: &str) -> Result<Option<String>, ApiError> {
        self.raw(name).map(|v| check_id(name, v)).transpose()
    }

    fn id_required(&self, name: &str) -> Result<String, ApiError> {
        self.id(name)?
            .ok_or_else(|| ApiError::invalid(format!("`{name}` is required")))
    }

    fn day(&self, name: &str) -> Result<Option<String>, ApiError> {
        self.raw(name)
            .map(|v| parse_day(name, v).map(|_| v.to_string()))
            .transpose()
    }

    fn day_required(&self, name: &str) -> Result<String, ApiError> {
        self.day(name)?
            .ok_or_else(|| ApiError::invalid(format!("`{name}` is required (YYYY-MM-DD)")))
    }

    /// `from..=to`, the whole history by default.
    fn range(&self) -> Result<(String, String), ApiError> {
        let from = self.day("from")?.unwrap_or_else(|| FIRST_DAY.into());
        let to = self.day("to")?.unwrap_or_else(|| LAST_DAY.into());
        if from > to {
            return Err(ApiError::invalid(format!(
                "`from` ({from}) is after `to` ({to})"
            )));
        }
        Ok((from, to))
    }

    fn limit(&self, default: u32) -> Result<u32, ApiError> {
        let Some(v) = self.raw("limit") else {
            return Ok(default);
        };
        match v.parse::<u32>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
            _ => Err(ApiError::invalid(format!(
                "`limit` must be an integer in 1..={MAX_LIMIT}, got `{v}`"
            ))),
        }
    }

    /// One of `values`, by name.
    fn one_of(
        &self,
        name: &str,
        values: &[&'static str],
    ) -> Result<Option<&'static str>, ApiError> {
        let Some(v) = self.raw(name) else {
            return Ok(None);
        };
        values
            .iter()
            .find(|x| **x == v)
            .copied()
            .map(Some)
            .ok_or_else(|| {
                ApiError::invalid(format!(
                    "`{name}` must be one of {}, got `{v}`",
                    values.join(", ")
                ))
            })
    }

    /// The `after` cursor of a list.
    fn cursor<C: DeserializeOwned>(&self) -> Result<Option<C>, ApiError> {
        self.raw("after").map(decode_cursor).transpose()
    }

    /// `as_of` as milliseconds: the end of that day (UTC), now by default.
    fn as_of(&self) -> Result<i64, ApiError> {
        match self.raw("as_of") {
            Some(v) => {
                let (y, m, d) = parse_day("as_of", v)?;
                Ok((days_from_civil(y, m, d) + 1) * DAY_MS - 1)
            }
            None => Ok(std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as i64)
                .unwrap_or(0)),
        }
    }
}

/// A path segment that must be an id.
fn path_id(name: &str, path: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    let Path(v) =
        path.map_err(|e| ApiError::invalid(format!("bad `{name}`: {}", e.body_text())))?;
    check_id(name, &v)
}

fn check_id(name: &str, v: &str) -> Result<String, ApiError> {
    let ok = !v.is_empty()
        && v.len() <= MAX_ID
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'));
    if ok {
        Ok(v.to_string())
    } else {
        Err(ApiError::invalid(format!(
            "`{name}` must be 1 to {MAX_ID} letters, digits, `-`, `_`, `.` or `:`"
        )))
    }
}

/// A free-text path segment (a barcode, a bill number).
fn path_text(name: &str, path: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    let Path(v) =
        path.map_err(|e| ApiError::invalid(format!("bad `{name}`: {}", e.body_text())))?;
    if v.is_empty() || v.len() > MAX_ID || v.chars().any(char::is_control) {
        return Err(ApiError::invalid(format!(
            "`{name}` must be 1 to {MAX_ID} bytes without control characters"
        )));
    }
    Ok(v)
}

/// Parses a `YYYY-MM-DD` calendar date.
fn parse_day(name: &str, v: &str) -> Result<(i64, u32, u32), ApiError> {
    let bad = || ApiError::invalid(format!("`{name}` must be a date YYYY-MM-DD, got `{v}`"));
    let b = v.as_bytes();
    if b.len() != 10
        || b[4] != b'-'
        || b[7] != b'-'
        || !b
            .iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
    {
        return Err(bad());
    }
    let y: i64 = v[0..4].parse().map_err(|_| bad())?;
    let m: u32 = v[5..7].parse().map_err(|_| bad())?;
    let d: u32 = v[8..10].parse().map_err(|_| bad())?;
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return Err(bad()),
    };
    if d == 0 || d > days {
        return Err(bad());
    }
    Ok((y, m, d))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
/// algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

// ---------------------------------------------------------------------------
// Cursors: JSON of the typed cursor, hex-encoded.

fn encode_cursor<C: Serialize>(cursor: &C) -> String {
    let bytes = serde_json::to_vec(cursor).unwrap_or_default();
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

fn decode_cursor<C: DeserializeOwned>(v: &str) -> Result<C, ApiError> {
    let bad = || ApiError::invalid("`after` is not a cursor this list returned");
    if v.len() > MAX_CURSOR || !v.len().is_multiple_of(2) || !v.is_ascii() {
        return Err(bad());
    }
    let bytes = (0..v.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&v[i..i + 2], 16))
        .collect::<Result<Vec<u8>, _>>()
        .map_err(|_| bad())?;
    serde_json::from_slice(&bytes).map_err(|_| bad())
}

// ---------------------------------------------------------------------------
// Reading.

/// Runs `f` over the projection on a pooled read-only connection.
async fn read<R: Send + 'static>(
    state: &AppState,
    f: impl FnOnce(Queries<'_>) -> rusqlite::Result<R> + Send + 'static,
) -> Result<R, ApiError> {
    Ok(state.store.read(move |c| f(Queries::new(c))).await?)
}

/// A page as `{"rows": [...], "next": cursor}`, plus `extra` fields.
fn page_json<T: Serialize, C: Serialize>(
    rows: Vec<T>,
    next: Option<C>,
    extra: Option<(&str, Value)>,
) -> Out {
    let mut v = json!({
        "rows": to_value(rows)?,
        "next": next.as_ref().map(encode_cursor),
    });
    if let Some((k, x)) = extra {
        v[k] = x;
    }
    Ok(Json(v))
}

/// Reads one page of a list.
async fn page<T, C>(
    state: &AppState,
    f: impl FnOnce(Queries<'_>) -> rusqlite::Result<Page<T, C>> + Send + 'static,
) -> Out
where
    T: Serialize + Send + 'static,
    C: Serialize + Send + 'static,
{
    let p = read(state, f).await?;
    page_json(p.rows, p.next, None)
}

fn to_value(v: impl Serialize) -> Result<Value, ApiError> {
    serde_json::to_value(v).map_err(ApiError::internal)
}

fn found<T: Serialize>(what: &str, id: &str, v: Option<T>) -> Out {
    match v {
        Some(v) => Ok(Json(to_value(v)?)),
        None => Err(ApiError::not_found(format!("no {what} `{id}`"))),
    }
}

// ---------------------------------------------------------------------------
// Handlers.

#[derive(Serialize)]
struct BranchRow {
    id: String,
    code: Option<String>,
    name: String,
}

async fn branches(State(state): State<AppState>, req: Req) -> Out {
    req.params(&[])?;
    let rows = state
        .store
        .read(|c| {
            let mut s =
                c.prepare_cached("SELECT id, code, name FROM branches ORDER BY code_wanted, id")?;
            s.query_map([], |r| {
                Ok(BranchRow {
                    id: r.get(0)?,
                    code: r.get(1)?,
                    name: r.get(2)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()
        })
        .await?;
    Ok(Json(json!({ "rows": rows, "next": null })))
}

async fn products_search(State(state): State<AppState>, req: Req) -> Out {
    let p = req.params(&["q", "branch", "after", "limit"])?;
    let text = p.search("q")?;
    let branch = p.id_required("branch")?;
    let after: Option<i64> = p.cursor()?;
    let limit = p.limit(DEFAULT_LIMIT)?;
    page(&state, move |q| {
        q.search_products(&text, &branch, after, limit)
    })
    .await
}

async fn product_by_barcode(
    State(state): State<AppState>,
    req: Req,
    code: Result<Path<String>, PathRejection>,
) -> Out {
    let p = req.params(&["branch"])?;
    let code = path_text("code", code)?;
    let branch = p.id_required("branch")?;
    let c = code.clone();
    let hit = read(&state, move |q| q.product_by_barcode(&c, &branch)).await?;
    found("product with barcode", &code, hit)
}

async fn product_stock(
    State(state): State<AppState>,
    req: Req,
    id: Result<Path<String>, PathRejection>,
) -> Out {
    let p = req.params(&["after", "limit"])?;
    let id = path_id("id", id)?;
    let after: Option<String> = p.cursor()?;
    let limit = p.limit(DEFAULT_LIMIT)?;
    page(&state, move |q| {
        q.stock_of_product(&id, after.as_deref(), limit)
    })
    .await
}

async fn stock_card(
    State(state): State<AppState>,
    req: Req,
    id: Result<Path<String>, PathRejection>,
) -> Out {
    let p = req.params(&["branch", "after", "limit"])?;
    let id = path_id("id", id)?;
    let branch = p.id_required("branch")?;
    let after: Option<TimeCursor> = p.cursor()?;
    let limit = p.limit(DEFAULT_LIMIT)?;
    let card = read(&state, move |q| {
        q.stock_card(&id, &branch, after.as_ref(), limit)
    })
    .await?;
    page_json(
        card.rows,
        card.next,
        Some(("closing_balance", json!(card.closing_balance))),
    )
}

async fn customers_search(State(state): State<AppState>, req: Req) -> Out {
    let p = req.params(&["q", "after", "limit"])?;
    let text = p.search("q")?;
    let after: Option<i64> = p.cursor()?;
    let limit = p.limit(DEFAULT_LIMIT)?;
    page(&state, move |q| q.search_customers(&text, after, limit)).await
}

async fn customer_balances(State(state): State<AppState>, req: Req) -> Out {
    let p = req.params(&["after", "limit"])?;
    let after: Option<AmountCursor> = p.cursor()?;
    let limit = p.limit(DEFAULT_LIMIT)?;
    page(&state, move |q| {
        q.customers_with_balance(after.as_ref(), limit)
    })
    .await
}

async fn customers_over_credit(State(state): State<AppState>, req: Req) -> Out {
    let p = req.params(&["after", "limit"])?;
    let after: Option<AmountCursor> = p.cursor()?;
    let limit = p.limit(DEFAULT_LIMIT)?;
    page(&state, move |q| {
        q.customers_over_credit(after.as_ref(), limit)
    })
    .await
}

async fn customer_statement(
    State(state): State<AppState>,
    req: Req,
    id: Result<Path<String>, PathRejection>,
) -> Out {
    let p = req.params(&["after", "limit"])?;
    let id = path_id("id", id)?;
    let after: Option<TimeCursor> = p.cursor()?;
    let limit = p.limit(DEFAULT_LIMIT)?;
    let st = read(&state, move |q| {
        q.customer_statement(&id, after.as_ref(), limit)
    })
    .await?;
    page_json(
        st.rows,
        st.next,
        Some(("opening_balance", json!(st.opening_balance))),
    )
}

async fn customer_invoices(
    State(state): State<AppState>,
    req: Req,
    id: Result<Path<String>, PathRejection>,
) -> Out {
    let p = req.params(&["after", "limit"])?;
    let id = path_id("id", id)?;
    let after: Option<TimeCursor> = p.cursor()?;
    let limit = p.limit(DEFAULT_LIMIT)?;
    page(&state, move |q| {
        q.invoices_of_customer(&id, after.as_ref(), limit)
    })
    .await
}

async fn aging(State(state): State<AppState>, req: Req) -> Out {
    let p = req.params(&["as_of"])?;
    let as_of = p.as_of()?;
    let buckets = read(&state, move |q| q.receivables_aging(as_of)).await?;
    Ok(Json(to_value(buckets)?))
}

async fn aging_by_customer(State(state): State<AppState>, req: Req) -> Out {
    let p = req.params(&["as_of", "after", "limit"])?;
    let as_of = p.as_of()?;
    let after: Option<String> = p.cursor()?;
    let limit = p.limit(DEFAULT_LIMIT)?;
    page(&state, move |q| {
        q.receivables_aging_by_customer(as_of, after.as_deref(), limit)
    })
    .await
}

async fn invoices(State(state): State<AppState>, req: Req) -> Out {
    let p = req.params(&["status", "branch", "from", "to", "after", "limit"])?;
    let status = p.one_of("status", STATUSES)?;
    let branch = p.id("branch")?;
    let (from, to) = p.range()?;
    let after: Option<TextCursor> = p.cursor()?;
    let limit = p.limit(DEFAULT_LIMIT)?;
    match (status, branch) {
        (Some(status), None) => {
            page(&state, move |q| {
                q.invoices_by_status(status, &from, &to, after.as_ref(), limit)
            })
            .await
        }
        (None, Some(branch)) => {
            page(&state, move |q| {
                q.invoices_by_branch_day(&branch, &from, &to, after.as_ref(), limit)
            })
            .await
        }
        _ => Err(ApiError::invalid(
            "give exactly one of `status` or `branch`",
        )),
    }
}

async fn invoice(
    State(state): State<AppState>,
    req: Req,
    id: Result<Path<String>, PathRejection>,
) -> Out {
    req.params(&[])?;
    let id = path_id("id", id)?;
    let i = id.clone();
    let detail = read(&state, move |q| q.invoice(&i)).await?;
    found("invoice", &id, detail)
}

async fn invoice_by_bill_no(
    State(state): State<AppState>,
    req: Req,
    bill_no: Result<Path<String>, PathRejection>,
) -> Out {
    req.params(&[])?;
    let bill_no = path_text("bill_no", bill_no)?;
    let b = bill_no.clone();
    let id = read(&state, move |q| q.invoice_id_by_bill_no(&b)).await?;
    found(
        "invoice with bill number",
        &bill_no,
        id.map(|id| json!({ "id": id })),
    )
}

async fn sales_report(State(state): State<AppState>, req: Req) -> Out {
    let p = req.params(&["period", "from", "to", "branch"])?;
    let period = match p.one_of("period", &["day", "month"])? {
        Some("month") => Period::Month,
        _ => Period::Day,
    };
    let (from, to) = p.range()?;
    let branch = p.id("branch")?;
    let mut report = read(&state, move |q| q.sales_report(period, &from, &to)).await?;
    if let Some(b) = branch {
        report.sales.retain(|r| r.branch_id == b);
        report.returns.retain(|r| r.branch_id == b);
        report.channels.retain(|r| r.branch_id == b);
        report.categories.retain(|r| r.branch_id == b);
    }
    Ok(Json(to_value(report)?))
}

async fn top_products(State(state): State<AppState>, req: Req) -> Out {
    let p = req.params(&["branch", "from", "to", "by", "limit"])?;
    let branch = p.id("branch")?;
    let (from, to) = p.range()?;
    let by = match p.one_of("by", &["quantity", "revenue"])? {
        Some("revenue") => TopBy::Revenue,
        _ => TopBy::Quantity,
    };
    let limit = p.limit(DEFAULT_TOP)?;
    let rows = read(&state, move |q| {
        q.top_products(branch.as_deref(), &from, &to, by, limit)
    })
    .await?;
    Ok(Json(json!({ "rows": to_value(rows)?, "next": null })))
}

async fn stock(State(state): State<AppState>, req: Req) -> Out {
    let p = req.params(&["branch", "after", "limit"])?;
    let branch = p.id_required("branch")?;
    let after: Option<AmountCursor> = p.cursor()?;
    let limit = p.limit(DEFAULT_LIMIT)?;
    page(&state, move |q| {
        q.stock_by_branch(&branch, after.as_ref(), limit)
    })
    .await
}

async fn stock_valuation(State(state): State<AppState>, req: Req) -> Out {
    let p = req.params(&["branch"])?;
    let branch = p.id_required("branch")?;
    let v = read(&state, move |q| q.stock_valuation(&branch)).await?;
    Ok(Json(to_value(v)?))
}

async fn low_stock(State(state): State<AppState>, req: Req) -> Out {
    let p = req.params(&["branch", "after", "limit"])?;
    let branch = p.id_required("branch")?;
    let after: Option<TextCursor> = p.cursor()?;
    let limit = p.limit(DEFAULT_LIMIT)?;
    page(&state, move |q| q.low_stock(&branch, after.as_ref(), limit)).await
}

async fn vehicle_history(
    State(state): State<AppState>,
    req: Req,
    id: Result<Path<String>, PathRejection>,
) -> Out {
    let p = req.params(&["after", "limit"])?;
    let id = path_id("id", id)?;
    let after: Option<TextCursor> = p.cursor()?;
    let limit = p.limit(DEFAULT_LIMIT)?;
    page(&state, move |q| {
        q.vehicle_history(&id, after.as_ref(), limit)
    })
    .await
}

async fn workshop_schedule(State(state): State<AppState>, req: Req) -> Out {
    let p = req.params(&["branch", "day", "after", "limit"])?;
    let branch = p.id_required("branch")?;
    let day = p.day_required("day")?;
    let after: Option<TextCursor> = p.cursor()?;
    let limit = p.limit(DEFAULT_LIMIT)?;
    page(&state, move |q| {
        q.day_schedule(&branch, &day, after.as_ref(), limit)
    })
    .await
}

async fn workshop_workload(State(state): State<AppState>, req: Req) -> Out {
    let p = req.params(&["branch", "from", "to"])?;
    let branch = p.id_required("branch")?;
    let (from, to) = p.range()?;
    let rows = read(&state, move |q| q.technician_workload(&branch, &from, &to)).await?;
    Ok(Json(json!({ "rows": to_value(rows)?, "next": null })))
}

async fn shift(
    State(state): State<AppState>,
    req: Req,
    id: Result<Path<String>, PathRejection>,
) -> Out {
    req.params(&[])?;
    let id = path_id("id", id)?;
    let i = id.clone();
    let summary = read(&state, move |q| q.shift_summary(&i)).await?;
    found("shift", &id, summary)
}

async fn alerts(State(state): State<AppState>, req: Req) -> Out {
    req.params(&[])?;
    let summary = read(&state, |q| q.alerts_summary()).await?;
    Ok(Json(to_value(summary)?))
}

async fn alerts_conflicts(State(state): State<AppState>, req: Req) -> Out {
    let p = req.params(&["after", "limit"])?;
    let after: Option<Text3Cursor> = p.cursor()?;
    let limit = p.limit(DEFAULT_LIMIT)?;
    page(&state, move |q| q.field_conflicts(after.as_ref(), limit)).await
}

async fn alerts_rejected(State(state): State<AppState>, req: Req) -> Out {
    let p = req.params(&["after", "limit"])?;
    let after: Option<Text3Cursor> = p.cursor()?;
    let limit = p.limit(DEFAULT_LIMIT)?;
    page(&state, move |q| q.rejected_records(after.as_ref(), limit)).await
}

async fn alerts_duplicates(State(state): State<AppState>, req: Req) -> Out {
    let p = req.params(&["after", "limit"])?;
    let after: Option<Text3Cursor> = p.cursor()?;
    let limit = p.limit(DEFAULT_LIMIT)?;
    page(&state, move |q| q.duplicate_keys(after.as_ref(), limit)).await
}

async fn alerts_negative_stock(State(state): State<AppState>, req: Req) -> Out {
    let p = req.params(&["after", "limit"])?;
    let after: Option<TextCursor> = p.cursor()?;
    let limit = p.limit(DEFAULT_LIMIT)?;
    page(&state, move |q| q.negative_stock(after.as_ref(), limit)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_checked() {
        assert!(parse_day("d", "2024-02-29").is_ok());
        assert!(parse_day("d", "2023-02-29").is_err());
        assert!(parse_day("d", "2024-13-01").is_err());
        assert!(parse_day("d", "2024-1-01").is_err());
        assert!(parse_day("d", "2024-01-00").is_err());
        assert!(parse_day("d", "+024-01-01").is_err());
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
    }

    #[test]
    fn cursors_round_trip() {
        let c: TimeCursor = (1_700_000_000_000, "ab\"c".into());
        let s = encode_cursor(&c);
        assert!(s.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(decode_cursor::<TimeCursor>(&s).unwrap(), c);
        assert!(decode_cursor::<TimeCursor>("zz").is_err());
        assert!(decode_cursor::<TimeCursor>(&encode_cursor(&"x")).is_err());
    }
}
