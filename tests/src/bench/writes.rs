//! Writes: every command on the engine, the floor (the same rows written
//! directly in one durable transaction) and the naive design.
//!
//! Each row builds one [`Command`] per iteration from the data, the same for
//! the three designs. The engine runs it through [`Replica::execute`]; the
//! floor and the naive design carry it out in SQL ([`Design::run`]), each in
//! one transaction. The floor writes the rows the engine's projection
//! writes (its triggers keep the sums), after the lookups the command needs
//! to fill them or to refuse it (prices, bill and order numbers, the state
//! of the invoice, order or shift); lookups that could only warn (stock
//! going negative under an override) are left out, as the engine's CRDT
//! bookkeeping (documents, changes, per-replica counters) is. The naive
//! design writes what the seed's schema needs, with its read-modify-write
//! updates of stored stock, balances and invoice totals. Floor and naive
//! model the commands as this benchmark issues them and refuse the others.
//!
//! A command that consumes its target (a shift to close, an order to
//! invoice) prepares a fresh one first, untimed, on each design. At the end
//! every table of the floor must hold as many rows as the engine's
//! ([`same_row_counts`]): both started from the same data and ran the same
//! commands, so a difference means the floor skipped work the engine did.

use std::collections::BTreeMap;
use std::marker::PhantomData;

use rusqlite::types::FromSql;
use store_core::ReturnLineInput;
use store_core::domain::{ONE, day_of, gross, tax_on};

use super::*;

mod floor;
mod naive;

/// Deterministic ids and choices for the writes, the same for every design.
struct Ids(u64);

impl Ids {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E3779B97F4A7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58476D1CE4E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D049BB133111EB);
        z ^ (z >> 31)
    }
    fn id(&mut self) -> String {
        format!("{:016x}{:04x}", self.next(), self.next() & 0xffff)
    }
}

/// One checkout: five lines (product index, quantity).
fn checkout_lines(k: usize, products: usize) -> Vec<(usize, i64)> {
    let mut ids = Ids(k as u64 * 7919 + 1);
    (0..5)
        .map(|_| {
            (
                (ids.next() % products as u64) as usize,
                (1 + ids.next() % 5) as i64 * 1000,
            )
        })
        .collect()
}

pub(super) fn line_amounts(qty: i64, price: i64) -> (i64, i64, i64) {
    let gross = store_core::domain::gross(qty, price).unwrap_or(0);
    let tax = store_core::domain::tax_on(gross, 1500).unwrap_or(0);
    (gross, tax, gross + tax)
}

/// A walk-in checkout of five lines, paid in cash.
fn checkout(p: &Picks, k: usize) -> Command {
    let lines = checkout_lines(k, p.products.len());
    let total = lines
        .iter()
        .map(|(pi, q)| line_amounts(*q, p.products[*pi].1).2)
        .sum();
    Command::Sell {
        customer_id: None,
        lines: lines
            .iter()
            .map(|(pi, q)| SaleLine {
                product_id: p.products[*pi].0.clone(),
                qty: *q,
                unit_price: None,
                discount: 0,
                tax_rate_bp: 1500,
            })
            .collect(),
        payments: vec![Tender {
            channel: "cash".into(),
            amount: total,
        }],
        allow_negative_stock: true,
        allow_over_credit_limit: false,
    }
}

/// `n` stock lines drawn from `seed`: a product, then `qty` of a draw.
fn stock_lines(p: &Picks, seed: u64, n: usize, qty: impl Fn(u64) -> i64) -> Vec<StockLineInput> {
    let mut ids = Ids(seed);
    (0..n)
        .map(|_| StockLineInput {
            product_id: p.products[(ids.next() % p.products.len() as u64) as usize]
                .0
                .clone(),
            qty: qty(ids.next()),
            unit_cost: None,
        })
        .collect()
}

/// A booking of a vehicle into the workshop.
fn booking(p: &Picks, k: usize) -> Command {
    let (vehicle, owner) = &p.vehicles[k % p.vehicles.len()];
    Command::CreateServiceOrder {
        customer_id: owner.clone(),
        vehicle_id: vehicle.clone(),
        scheduled_date: p.schedule_day.clone(),
        technician_id: Some(p.technicians[k % p.technicians.len()].clone()),
        complaint: "service due".into(),
        odometer: Some(60_000 + k as i64),
    }
}

fn labour(p: &Picks, order: &str, k: usize) -> Command {
    Command::AddLabour {
        order_id: order.into(),
        service_id: p.services[k % p.services.len()].clone(),
        technician_id: Some(p.technicians[k % p.technicians.len()].clone()),
        price: None,
    }
}

fn part(p: &Picks, order: &str, k: usize) -> Command {
    Command::UsePart {
        order_id: order.into(),
        product_id: p.products[k % p.products.len()].0.clone(),
        qty: ONE,
        allow_negative_stock: true,
    }
}

fn set_status(order: &str, status: OrderStatus) -> Command {
    Command::SetOrderStatus {
        order_id: order.into(),
        status,
    }
}

/// The time of iteration `k` on the floor and the naive design. The
/// engine's clock starts at the same time and steps a second per command:
/// all stay on the day the dataset ends, so the daily sums get the same rows.
fn at(k: usize) -> i64 {
    END_MS + k as i64 * 1000
}

// ---------------------------------------------------------------- designs

/// A design that carries out commands; `run` gives the id of what the
/// command created or changed.
trait Design {
    fn run(&mut self, cmd: &Command, k: usize) -> Result<String>;
}

impl Design for Replica {
    fn run(&mut self, cmd: &Command, _k: usize) -> Result<String> {
        Ok(self.execute("bench", cmd)?.id)
    }
}

/// Carrying out a command in SQL, in the transaction [`Design::run`] opens.
trait Apply {
    fn apply(&mut self, cmd: &Command, now: i64) -> Result<String>;
}

impl<D> Design for Db<'_, D>
where
    Self: Apply,
{
    fn run(&mut self, cmd: &Command, k: usize) -> Result<String> {
        self.tx(|s| s.apply(cmd, at(k)))
    }
}

/// How the floor writes.
enum Floor {}
/// How the naive design writes.
enum Naive {}

/// The floor's or the naive design's database, with the terminal's identity
/// and the ids of the records it creates.
struct Db<'a, D> {
    c: &'a Connection,
    me: ReplicaIdentity,
    ids: Ids,
    design: PhantomData<D>,
}

/// What the stock movements of one record share.
#[derive(Clone, Copy)]
struct Src<'a> {
    kind: &'a str,
    ref_kind: &'a str,
    ref_id: &'a str,
    branch: &'a str,
    customer: Option<&'a str>,
    at: i64,
}

/// An invoice line as the floor and the naive design write it.
struct Line {
    kind: &'static str,
    product: Option<String>,
    description: String,
    qty: i64,
    price: i64,
    gross: i64,
    discount: i64,
    tax: i64,
    total: i64,
    cost: i64,
}

impl Line {
    /// A line of a sale, from the product's (name, price, cost).
    fn sale(l: &SaleLine, (name, price, cost): (String, i64, i64)) -> Line {
        let price = l.unit_price.unwrap_or(price);
        let gross = gross(l.qty, price).unwrap_or(0);
        let tax = tax_on(gross - l.discount, l.tax_rate_bp).unwrap_or(0);
        Line {
            kind: "product",
            product: Some(l.product_id.clone()),
            description: name,
            qty: l.qty,
            price,
            gross,
            discount: l.discount,
            tax,
            total: gross - l.discount + tax,
            cost,
        }
    }
    /// An untaxed workshop line: labour, or a part already taken from stock.
    fn work(
        kind: &'static str,
        product: Option<String>,
        description: String,
        qty: i64,
        price: i64,
        cost: i64,
    ) -> Line {
        let gross = gross(qty, price).unwrap_or(0);
        Line {
            kind,
            product,
            description,
            qty,
            price,
            gross,
            discount: 0,
            tax: 0,
            total: gross,
            cost,
        }
    }
}

/// (subtotal, discount, tax, total) of an invoice's lines.
fn totals(lines: &[Line]) -> (i64, i64, i64, i64) {
    lines.iter().fold((0, 0, 0, 0), |(s, d, t, a), l| {
        (s + l.gross, d + l.discount, t + l.tax, a + l.total)
    })
}

/// A line of a return: (invoice line, product, quantity, amount credited, unit cost).
type Back = (i64, Option<String>, i64, i64, i64);

const OPEN_SHIFT: &str = "SELECT id FROM shifts WHERE terminal_id = ?1 AND closed_at IS NULL
                          ORDER BY opened_at DESC LIMIT 1";

fn open(s: OrderStatus) -> bool {
    !matches!(s, OrderStatus::Invoiced | OrderStatus::Cancelled)
}

fn working(s: OrderStatus) -> bool {
    matches!(s, OrderStatus::InProgress | OrderStatus::WaitingParts)
}

fn refused(what: impl std::fmt::Display) -> BenchError {
    err(format!("refused: {what}"))
}

/// What both designs look up the same way (their tables share these columns).
impl<'a, D> Db<'a, D> {
    fn new(c: &'a Connection, seed: u64) -> Self {
        Db {
            c,
            me: identity(),
            ids: Ids(seed),
            design: PhantomData,
        }
    }
    fn id(&mut self) -> String {
        self.ids.id()
    }
    fn exec(&self, sql: &str, p: impl rusqlite::Params) -> Result<()> {
        self.c.prepare_cached(sql)?.execute(p)?;
        Ok(())
    }
    fn get<T>(
        &self,
        sql: &str,
        p: impl rusqlite::Params,
        f: impl FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<T> {
        self.c
            .prepare_cached(sql)?
            .query_row(p, f)
            .map_err(|e| err(format!("{e}: {sql}")))
    }
    fn one<T: FromSql>(&self, sql: &str, p: impl rusqlite::Params) -> Result<T> {
        self.get(sql, p, |r| r.get(0))
    }
    fn opt<T: FromSql>(&self, sql: &str, p: impl rusqlite::Params) -> Result<Option<T>> {
        Ok(self
            .c
            .prepare_cached(sql)?
            .query_row(p, |r| r.get(0))
            .optional()?)
    }
    fn rows<T>(
        &self,
        sql: &str,
        p: impl rusqlite::Params,
        f: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>> {
        Ok(self
            .c
            .prepare_cached(sql)?
            .query_map(p, f)?
            .collect::<rusqlite::Result<_>>()?)
    }
    /// Refuses unless `sql` (`SELECT 1 ... = ?1`) finds `id`.
    fn need(&self, sql: &str, id: &str) -> Result<()> {
        match self.opt::<i64>(sql, [id])? {
            Some(_) => Ok(()),
            None => Err(refused(format!("{id} not found ({sql})"))),
        }
    }
    /// Refuses a value of a unique column that another record holds.
    fn unique(&self, table: &str, col: &str, value: &str, except: Option<&str>) -> Result<()> {
        let sql = format!("SELECT id FROM {table} WHERE {col} = ?1 AND id IS NOT ?2 LIMIT 1");
        match self.opt::<String>(&sql, params![value, except])? {
            Some(_) => Err(refused(format!("{table}.{col} {value} is taken"))),
            None => Ok(()),
        }
    }
    /// An active product's (name, price, cost).
    fn product(&self, id: &str) -> Result<(String, i64, i64)> {
        self.get(
            "SELECT name, price, cost FROM products WHERE id = ?1 AND status = 'active'",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
    }
    /// The unit cost of each stock line: given, or the product's.
    fn costs(&self, lines: &[StockLineInput]) -> Result<Vec<i64>> {
        lines
            .iter()
            .map(|l| match l.unit_cost {
                Some(c) => Ok(c),
                None => self.one("SELECT cost FROM products WHERE id = ?1", [&l.product_id]),
            })
            .collect()
    }
    /// The lines of a sale, refused for an unknown customer or product.
    fn sale(&self, customer: Option<&str>, lines: &[SaleLine]) -> Result<Vec<Line>> {
        if let Some(c) = customer {
            self.need("SELECT 1 FROM customers WHERE id = ?1", c)?;
        }
        lines
            .iter()
            .map(|l| Ok(Line::sale(l, self.product(&l.product_id)?)))
            .collect()
    }
    /// An order's customer, refused unless its status is `ok`.
    fn order(&self, id: &str, ok: fn(OrderStatus) -> bool) -> Result<String> {
        let (customer, status): (String, String) = self.get(
            "SELECT customer_id, status FROM service_orders WHERE id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        match OrderStatus::parse(&status) {
            Some(s) if ok(s) => Ok(customer),
            _ => Err(refused(format!("order {id} is {status}"))),
        }
    }
    /// Refuses a booking whose customer, vehicle or technician is unknown,
    /// then numbers it after the last order of this terminal.
    fn book(&self, customer: &str, vehicle: &str, technician: Option<&str>) -> Result<String> {
        self.need("SELECT 1 FROM customers WHERE id = ?1", customer)?;
        let owner: String =
            self.one("SELECT customer_id FROM vehicles WHERE id = ?1", [vehicle])?;
        if owner != customer {
            return Err(refused("the vehicle belongs to another customer"));
        }
        if let Some(t) = technician {
            self.need("SELECT 1 FROM technicians WHERE id = ?1", t)?;
        }
        let prefix = format!("SO-{}-{}-", self.me.branch_code, self.me.terminal_code);
        let last: Option<String> = self.one(
            "SELECT max(number) FROM service_orders WHERE number > ?1 AND number < ?1 || '~'",
            [&prefix],
        )?;
        let seq = last
            .and_then(|n| n[prefix.len()..].parse::<i64>().ok())
            .unwrap_or(0);
        Ok(format!("{prefix}{:06}", seq + 1))
    }
    /// Refuses to open a second shift on this terminal.
    fn no_open_shift(&self) -> Result<()> {
        match self.opt::<String>(OPEN_SHIFT, [&self.me.replica_id])? {
            Some(s) => Err(refused(format!("shift {s} is open"))),
            None => Ok(()),
        }
    }
    /// Refuses to close a shift of another terminal or one already closed,
    /// or to count an unknown channel (`channel`: `SELECT 1 ... = ?1`).
    fn closable(&self, shift: &str, counted: &BTreeMap<String, i64>, channel: &str) -> Result<()> {
        let closed: Option<i64> = self.one(
            "SELECT closed_at FROM shifts WHERE id = ?1 AND terminal_id = ?2",
            params![shift, self.me.replica_id],
        )?;
        if closed.is_some() {
            return Err(refused(format!("shift {shift} is closed")));
        }
        counted.keys().try_for_each(|ch| self.need(channel, ch))
    }
    /// The lines of a return with what each credits (the engine's rounded
    /// share of the line total), refused past what was sold. `sold`:
    /// (kind, product, qty, total, cost) of invoice ?1's line ?2; `before`:
    /// what earlier returns took back of it.
    fn back(
        &self,
        invoice: &str,
        lines: &[ReturnLineInput],
        sold: &str,
        returned: &str,
    ) -> Result<Vec<Back>> {
        lines
            .iter()
            .map(|l| {
                let (kind, product, qty, total, cost): (String, Option<String>, i64, i64, i64) =
                    self.get(sold, params![invoice, l.line_no], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
                    })?;
                let before: i64 = self.one(returned, params![invoice, l.line_no])?;
                if kind != "product" || before + l.qty > qty {
                    return Err(refused(format!("line {} of {invoice}", l.line_no)));
                }
                let share = |q: i64| (total as i128 * q as i128 + qty as i128 / 2) / qty as i128;
                let amount = (share(before + l.qty) - share(before)) as i64;
                Ok((l.line_no, product, l.qty, amount, cost))
            })
            .collect()
    }
    /// Moves an order to `to`, refused unless its workflow allows it.
    fn move_order(&self, id: &str, to: OrderStatus, now: i64) -> Result<()> {
        let from: String = self.one("SELECT status FROM service_orders WHERE id = ?1", [id])?;
        if !OrderStatus::parse(&from).is_some_and(|f| f.can_move_to(to)) {
            return Err(refused(format!("{id}: {from} to {}", to.as_str())));
        }
        self.exec(
            "UPDATE service_orders SET status = ?2, updated_at = ?3 WHERE id = ?1",
            params![id, to.as_str(), now],
        )
    }
    fn touch_order(&self, id: &str, now: i64) -> Result<()> {
        self.exec(
            "UPDATE service_orders SET updated_at = ?2 WHERE id = ?1",
            params![id, now],
        )
    }
    /// Runs `f` in one transaction.
    fn tx<T>(&mut self, f: impl FnOnce(&mut Self) -> Result<T>) -> Result<T> {
        let c = self.c;
        let tx = c.unchecked_transaction()?;
        let out = f(self)?;
        tx.commit()?;
        Ok(out)
    }
}

// ---------------------------------------------------------------- measuring

/// When a run's timed part began.
struct Clock(Instant);

impl Clock {
    /// Restarts the clock, after a run's untimed preparation.
    fn start(&mut self) {
        self.0 = Instant::now();
    }
}

/// Warm-up runs, then `iters` timed runs of `f(k, clock)`. With a budget
/// (the naive design), runs stop once it is spent, as in [`measure_naive`].
fn time(
    warm: usize,
    iters: usize,
    budget: Option<Duration>,
    mut f: impl FnMut(usize, &mut Clock) -> Result<()>,
) -> Result<Stats> {
    let start = Instant::now();
    let mut samples = Vec::with_capacity(iters);
    for k in 0..warm + iters {
        let mut clock = Clock(Instant::now());
        f(k, &mut clock)?;
        let took = ms(clock.0.elapsed());
        let spent = budget.is_some_and(|b| start.elapsed() >= b);
        if k >= warm || spent {
            samples.push(took);
        }
        if spent {
            break;
        }
    }
    Ok(Stats {
        samples,
        extrapolated: None,
    })
}

/// The three designs, and the rows measured on them.
struct Bench<'a> {
    engine: &'a mut Replica,
    floor: Db<'a, Floor>,
    naive: Db<'a, Naive>,
    warm: usize,
    iters: usize,
    rows: Vec<Row>,
}

impl Bench<'_> {
    /// One row: `go(design, d, k, clock)` runs iteration `k` on design `d`
    /// (0 the engine, 1 the floor, 2 the naive design), each design's runs
    /// after the previous design's.
    fn row(
        &mut self,
        covers: &'static str,
        name: &str,
        mut go: impl FnMut(&mut dyn Design, usize, usize, &mut Clock) -> Result<()>,
    ) -> Result<&mut Row> {
        let (w, n) = (self.warm, self.iters);
        let on =
            |design: &'static str| move |e: BenchError| err(format!("{name} on the {design}: {e}"));
        let engine =
            time(w, n, None, |k, c| go(&mut *self.engine, 0, k, c)).map_err(on("engine"))?;
        let floor = time(w, n, None, |k, c| go(&mut self.floor, 1, k, c)).map_err(on("floor"))?;
        let naive = time(w, n, Some(NAIVE_BUDGET), |k, c| {
            go(&mut self.naive, 2, k, c)
        })
        .map_err(on("naive design"))?;
        self.rows.push(Row {
            covers,
            name: name.into(),
            engine,
            floor,
            naive,
            budgets: vec![Budget::FloorRatio { limit: 2.0 }],
        });
        eprintln!("bench: write {covers}");
        Ok(self.rows.last_mut().expect("a row was just pushed"))
    }

    /// A row whose iteration `k` runs `make(k)` on each design.
    fn cmd(
        &mut self,
        covers: &'static str,
        name: &str,
        make: impl Fn(usize) -> Command,
    ) -> Result<&mut Row> {
        self.row(covers, name, |x, _, k, _| x.run(&make(k), k).map(drop))
    }
}

/// The floor did the engine's writes: from the same data, after the same
/// commands, every table of the floor holds as many rows as the engine's.
fn same_row_counts(engine: &Connection, floor: &Connection) -> Result<()> {
    let tables: Vec<String> = floor
        .prepare(
            "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'
             ORDER BY name",
        )?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let mut differ = Vec::new();
    for t in tables {
        let count = format!("SELECT count(*) FROM \"{t}\"");
        let (e, f): (i64, i64) = (one(engine, &count)?, one(floor, &count)?);
        if e != f {
            differ.push(format!("{t} (engine {e}, floor {f})"));
        }
    }
    if differ.is_empty() {
        Ok(())
    } else {
        Err(err(format!(
            "the floor did not write what the engine wrote: {}",
            differ.join(", ")
        )))
    }
}

pub(super) fn measure_writes(
    opts: &Options,
    engine: &mut Replica,
    engine_path: &Path,
    floor: &Connection,
    naive: &Connection,
    p: &Picks,
) -> Result<Vec<Row>> {
    let iters = n(opts, 200);
    let warm = (iters / 10).max(1);
    for (what, have) in [
        ("sales to void", p.voidable.len()),
        ("sales to return from", p.returnable.len()),
    ] {
        if have < warm + iters {
            return Err(err(format!(
                "the dataset is too small: {have} {what}, {} wanted",
                warm + iters
            )));
        }
    }
    let mut b = Bench {
        engine,
        floor: Db::new(floor, 1),
        naive: Db::new(naive, 2),
        warm,
        iters,
        rows: Vec::new(),
    };

    b.cmd("sell", "durable checkout: 5 lines + cash payment", |k| {
        checkout(p, k)
    })?
    .budgets
    .push(Budget::Ms {
        limit: 5.0,
        what: "(browser budget)",
    });

    // The same checkout without a disk flush per commit (synchronous =
    // NORMAL): the CPU cost of each design. On a second Replica on the same
    // file: the first one's cached documents are stale after this, so it is
    // reopened below.
    {
        let mut relaxed = open_engine(engine_path, false, opts.seed ^ 0x5A)?;
        std::mem::swap(b.engine, &mut relaxed);
        let sync = |mode: &str| -> Result<()> {
            for c in [floor, naive] {
                c.execute_batch(&format!("PRAGMA synchronous = {mode}"))?;
            }
            Ok(())
        };
        sync("NORMAL")?;
        let measured = b
            .cmd(
                "sell",
                "checkout, no flush per commit (synchronous = NORMAL)",
                |k| checkout(p, 100_000 + k),
            )
            .map(drop);
        sync("FULL")?;
        std::mem::swap(b.engine, &mut relaxed);
        measured?;
        drop(relaxed);
        *b.engine = open_engine(engine_path, true, opts.seed ^ 0xBE7D)?;
    }

    b.cmd(
        "receive_stock",
        "receive stock: a delivery of 20 lines",
        |k| Command::ReceiveStock {
            lines: stock_lines(p, k as u64 * 31 + 7, 20, |v| (20 + v % 100) as i64 * ONE),
            note: "supplier delivery".into(),
        },
    )?;

    b.cmd(
        "take_payment",
        "take a payment against a credit invoice",
        |k| Command::TakePayment {
            customer_id: None,
            invoice_id: Some(p.open_invoices[k % p.open_invoices.len()].0.clone()),
            amount: 100,
            channel: "bank".into(),
            kind: PaymentKind::Invoice,
        },
    )?;

    // A service order moves between in progress and waiting for parts.
    b.cmd("set_order_status", "service order status change", |k| {
        let (id, start) = &p.orders[k % p.orders.len()];
        let other = if *start == OrderStatus::InProgress {
            OrderStatus::WaitingParts
        } else {
            OrderStatus::InProgress
        };
        let even = (k / p.orders.len()).is_multiple_of(2);
        set_status(id, if even { other } else { *start })
    })?;

    b.cmd("create_branch", "create a branch", |k| {
        Command::CreateBranch {
            code: format!("N{k}"),
            name: format!("Branch {k}"),
        }
    })?;

    b.cmd("set_payment_channel", "rename a payment channel", |k| {
        Command::SetPaymentChannel {
            code: "wallet".into(),
            name: format!("Mobile wallet {k}"),
            is_cash: false,
            active: true,
        }
    })?;

    // Products created here are the ones repriced next: the checkouts'
    // prices stay as picked.
    let mut made: [Vec<String>; 3] = Default::default();
    b.row("create_product", "create a product", |x, d, k, _| {
        let cmd = Command::CreateProduct {
            sku: format!("BENCH-{k:06}"),
            barcode: Some(format!("990{k:010}")),
            name: format!("Sheet S235 {k} bench"),
            category: "sheet".into(),
            grade: Some("S235".into()),
            unit: "sheet".into(),
            price: 12_000,
            cost: 9_000,
            min_stock: 10 * ONE,
        };
        made[d].push(x.run(&cmd, k)?);
        Ok(())
    })?;
    b.row("update_product", "reprice a product", |x, d, k, _| {
        let cmd = Command::UpdateProduct {
            product_id: made[d][k % made[d].len()].clone(),
            name: None,
            category: None,
            price: Some(12_000 + k as i64 * 10),
            cost: None,
            min_stock: None,
            status: None,
            barcode: None,
        };
        x.run(&cmd, k).map(drop)
    })?;

    b.cmd("create_service", "add a workshop service", |k| {
        Command::CreateService {
            code: format!("SV{k}"),
            name: format!("Bench service {k}"),
            labour_price: 3_000,
            duration_min: 60,
        }
    })?;

    b.cmd("create_technician", "add a technician", |k| {
        Command::CreateTechnician {
            branch_id: None,
            name: format!("Technician {k}"),
            skills: vec!["brakes".into()],
        }
    })?;

    b.cmd("create_customer", "create a customer", |k| {
        Command::CreateCustomer {
            name: format!("Bench Customer {k}"),
            phone: Some(format!("+9667{k:08}")),
            address: Some(format!("West Industrial Area, Street {k}")),
            credit_limit: 500_000,
            tags: vec!["contractor".into()],
        }
    })?;

    b.cmd("update_customer", "change a customer's phone", |k| {
        Command::UpdateCustomer {
            customer_id: p.customers[k % p.customers.len()].clone(),
            name: None,
            phone: Some(format!("+9668{k:08}")),
            address: None,
            credit_limit: None,
            tags: None,
        }
    })?;

    b.cmd("register_vehicle", "register a customer's vehicle", |k| {
        Command::RegisterVehicle {
            customer_id: p.customers[k % p.customers.len()].clone(),
            plate: format!("BEN {k:05}"),
            vin: None,
            make: "Toyota".into(),
            model: "Hilux".into(),
            year: Some(2020),
            odometer: 50_000,
        }
    })?;

    b.cmd("adjust_stock", "stock count: adjust 3 products", |k| {
        Command::AdjustStock {
            lines: stock_lines(p, k as u64 * 37 + 11, 3, |v| {
                (1 + v % 5) as i64 * ONE * if (v >> 8) & 1 == 0 { -1 } else { 1 }
            }),
            note: "stock count".into(),
        }
    })?;

    // To a second branch, created untimed on the first run.
    let mut to: [Option<String>; 3] = Default::default();
    b.row(
        "transfer_stock",
        "transfer 5 products to another branch",
        |x, d, k, clock| {
            if to[d].is_none() {
                let branch = Command::CreateBranch {
                    code: "XFER".into(),
                    name: "Second branch".into(),
                };
                to[d] = Some(x.run(&branch, k)?);
                clock.start();
            }
            let cmd = Command::TransferStock {
                to_branch: to[d].clone().unwrap_or_default(),
                lines: stock_lines(p, k as u64 * 41 + 13, 5, |v| (1 + v % 10) as i64 * ONE),
                note: "to the second branch".into(),
                allow_negative_stock: true,
            };
            x.run(&cmd, k).map(drop)
        },
    )?;

    b.cmd("return_items", "return one unit of a paid sale", |k| {
        Command::ReturnItems {
            invoice_id: p.returnable[k].clone(),
            lines: vec![ReturnLineInput {
                line_no: 0,
                qty: ONE,
            }],
            reason: "damaged".into(),
        }
    })?;

    b.cmd("void_invoice", "void a paid sale", |k| {
        Command::VoidInvoice {
            invoice_id: p.voidable[k].clone(),
            reason: "entered by mistake".into(),
        }
    })?;

    // Each run closes the shift the other left open, untimed.
    let mut shift: [Option<String>; 3] = Default::default();
    let open_shift = Command::OpenShift {
        opening_float: 20_000,
    };
    let close = |id: String, k: usize| Command::CloseShift {
        shift_id: id,
        counted: BTreeMap::from([("cash".to_string(), 15_000 + k as i64)]),
    };
    b.row("open_shift", "open a shift", |x, d, k, clock| {
        if let Some(s) = shift[d].take() {
            x.run(&close(s, k), k)?;
            clock.start();
        }
        shift[d] = Some(x.run(&open_shift, k)?);
        Ok(())
    })?;
    b.row(
        "close_shift",
        "close a shift with its cash count",
        |x, d, k, clock| {
            let s = match shift[d].take() {
                Some(s) => s,
                None => {
                    let s = x.run(&open_shift, k)?;
                    clock.start();
                    s
                }
            };
            x.run(&close(s, k), k).map(drop)
        },
    )?;

    b.cmd(
        "create_service_order",
        "book a vehicle into the workshop",
        |k| booking(p, k),
    )?;
    b.cmd(
        "assign_technician",
        "assign a technician to an order",
        |k| Command::AssignTechnician {
            order_id: p.orders[k % p.orders.len()].0.clone(),
            technician_id: p.technicians[(k + 1) % p.technicians.len()].clone(),
        },
    )?;
    b.cmd("add_labour", "add a labour line to an order", |k| {
        labour(p, &p.orders[k % p.orders.len()].0, k)
    })?;
    b.cmd("use_part", "take a part from stock for an order", |k| {
        part(p, &p.orders[k % p.orders.len()].0, k)
    })?;
    // Each run invoices an order booked, worked on and finished untimed.
    b.row(
        "invoice_service_order",
        "invoice a finished service order",
        |x, _, k, clock| {
            let order = x.run(&booking(p, k), k)?;
            for cmd in [
                set_status(&order, OrderStatus::InProgress),
                labour(p, &order, k),
                part(p, &order, k),
                set_status(&order, OrderStatus::Done),
            ] {
                x.run(&cmd, k)?;
            }
            clock.start();
            let cmd = Command::InvoiceServiceOrder {
                order_id: order,
                payments: Vec::new(),
                allow_over_credit_limit: true,
            };
            x.run(&cmd, k).map(drop)
        },
    )?;

    same_row_counts(b.engine.connection(), floor)?;
    Ok(b.rows)
}
