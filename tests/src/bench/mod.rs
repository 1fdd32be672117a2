//! Benchmarks at scale: this engine, the floor and the seed's naive design,
//! side by side on the same generated data (DESIGN.md §7).
//!
//! [`run`] generates (or reuses) a dataset through the real commands
//! ([`store_core::generate`]), then builds three databases holding the same
//! data and measures every operation on each, in the same run:
//!
//! - **engine**: this product. Reads through [`Queries`], writes through
//!   [`Replica::execute`] (validation, one automerge change, the change and
//!   the projection rows in one durable SQLite transaction).
//! - **floor**: plain SQLite with the same tables, indexes and triggers but
//!   no CRDT (a copy of the engine's database without its document tables).
//!   Reads run the very statements the engine runs
//!   ([`store_core::query::statements`]) with the same parameters; writes
//!   insert the same rows directly in one durable transaction with the same
//!   pragmas (WAL, `synchronous = FULL`), after the lookups the command
//!   needs (product prices, the next bill number, the invoice's balance...).
//! - **naive**: the steel-store plan's starting point
//!   (`seeds/steel-store-optimization-plan.md`): its schema (stock and
//!   balances stored on products and customers, no ledger index), no index
//!   beyond primary keys, one query per row (an invoice, then each line, then
//!   each line's product; the customers, then one balance query per
//!   customer), whole lists without pagination, and SQLite's default
//!   configuration (rollback journal, `synchronous = FULL`, 2 MB cache) that
//!   the plan sets out to fix.
//!
//! Every measurement warms up first, then runs a fixed number of iterations
//! timed with [`Instant`]. A naive operation that would run for more than
//! [`NAIVE_BUDGET`] is cut short and its time extrapolated from the share of
//! its per-row queries that ran (shown with `~`).
//!
//! The report ([`Report::markdown`]) gives p50 / p95 / p99 and throughput
//! per design, the ratios of the engine and the naive design to the floor,
//! the DESIGN.md §7 budget of each row, document sizes, load times, peak
//! memory, generation time and the machine.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, params, params_from_iter};
use sha2::{Digest, Sha256};
use store_core::generate::{DatasetSize, GenerateReport, generate_file};
use store_core::query::{Period, Queries, TopBy};
mod reads;
mod writes;

use reads::measure_reads;
use store_core::{
    Command, DocId, OpenOptions, OrderStatus, PaymentKind, Replica, ReplicaIdentity, SaleLine,
    SeededEnv, StockLineInput, Tender,
};
use writes::{line_amounts, measure_writes};

/// End of the generated period (2026-09-21); every dataset ends here.
pub const END_MS: i64 = 1_790_000_000_000;

/// How long the naive design may run one operation (all its iterations)
/// before it is cut short and extrapolated.
pub const NAIVE_BUDGET: Duration = Duration::from_secs(8);

/// A dataset the benchmark knows by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NamedSize {
    /// `demo`, `tenth`, `terminal` or a test's own name.
    pub name: &'static str,
    /// The size.
    pub size: DatasetSize,
}

impl NamedSize {
    /// `demo`, `tenth` (of a terminal) or `terminal`.
    pub fn parse(name: &str) -> Option<NamedSize> {
        match name {
            "demo" => Some(NamedSize {
                name: "demo",
                size: DatasetSize::DEMO,
            }),
            "terminal" => Some(NamedSize {
                name: "terminal",
                size: DatasetSize::TERMINAL,
            }),
            // A tenth of a terminal, a year long: for trying the 20-branch
            // server dataset in minutes.
            "tenth" => Some(NamedSize {
                name: "tenth",
                size: DatasetSize {
                    products: 5_000,
                    customers: 2_000,
                    sales: 10_000,
                    max_sale_lines: 9,
                    delivery_lines: 44_000,
                    service_orders: 400,
                    days: 365,
                },
            }),
            _ => None,
        }
    }
}

/// How the dataset is generated.
#[derive(Debug, Clone)]
pub enum Generator {
    /// In this process (tests).
    InProcess,
    /// By running this executable as `EXE --generate FILE --size NAME
    /// --seed N`, so the generator's memory does not count in the
    /// benchmark's peak (the bench binary runs itself).
    Subprocess(PathBuf),
}

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// The dataset.
    pub size: NamedSize,
    /// Seed of the generated data.
    pub seed: u64,
    /// Multiplies every iteration count (1.0 for the real run; tests use
    /// a small value: at least one iteration always runs).
    pub iterations: f64,
    /// Where generated datasets are kept and reused (keyed by size, seed
    /// and a digest of the engine's sources), `None` to generate afresh in
    /// the work directory.
    pub cache_dir: Option<PathBuf>,
    /// Where the three databases are built (a temporary directory inside
    /// it, removed at the end).
    pub work_dir: PathBuf,
    /// How to generate.
    pub generator: Generator,
    /// Regenerate even when a cached dataset exists.
    pub regenerate: bool,
    /// The command that reproduces the report (printed in it).
    pub command: String,
}

/// Why the benchmark stopped.
#[derive(Debug)]
pub struct BenchError(pub String);

impl std::fmt::Display for BenchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BenchError {}

macro_rules! impl_from {
    ($($t:ty),*) => {$(
        impl From<$t> for BenchError {
            fn from(e: $t) -> Self {
                BenchError(e.to_string())
            }
        }
    )*};
}
impl_from!(
    rusqlite::Error,
    std::io::Error,
    store_core::CommandError,
    store_core::OpenError,
    store_core::ApplyError,
    store_core::generate::GenerateError
);

type Result<T> = std::result::Result<T, BenchError>;

fn err(msg: impl Into<String>) -> BenchError {
    BenchError(msg.into())
}

/// The identity the datasets are generated with and the engine runs as.
pub fn identity() -> ReplicaIdentity {
    ReplicaIdentity {
        replica_id: "T1".into(),
        branch_id: "B1".into(),
        branch_code: "B1".into(),
        terminal_code: "T1".into(),
    }
}

// ---------------------------------------------------------------- statistics

/// Timings of one operation on one design.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stats {
    /// Milliseconds per run, in the order they ran.
    pub samples: Vec<f64>,
    /// Set when a run was cut short and its time extrapolated: what share
    /// of it ran.
    pub extrapolated: Option<String>,
}

impl Stats {
    /// The `q` quantile (nearest rank), in ms.
    pub fn quantile(&self, q: f64) -> f64 {
        if self.samples.is_empty() {
            return f64::NAN;
        }
        let mut s = self.samples.clone();
        s.sort_by(f64::total_cmp);
        let rank = ((q * s.len() as f64).ceil() as usize).clamp(1, s.len());
        s[rank - 1]
    }
    /// Median, ms.
    pub fn p50(&self) -> f64 {
        self.quantile(0.50)
    }
    /// 95th percentile, ms.
    pub fn p95(&self) -> f64 {
        self.quantile(0.95)
    }
    /// 99th percentile, ms.
    pub fn p99(&self) -> f64 {
        self.quantile(0.99)
    }
    /// Operations per second (the inverse of the mean).
    pub fn throughput(&self) -> f64 {
        if self.samples.is_empty() {
            return f64::NAN;
        }
        let mean = self.samples.iter().sum::<f64>() / self.samples.len() as f64;
        1000.0 / mean
    }
}

/// How far a naive run got before its deadline.
enum Progress {
    Done,
    /// Cut short after `done` of its `total` per-row queries.
    Partial {
        done: usize,
        total: usize,
    },
}

struct Deadline(Option<Instant>);

impl Deadline {
    fn passed(&self) -> bool {
        self.0.is_some_and(|d| Instant::now() > d)
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Warm-up runs, then `iters` timed runs.
fn measure(warmup: usize, iters: usize, mut f: impl FnMut(usize) -> Result<()>) -> Result<Stats> {
    for i in 0..warmup {
        f(i)?;
    }
    let mut samples = Vec::with_capacity(iters);
    for i in 0..iters {
        let t = Instant::now();
        f(warmup + i)?;
        samples.push(ms(t.elapsed()));
    }
    Ok(Stats {
        samples,
        extrapolated: None,
    })
}

/// As [`measure`] for the naive design, within a time budget: iterations
/// stop once the budget is spent (at least one timed run), and a first run
/// that would not end within it is cut short and its time extrapolated
/// from the share of its per-row queries that ran.
fn measure_naive(
    warmup: usize,
    iters: usize,
    budget: Duration,
    mut f: impl FnMut(usize, &Deadline) -> Result<Progress>,
) -> Result<Stats> {
    let start = Instant::now();
    let mut stats = Stats::default();
    for i in 0..warmup + iters {
        // Only a run that must give the first sample may be cut short.
        let warming = i < warmup;
        let deadline = if stats.samples.is_empty() {
            Deadline(Some(start + budget))
        } else {
            Deadline(None)
        };
        let t = Instant::now();
        let p = f(i, &deadline)?;
        let took = ms(t.elapsed());
        match p {
            Progress::Done => {
                if !warming || start.elapsed() >= budget {
                    stats.samples.push(took);
                }
            }
            Progress::Partial { done, total } => {
                let share = done.max(1) as f64 / total.max(1) as f64;
                stats.samples.push(took / share);
                stats.extrapolated = Some(format!(
                    "cut after {done} of {total} per-row queries ({:.1} s), extrapolated",
                    took / 1000.0
                ));
                break;
            }
        }
        if start.elapsed() >= budget && !stats.samples.is_empty() {
            break;
        }
    }
    Ok(stats)
}

// ---------------------------------------------------------------- the report

/// A DESIGN.md §7 budget an engine figure is compared with.
#[derive(Debug, Clone, PartialEq)]
pub enum Budget {
    /// The engine's p95 must be at most this many ms.
    Ms {
        /// Limit, ms.
        limit: f64,
        /// Where it comes from.
        what: &'static str,
    },
    /// The engine's p95 must be at most this many times the floor's.
    FloorRatio {
        /// Limit.
        limit: f64,
    },
}

/// One operation measured on the three designs.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// What was measured.
    pub name: String,
    /// This engine.
    pub engine: Stats,
    /// Plain SQLite, same tables and indexes, no CRDT.
    pub floor: Stats,
    /// The seed's naive design.
    pub naive: Stats,
    /// The catalogue query (its `Request` name, `search_products`) or the
    /// command (its `Command` type, `sell`) this row measures.
    pub covers: &'static str,
    /// What DESIGN.md §7 asks of the engine here.
    pub budgets: Vec<Budget>,
}

impl Row {
    /// Engine p95 over floor p95.
    pub fn engine_ratio(&self) -> f64 {
        self.engine.p95() / self.floor.p95()
    }
    /// Naive p95 over floor p95.
    pub fn naive_ratio(&self) -> f64 {
        self.naive.p95() / self.floor.p95()
    }
    /// `Some(true)` when every budget holds, `None` without budget.
    pub fn within_budget(&self) -> Option<bool> {
        if self.budgets.is_empty() {
            return None;
        }
        Some(self.budgets.iter().all(|b| match b {
            Budget::Ms { limit, .. } => self.engine.p95() <= *limit,
            Budget::FloorRatio { limit } => self.engine_ratio() <= *limit,
        }))
    }
}

/// Sizes of the documents of one kind.
#[derive(Debug, Clone, PartialEq)]
pub struct DocSizes {
    /// `catalog`, `customers`, `journal` or `workshop`.
    pub kind: String,
    /// Documents of this kind.
    pub documents: i64,
    /// Changes stored.
    pub changes: i64,
    /// Sum of the changes' bytes.
    pub change_bytes: i64,
    /// Sum of the snapshots' bytes.
    pub snapshot_bytes: i64,
    /// The largest document (changes + snapshot bytes).
    pub largest: String,
    /// Its changes not in its snapshot (applied at load).
    pub largest_pending: i64,
    /// Its bytes.
    pub largest_bytes: i64,
    /// Time to load it into memory (snapshot, then the changes after it).
    pub load: Stats,
}

/// A load time.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadRow {
    /// What was loaded.
    pub name: String,
    /// Timings.
    pub stats: Stats,
    /// Budget, if any.
    pub budget: Option<Budget>,
}

/// The machine the benchmark ran on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Machine {
    /// Logical CPUs (`/proc/cpuinfo`).
    pub cores: usize,
    /// CPU model.
    pub model: String,
    /// `MemTotal` of `/proc/meminfo`, KiB.
    pub memory_kib: u64,
}

impl Machine {
    /// Reads `/proc/cpuinfo` and `/proc/meminfo`.
    pub fn detect() -> Machine {
        let cpu = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cores = cpu.lines().filter(|l| l.starts_with("processor")).count();
        let model = cpu
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split(':').nth(1))
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|| "unknown CPU".into());
        let mem = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let memory_kib = mem
            .lines()
            .find(|l| l.starts_with("MemTotal:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        Machine {
            cores: cores.max(1),
            model,
            memory_kib,
        }
    }
}

/// The high-water mark of this process's resident memory (`VmHWM`), KiB.
pub fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// How the dataset was made.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Generation {
    /// The generator's own report.
    pub report: GenerateReport,
    /// Wall time.
    pub millis: u64,
    /// Peak resident memory of the generating process, KiB.
    pub peak_rss_kib: u64,
    /// Reused from the cache rather than generated by this run.
    pub reused: bool,
}

/// Everything one run measured.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// The command that reproduces it.
    pub command: String,
    /// Dataset name.
    pub size_name: String,
    /// Seed.
    pub seed: u64,
    /// Where it ran.
    pub machine: Machine,
    /// Row counts of the dataset, by table.
    pub counts: Vec<(String, i64)>,
    /// Size of the engine's database file, bytes.
    pub db_bytes: u64,
    /// How the dataset was made.
    pub generation: Generation,
    /// Reads.
    pub reads: Vec<Row>,
    /// Writes.
    pub writes: Vec<Row>,
    /// Documents by kind.
    pub docs: Vec<DocSizes>,
    /// Load times.
    pub loads: Vec<LoadRow>,
    /// Peak resident memory of the benchmark process, KiB.
    pub peak_rss_kib: u64,
    /// The same before the documents were loaded for the load times, KiB.
    pub peak_rss_before_loads_kib: u64,
    /// Wall time of the whole run, s.
    pub seconds: f64,
    /// One-minute load average of the machine at the start and at the end
    /// of the run (`/proc/loadavg`): other work distorts the timings.
    pub load_average: (f64, f64),
}

/// The machine's one-minute load average.
pub fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(f64::NAN)
}

/// Milliseconds for a report: three significant digits, seconds from 1 s.
pub fn fmt_ms(v: f64) -> String {
    if v.is_nan() {
        "n/a".into()
    } else if v >= 10_000.0 {
        format!("{:.0} s", v / 1000.0)
    } else if v >= 1000.0 {
        format!("{:.2} s", v / 1000.0)
    } else if v >= 100.0 {
        format!("{v:.0} ms")
    } else if v >= 10.0 {
        format!("{v:.1} ms")
    } else if v >= 1.0 {
        format!("{v:.2} ms")
    } else {
        format!("{v:.3} ms")
    }
}

fn fmt_rate(v: f64) -> String {
    if v.is_nan() {
        "n/a".into()
    } else if v >= 10_000.0 {
        format!("{:.0}k/s", v / 1000.0)
    } else if v >= 1000.0 {
        format!("{:.1}k/s", v / 1000.0)
    } else if v >= 10.0 {
        format!("{v:.0}/s")
    } else if v >= 0.1 {
        format!("{v:.2}/s")
    } else {
        format!("{v:.4}/s")
    }
}

fn fmt_ratio(v: f64) -> String {
    if !v.is_finite() {
        "n/a".into()
    } else if v >= 100.0 {
        format!("{v:.0}×")
    } else if v >= 10.0 {
        format!("{v:.1}×")
    } else {
        format!("{v:.2}×")
    }
}

fn fmt_bytes(b: i64) -> String {
    let b = b as f64;
    if b >= 1024.0 * 1024.0 * 1024.0 {
        format!("{:.2} GiB", b / (1024.0 * 1024.0 * 1024.0))
    } else if b >= 1024.0 * 1024.0 {
        format!("{:.1} MiB", b / (1024.0 * 1024.0))
    } else if b >= 1024.0 {
        format!("{:.1} KiB", b / 1024.0)
    } else {
        format!("{b:.0} B")
    }
}

fn fmt_count(n: i64) -> String {
    let s = n.abs().to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

/// One design's cell: `p50 / p95 / p99 (throughput)`, `~` when extrapolated.
pub fn cell(s: &Stats) -> String {
    let mark = if s.extrapolated.is_some() { "~" } else { "" };
    format!(
        "{mark}{} / {} / {} ({})",
        fmt_ms(s.p50()),
        fmt_ms(s.p95()),
        fmt_ms(s.p99()),
        fmt_rate(s.throughput())
    )
}

fn budget_cell(row: &Row) -> String {
    if row.budgets.is_empty() {
        return "—".into();
    }
    row.budgets
        .iter()
        .map(|b| {
            let (ok, text) = match b {
                Budget::Ms { limit, what } => (
                    row.engine.p95() <= *limit,
                    format!("≤ {} {what}", fmt_ms(*limit)),
                ),
                Budget::FloorRatio { limit } => (
                    row.engine_ratio() <= *limit,
                    format!("≤ {limit}× floor (CRDT path)"),
                ),
            };
            format!("{} {text}", if ok { "✅" } else { "❌" })
        })
        .collect::<Vec<_>>()
        .join("<br>")
}

const TABLE_HEAD: &str = "| operation | engine p50 / p95 / p99 (throughput) | floor p50 / p95 / p99 (throughput) | naive p50 / p95 / p99 (throughput) | engine ÷ floor | naive ÷ floor | DESIGN.md §7 budget (engine p95) |\n|---|---|---|---|---|---|---|\n";

impl Report {
    /// The report as markdown (the README's performance section).
    pub fn markdown(&self) -> String {
        let mut s = String::new();
        let m = &self.machine;
        let _ = writeln!(
            s,
            "Reproduce with `{}` (release build; it rewrites this section). \
             Machine: {} cores ({}), {:.1} GiB of memory; load average {:.1} at the start \
             of the run and {:.1} at its end (the benchmark accounts for about 1; more is \
             other work competing for the cores, which distorts the timings). Whole run: {:.0} s.\n",
            self.command,
            m.cores,
            m.model,
            m.memory_kib as f64 / (1024.0 * 1024.0),
            self.load_average.0,
            self.load_average.1,
            self.seconds
        );
        let count = |t: &str| {
            self.counts
                .iter()
                .find(|(n, _)| n == t)
                .map_or(0, |(_, c)| *c)
        };
        let g = &self.generation;
        let _ = writeln!(
            s,
            "**Dataset** `{}` (seed {}): {} products, {} customers, {} vehicles, {} invoices \
             with {} lines, {} stock movements, {} payments, {} ledger entries, {} service \
             orders, {} shifts; a {} database. Generated through the real commands \
             (`store_core::generate`, batches of up to {} commands) in {:.0} s{}: {} commands in \
             {} batches, {} refused, generator peak memory {}{}.\n",
            self.size_name,
            self.seed,
            fmt_count(count("products")),
            fmt_count(count("customers")),
            fmt_count(count("vehicles")),
            fmt_count(count("invoices")),
            fmt_count(count("invoice_lines")),
            fmt_count(count("stock_movements")),
            fmt_count(count("payments")),
            fmt_count(count("ledger_entries")),
            fmt_count(count("service_orders")),
            fmt_count(count("shifts")),
            fmt_bytes(self.db_bytes as i64),
            store_core::MAX_BATCH,
            g.millis as f64 / 1000.0,
            // "Well under a minute" (issue 5), read as 45 s at most.
            match (self.size_name.as_str(), g.millis <= 45_000) {
                ("terminal", true) => {
                    " (✅ ≤ 45 s: the aim is well under a minute on 2 cores)"
                }
                ("terminal", false) => {
                    " (❌ > 45 s: the aim is well under a minute on 2 cores)"
                }
                _ => "",
            },
            fmt_count(g.report.commands as i64),
            fmt_count(g.report.batches as i64),
            g.report.refused,
            fmt_bytes(g.peak_rss_kib as i64 * 1024),
            if g.reused {
                " (measured when the dataset was generated; this run reused it)"
            } else {
                ""
            }
        );
        s.push_str(
            "**Designs**, measured in the same run on the same data: \
             *engine* is this product (reads through `store_core::query::Queries`, \
             writes through `Replica::execute`: validation, one automerge change, change and \
             projection in one durable transaction); *floor* is plain SQLite with the same \
             tables, indexes and triggers and no CRDT (the same SQL for reads; for writes the \
             same rows inserted directly in one transaction, WAL, `synchronous = FULL`); \
             *naive* is the steel-store plan's starting point: its schema with no index \
             beyond primary keys, one query per row, whole lists without pagination, SQLite \
             defaults (rollback journal, `synchronous = FULL`). Times are per operation; \
             ratios compare p95 (DESIGN.md §7 figures are p95); `~` marks a naive run cut \
             short and extrapolated from the share of its per-row queries that ran.\n\n",
        );
        s.push_str("#### Reads\n\n");
        s.push_str(TABLE_HEAD);
        for r in &self.reads {
            push_row(&mut s, r);
        }
        s.push_str("\n#### Writes\n\n");
        s.push_str(TABLE_HEAD);
        for r in &self.writes {
            push_row(&mut s, r);
        }
        if let Some(c) = self.writes.first() {
            let _ = writeln!(
                s,
                "\n**CRDT write overhead**: a durable checkout costs the engine {} at p95 against \
                 {} for the floor, {} (DESIGN.md §7 asks for 2× at most: {}); at p50, {} against \
                 {}, {}.",
                fmt_ms(c.engine.p95()),
                fmt_ms(c.floor.p95()),
                fmt_ratio(c.engine_ratio()),
                if c.engine_ratio() <= 2.0 {
                    "met"
                } else {
                    "not met"
                },
                fmt_ms(c.engine.p50()),
                fmt_ms(c.floor.p50()),
                fmt_ratio(c.engine.p50() / c.floor.p50()),
            );
        }
        s.push_str("\n#### Documents\n\n");
        s.push_str("| kind | documents | changes | change bytes | snapshot bytes | largest document | its load p50 / p95 |\n|---|---|---|---|---|---|---|\n");
        for d in &self.docs {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | `{}` ({}, {} changes after its snapshot) | {} / {} |",
                d.kind,
                fmt_count(d.documents),
                fmt_count(d.changes),
                fmt_bytes(d.change_bytes),
                fmt_bytes(d.snapshot_bytes),
                d.largest,
                fmt_bytes(d.largest_bytes),
                fmt_count(d.largest_pending),
                fmt_ms(d.load.p50()),
                fmt_ms(d.load.p95())
            );
        }
        s.push_str("\n#### Load\n\n| what | p50 | p95 | budget |\n|---|---|---|---|\n");
        for l in &self.loads {
            let budget = match &l.budget {
                Some(Budget::Ms { limit, what }) => format!(
                    "{} ≤ {} {what}",
                    if l.stats.p95() <= *limit {
                        "✅"
                    } else {
                        "❌"
                    },
                    fmt_ms(*limit)
                ),
                _ => "—".into(),
            };
            let _ = writeln!(
                s,
                "| {} | {} | {} | {budget} |",
                l.name,
                fmt_ms(l.stats.p50()),
                fmt_ms(l.stats.p95())
            );
        }
        let cut: Vec<&Row> = self
            .reads
            .iter()
            .chain(&self.writes)
            .filter(|r| r.naive.extrapolated.is_some())
            .collect();
        if !cut.is_empty() {
            s.push_str("\n**Naive runs cut short** (budget ");
            let _ = writeln!(s, "{} s per operation):", NAIVE_BUDGET.as_secs());
            for r in cut {
                let _ = writeln!(
                    s,
                    "- {}: {}.",
                    r.name,
                    r.naive.extrapolated.as_deref().unwrap_or("")
                );
            }
        }
        let _ = writeln!(
            s,
            "\n**Memory**: peak resident memory (VmHWM) of the benchmark process {} ({} before \
             the documents were loaded for the load times; both count the database pages \
             SQLite maps into memory, up to 256 MiB per connection), of the generator {}.",
            fmt_bytes(self.peak_rss_kib as i64 * 1024),
            fmt_bytes(self.peak_rss_before_loads_kib as i64 * 1024),
            fmt_bytes(g.peak_rss_kib as i64 * 1024)
        );
        s
    }
}

fn push_row(s: &mut String, r: &Row) {
    let _ = writeln!(
        s,
        "| {} | {} | {} | {} | {} | {} | {} |",
        r.name,
        cell(&r.engine),
        cell(&r.floor),
        cell(&r.naive),
        fmt_ratio(r.engine_ratio()),
        fmt_ratio(r.naive_ratio()),
        budget_cell(r)
    );
}

// ---------------------------------------------------------------- dataset

/// A digest of the engine's sources (`core/src` and `core/Cargo.toml`): a
/// cached dataset is reused only when they have not changed since it was
/// generated. `None` when the sources are not beside this crate.
pub fn source_digest() -> Option<String> {
    let core = Path::new(env!("CARGO_MANIFEST_DIR")).join("../core");
    let mut files = Vec::new();
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        if let Ok(rd) = std::fs::read_dir(dir) {
            for e in rd.flatten() {
                let p = e.path();
                if p.is_dir() {
                    walk(&p, out);
                } else {
                    out.push(p);
                }
            }
        }
    }
    walk(&core.join("src"), &mut files);
    files.push(core.join("Cargo.toml"));
    files.sort();
    if files.len() < 2 {
        return None;
    }
    let mut h = Sha256::new();
    for f in files {
        h.update(
            f.strip_prefix(&core)
                .unwrap_or(&f)
                .to_string_lossy()
                .as_bytes(),
        );
        h.update(std::fs::read(&f).ok()?);
    }
    Some(
        h.finalize()
            .iter()
            .take(6)
            .map(|b| format!("{b:02x}"))
            .collect(),
    )
}

fn write_generation(path: &Path, g: &Generation) -> Result<()> {
    let r = &g.report;
    std::fs::write(
        path,
        format!(
            "commands={}\nrefused={}\ninvoices={}\nservice_orders={}\nbatches={}\nmillis={}\npeak_rss_kib={}\n",
            r.commands,
            r.refused,
            r.invoices,
            r.service_orders,
            r.batches,
            g.millis,
            g.peak_rss_kib
        ),
    )?;
    Ok(())
}

/// Parses what [`write_generation`] wrote (also the `--generate` output).
pub fn parse_generation(text: &str) -> Option<Generation> {
    let kv: BTreeMap<&str, u64> = text
        .lines()
        .filter_map(|l| l.split_once('='))
        .filter_map(|(k, v)| Some((k.trim(), v.trim().parse().ok()?)))
        .collect();
    let get = |k: &str| kv.get(k).copied();
    Some(Generation {
        report: GenerateReport {
            commands: get("commands")? as usize,
            refused: get("refused")? as usize,
            invoices: get("invoices")? as usize,
            service_orders: get("service_orders")? as usize,
            batches: get("batches")? as usize,
        },
        millis: get("millis")?,
        peak_rss_kib: get("peak_rss_kib")?,
        reused: false,
    })
}

/// Generates `size` into a new file at `path` (the `--generate` mode of the
/// bench binary, and the in-process generator), and says how it went.
pub fn generate_dataset(path: &Path, size: &DatasetSize, seed: u64) -> Result<Generation> {
    for ext in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{ext}", path.display()));
    }
    let t = Instant::now();
    let report = generate_file(path, identity(), size, seed, END_MS)?;
    Ok(Generation {
        report,
        millis: t.elapsed().as_millis() as u64,
        peak_rss_kib: peak_rss_kib(),
        reused: false,
    })
}

/// Generates the server dataset (see `store_core::generate::generate_server`)
/// into `dir`, which must not hold one yet, and describes it in markdown:
/// time, what was generated and merged, file sizes, peak memory.
pub fn generate_server_dataset(
    dir: &Path,
    size: &NamedSize,
    branches: usize,
    seed: u64,
) -> Result<String> {
    std::fs::create_dir_all(dir)?;
    let t = Instant::now();
    let ds = store_core::generate::generate_server(
        dir,
        store_core::ReplicaIdentity {
            replica_id: "server".into(),
            branch_id: "HQ".into(),
            branch_code: "HQ".into(),
            terminal_code: "SRV".into(),
        },
        &size.size,
        branches,
        seed,
        END_MS,
    )?;
    let secs = t.elapsed().as_secs_f64();
    let len = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.len() as i64);
    let terminals: i64 = ds.terminals.iter().map(|p| len(p)).sum();
    let conn = rusqlite::Connection::open_with_flags(
        &ds.server,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )?;
    let count = |t: &str| -> rusqlite::Result<i64> {
        conn.query_row(&format!("SELECT count(*) FROM {t}"), [], |r| r.get(0))
    };
    let commands: usize = ds.reports.iter().map(|r| r.commands).sum();
    let refused: usize = ds.reports.iter().map(|r| r.refused).sum();
    Ok(format!(
        "**Server dataset** `{}` × {} branches (seed {seed}), generated with \
         `store_core::generate::generate_server` in {secs:.0} s on {}: {} commands on the \
         branches' terminals ({refused} refused), then {} changes merged into the server's \
         database. The server holds {} products, {} customers, {} invoices with {} lines, {} \
         stock movements and {} payments: {} ({} in the {} terminal databases). Peak memory \
         {}.\n",
        size.name,
        branches,
        {
            let m = Machine::detect();
            format!(
                "{} cores ({}), {:.1} GiB of memory",
                m.cores,
                m.model,
                m.memory_kib as f64 / (1024.0 * 1024.0)
            )
        },
        fmt_count(commands as i64),
        fmt_count(ds.changes_merged as i64),
        fmt_count(count("products")?),
        fmt_count(count("customers")?),
        fmt_count(count("invoices")?),
        fmt_count(count("invoice_lines")?),
        fmt_count(count("stock_movements")?),
        fmt_count(count("payments")?),
        fmt_bytes(len(&ds.server)),
        fmt_bytes(terminals),
        ds.terminals.len(),
        fmt_bytes(peak_rss_kib() as i64 * 1024),
    ))
}

/// Times every query of the catalogue on the server dataset's database
/// (`server.sqlite` in `dir`, from [`generate_server_dataset`]) as the back
/// office asks it: through `Request::run` on the server's replica, the
/// requests that name a branch naming `B01` and its terminal, the others
/// (sales report, top products, receivables...) over every branch. A
/// markdown table, p50/p95/p99 against DESIGN.md §7's 1 ms for a native
/// catalogue query.
pub fn server_queries_report(dir: &Path) -> Result<String> {
    use store_core::query::{Queries, Request};
    let path = dir.join("server.sqlite");
    let (plan, branches) = {
        let c = rusqlite::Connection::open_with_flags(
            &path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )?;
        let branches: i64 =
            c.query_row("SELECT count(DISTINCT branch_id) FROM invoices", [], |r| {
                r.get(0)
            })?;
        let plan = crate::queries::plan(
            &c,
            &crate::queries::Scope::Branch {
                branch: "B01".into(),
                terminal: "B01-T1".into(),
            },
        )
        .map_err(err)?;
        (plan, branches)
    };
    let me = {
        let c = rusqlite::Connection::open(&path)?;
        store_core::sync::stored_identity(&c)
            .map_err(|e| err(e.to_string()))?
            .ok_or_else(|| err("the server dataset has no identity"))?
    };
    let replica = Replica::open(
        &path,
        me,
        Box::new(store_core::SystemEnv),
        &OpenOptions::default(),
    )?;
    let mut s = format!(
        "| query (server, {branches} branches; a branch's queries ask for B01) | p50 / p95 / p99 (throughput) | DESIGN.md §7 budget (p95) |\n|---|---|---|\n",
    );
    for q in &plan {
        let req: Request = serde_json::from_value(q.request.clone())
            .map_err(|e| err(format!("{}: {e}", q.label)))?;
        let run = || {
            req.run(&Queries::new(replica.connection()))
                .map(|_| ())
                .map_err(|e| err(format!("{}: {e}", q.label)))
        };
        let t = Instant::now();
        run()?;
        // About a second per query, between 5 and 300 runs.
        let probe = t.elapsed().as_secs_f64().max(1e-6);
        let n = ((1.0 / probe) as usize).clamp(5, 300);
        let mut stats = Stats::default();
        for _ in 0..n {
            let t = Instant::now();
            run()?;
            stats.samples.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        let verdict = if stats.p95() <= 1.0 { "✅" } else { "❌" };
        let _ = writeln!(
            s,
            "| {} | {} | {verdict} ≤ 1.00 ms native catalogue query |",
            q.label,
            cell(&stats)
        );
    }
    Ok(s)
}

/// Prints a generation's summary in the format [`parse_generation`] reads.
pub fn generation_text(g: &Generation) -> String {
    let r = &g.report;
    format!(
        "commands={}\nrefused={}\ninvoices={}\nservice_orders={}\nbatches={}\nmillis={}\npeak_rss_kib={}\n",
        r.commands, r.refused, r.invoices, r.service_orders, r.batches, g.millis, g.peak_rss_kib
    )
}

/// The dataset file: from the cache when it is there and current,
/// otherwise generated (into the cache when there is one).
fn dataset(opts: &Options, work: &Path) -> Result<(PathBuf, Generation)> {
    let digest = source_digest();
    let cached = match (&opts.cache_dir, &digest) {
        (Some(dir), Some(d)) => {
            std::fs::create_dir_all(dir)?;
            Some(dir.join(format!("{}-{}-{d}.sqlite", opts.size.name, opts.seed)))
        }
        _ => None,
    };
    let path = cached
        .clone()
        .unwrap_or_else(|| work.join("dataset.sqlite"));
    let meta = path.with_extension("generation");
    if !opts.regenerate
        && cached.is_some()
        && path.exists()
        && let Some(mut g) = std::fs::read_to_string(&meta)
            .ok()
            .and_then(|t| parse_generation(&t))
    {
        g.reused = true;
        return Ok((path, g));
    }
    let _ = std::fs::remove_file(&meta);
    let g = match &opts.generator {
        Generator::InProcess => generate_dataset(&path, &opts.size.size, opts.seed)?,
        Generator::Subprocess(exe) => {
            let t = Instant::now();
            let out = std::process::Command::new(exe)
                .arg("--generate")
                .arg(&path)
                .args(["--size", opts.size.name, "--seed", &opts.seed.to_string()])
                .stderr(std::process::Stdio::inherit())
                .output()?;
            if !out.status.success() {
                return Err(err(format!("the generator failed: {}", out.status)));
            }
            let mut g = parse_generation(&String::from_utf8_lossy(&out.stdout))
                .ok_or_else(|| err("the generator's output is unreadable"))?;
            g.millis = t.elapsed().as_millis() as u64;
            g
        }
    };
    write_generation(&meta, &g)?;
    Ok((path, g))
}

/// Copies a closed database file (checkpointed, so the main file is whole).
fn copy_db(from: &Path, to: &Path) -> Result<()> {
    {
        let c = Connection::open(from)?;
        c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    }
    std::fs::copy(from, to)?;
    Ok(())
}

const ENGINE_PRAGMAS: &str = "PRAGMA foreign_keys = ON;
     PRAGMA busy_timeout = 5000;
     PRAGMA cache_size = -40000;
     PRAGMA temp_store = MEMORY;
     PRAGMA mmap_size = 268435456;
     PRAGMA synchronous = FULL;";

/// The floor: the engine's tables without the documents, opened with the
/// engine's pragmas.
fn build_floor(dataset: &Path, path: &Path) -> Result<Connection> {
    copy_db(dataset, path)?;
    let c = Connection::open(path)?;
    c.set_prepared_statement_cache_capacity(256);
    // As the engine's connection: without the planner stability guarantee
    // SQLite re-prepares a cached statement whenever its plan could depend
    // on the values bound, and the floor would time a re-parse the engine
    // does not do.
    c.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )?;
    c.execute_batch(
        "DROP TABLE doc_changes; DROP TABLE doc_snapshots; DROP TABLE documents; VACUUM;",
    )?;
    c.execute_batch(ENGINE_PRAGMAS)?;
    let _mode: String = c.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    Ok(c)
}

/// The steel-store plan's starting schema: stock and balances stored on
/// products and customers, no index beyond primary keys.
const NAIVE_SCHEMA: &str = "
CREATE TABLE customers (id TEXT PRIMARY KEY, name TEXT NOT NULL, phone TEXT, address TEXT,
    credit_limit INTEGER NOT NULL, balance INTEGER NOT NULL, created_at INTEGER NOT NULL);
CREATE TABLE products (id TEXT PRIMARY KEY, sku TEXT NOT NULL, barcode TEXT, name TEXT NOT NULL,
    category TEXT NOT NULL, grade TEXT, unit TEXT NOT NULL, price INTEGER NOT NULL,
    cost INTEGER NOT NULL, current_stock INTEGER NOT NULL, min_stock_alert INTEGER NOT NULL,
    status TEXT NOT NULL);
CREATE TABLE payment_channels (id TEXT PRIMARY KEY, name TEXT NOT NULL, is_cash INTEGER NOT NULL);
CREATE TABLE invoices (id TEXT PRIMARY KEY, bill_number TEXT NOT NULL, customer_id TEXT,
    branch_id TEXT NOT NULL, date INTEGER NOT NULL, day TEXT NOT NULL, subtotal INTEGER NOT NULL,
    discount INTEGER NOT NULL, tax INTEGER NOT NULL, total INTEGER NOT NULL,
    paid_amount INTEGER NOT NULL, returned_amount INTEGER NOT NULL,
    remaining_balance INTEGER NOT NULL, status TEXT NOT NULL);
CREATE TABLE invoice_items (id INTEGER PRIMARY KEY, invoice_id TEXT NOT NULL, line_no INTEGER NOT NULL,
    product_id TEXT, description TEXT NOT NULL, quantity INTEGER NOT NULL,
    unit_price INTEGER NOT NULL, discount INTEGER NOT NULL, tax INTEGER NOT NULL,
    total INTEGER NOT NULL, cost INTEGER NOT NULL);
CREATE TABLE payments (id TEXT PRIMARY KEY, customer_id TEXT, reference_invoice_id TEXT,
    shift_id TEXT, amount INTEGER NOT NULL, payment_channel_id TEXT NOT NULL,
    payment_type TEXT NOT NULL, date INTEGER NOT NULL, day TEXT NOT NULL);
CREATE TABLE returns (id TEXT PRIMARY KEY, invoice_id TEXT NOT NULL, customer_id TEXT,
    branch_id TEXT NOT NULL, date INTEGER NOT NULL, day TEXT NOT NULL, total INTEGER NOT NULL);
CREATE TABLE stock_movements (id TEXT PRIMARY KEY, product_id TEXT NOT NULL,
    quantity INTEGER NOT NULL, movement_type TEXT NOT NULL, reference_type TEXT NOT NULL,
    reference_id TEXT NOT NULL, customer_id TEXT, date INTEGER NOT NULL);
CREATE TABLE ledger_entries (id TEXT PRIMARY KEY, customer_id TEXT NOT NULL, date INTEGER NOT NULL,
    type TEXT NOT NULL, category TEXT NOT NULL, amount INTEGER NOT NULL,
    reference_type TEXT NOT NULL, reference_id TEXT NOT NULL);
CREATE TABLE shifts (id TEXT PRIMARY KEY, terminal_id TEXT NOT NULL, branch_id TEXT NOT NULL,
    user_id TEXT NOT NULL, opened_at INTEGER NOT NULL, opening_float INTEGER NOT NULL,
    closed_at INTEGER);
CREATE TABLE shift_counts (id INTEGER PRIMARY KEY, shift_id TEXT NOT NULL, channel TEXT NOT NULL,
    counted INTEGER NOT NULL);
CREATE TABLE technicians (id TEXT PRIMARY KEY, branch_id TEXT NOT NULL, name TEXT NOT NULL);
CREATE TABLE vehicles (id TEXT PRIMARY KEY, customer_id TEXT NOT NULL, plate TEXT NOT NULL,
    make TEXT NOT NULL, model TEXT NOT NULL, year INTEGER);
CREATE TABLE service_orders (id TEXT PRIMARY KEY, number TEXT NOT NULL, customer_id TEXT NOT NULL,
    vehicle_id TEXT NOT NULL, branch_id TEXT NOT NULL, status TEXT NOT NULL,
    service_date TEXT NOT NULL, technician_assigned TEXT, complaint TEXT NOT NULL,
    odometer INTEGER, invoice_id TEXT, updated_at INTEGER NOT NULL);
CREATE TABLE service_order_labour (id INTEGER PRIMARY KEY, order_id TEXT NOT NULL,
    service_id TEXT NOT NULL, description TEXT NOT NULL, technician_id TEXT,
    price INTEGER NOT NULL, duration_min INTEGER NOT NULL);
CREATE TABLE service_order_parts (id INTEGER PRIMARY KEY, order_id TEXT NOT NULL,
    product_id TEXT NOT NULL, quantity INTEGER NOT NULL, unit_price INTEGER NOT NULL,
    date INTEGER NOT NULL);
CREATE TABLE services (id TEXT PRIMARY KEY, code TEXT NOT NULL, name TEXT NOT NULL,
    labour_price INTEGER NOT NULL, duration_min INTEGER NOT NULL, active INTEGER NOT NULL);
CREATE TABLE return_items (id INTEGER PRIMARY KEY, return_id TEXT NOT NULL, line_no INTEGER NOT NULL,
    product_id TEXT, quantity INTEGER NOT NULL, amount INTEGER NOT NULL);
CREATE TABLE branches (id TEXT PRIMARY KEY, code TEXT NOT NULL, name TEXT NOT NULL);
";

/// Loads the engine's data into the naive schema, rows in the order they
/// happened (as the naive system would have written them).
const NAIVE_LOAD: &str = "
INSERT INTO customers SELECT c.id, c.name, c.phone_wanted, c.address, c.credit_limit,
    coalesce(b.balance, 0), c.created_at
    FROM e.customers c LEFT JOIN e.customer_balances b ON b.customer_id = c.id ORDER BY c.created_at;
INSERT INTO products SELECT p.id, p.sku_wanted, p.barcode_wanted, p.name, p.category, p.grade, p.unit,
    p.price, p.cost, coalesce(s.qty, 0), p.min_stock, p.status
    FROM e.products p LEFT JOIN e.stock_levels s ON s.product_id = p.id AND s.branch_id = :branch
    ORDER BY p.rid;
INSERT INTO payment_channels SELECT code, name, is_cash FROM e.payment_channels;
INSERT INTO invoices SELECT id, coalesce(bill_no, bill_no_wanted), customer_id, branch_id, at, day,
    subtotal, discount, tax, total, paid, returned, remaining, status FROM e.invoices ORDER BY at, seq;
INSERT INTO invoice_items(invoice_id, line_no, product_id, description, quantity, unit_price,
    discount, tax, total, cost)
    SELECT l.invoice_id, l.line_no, l.product_id, l.description, l.qty, l.unit_price, l.discount,
           l.tax, l.total, l.cost
    FROM e.invoice_lines l JOIN e.invoices i ON i.id = l.invoice_id ORDER BY i.at, i.seq, l.line_no;
INSERT INTO payments SELECT id, customer_id, invoice_id, shift_id, amount, channel, kind, at, day
    FROM e.payments ORDER BY at;
INSERT INTO returns SELECT id, invoice_id, customer_id, branch_id, at, day, total FROM e.returns ORDER BY at;
INSERT INTO stock_movements SELECT id, product_id, qty, kind, ref_kind, ref_id, customer_id, at
    FROM e.stock_movements ORDER BY at;
INSERT INTO ledger_entries SELECT id, customer_id, at,
    CASE WHEN debit > 0 THEN 'debit' ELSE 'credit' END, category, debit + credit, ref_kind, ref_id
    FROM e.ledger_entries ORDER BY at;
INSERT INTO shifts SELECT id, terminal_id, branch_id, user_id, opened_at, opening_float, closed_at
    FROM e.shifts ORDER BY opened_at;
INSERT INTO shift_counts(shift_id, channel, counted) SELECT shift_id, channel, counted FROM e.shift_counts;
INSERT INTO technicians SELECT id, branch_id, name FROM e.technicians;
INSERT INTO vehicles SELECT id, customer_id, plate, make, model, year FROM e.vehicles ORDER BY created_at;
INSERT INTO service_orders SELECT id, number, customer_id, vehicle_id, branch_id, status,
    scheduled_date, technician_id, complaint, odometer, invoice_id, updated_at
    FROM e.service_orders ORDER BY created_at;
INSERT INTO service_order_labour(order_id, service_id, description, technician_id, price, duration_min)
    SELECT order_id, service_id, description, technician_id, price, duration_min
    FROM e.service_order_labour;
INSERT INTO service_order_parts(order_id, product_id, quantity, unit_price, date)
    SELECT order_id, product_id, qty, unit_price, at FROM e.service_order_parts ORDER BY at;
INSERT INTO services SELECT id, code, name, labour_price, duration_min, active FROM e.services;
INSERT INTO return_items(return_id, line_no, product_id, quantity, amount)
    SELECT return_id, invoice_line_no, product_id, qty, amount FROM e.return_lines;
INSERT INTO branches SELECT id, code_wanted, name FROM e.branches;
";

fn build_naive(dataset: &Path, path: &Path, branch: &str) -> Result<Connection> {
    let c = Connection::open(path)?;
    c.execute_batch("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;")?;
    c.execute_batch(NAIVE_SCHEMA)?;
    c.execute("ATTACH DATABASE ?1 AS e", [dataset.to_string_lossy()])?;
    c.execute_batch("BEGIN")?;
    for stmt in NAIVE_LOAD
        .split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        let mut st = c.prepare(stmt)?;
        if st.parameter_count() > 0 {
            st.execute(rusqlite::named_params! {":branch": branch})?;
        } else {
            st.execute([])?;
        }
    }
    c.execute_batch("COMMIT; DETACH DATABASE e;")?;
    drop(c);
    // The plan's starting point: SQLite's defaults.
    let c = Connection::open(path)?;
    c.set_prepared_statement_cache_capacity(64);
    let _mode: String = c.query_row("PRAGMA journal_mode = DELETE", [], |r| r.get(0))?;
    c.execute_batch("PRAGMA synchronous = FULL;")?;
    Ok(c)
}

// ---------------------------------------------------------------- the run

/// What the operations run on: parameters picked from the data, the same
/// for every design, chosen as `crate::queries::plan` chooses them for the
/// browser benchmark so that the figures compare.
struct Picks {
    branch: String,
    /// The terminal the engine runs as (its open shift).
    terminal: String,
    search: String,
    barcode: String,
    /// The first three letters of the middle customer's name.
    customer_text: String,
    statement_customer: String,
    invoice: String,
    /// The bill number of `invoice`.
    bill_no: String,
    /// The vehicle with the most service orders, and its owner.
    vehicle: String,
    vehicle_owner: String,
    month_from: String,
    month_to: String,
    status: String,
    top_product: String,
    schedule_day: String,
    shift: String,
    as_of: i64,
    /// Products sold by the checkouts, with prices, costs and names.
    products: Vec<(String, i64, i64, String)>,
    /// Open invoices to take payments against: (invoice, customer).
    open_invoices: Vec<(String, Option<String>)>,
    /// Orders whose status toggles between in progress and waiting for parts.
    orders: Vec<(String, OrderStatus)>,
    /// Customers to edit and register vehicles for.
    customers: Vec<String>,
    /// Vehicles to book into the workshop: (vehicle, owner).
    vehicles: Vec<(String, String)>,
    /// Technicians and services of the workshop.
    technicians: Vec<String>,
    services: Vec<String>,
    /// Sales paid in full and never returned or voided: the first voided,
    /// the second returned from, one each per write.
    voidable: Vec<String>,
    returnable: Vec<String>,
}

fn one<T: rusqlite::types::FromSql>(c: &Connection, sql: &str) -> Result<T> {
    c.query_row(sql, [], |r| r.get(0))
        .map_err(|e| err(format!("{e}: {sql}")))
}

fn pick(c: &Connection) -> Result<Picks> {
    // The parameters of the reads are the ones every catalogue benchmark
    // picks, so that the figures compare with the browser's and the server's.
    let ch = crate::queries::choose(c, &crate::queries::Scope::Stored).map_err(err)?;
    let products = c
        .prepare(
            "SELECT id, price, cost, name FROM products WHERE status = 'active'
             ORDER BY rid LIMIT 200",
        )?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let open_invoices = c
        .prepare(
            "SELECT id, customer_id FROM invoices WHERE remaining >= 1000 AND voided = 0
             ORDER BY remaining DESC, id LIMIT 200",
        )?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let orders = c
        .prepare(
            "SELECT id, status FROM service_orders WHERE status IN ('in_progress', 'waiting_parts')
             ORDER BY id LIMIT 300",
        )?
        .query_map([], |r| {
            let s: String = r.get(1)?;
            Ok((
                r.get(0)?,
                OrderStatus::parse(&s).unwrap_or(OrderStatus::InProgress),
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let ids = |sql: &str| -> Result<Vec<String>> {
        Ok(c.prepare(sql)?
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?)
    };
    let customers = ids("SELECT id FROM customers ORDER BY id LIMIT 200")?;
    let technicians = ids("SELECT id FROM technicians WHERE active = 1 ORDER BY id")?;
    let services = ids("SELECT id FROM services WHERE active = 1 ORDER BY id")?;
    let vehicles = c
        .prepare("SELECT id, customer_id FROM vehicles ORDER BY id LIMIT 200")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let (mut voidable, mut returnable) = (Vec::new(), Vec::new());
    for (i, id) in ids(
        "SELECT id FROM invoices WHERE remaining = 0 AND voided = 0 AND returned = 0
           AND service_order_id IS NULL ORDER BY id LIMIT 2000",
    )?
    .into_iter()
    .enumerate()
    {
        let half = if i % 2 == 0 {
            &mut voidable
        } else {
            &mut returnable
        };
        half.push(id);
    }
    if products.len() < 5
        || open_invoices.is_empty()
        || orders.is_empty()
        || customers.is_empty()
        || vehicles.is_empty()
        || technicians.is_empty()
        || services.is_empty()
    {
        return Err(err(
            "the dataset is too small: it needs 5 products, an open invoice of 10.00, an order \
             in progress, a customer, a vehicle, a technician and a service",
        ));
    }
    Ok(Picks {
        branch: ch.branch,
        terminal: ch.terminal,
        search: ch.search,
        barcode: ch.barcode,
        customer_text: ch.customer_text,
        statement_customer: ch.customer,
        invoice: ch.invoice,
        bill_no: ch.bill_no,
        vehicle: ch.vehicle,
        vehicle_owner: ch.vehicle_owner,
        month_from: ch.from,
        month_to: ch.to,
        status: "paid".into(),
        top_product: ch.product,
        schedule_day: ch.day,
        shift: ch.shift,
        as_of: ch.as_of,
        products,
        open_invoices,
        orders,
        customers,
        vehicles,
        technicians,
        services,
        voidable,
        returnable,
    })
}

/// Every command type (`sell`, `take_payment`...), from serde's own list:
/// the write rows must cover them all.
pub fn command_types() -> std::collections::BTreeSet<String> {
    let e = serde_json::from_value::<Command>(serde_json::json!({"type": "__nope__"}))
        .expect_err("an unknown command")
        .to_string();
    e.split('`')
        .skip(1)
        .step_by(2)
        .filter(|s| *s != "__nope__")
        .map(str::to_string)
        .collect()
}

/// Scales an iteration count (at least 1).
fn n(opts: &Options, base: usize) -> usize {
    ((base as f64 * opts.iterations).round() as usize).max(1)
}

fn open_engine(path: &Path, synchronous_full: bool, seed: u64) -> Result<Replica> {
    Ok(Replica::open(
        path,
        identity(),
        Box::new(SeededEnv::new(seed, END_MS, 1_000)),
        &OpenOptions {
            synchronous_full,
            ..OpenOptions::default()
        },
    )?)
}

/// Runs the whole benchmark.
pub fn run(opts: &Options) -> Result<Report> {
    let started = Instant::now();
    let load_at_start = load_average();
    std::fs::create_dir_all(&opts.work_dir)?;
    let work = tempfile::Builder::new()
        .prefix("bench-")
        .tempdir_in(&opts.work_dir)?;
    eprintln!("bench: dataset {} (seed {})", opts.size.name, opts.seed);
    let (dataset_path, generation) = dataset(opts, work.path())?;
    eprintln!(
        "bench: dataset ready ({}, {:.0} s)",
        if generation.reused {
            "reused"
        } else {
            "generated"
        },
        generation.millis as f64 / 1000.0
    );
    let engine_path = work.path().join("engine.sqlite");
    copy_db(&dataset_path, &engine_path)?;
    let db_bytes = std::fs::metadata(&engine_path)?.len();
    let floor = build_floor(&dataset_path, &work.path().join("floor.sqlite"))?;
    let naive = build_naive(
        &engine_path,
        &work.path().join("naive.sqlite"),
        &identity().branch_id,
    )?;
    eprintln!("bench: floor and naive databases built");

    let mut counts = Vec::new();
    for t in [
        "products",
        "customers",
        "vehicles",
        "invoices",
        "invoice_lines",
        "stock_movements",
        "payments",
        "ledger_entries",
        "service_orders",
        "shifts",
    ] {
        counts.push((
            t.to_string(),
            one(&floor, &format!("SELECT count(*) FROM {t}"))?,
        ));
    }
    let picks = pick(&floor)?;
    check_same_data(&floor, &naive)?;

    let mut engine = open_engine(&engine_path, true, opts.seed ^ 0xBE7C)?;
    let reads = measure_reads(opts, &engine, &floor, &naive, &picks)?;
    eprintln!("bench: reads measured");
    let mut docs = doc_sizes(&engine)?;
    let writes = measure_writes(opts, &mut engine, &engine_path, &floor, &naive, &picks)?;
    eprintln!("bench: writes measured");
    drop(engine);
    let peak_rss_before_loads_kib = peak_rss_kib();
    for d in &mut docs {
        d.load = load_doc(opts, &engine_path, &d.largest)?;
    }
    let mut loads = measure_loads(opts, &engine_path, &picks)?;
    if let Some(j) = docs.iter().find(|d| d.kind == "journal") {
        loads.push(LoadRow {
            name: format!(
                "load the largest journal document (`{}`, {}, {} changes after its snapshot)",
                j.largest,
                fmt_bytes(j.largest_bytes),
                j.largest_pending
            ),
            stats: j.load.clone(),
            budget: None,
        });
    }
    Ok(Report {
        command: opts.command.clone(),
        size_name: opts.size.name.to_string(),
        seed: opts.seed,
        machine: Machine::detect(),
        counts,
        db_bytes,
        generation,
        reads,
        writes,
        docs,
        loads,
        peak_rss_kib: peak_rss_kib(),
        peak_rss_before_loads_kib,
        seconds: started.elapsed().as_secs_f64(),
        load_average: (load_at_start, load_average()),
    })
}

/// The three databases hold the same data (a guard against a broken load).
fn check_same_data(floor: &Connection, naive: &Connection) -> Result<()> {
    for (a, b) in [
        (
            "SELECT count(*), sum(total), sum(paid) FROM invoices",
            "SELECT count(*), sum(total), sum(paid_amount) FROM invoices",
        ),
        (
            "SELECT count(*), sum(qty) FROM stock_movements",
            "SELECT count(*), sum(quantity) FROM stock_movements",
        ),
        (
            "SELECT count(*), sum(debit) - sum(credit) FROM ledger_entries",
            "SELECT count(*), sum(CASE type WHEN 'debit' THEN amount ELSE -amount END) FROM ledger_entries",
        ),
        (
            "SELECT count(*), coalesce(sum(qty), 0) FROM service_order_parts",
            "SELECT count(*), coalesce(sum(quantity), 0) FROM service_order_parts",
        ),
        (
            "SELECT count(*), coalesce(sum(labour_price), 0) FROM services",
            "SELECT count(*), coalesce(sum(labour_price), 0) FROM services",
        ),
    ] {
        let x: (i64, i64) = floor.query_row(a, [], |r| Ok((r.get(0)?, r.get(1)?)))?;
        let y: (i64, i64) = naive.query_row(b, [], |r| Ok((r.get(0)?, r.get(1)?)))?;
        if x != y {
            return Err(err(format!(
                "naive data differs: {a} gave {x:?}, {b} gave {y:?}"
            )));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------- documents and loads

fn doc_sizes(engine: &Replica) -> Result<Vec<DocSizes>> {
    let c = engine.connection();
    let mut out = Vec::new();
    let kinds: Vec<String> = c
        .prepare("SELECT DISTINCT kind FROM documents ORDER BY kind")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for kind in kinds {
        let (documents, snapshot_bytes): (i64, i64) = c.query_row(
            "SELECT count(*), coalesce(sum(length(s.bytes)), 0)
             FROM documents d LEFT JOIN doc_snapshots s ON s.doc_id = d.doc_id WHERE d.kind = ?1",
            [&kind],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let (changes, change_bytes): (i64, i64) = c.query_row(
            "SELECT count(*), coalesce(sum(length(c.bytes)), 0) FROM doc_changes c
             JOIN documents d ON d.doc_id = c.doc_id WHERE d.kind = ?1",
            [&kind],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let (largest, largest_bytes, largest_pending): (String, i64, i64) = c.query_row(
            "SELECT d.doc_id,
                    coalesce((SELECT length(bytes) FROM doc_snapshots s WHERE s.doc_id = d.doc_id), 0)
                      + (SELECT coalesce(sum(length(bytes)), 0) FROM doc_changes c
                         WHERE c.doc_id = d.doc_id AND c.in_snapshot = 0),
                    (SELECT count(*) FROM doc_changes c WHERE c.doc_id = d.doc_id AND c.in_snapshot = 0)
             FROM documents d WHERE d.kind = ?1
             ORDER BY 2 DESC, 1 LIMIT 1",
            [&kind],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
        out.push(DocSizes {
            kind,
            documents,
            changes,
            change_bytes,
            snapshot_bytes,
            largest,
            largest_pending,
            largest_bytes,
            load: Stats::default(),
        });
    }
    Ok(out)
}

/// Time to load a document into memory (its snapshot, then the changes
/// after it), in a freshly opened replica each time (nothing cached; the
/// open itself is not timed).
fn load_doc(opts: &Options, path: &Path, doc_id: &str) -> Result<Stats> {
    let doc = DocId::parse(doc_id).map_err(|e| err(e.to_string()))?;
    let mut samples = Vec::new();
    for k in 0..n(opts, 5) + 1 {
        let mut r = open_engine(path, true, opts.seed ^ (0x10AD + k as u64))?;
        let t = Instant::now();
        if r.heads(&doc)?.is_empty() {
            return Err(err(format!("{doc} did not load")));
        }
        if k > 0 {
            samples.push(ms(t.elapsed()));
        }
    }
    Ok(Stats {
        samples,
        extrapolated: None,
    })
}

fn measure_loads(opts: &Options, path: &Path, p: &Picks) -> Result<Vec<LoadRow>> {
    let k = n(opts, 20);
    let open_first = measure(2, k, |i| {
        let r = open_engine(path, true, opts.seed ^ (0x30AD + i as u64))?;
        Queries::new(r.connection())
            .product_by_barcode(&p.barcode, &p.branch)?
            .ok_or_else(|| err("barcode not found"))?;
        Ok(())
    })?;
    let first_sale = measure(1, n(opts, 5), |i| {
        let mut r = open_engine(path, true, opts.seed ^ (0x40AD + i as u64))?;
        r.execute(
            "bench",
            &Command::Sell {
                customer_id: None,
                lines: vec![SaleLine {
                    product_id: p.products[0].0.clone(),
                    qty: 1000,
                    unit_price: None,
                    discount: 0,
                    tax_rate_bp: 0,
                }],
                payments: vec![Tender {
                    channel: "cash".into(),
                    amount: line_amounts(1000, p.products[0].1).0,
                }],
                allow_negative_stock: true,
                allow_over_credit_limit: false,
            },
        )?;
        Ok(())
    })?;
    Ok(vec![
        LoadRow {
            name: "open the database and answer the first query (barcode lookup)".into(),
            stats: open_first,
            budget: Some(Budget::Ms {
                limit: 300.0,
                what: "(browser budget)",
            }),
        },
        LoadRow {
            name: "open the database and make the first sale (loads this month's journal)".into(),
            stats: first_sale,
            budget: None,
        },
    ])
}

/// Replaces what is between `<!-- bench:start -->` and `<!-- bench:end -->`
/// in `text` with `section`. `None` when the markers are missing.
pub fn replace_section(text: &str, section: &str) -> Option<String> {
    const START: &str = "<!-- bench:start -->";
    const END: &str = "<!-- bench:end -->";
    let a = text.find(START)? + START.len();
    let b = a + text[a..].find(END)?;
    Some(format!(
        "{}\n{}\n{}",
        &text[..a],
        section.trim_end(),
        &text[b..]
    ))
}
