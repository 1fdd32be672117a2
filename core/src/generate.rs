//! A deterministic, seeded dataset generator with realistic shapes.
//!
//! It drives a replica through real [`Command`]s, so generated data takes the
//! same write path as a cashier: validation, documents, projection. Shapes:
//! product popularity is skewed (a few products make most sales, and most
//! deliveries), a share of customers buy on credit and pay back over time,
//! often in parts, a small share of cash sales is returned or voided,
//! suppliers deliver all along, a shift is opened and closed every day, and
//! workshop orders walk through their statuses (some stop on the way, a few
//! are cancelled) before they are invoiced and paid.
//!
//! # Batches
//!
//! Commands are accumulated and run with [`Replica::execute_batch`]: one
//! SQLite transaction and one automerge change per document touched per
//! batch, at most [`MAX_BATCH`] commands and about [`BATCH_LINES`] lines
//! (sale, delivery and return lines) each, so a change stays far below
//! [`MAX_CHANGE_BYTES`](crate::MAX_CHANGE_BYTES). Inside a batch every
//! command is validated against what the commands before it did, so a
//! batch can open a shift and sell in it; a command that needs an id only
//! the engine knows (a payment against a credit invoice, a return, the next
//! step of a service order) goes into a later batch, built from the results
//! of the earlier one.
//!
//! The whole generation is a bulk load ([`Replica::begin_bulk`]): the
//! batches share a SQLite transaction, and it is rolled back if generation
//! fails. Into a new database ([`generate_file`]), which is removed if
//! generation fails, the rows are committed every [`BULK_BATCHES`] batches
//! instead. Each batch is still the engine's ordinary write path
//! (validation, one automerge change per document, projection); only the
//! commits are fewer.
//!
//! The period is cut into [`SLOTS_PER_DAY`] slots a day and each slot is one
//! batch, so with a clock that advances by one step per batch (as
//! [`generate_file`]'s does) all the commands of a slot share one time, and
//! the slots spread evenly over the days. The catalogue and the customers
//! are created in the batches just before the period starts.
//!
//! The generator keeps what it needs in memory (prices, ids, what each
//! credit customer owes) so it never asks the engine for a refusal: a credit
//! sale that would pass the customer's limit is paid at the counter instead.
//!
//! The same seed and size give the same commands in the same order and the
//! same batches; with a [`SeededEnv`](crate::SeededEnv) (as [`generate_file`]
//! uses) the same data byte for byte.
//!
//! # Datasets
//!
//! [`generate_file`] makes one terminal's database (the terminal dataset of
//! DESIGN.md §7 with [`DatasetSize::TERMINAL`]); [`generate_server`] makes
//! the server dataset: [`SERVER_BRANCHES`] branches that share one
//! catalogue and one set of customers, each with a terminal's worth of
//! activity, merged into a server database as sync merges them.

use std::collections::BTreeMap;
use std::path::Path;

use crate::commands::{Command, Outcome, ReturnLineInput, SaleLine, StockLineInput, Tender};
use crate::document::DocId;
use crate::domain::{Money, ONE, OrderStatus, PaymentKind};
use crate::error::{CommandError, OpenError};
use crate::replica::{MAX_BATCH, OpenOptions, Replica, ReplicaIdentity, SeededEnv};

/// Slots (batches of activity) per day of the period.
pub const SLOTS_PER_DAY: i64 = 4;

/// About how many lines (sale, delivery and return lines) one batch carries
/// at most; a command alone in its batch may carry more.
pub const BATCH_LINES: usize = 4000;

/// Batches per SQLite transaction (see [`Replica::commit_bulk_rows`]): a
/// transaction this size holds about two weeks of activity, and its dirty
/// pages (about a hundred megabytes) still fit in the bulk load's page
/// cache. These commits do not wait for the document thread: the setup's
/// catalogue is mostly automerge work and the sales mostly SQLite work,
/// so the thread falls behind by seconds during the setup and catches up
/// during the sales. Committing with `commit_bulk`, which waits, the
/// first commit waited 5.2 s for it. (Tests commit more often, so that
/// their small datasets commit too.)
const BULK_BATCHES: usize = if cfg!(test) { 16 } else { 128 };

/// Customers created per batch during setup (their vehicles follow in the
/// next batch, which needs their ids).
const CUSTOMERS_PER_BATCH: usize = 300;

/// Lines of one opening-stock delivery.
const OPENING_LINES: usize = 200;

const DAY_MS: i64 = 86_400_000;

/// A credit invoice is paid (in full or half of what is due) with a chance
/// of one in this many per slot: about every two weeks...
const PAYER: u64 = 60;
/// ...or every four months for a slow payer.
const SLOW_PAYER: u64 = 500;

/// The user every generated command runs as.
const USER: &str = "demo";

/// How much data to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DatasetSize {
    /// Catalogue products.
    pub products: usize,
    /// Customers (every other one with a vehicle when there are service orders).
    pub customers: usize,
    /// Sales (invoices) over the period.
    pub sales: usize,
    /// Most lines on one sale: a sale has 1 to this many lines, evenly, so
    /// `(1 + max_sale_lines) / 2` on average.
    pub max_sale_lines: usize,
    /// Lines delivered by suppliers over the period, in deliveries of up to
    /// [`MAX_LINES`](crate::MAX_LINES) lines, on top of the opening stock
    /// (one line per product).
    pub delivery_lines: usize,
    /// Workshop service orders over the period.
    pub service_orders: usize,
    /// Length of the period, in days, ending at the generation end time.
    pub days: i64,
}

impl DatasetSize {
    /// A small store for the demo and tests: generates in a few seconds.
    pub const DEMO: DatasetSize = DatasetSize {
        products: 300,
        customers: 150,
        sales: 1500,
        max_sale_lines: 5,
        delivery_lines: 400,
        service_orders: 80,
        days: 60,
    };

    /// One terminal (branch) at the scale of DESIGN.md §7: 50k products,
    /// 20k customers, 100k invoices with ~500k lines and ~1M stock movements
    /// (sales, deliveries, opening stock, returns, voids, parts) over a
    /// year, and a few thousand workshop orders.
    pub const TERMINAL: DatasetSize = DatasetSize {
        products: 50_000,
        customers: 20_000,
        sales: 100_000,
        max_sale_lines: 9,
        delivery_lines: 440_000,
        service_orders: 4_000,
        days: 365,
    };

    /// One branch of the server dataset of DESIGN.md §7, which holds 20
    /// branches of [`DatasetSize::TERMINAL`] (their shared catalogue and
    /// customers once, and every branch's sales): [`generate_server`] with
    /// [`SERVER_BRANCHES`] branches of this size.
    pub const SERVER: DatasetSize = DatasetSize::TERMINAL;

    /// Stock movements this size produces, roughly: opening stock, sale
    /// lines, deliveries, returns, voids and parts used.
    pub fn approx_stock_movements(&self) -> usize {
        self.products
            + self.sales * (1 + self.max_sale_lines) / 2
            + self.delivery_lines
            + self.sales * 3 / 100
            + self.service_orders
    }

    fn slots(&self) -> usize {
        (self.days.max(1) * SLOTS_PER_DAY) as usize
    }

    /// Batches run before the first slot of the period: catalogue,
    /// customers and vehicles, opening stock.
    fn setup_batches(&self) -> usize {
        1 + self.products.div_ceil(MAX_BATCH)
            + self.customers.div_ceil(CUSTOMERS_PER_BATCH)
            + 1
            + self.products.div_ceil(BATCH_LINES)
    }
}

/// Branches of the server dataset (DESIGN.md §7).
pub const SERVER_BRANCHES: usize = 20;

/// What was generated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GenerateReport {
    /// Commands that succeeded.
    pub commands: usize,
    /// Commands the engine refused (the generator avoids them: expected 0).
    pub refused: usize,
    /// Invoices created (sales and invoiced service orders).
    pub invoices: usize,
    /// Service orders created.
    pub service_orders: usize,
    /// Calls to [`Replica::execute_batch`].
    pub batches: usize,
}

/// Why generation stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GenerateError {
    /// The database could not be opened.
    #[error(transparent)]
    Open(#[from] OpenError),
    /// A command that must succeed (catalogue setup) failed, or storage failed.
    #[error("generation failed: {0}")]
    Command(#[from] CommandError),
}

struct Rng(SeededEnv);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        (self.0.next_u64() % n.max(1) as u64) as usize
    }
    /// Skewed pick: index 0 is the most popular.
    fn skewed(&mut self, n: usize) -> usize {
        let u = (self.0.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        ((u * u * u) * n as f64) as usize % n.max(1)
    }
    fn one_in(&mut self, n: u64) -> bool {
        self.0.next_u64().is_multiple_of(n.max(1))
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.0.next_u64() % 100 < percent
    }
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.0.next_u64() % (hi - lo + 1) as u64) as i64
    }
}

const CATEGORIES: &[(&str, &str, &[&str])] = &[
    ("rebar", "kg", &["B500", "B420"]),
    ("sheet", "sheet", &["S235", "S355", "galvanised"]),
    ("pipe", "metre", &["ERW", "seamless"]),
    ("angle", "metre", &["S235"]),
    ("wire", "kg", &["annealed", "galvanised"]),
    ("fasteners", "piece", &["8.8", "10.9"]),
    ("oil", "piece", &["5W-30", "10W-40"]),
    ("filters", "piece", &["oil", "air"]),
    ("brakes", "piece", &["front", "rear"]),
];

/// Second and third words of a product name, so that a large catalogue has
/// distinct names (40 sizes x 25 variants x 8 makers per category).
const VARIANTS: &[&str] = &[
    "6m", "12m", "black", "galv", "heavy", "light", "std", "pro", "coil", "bundle", "cut", "long",
    "short", "HD", "eco", "plus", "A", "B", "C", "D", "slim", "wide", "zinc", "primed", "raw",
];
const MAKERS: &[&str] = &[
    "Sabic", "Hadeed", "Rajhi", "Zamil", "Tata", "Posco", "Emirates", "Conares",
];

const FIRST: &[&str] = &[
    "Ahmed", "Sara", "Omar", "Lina", "Yusuf", "Maya", "Karim", "Nadia", "Ali", "Huda", "Samir",
    "Rania",
];
const LAST: &[&str] = &[
    "Haddad", "Khalil", "Mansour", "Nasser", "Saleh", "Aziz", "Farouk", "Jaber", "Qasim", "Rahman",
];
const MAKES: &[(&str, &str)] = &[
    ("Toyota", "Hilux"),
    ("Nissan", "Patrol"),
    ("Ford", "Ranger"),
    ("Hyundai", "Elantra"),
    ("Kia", "Sportage"),
    ("Mitsubishi", "L200"),
];
const CHANNELS: &[&str] = &[
    "cash", "cash", "cash", "card", "card", "bank", "wallet", "cheque",
];

/// The three technicians of a branch's workshop.
fn technician_commands(branch: &str) -> Vec<Command> {
    [
        ("Hassan", ["engine", "diagnostics"]),
        ("Tariq", ["brakes", "alignment"]),
        ("Walid", ["oil", "brakes"]),
    ]
    .into_iter()
    .map(|(name, skills)| Command::CreateTechnician {
        branch_id: Some(branch.to_string()),
        name: name.into(),
        skills: skills.iter().map(|s| s.to_string()).collect(),
    })
    .collect()
}

/// Generates a dataset into a new database file at `path`, with a seeded
/// clock that advances one step per batch: the period's slots spread evenly
/// over `size.days` days ending at `end_ms`, and the catalogue and customers
/// are created in the batches just before it.
///
/// Generation writes without a journal (see `generate_deferred`): if it
/// fails, a file it created is removed rather than left half written.
pub fn generate_file(
    path: &Path,
    me: ReplicaIdentity,
    size: &DatasetSize,
    seed: u64,
    end_ms: i64,
) -> Result<GenerateReport, GenerateError> {
    let created = !path.exists();
    let result = open_for_generation(path, me, size, seed, end_ms)
        .and_then(|mut replica| generate_deferred(&mut replica, size, seed, false));
    if result.is_err() && created {
        remove_database(path);
    }
    result
}

/// Removes a database file and whatever SQLite keeps beside it.
fn remove_database(path: &Path) {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        let _ = std::fs::remove_file(p);
    }
}

/// Opens a new database at `path` as [`generate_file`] generates into it.
fn open_for_generation(
    path: &Path,
    me: ReplicaIdentity,
    size: &DatasetSize,
    seed: u64,
    end_ms: i64,
) -> Result<Replica, GenerateError> {
    open_generating(path, me, size, seed, end_ms, true)
}

/// [`open_for_generation`], with or without the bulk load's document
/// thread ([`OpenOptions::bulk_pipeline`]).
fn open_generating(
    path: &Path,
    me: ReplicaIdentity,
    size: &DatasetSize,
    seed: u64,
    end_ms: i64,
    bulk_pipeline: bool,
) -> Result<Replica, GenerateError> {
    let span = size.days.max(1) * DAY_MS;
    let step = (span / size.slots() as i64).max(1);
    // One more step: opening the database reads the clock once.
    let before = (size.setup_batches() as i64 + 1) * step;
    let env = SeededEnv::new(seed ^ 0x5EED, end_ms - span - before, step);
    let options = OpenOptions {
        synchronous_full: false,
        bulk_pipeline,
        ..OpenOptions::default()
    };
    let replica = Replica::open(path, me, Box::new(env), &options)?;
    // A bulk load: a crash or a failure leaves a file to throw away and
    // generate again, so commits need not reach the disk and there is no
    // journal at all (a write-ahead log wrote every page twice: into the
    // log, then back at the checkpoint). The page cache holds the whole
    // terminal dataset: sales insert into indexes of a million rows, and a
    // smaller cache spilled dirty pages in the middle of transactions and
    // read them back. The database is back in WAL mode when generation
    // ends (see `generate_deferred`), and the engine's other settings
    // return with the next open.
    replica
        .connection()
        .execute_batch(
            "PRAGMA synchronous = OFF;
             PRAGMA cache_size = -786432;
             PRAGMA journal_mode = OFF;",
        )
        .map_err(|e| GenerateError::Command(CommandError::Storage(e.to_string())))?;
    Ok(replica)
}

/// What [`generate_server`] made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerDataset {
    /// The server's database: every branch's documents, merged.
    pub server: std::path::PathBuf,
    /// Each branch's terminal database, in branch order.
    pub terminals: Vec<std::path::PathBuf>,
    /// What each terminal's generation did, in branch order (the first one
    /// also created the shared catalogue and customers).
    pub reports: Vec<GenerateReport>,
    /// Changes the server merged.
    pub changes_merged: usize,
}

/// The identity of the terminal of branch `n` (1-based) in the server
/// dataset: replica `B01-T1` of branch `B01`, and so on.
pub fn server_terminal(n: usize) -> ReplicaIdentity {
    ReplicaIdentity {
        replica_id: format!("B{n:02}-T1"),
        branch_id: format!("B{n:02}"),
        branch_code: format!("B{n:02}"),
        terminal_code: "T1".into(),
    }
}

/// Generates the server dataset of DESIGN.md §7 in the folder `dir`:
/// `branches` branches ([`SERVER_BRANCHES`] at scale) of one terminal each,
/// every one with `size` worth of activity, sharing one catalogue and one
/// set of customers, merged into a server database as sync merges them.
///
/// The first terminal is generated as [`generate_file`] does (catalogue,
/// customers and its own activity). Every other terminal first receives the
/// shared documents (catalogue with payment channels and services, the
/// customer shards) through [`Replica::apply_changes`], as a new terminal
/// gets them on its first sync, then generates its own technicians and
/// activity with a seed of its own; these branches are generated side by
/// side, as many at once as there are cores. Last, a replica with the `server`
/// identity merges every document of every terminal. Each terminal's credit
/// customers stay within their limits as that terminal sees them; across
/// branches they may pass them, which the server's alerts then show, as they
/// would after branches sold offline.
///
/// Files: `dir/B01-T1.sqlite` ... and `dir/server.sqlite`; any of them
/// already there is an error. Deterministic for a seed.
pub fn generate_server(
    dir: &Path,
    server: ReplicaIdentity,
    size: &DatasetSize,
    branches: usize,
    seed: u64,
    end_ms: i64,
) -> Result<ServerDataset, GenerateError> {
    let storage = |e: String| GenerateError::Command(CommandError::Storage(e));
    let server_path = dir.join("server.sqlite");
    let terminals: Vec<std::path::PathBuf> = (1..=branches.max(1))
        .map(|n| dir.join(format!("{}.sqlite", server_terminal(n).replica_id)))
        .collect();
    for p in terminals.iter().chain([&server_path]) {
        if p.exists() {
            return Err(storage(format!("{} already exists", p.display())));
        }
    }
    let result = server_files(&server_path, &terminals, server, size, seed, end_ms);
    if result.is_err() {
        // Written without a journal: half-written files are of no use.
        for p in terminals.iter().chain([&server_path]) {
            remove_database(p);
        }
    }
    result
}

fn server_files(
    server_path: &Path,
    terminals: &[std::path::PathBuf],
    server: ReplicaIdentity,
    size: &DatasetSize,
    seed: u64,
    end_ms: i64,
) -> Result<ServerDataset, GenerateError> {
    let storage = |e: String| GenerateError::Command(CommandError::Storage(e));
    let mut reports = Vec::with_capacity(terminals.len());
    reports.push(generate_file(
        &terminals[0],
        server_terminal(1),
        size,
        seed,
        end_ms,
    )?);
    let reopen = |path: &Path, me: ReplicaIdentity| {
        Replica::open(
            path,
            me,
            Box::new(SeededEnv::new(seed, end_ms, 1)),
            &OpenOptions::default(),
        )
    };
    let mut first = reopen(&terminals[0], server_terminal(1))?;
    let shared: Vec<(DocId, Vec<Vec<u8>>)> = first
        .doc_ids()
        .map_err(|e| storage(e.to_string()))?
        .into_iter()
        .filter(|d| matches!(d, DocId::Catalog | DocId::Customers(_)))
        .map(|d| {
            let changes = first.changes_since(&d, &[]);
            changes.map(|c| (d, c))
        })
        .collect::<Result<_, _>>()
        .map_err(|e| storage(e.to_string()))?;
    drop(first);
    // The other branches only share what the first one made: each is
    // generated on its own, into its own file, with its own seed, so they
    // are generated side by side, one per core (the same files whichever
    // thread makes which).
    let branch = |i: usize| -> Result<GenerateReport, GenerateError> {
        let n = i + 1;
        let branch_seed = seed ^ (n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let mut replica =
            open_for_generation(&terminals[i], server_terminal(n), size, branch_seed, end_ms)?;
        for (doc, changes) in &shared {
            merge_all(&mut replica, doc, changes.clone())?;
        }
        generate_deferred(&mut replica, size, branch_seed, true)
    };
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(terminals.len().saturating_sub(1))
        .max(1);
    let next = std::sync::atomic::AtomicUsize::new(1);
    let failed = std::sync::atomic::AtomicBool::new(false);
    let mut done: Vec<(usize, Result<GenerateReport, GenerateError>)> =
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..workers)
                .map(|_| {
                    scope.spawn(|| {
                        let mut made = Vec::new();
                        loop {
                            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            if i >= terminals.len()
                                || failed.load(std::sync::atomic::Ordering::Relaxed)
                            {
                                return made;
                            }
                            let r = branch(i);
                            if r.is_err() {
                                // The others stop after their current branch.
                                failed.store(true, std::sync::atomic::Ordering::Relaxed);
                            }
                            made.push((i, r));
                        }
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().expect("a branch's generation panicked"))
                .collect()
        });
    done.sort_by_key(|(i, _)| *i);
    for (_, r) in done {
        reports.push(r?);
    }
    // The server merges every terminal's documents, each as one sync.
    let mut srv = open_for_generation(server_path, server, size, seed, end_ms)?;
    let deferred =
        crate::schema::defer_for_bulk_load(srv.connection()).map_err(|e| storage(e.to_string()))?;
    let mut changes_merged = 0;
    for (i, path) in terminals.iter().enumerate() {
        let mut t = reopen(path, server_terminal(i + 1))?;
        for doc in t.doc_ids().map_err(|e| storage(e.to_string()))? {
            let changes = t
                .changes_since(&doc, &[])
                .map_err(|e| storage(e.to_string()))?;
            changes_merged += merge_all(&mut srv, &doc, changes)?;
        }
    }
    finish_deferred(&mut srv, deferred)?;
    Ok(ServerDataset {
        server: server_path.to_path_buf(),
        terminals: terminals.to_vec(),
        reports,
        changes_merged,
    })
}

/// Applies `changes` to `doc` of `replica` in chunks; every change must be
/// accepted. Returns how many were new.
fn merge_all(
    replica: &mut Replica,
    doc: &DocId,
    changes: Vec<Vec<u8>>,
) -> Result<usize, GenerateError> {
    let storage = |e: String| GenerateError::Command(CommandError::Storage(e));
    let mut applied = 0;
    let mut changes = changes.into_iter().peekable();
    while changes.peek().is_some() {
        let chunk: Vec<Vec<u8>> = changes.by_ref().take(256).collect();
        let report = replica
            .apply_changes(doc, chunk)
            .map_err(|e| storage(e.to_string()))?;
        if !report.rejected.is_empty() {
            return Err(storage(format!(
                "{doc}: changes refused: {:?}",
                report.rejected
            )));
        }
        applied += report.stored;
        if changes.peek().is_none() && report.waiting > 0 {
            return Err(storage(format!(
                "{doc}: {} changes wait for changes that never came",
                report.waiting
            )));
        }
    }
    Ok(applied)
}

/// [`generate`] into a new database, with the indexes and totals no write
/// reads built once at the end instead of row by row (see
/// `schema::bulk`), and no journal until then. Nothing else may use the
/// database meanwhile, and if generation fails the file is left without
/// them, possibly half written: it is to be thrown away. With
/// `shared_catalogue`, the catalogue and customers are already in
/// `replica` (a branch of [`generate_server`]): only the branch's
/// technicians are created before its activity.
fn generate_deferred(
    replica: &mut Replica,
    size: &DatasetSize,
    seed: u64,
    shared_catalogue: bool,
) -> Result<GenerateReport, GenerateError> {
    let storage = |e: rusqlite::Error| GenerateError::Command(CommandError::Storage(e.to_string()));
    let deferred = crate::schema::defer_for_bulk_load(replica.connection()).map_err(storage)?;
    let report = in_bulk(replica, seed, Some(BULK_BATCHES), |g| {
        if shared_catalogue {
            g.branch_setup()
        } else {
            g.setup(size)
        }
        .and_then(|catalogue| g.activity(size, &catalogue))
    })?;
    finish_deferred(replica, deferred)?;
    Ok(report)
}

/// Builds what `schema::bulk` deferred while the documents are compacted
/// (see `Replica::compact_documents_while`: both are long, and they use
/// different cores), then returns to WAL mode.
fn finish_deferred(
    replica: &mut Replica,
    deferred: crate::schema::Deferred,
) -> Result<(), GenerateError> {
    // The index builds and the totals' GROUP BYs sort millions of rows:
    // SQLite's sorter may use the other cores (the pipeline's thread is
    // idle by now).
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    replica
        .compact_documents_while(|conn| {
            conn.pragma_update(None, "threads", cores as i64)?;
            deferred.restore(conn)
        })
        .and_then(|()| {
            Ok(replica
                .connection()
                .execute_batch("PRAGMA journal_mode = WAL;")?)
        })
        .map_err(GenerateError::Command)
}

/// Generates a dataset through `replica`'s commands, in batches (see the
/// module docs).
pub fn generate(
    replica: &mut Replica,
    size: &DatasetSize,
    seed: u64,
) -> Result<GenerateReport, GenerateError> {
    in_bulk(replica, seed, None, |g| {
        g.setup(size)
            .and_then(|catalogue| g.activity(size, &catalogue))
    })
}

/// Runs `body` as one bulk load of `replica` with a generator seeded with
/// `seed`: committed if it succeeds, otherwise rolled back, leaving the
/// replica as it was (a half-generated dataset is of no use, and the caller
/// may go on using the replica). With `commit_rows_every`, the rows are
/// committed every that many batches ([`Replica::commit_bulk_rows`]): only
/// for a new database, thrown away if this fails.
fn in_bulk(
    replica: &mut Replica,
    seed: u64,
    commit_rows_every: Option<usize>,
    body: impl FnOnce(&mut Gen<'_>) -> Result<(), GenerateError>,
) -> Result<GenerateReport, GenerateError> {
    let mut g = Gen {
        replica,
        rng: Rng(SeededEnv::new(seed, 0, 0)),
        report: GenerateReport::default(),
        commit_rows_every,
    };
    g.replica.begin_bulk()?;
    match body(&mut g) {
        Ok(()) => {
            g.replica.commit_bulk()?;
            Ok(g.report)
        }
        Err(e) => {
            let _ = g.replica.rollback_bulk();
            Err(e)
        }
    }
}

/// What the setup created, in memory for the activity that follows.
struct Catalogue {
    /// Product ids and prices; index 0 is the most popular.
    products: Vec<(String, Money)>,
    services: Vec<String>,
    technicians: Vec<String>,
    /// Customer ids and credit limits (0: cash only).
    customers: Vec<(String, Money)>,
    /// (customer index, vehicle id).
    vehicles: Vec<(usize, String)>,
}

/// What a command's result is needed for.
enum Tag {
    None,
    Shift,
    Sale {
        customer: Option<usize>,
        on_credit: bool,
        total: Money,
        lines: usize,
    },
    Order {
        customer: usize,
        stage: usize,
    },
    ServiceInvoice {
        customer: usize,
    },
}

/// A service order on its way through the workshop.
struct OrderInFlight {
    id: String,
    customer: usize,
    /// How far it goes: 0 cancelled, 1 stays booked, 2 waits for parts,
    /// 3 done, 4.. invoiced and paid.
    stage: usize,
    /// Slots since it was created.
    step: usize,
}

/// Lines a command adds to a batch.
fn weight(cmd: &Command) -> usize {
    match cmd {
        Command::Sell { lines, .. } => lines.len(),
        Command::ReceiveStock { lines, .. }
        | Command::AdjustStock { lines, .. }
        | Command::TransferStock { lines, .. } => lines.len(),
        Command::ReturnItems { lines, .. } => lines.len(),
        _ => 1,
    }
}

struct Gen<'r> {
    replica: &'r mut Replica,
    rng: Rng,
    report: GenerateReport,
    /// Batches between two [`Replica::commit_bulk_rows`], if any.
    commit_rows_every: Option<usize>,
}

impl Gen<'_> {
    /// Runs `cmds` in order in as few batches as the limits allow. One
    /// result per command: `None` for a refused one, or an error when
    /// `must` is set.
    fn run(&mut self, cmds: &[Command], must: bool) -> Result<Vec<Option<Outcome>>, GenerateError> {
        let mut out = Vec::with_capacity(cmds.len());
        let mut start = 0;
        while start < cmds.len() {
            let mut end = start;
            let mut lines = 0;
            while end < cmds.len() && end - start < MAX_BATCH {
                let w = weight(&cmds[end]);
                if end > start && lines + w > BATCH_LINES {
                    break;
                }
                lines += w;
                end += 1;
            }
            let results = self.replica.execute_batch(USER, &cmds[start..end])?;
            self.report.batches += 1;
            if self
                .commit_rows_every
                .is_some_and(|n| self.report.batches.is_multiple_of(n))
            {
                self.replica.commit_bulk_rows()?;
            }
            for r in results {
                match r {
                    Ok(o) => {
                        self.report.commands += 1;
                        out.push(Some(o));
                    }
                    Err(e) if must || matches!(e, CommandError::Storage(_)) => {
                        return Err(e.into());
                    }
                    Err(_) => {
                        self.report.refused += 1;
                        out.push(None);
                    }
                }
            }
            start = end;
        }
        Ok(out)
    }

    fn ids(&mut self, cmds: &[Command]) -> Result<Vec<String>, GenerateError> {
        Ok(self
            .run(cmds, true)?
            .into_iter()
            .map(|o| o.expect("refusals are errors here").id)
            .collect())
    }

    /// Payment channels, services, technicians, products, customers and
    /// their vehicles.
    fn setup(&mut self, size: &DatasetSize) -> Result<Catalogue, GenerateError> {
        let branch = self.replica.identity().branch_id.clone();
        let mut first = Vec::new();
        for (code, name, cash) in [
            ("cash", "Cash", true),
            ("card", "Card", false),
            ("bank", "Bank transfer", false),
            ("cheque", "Cheque", false),
            ("wallet", "Mobile wallet", false),
        ] {
            first.push(Command::SetPaymentChannel {
                code: code.into(),
                name: name.into(),
                is_cash: cash,
                active: true,
            });
        }
        for (code, name, price, minutes) in [
            ("OIL", "Oil change", 2_500, 30),
            ("BRK", "Brake service", 6_000, 90),
            ("DIAG", "Diagnostics", 4_000, 45),
            ("ALN", "Wheel alignment", 3_500, 40),
            ("ENG", "Engine repair", 25_000, 480),
        ] {
            first.push(Command::CreateService {
                code: code.into(),
                name: name.into(),
                labour_price: price,
                duration_min: minutes,
            });
        }
        first.extend(technician_commands(&branch));
        let ids = self.ids(&first)?;
        let services = ids[5..10].to_vec();
        let technicians = ids[10..13].to_vec();

        // Catalogue, a batch at a time.
        let mut products: Vec<(String, Money)> = Vec::with_capacity(size.products);
        let mut cmds = Vec::with_capacity(MAX_BATCH);
        let mut prices = Vec::with_capacity(MAX_BATCH);
        for i in 0..size.products {
            let rng = &mut self.rng;
            let (cat, unit, grades) = CATEGORIES[i % CATEGORIES.len()];
            let j = i / CATEGORIES.len();
            let grade = grades[rng.below(grades.len())];
            let cost = rng.range(50, 20_000);
            let price = cost + cost * rng.range(10, 45) / 100;
            cmds.push(Command::CreateProduct {
                sku: format!("{}-{:05}", cat[..3].to_uppercase(), i),
                barcode: Some(format!("629{:010}", i)),
                name: format!(
                    "{} {} {} {} {}",
                    title(cat),
                    grade,
                    6 + (j % 40) * 2,
                    VARIANTS[(j / 40) % VARIANTS.len()],
                    MAKERS[(j / (40 * VARIANTS.len())) % MAKERS.len()]
                ),
                category: cat.into(),
                grade: Some(grade.into()),
                unit: unit.into(),
                price,
                cost,
                min_stock: rng.range(5, 50) * ONE,
            });
            prices.push(price);
            if cmds.len() == MAX_BATCH || i + 1 == size.products {
                let ids = self.ids(&cmds)?;
                products.extend(ids.into_iter().zip(prices.drain(..)));
                cmds.clear();
            }
        }

        // Customers, a third of them on credit; every other one has a
        // vehicle, registered in the next batch (it needs the customer's id).
        let mut customers: Vec<(String, Money)> = Vec::with_capacity(size.customers);
        let mut vehicles = Vec::new();
        let mut owners: Vec<usize> = Vec::new();
        let mut i = 0;
        while i < size.customers || !owners.is_empty() {
            let mut cmds = Vec::new();
            for &c in &owners {
                let rng = &mut self.rng;
                let (make, model) = MAKES[rng.below(MAKES.len())];
                cmds.push(Command::RegisterVehicle {
                    customer_id: customers[c].0.clone(),
                    plate: format!("{} {:05}", ["ABC", "KSA", "RYD", "JED"][c % 4], c),
                    vin: None,
                    make: make.into(),
                    model: model.into(),
                    year: Some(rng.range(2008, 2026)),
                    odometer: rng.range(5_000, 250_000),
                });
            }
            let new_owners = std::mem::take(&mut owners);
            let first_new = i;
            let mut limits = Vec::new();
            while i < size.customers && i < first_new + CUSTOMERS_PER_BATCH {
                let rng = &mut self.rng;
                let credit = i % 3 == 0;
                let limit = if credit {
                    rng.range(5, 50) * 100_000
                } else {
                    0
                };
                cmds.push(Command::CreateCustomer {
                    name: format!(
                        "{} {}",
                        FIRST[rng.below(FIRST.len())],
                        LAST[rng.below(LAST.len())]
                    ),
                    phone: Some(format!("+9665{:08}", i * 7919 % 100_000_000)),
                    address: Some(format!(
                        "{} Industrial Area, Street {}",
                        ["North", "South", "East"][i % 3],
                        i % 90
                    )),
                    credit_limit: limit,
                    tags: if credit {
                        vec!["contractor".into()]
                    } else {
                        vec![]
                    },
                });
                limits.push(limit);
                i += 1;
            }
            let ids = self.ids(&cmds)?;
            let (vehicle_ids, customer_ids) = ids.split_at(new_owners.len());
            vehicles.extend(new_owners.into_iter().zip(vehicle_ids.iter().cloned()));
            for (id, limit) in customer_ids.iter().zip(limits) {
                let c = customers.len();
                if size.service_orders > 0 && c.is_multiple_of(2) {
                    owners.push(c);
                }
                customers.push((id.clone(), limit));
            }
        }
        Ok(Catalogue {
            products,
            services,
            technicians,
            customers,
            vehicles,
        })
    }

    /// The setup of a branch that received the shared catalogue and
    /// customers: its technicians, and the rest read from its projection in
    /// a fixed order (products by barcode, which is their creation order and
    /// so their popularity rank; the others by id).
    fn branch_setup(&mut self) -> Result<Catalogue, GenerateError> {
        let branch = self.replica.identity().branch_id.clone();
        let technicians = self.ids(&technician_commands(&branch))?;
        let conn = self.replica.connection();
        let storage = |e: rusqlite::Error| CommandError::Storage(e.to_string());
        let products: Vec<(String, Money)> =
            pairs(conn, "SELECT id, price FROM products ORDER BY barcode, id").map_err(storage)?;
        let customers: Vec<(String, Money)> =
            pairs(conn, "SELECT id, credit_limit FROM customers ORDER BY id").map_err(storage)?;
        let services = pairs(conn, "SELECT id, code FROM services ORDER BY code")
            .map_err(storage)?
            .into_iter()
            .map(|(id, _): (String, String)| id)
            .collect();
        let index: std::collections::HashMap<&str, usize> = customers
            .iter()
            .enumerate()
            .map(|(i, (id, _))| (id.as_str(), i))
            .collect();
        let vehicles = pairs(conn, "SELECT customer_id, id FROM vehicles ORDER BY id")
            .map_err(storage)?
            .into_iter()
            .filter_map(|(owner, id): (String, String)| Some((*index.get(owner.as_str())?, id)))
            .collect();
        Ok(Catalogue {
            products,
            services,
            technicians,
            customers,
            vehicles,
        })
    }

    /// Opening stock, then the period slot by slot.
    fn activity(&mut self, size: &DatasetSize, cat: &Catalogue) -> Result<(), GenerateError> {
        let branch = self.replica.identity().branch_id.clone();
        let n_products = cat.products.len();
        if n_products == 0 {
            return Ok(());
        }
        // Opening stock, sized to popularity so that popular items run low sometimes.
        let opening: Vec<Command> = cat
            .products
            .chunks(OPENING_LINES)
            .enumerate()
            .map(|(c, items)| Command::ReceiveStock {
                lines: items
                    .iter()
                    .enumerate()
                    .map(|(j, (id, _))| {
                        let rank = c * OPENING_LINES + j;
                        let qty = if rank < n_products / 20 { 400 } else { 60 } * ONE;
                        StockLineInput {
                            product_id: id.clone(),
                            qty,
                            unit_cost: None,
                        }
                    })
                    .collect(),
                note: "opening stock".into(),
            })
            .collect();
        self.run(&opening, true)?;

        let slots = size.slots();
        let spread = |total: usize, s: usize| total * (s + 1) / slots - total * s / slots;
        let delivery_hi = size.delivery_lines.div_ceil(40).clamp(5, crate::MAX_LINES);
        let delivery_lo = (delivery_hi / 4).max(1);
        let mut next_delivery = self.rng.range(delivery_lo as i64, delivery_hi as i64) as usize;
        let mut to_deliver = 0usize;
        let mut orders_due = 0usize;

        // What each customer owes at most (sales on credit and service
        // invoices not yet paid): credit sales stay within the limit.
        let mut owed: Vec<Money> = vec![0; cat.customers.len()];
        // Credit invoices not fully paid: (customer, invoice, remaining).
        let mut open_credit: Vec<(usize, String, Money)> = Vec::new();
        // Recent cash sales, which may be returned or voided: (invoice, lines).
        let mut recent: Vec<(String, usize)> = Vec::new();
        let mut shift: Option<String> = None;
        let mut orders: Vec<OrderInFlight> = Vec::new();
        let mut service_bills: Vec<(usize, String)> = Vec::new();

        for s in 0..slots {
            let mut cmds: Vec<Command> = Vec::new();
            let mut tags: Vec<Tag> = Vec::new();
            let last = s + 1 == slots;

            // A shift a day.
            if s as i64 % SLOTS_PER_DAY == 0 {
                if let Some(id) = shift.take() {
                    cmds.push(self.close_shift(id));
                    tags.push(Tag::None);
                }
                cmds.push(Command::OpenShift {
                    opening_float: 20_000,
                });
                tags.push(Tag::Shift);
            }

            // Workshop orders move on, one step a slot.
            let mut still = Vec::new();
            for mut o in std::mem::take(&mut orders) {
                let status = |st: OrderStatus| Command::SetOrderStatus {
                    order_id: o.id.clone(),
                    status: st,
                };
                match (o.step, o.stage) {
                    (0, 0) => {
                        cmds.push(status(OrderStatus::Cancelled));
                        tags.push(Tag::None);
                    }
                    (0, 1) => {}
                    (0, stage) => {
                        cmds.push(status(OrderStatus::InProgress));
                        cmds.push(Command::AddLabour {
                            order_id: o.id.clone(),
                            service_id: cat.services[self.rng.below(cat.services.len())].clone(),
                            technician_id: None,
                            price: None,
                        });
                        cmds.push(Command::UsePart {
                            order_id: o.id.clone(),
                            product_id: cat.products[self.rng.skewed(n_products)].0.clone(),
                            qty: ONE,
                            allow_negative_stock: true,
                        });
                        tags.extend([Tag::None, Tag::None, Tag::None]);
                        if stage == 2 {
                            cmds.push(status(OrderStatus::WaitingParts));
                            tags.push(Tag::None);
                        } else {
                            o.step = 1;
                            still.push(o);
                        }
                    }
                    (_, stage) => {
                        cmds.push(status(OrderStatus::Done));
                        tags.push(Tag::None);
                        if stage > 3 {
                            // The customer pays at pickup, in the next slot.
                            cmds.push(Command::InvoiceServiceOrder {
                                order_id: o.id.clone(),
                                payments: Vec::new(),
                                allow_over_credit_limit: true,
                            });
                            tags.push(Tag::ServiceInvoice {
                                customer: o.customer,
                            });
                        }
                    }
                }
            }
            orders = still;
            for (c, invoice) in std::mem::take(&mut service_bills) {
                let total = self.invoice_total(&invoice);
                owed[c] -= total;
                cmds.push(Command::TakePayment {
                    customer_id: None,
                    invoice_id: Some(invoice),
                    amount: total,
                    channel: "card".into(),
                    kind: PaymentKind::Invoice,
                });
                tags.push(Tag::None);
            }

            // Credit customers pay back over time, often in parts: every
            // slot, each open credit invoice is paid with a chance that
            // depends on the customer (one credit customer in five is slow).
            let mut still_open = Vec::with_capacity(open_credit.len());
            for (c, invoice, due) in std::mem::take(&mut open_credit) {
                let slow = c % 5 == 0;
                if !self.rng.one_in(if slow { SLOW_PAYER } else { PAYER }) {
                    still_open.push((c, invoice, due));
                    continue;
                }
                let part = if self.rng.chance(50) {
                    due
                } else {
                    (due / 2).max(1)
                };
                cmds.push(Command::TakePayment {
                    customer_id: Some(cat.customers[c].0.clone()),
                    invoice_id: Some(invoice.clone()),
                    amount: part,
                    channel: ["bank", "cheque", "cash"][self.rng.below(3)].into(),
                    kind: PaymentKind::Invoice,
                });
                tags.push(Tag::None);
                owed[c] -= part;
                if part < due {
                    still_open.push((c, invoice, due - part));
                }
            }
            open_credit = still_open;

            // Sales, with returns and voids of earlier cash sales in between.
            for _ in 0..spread(size.sales, s) {
                let n_lines = 1 + self.rng.below(size.max_sale_lines.max(1));
                let mut lines = Vec::with_capacity(n_lines);
                let mut total = 0;
                for _ in 0..n_lines {
                    let (id, price) = &cat.products[self.rng.skewed(n_products)];
                    let line = SaleLine {
                        product_id: id.clone(),
                        qty: self.rng.range(1, 8) * ONE,
                        unit_price: None,
                        discount: 0,
                        tax_rate_bp: 1500,
                    };
                    total += line_total(&line, *price);
                    lines.push(line);
                }
                let walk_in = self.rng.chance(55) || cat.customers.is_empty();
                let (customer, on_credit) = if walk_in {
                    (None, false)
                } else {
                    let c = self.rng.skewed(cat.customers.len());
                    let limit = cat.customers[c].1;
                    let credit = limit > 0 && self.rng.chance(60) && owed[c] + total <= limit;
                    (Some(c), credit)
                };
                let payments = if on_credit {
                    owed[customer.expect("credit sales have a customer")] += total;
                    Vec::new()
                } else {
                    vec![Tender {
                        channel: CHANNELS[self.rng.below(CHANNELS.len())].into(),
                        amount: total,
                    }]
                };
                cmds.push(Command::Sell {
                    customer_id: customer.map(|c| cat.customers[c].0.clone()),
                    lines,
                    payments,
                    allow_negative_stock: true,
                    allow_over_credit_limit: false,
                });
                tags.push(Tag::Sale {
                    customer,
                    on_credit,
                    total,
                    lines: n_lines,
                });

                // A cash sale is returned (in part) or voided at most once.
                if self.rng.chance(2) && !recent.is_empty() {
                    let (invoice, n) = recent.swap_remove(self.rng.below(recent.len()));
                    cmds.push(Command::ReturnItems {
                        invoice_id: invoice,
                        lines: vec![ReturnLineInput {
                            line_no: self.rng.below(n) as i64,
                            qty: ONE,
                        }],
                        reason: "damaged".into(),
                    });
                    tags.push(Tag::None);
                }
                if self.rng.chance(1) && !recent.is_empty() {
                    let (invoice, _) = recent.swap_remove(self.rng.below(recent.len()));
                    cmds.push(Command::VoidInvoice {
                        invoice_id: invoice,
                        reason: "entered by mistake".into(),
                    });
                    tags.push(Tag::None);
                }
            }

            // Supplier deliveries, mostly of what sells.
            to_deliver += spread(size.delivery_lines, s);
            while to_deliver >= next_delivery || (last && to_deliver > 0) {
                let n = next_delivery.min(to_deliver);
                let lines = (0..n)
                    .map(|_| StockLineInput {
                        product_id: cat.products[self.rng.skewed(n_products)].0.clone(),
                        qty: self.rng.range(20, 200) * ONE,
                        unit_cost: None,
                    })
                    .collect();
                cmds.push(Command::ReceiveStock {
                    lines,
                    note: "supplier delivery".into(),
                });
                tags.push(Tag::None);
                to_deliver -= n;
                next_delivery = self.rng.range(delivery_lo as i64, delivery_hi as i64) as usize;
            }

            // New workshop orders, booked for the day of the latest sale.
            orders_due += spread(size.service_orders, s);
            if orders_due > 0
                && !cat.vehicles.is_empty()
                && !cat.technicians.is_empty()
                && let Some(day) = self.today(&branch)
            {
                for _ in 0..orders_due {
                    let (c, vehicle) = &cat.vehicles[self.rng.below(cat.vehicles.len())];
                    cmds.push(Command::CreateServiceOrder {
                        customer_id: cat.customers[*c].0.clone(),
                        vehicle_id: vehicle.clone(),
                        scheduled_date: day.clone(),
                        technician_id: Some(
                            cat.technicians[self.rng.below(cat.technicians.len())].clone(),
                        ),
                        complaint: [
                            "noise from brakes",
                            "service due",
                            "engine light on",
                            "pulls to the left",
                        ][self.rng.below(4)]
                        .into(),
                        odometer: Some(self.rng.range(10_000, 250_000)),
                    });
                    tags.push(Tag::Order {
                        customer: *c,
                        stage: self.rng.below(10),
                    });
                }
                orders_due = 0;
            }
            if last && let Some(id) = shift.take() {
                cmds.push(self.close_shift(id));
                tags.push(Tag::None);
            }

            let results = self.run(&cmds, false)?;
            for (tag, result) in tags.into_iter().zip(results) {
                let Some(o) = result else { continue };
                match tag {
                    Tag::None => {}
                    Tag::Shift => shift = Some(o.id),
                    Tag::Sale {
                        customer,
                        on_credit,
                        total,
                        lines,
                    } => {
                        self.report.invoices += 1;
                        if on_credit {
                            let c = customer.expect("credit sales have a customer");
                            open_credit.push((c, o.id, total));
                        } else {
                            recent.push((o.id, lines));
                            if recent.len() > 50 {
                                recent.remove(0);
                            }
                        }
                    }
                    Tag::Order { customer, stage } => {
                        self.report.service_orders += 1;
                        orders.push(OrderInFlight {
                            id: o.id,
                            customer,
                            stage,
                            step: 0,
                        });
                    }
                    Tag::ServiceInvoice { customer } => {
                        self.report.invoices += 1;
                        owed[customer] += self.invoice_total(&o.id);
                        service_bills.push((customer, o.id));
                    }
                }
            }
        }
        Ok(())
    }

    fn close_shift(&mut self, shift_id: String) -> Command {
        let counted = BTreeMap::from([("cash".to_string(), self.rng.range(0, 500_000))]);
        Command::CloseShift { shift_id, counted }
    }

    /// The day of the latest sale at `branch` (`None` before the first).
    fn today(&self, branch: &str) -> Option<String> {
        self.replica
            .connection()
            .prepare_cached("SELECT max(day) FROM invoices WHERE branch_id = ?1")
            .and_then(|mut s| s.query_row([branch], |r| r.get(0)))
            .ok()
            .flatten()
    }

    fn invoice_total(&self, id: &str) -> Money {
        self.replica
            .connection()
            .prepare_cached("SELECT total FROM invoices WHERE id = ?1")
            .and_then(|mut s| s.query_row([id], |r| r.get(0)))
            .unwrap_or(0)
    }
}

/// The two columns of every row of `sql`.
fn pairs<A: rusqlite::types::FromSql, B: rusqlite::types::FromSql>(
    conn: &rusqlite::Connection,
    sql: &str,
) -> rusqlite::Result<Vec<(A, B)>> {
    let mut stmt = conn.prepare(sql)?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    rows.collect()
}

fn title(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// The total the engine computes for a sale line at the catalogue `price`
/// (same rounding), so a sale can be tendered exactly.
fn line_total(l: &SaleLine, price: Money) -> Money {
    let g = crate::domain::gross(l.qty, l.unit_price.unwrap_or(price)).unwrap_or(0);
    let tax = crate::domain::tax_on(g - l.discount, l.tax_rate_bp).unwrap_or(0);
    g - l.discount + tax
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ProductStatus;
    use rusqlite::Connection;

    const SMALL: DatasetSize = DatasetSize {
        products: 80,
        customers: 40,
        sales: 400,
        max_sale_lines: 5,
        delivery_lines: 150,
        service_orders: 25,
        days: 12,
    };

    fn me() -> ReplicaIdentity {
        ReplicaIdentity {
            replica_id: "T1".into(),
            branch_id: "B1".into(),
            branch_code: "B1".into(),
            terminal_code: "T1".into(),
        }
    }

    fn schema(r: &Replica) -> Vec<(String, String, Option<String>)> {
        let mut stmt = r
            .connection()
            .prepare("SELECT type, name, sql FROM sqlite_master ORDER BY type, name")
            .unwrap();
        stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    /// The server dataset: branches share one catalogue and one set of
    /// customers, each sells in its own journal, and the server holds all of
    /// it, as its projection rebuilt from the documents shows.
    #[test]
    fn server_dataset_merges_branches_that_share_catalogue_and_customers() {
        let dir = tempfile::tempdir().unwrap();
        let end = 1_795_000_000_000;
        let server = ReplicaIdentity {
            replica_id: "server".into(),
            branch_id: "HQ".into(),
            branch_code: "HQ".into(),
            terminal_code: "SRV".into(),
        };
        let ds = generate_server(dir.path(), server.clone(), &SMALL, 3, 5, end).unwrap();
        assert_eq!(ds.terminals.len(), 3);
        assert!(
            ds.reports.iter().all(|r| r.refused == 0),
            "{:?}",
            ds.reports
        );
        // Each branch sold on its own, with its own seed.
        assert_ne!(ds.reports[1], ds.reports[2]);
        let mut srv = Replica::open(
            &ds.server,
            server.clone(),
            Box::new(SeededEnv::new(1, end, 1)),
            &OpenOptions::default(),
        )
        .unwrap();
        let count = |r: &Replica, sql: &str| -> i64 {
            r.connection().query_row(sql, [], |row| row.get(0)).unwrap()
        };
        assert_eq!(
            count(&srv, "SELECT count(*) FROM products"),
            SMALL.products as i64
        );
        assert_eq!(
            count(&srv, "SELECT count(*) FROM customers"),
            SMALL.customers as i64
        );
        let invoices: usize = ds.reports.iter().map(|r| r.invoices).sum();
        assert_eq!(
            count(&srv, "SELECT count(*) FROM invoices") as usize,
            invoices
        );
        assert_eq!(
            count(&srv, "SELECT count(DISTINCT branch_id) FROM invoices"),
            3
        );
        assert_eq!(
            count(&srv, "SELECT count(DISTINCT branch_id) FROM stock_levels"),
            3
        );
        assert_eq!(
            count(&srv, "SELECT count(DISTINCT branch_id) FROM technicians"),
            3
        );
        // A customer bought in more than one branch.
        assert!(
            count(
                &srv,
                "SELECT count(*) FROM (SELECT customer_id FROM invoices WHERE customer_id IS NOT NULL
                 GROUP BY customer_id HAVING count(DISTINCT branch_id) > 1)"
            ) > 0
        );
        // A branch's terminal holds the shared records and only its own sales.
        let t2 = Replica::open(
            &ds.terminals[1],
            server_terminal(2),
            Box::new(SeededEnv::new(1, end, 1)),
            &OpenOptions::default(),
        )
        .unwrap();
        assert_eq!(
            count(&t2, "SELECT count(*) FROM products"),
            SMALL.products as i64
        );
        assert_eq!(
            count(
                &t2,
                "SELECT count(*) FROM invoices WHERE branch_id <> 'B02'"
            ),
            0
        );
        // The merged projection is what the documents say.
        let merged = srv.projection_dump().unwrap();
        srv.rebuild_projection().unwrap();
        assert_eq!(merged, srv.projection_dump().unwrap());
        // Files already there are not overwritten, nor removed.
        drop(srv);
        assert!(generate_server(dir.path(), server, &SMALL, 3, 5, end).is_err());
        assert!(ds.server.exists() && ds.terminals.iter().all(|t| t.exists()));
    }

    /// A bulk load whose documents are written on the pipeline's thread
    /// makes the changes, byte for byte, and the projection that it makes
    /// writing them itself: the same operations in the same order, through
    /// the batches that must take a document back (service orders moving
    /// on, shifts closing) and the commits every few dozen batches.
    #[test]
    fn a_pipelined_bulk_load_makes_the_same_changes() {
        let dir = tempfile::tempdir().unwrap();
        let end = 1_795_000_000_000;
        let mut made = Vec::new();
        for (name, pipelined) in [("piped.sqlite", true), ("alone.sqlite", false)] {
            let mut r =
                open_generating(&dir.path().join(name), me(), &SMALL, 11, end, pipelined).unwrap();
            let report = in_bulk(&mut r, 11, Some(BULK_BATCHES), |g| {
                g.setup(&SMALL)
                    .and_then(|catalogue| g.activity(&SMALL, &catalogue))
            })
            .unwrap();
            let rows = |sql: &str| crate::testing::rows(r.connection(), sql);
            // Each document's changes in the order stored; documents are
            // stored in another interleaving when their writes are held
            // back (the row numbers differ, nothing else).
            let changes = rows(
                "SELECT doc_id, hash, actor, message, bytes, stored_at, in_snapshot
                 FROM doc_changes ORDER BY doc_id, seq",
            );
            let documents = rows(
                "SELECT d.*, s.bytes FROM documents d
                 LEFT JOIN doc_snapshots s ON s.doc_id = d.doc_id ORDER BY d.doc_id",
            );
            made.push((report, changes, documents, r.projection_dump().unwrap()));
        }
        let (piped, alone) = (&made[0], &made[1]);
        assert!(
            piped.0.batches > 3 * BULK_BATCHES && piped.0.refused == 0,
            "{:?}",
            piped.0
        );
        assert!(piped.1.len() > 50);
        assert_eq!(piped.0, alone.0);
        assert_eq!(piped.1, alone.1, "doc_changes differ");
        assert_eq!(piped.2, alone.2, "documents differ");
        assert_eq!(piped.3, alone.3, "projections differ");
    }

    /// During a pipelined bulk load, commands read the products the load
    /// created from the values their commands wrote, and keep those they
    /// looked up: a product repriced and one deactivated after a delivery
    /// of both sell (or are refused) as when the commands read the
    /// projection, on a replica without the pipeline.
    #[test]
    fn bulk_created_products_sell_as_last_written() {
        let dir = tempfile::tempdir().unwrap();
        let end = 1_795_000_000_000;
        let mut seen = Vec::new();
        for (name, pipelined) in [("piped.sqlite", true), ("alone.sqlite", false)] {
            let mut r =
                open_generating(&dir.path().join(name), me(), &SMALL, 3, end, pipelined).unwrap();
            let mut outcomes = Vec::new();
            in_bulk(&mut r, 3, None, |g| {
                let cat = g.setup(&SMALL)?;
                let (repriced, dropped) = (&cat.products[0].0, &cat.products[1].0);
                let edit = |id: &str, price, status| Command::UpdateProduct {
                    product_id: id.to_string(),
                    name: None,
                    category: None,
                    price,
                    cost: None,
                    min_stock: None,
                    status,
                    barcode: None,
                };
                let sell = |id: &str| Command::Sell {
                    customer_id: None,
                    lines: vec![SaleLine {
                        product_id: id.to_string(),
                        qty: 2 * ONE,
                        unit_price: None,
                        discount: 0,
                        tax_rate_bp: 0,
                    }],
                    // Two units at the new price.
                    payments: vec![Tender {
                        channel: "cash".into(),
                        amount: 155_400,
                    }],
                    allow_negative_stock: true,
                    allow_over_credit_limit: true,
                };
                let delivery = Command::ReceiveStock {
                    lines: [repriced, dropped]
                        .map(|id| StockLineInput {
                            product_id: id.to_string(),
                            qty: 5 * ONE,
                            unit_cost: None,
                        })
                        .to_vec(),
                    note: String::new(),
                };
                g.run(&[delivery], true)?;
                let cmds = [
                    Command::OpenShift { opening_float: 0 },
                    edit(repriced, Some(77_700), None),
                    edit(dropped, None, Some(ProductStatus::Inactive)),
                ];
                g.run(&cmds, true)?;
                // Sold in the next batch, as the generator's sales are.
                for result in g
                    .replica
                    .execute_batch(USER, &[sell(repriced), sell(dropped)])?
                {
                    outcomes.push(result.map(|o| o.id.len()).map_err(|e| e.code()));
                }
                let line: i64 = g
                    .replica
                    .connection()
                    .query_row(
                        "SELECT unit_price FROM invoice_lines WHERE product_id = ?1",
                        [repriced],
                        |row| row.get(0),
                    )
                    .map_err(|e| GenerateError::Command(CommandError::Storage(e.to_string())))?;
                outcomes.push(Ok(line as usize));
                Ok(())
            })
            .unwrap();
            seen.push((outcomes, r.projection_dump().unwrap()));
        }
        let (piped, alone) = (&seen[0], &seen[1]);
        assert_eq!(piped.0[1], Err("inactive"), "{:?}", piped.0);
        assert_eq!(piped.0[2], Ok(77_700));
        assert_eq!(piped.0, alone.0);
        assert_eq!(piped.1, alone.1, "projections differ");
    }

    /// Committing a bulk load's rows needs an open bulk load; done in the
    /// middle of one, while the document thread is still behind, the
    /// final commit stores every change that thread made after it: the
    /// database opens again with the documents and projection the
    /// replica had in memory.
    #[test]
    fn bulk_rows_commit_in_the_middle_of_a_load_and_the_changes_follow() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mid.sqlite");
        let mut r = open_generating(&path, me(), &SMALL, 5, 1_795_000_000_000, true).unwrap();
        assert!(matches!(
            r.commit_bulk_rows(),
            Err(CommandError::Storage(_))
        ));
        r.begin_bulk().unwrap();
        let mut products = Vec::new();
        for round in 0..4 {
            let cmds: Vec<Command> = (0..200)
                .map(|i| Command::CreateProduct {
                    sku: format!("MID-{round}-{i:03}"),
                    barcode: None,
                    name: format!("Bolt {round} {i}"),
                    category: "fasteners".into(),
                    grade: None,
                    unit: "pcs".into(),
                    price: 1_000 + i,
                    cost: 500,
                    min_stock: 0,
                })
                .collect();
            for outcome in r.execute_batch(USER, &cmds).unwrap() {
                products.push(outcome.unwrap().id);
            }
            r.commit_bulk_rows().unwrap();
        }
        r.commit_bulk().unwrap();
        assert!(matches!(
            r.commit_bulk_rows(),
            Err(CommandError::Storage(_))
        ));
        let heads = r.heads(&DocId::Catalog).unwrap();
        let projection = r.projection_dump().unwrap();
        drop(r);

        let mut again = Replica::open(
            &path,
            me(),
            Box::new(SeededEnv::new(1, 0, 1)),
            &OpenOptions::default(),
        )
        .unwrap();
        assert_eq!(again.heads(&DocId::Catalog).unwrap(), heads);
        assert_eq!(again.projection_dump().unwrap(), projection);
        again.rebuild_projection().unwrap();
        assert_eq!(again.projection_dump().unwrap(), projection);
        let stored: i64 = again
            .connection()
            .query_row("SELECT count(*) FROM products", [], |r| r.get(0))
            .unwrap();
        assert_eq!(stored as usize, products.len());
    }

    /// A database in memory has no second connection to sum the totals
    /// on: its restore sums them itself, to the same rows and schema as a
    /// file's. And a restore inside an open transaction (whose rows the
    /// second connection could not see) is refused.
    #[test]
    fn restoring_in_memory_sums_alone_and_an_open_transaction_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.sqlite");
        generate_file(&path, me(), &SMALL, 9, 1_795_000_000_000).unwrap();
        let file = Connection::open(&path).unwrap();
        let copy = || {
            let mut mem = Connection::open_in_memory().unwrap();
            rusqlite::backup::Backup::new(&file, &mut mem)
                .unwrap()
                .run_to_completion(1000, std::time::Duration::ZERO, None)
                .unwrap();
            mem
        };
        let tables = "SELECT type, name, sql FROM sqlite_schema ORDER BY type, name";
        let totals = [
            "SELECT * FROM daily_sales ORDER BY 1, 2",
            "SELECT * FROM daily_payments ORDER BY 1, 2, 3",
            "SELECT * FROM daily_product_sales ORDER BY 1, 2, 3, 4",
            "SELECT * FROM daily_category_sales ORDER BY 1, 2, 3",
        ];

        let mem = copy();
        let deferred = crate::schema::defer_for_bulk_load(&mem).unwrap();
        assert_ne!(
            crate::testing::rows(&mem, tables),
            crate::testing::rows(&file, tables)
        );
        deferred.restore(&mem).unwrap();
        assert_eq!(
            crate::testing::rows(&mem, tables),
            crate::testing::rows(&file, tables)
        );
        for sql in totals {
            let summed = crate::testing::rows(&mem, sql);
            assert!(!summed.is_empty(), "{sql}");
            assert_eq!(summed, crate::testing::rows(&file, sql), "{sql}");
        }

        let mem = copy();
        let deferred = crate::schema::defer_for_bulk_load(&mem).unwrap();
        mem.execute_batch("BEGIN").unwrap();
        let err = deferred.restore(&mem).unwrap_err().to_string();
        assert!(err.contains("transaction of its own"), "{err}");
        assert!(
            !mem.is_autocommit(),
            "the caller's transaction is left as it was"
        );
    }

    /// Building the deferred indexes and totals at the end gives the schema
    /// and the rows that keeping them row by row gives.
    #[test]
    fn deferred_upkeep_gives_what_row_by_row_upkeep_gives() {
        let dir = tempfile::tempdir().unwrap();
        let end = 1_795_000_000_000;
        let (a, b) = (dir.path().join("a.sqlite"), dir.path().join("b.sqlite"));
        let deferred = generate_file(&a, me(), &SMALL, 9, end).unwrap();
        // Back in WAL mode after a generation without a journal: the file
        // format bytes of the header say so (2 = WAL, 1 = rollback).
        let header = std::fs::read(&a).unwrap();
        assert_eq!(&header[18..20], &[2, 2]);
        let mut rb = open_for_generation(&b, me(), &SMALL, 9, end).unwrap();
        let row_by_row = generate(&mut rb, &SMALL, 9).unwrap();
        assert_eq!(deferred, row_by_row);
        let ra = Replica::open(
            &a,
            me(),
            Box::new(SeededEnv::new(1, end, 1)),
            &OpenOptions::default(),
        )
        .unwrap();
        let dump = ra.projection_dump().unwrap();
        assert_eq!(dump, rb.projection_dump().unwrap());
        assert_eq!(schema(&ra), schema(&rb));
        // Every document was compacted at the end, and loads from its
        // snapshot to what the other file has from its changes.
        let one = |r: &Replica, sql: &str| -> i64 {
            r.connection().query_row(sql, [], |x| x.get(0)).unwrap()
        };
        assert_eq!(
            one(
                &ra,
                "SELECT count(*) FROM documents WHERE pending_changes > 0"
            ),
            0
        );
        assert_eq!(
            one(
                &ra,
                "SELECT count(*) FROM doc_changes WHERE in_snapshot = 0"
            ),
            0
        );
        assert_eq!(
            one(&ra, "SELECT count(*) FROM doc_snapshots"),
            one(&ra, "SELECT count(*) FROM documents")
        );
        assert_eq!(
            one(&rb, "SELECT count(*) FROM doc_snapshots"),
            0,
            "no compaction row by row"
        );
        let mut ra = ra;
        let ids = ra.doc_ids().unwrap();
        assert_eq!(ids, rb.doc_ids().unwrap());
        for id in &ids {
            assert_eq!(ra.heads(id).unwrap(), rb.heads(id).unwrap(), "{id}");
        }
        // The totals are there, and so are the deferred indexes.
        for needle in ["daily_sales", "daily_category_sales", "daily_payments"] {
            assert!(dump.contains(needle), "{needle} missing from the dump");
        }
        let count =
            |sql: &str| -> i64 { ra.connection().query_row(sql, [], |r| r.get(0)).unwrap() };
        assert!(count("SELECT count(*) FROM daily_product_sales") > 100);
        assert_eq!(
            count(
                "SELECT count(*) FROM sqlite_master WHERE name = 'idx_stock_movements_product_date'"
            ),
            1
        );
        assert_eq!(
            count("SELECT count(*) FROM sqlite_master WHERE name = 'daily_sales_ai'"),
            1
        );
        // The full-text indexes, filled at the end, find what the row by row
        // triggers find: by name word, prefix, SKU and barcode, and phones
        // typed or as bare digits.
        let matches = |r: &Replica, sql: &str, term: &str| -> Vec<i64> {
            let mut stmt = r.connection().prepare(sql).unwrap();
            stmt.query_map([term], |row| row.get(0))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap()
        };
        let products = "SELECT rowid FROM product_fts WHERE product_fts MATCH ?1 ORDER BY rowid";
        let customers = "SELECT rowid FROM customer_fts WHERE customer_fts MATCH ?1 ORDER BY rowid";
        let sku: String = ra
            .connection()
            .query_row(
                "SELECT sku_wanted FROM products ORDER BY rid LIMIT 1 OFFSET 7",
                [],
                |r| r.get(0),
            )
            .unwrap();
        let (phone, digits): (String, String) = ra
            .connection()
            .query_row(
                "SELECT phone_wanted, replace(replace(replace(phone_wanted, ' ', ''), '-', ''), '+', '')
                 FROM customers WHERE phone_wanted IS NOT NULL ORDER BY rid LIMIT 1 OFFSET 3",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        for (sql, term) in [
            (products, "rebar".to_string()),
            (products, "sab*".to_string()),
            (products, format!("sku:\"{sku}\"")),
            (products, "barcode:6*".to_string()),
            (customers, "ahmed".to_string()),
            (customers, format!("phone:\"{phone}\"")),
            (customers, format!("phone:{digits}")),
        ] {
            let found = matches(&ra, sql, &term);
            assert!(!found.is_empty(), "{term} finds nothing");
            assert_eq!(found, matches(&rb, sql, &term), "{term}");
        }
        for (fts, content) in [("product_fts", "products"), ("customer_fts", "customers")] {
            assert_eq!(
                count(&format!("SELECT count(*) FROM {fts}_docsize")),
                count(&format!("SELECT count(*) FROM {content}")),
                "{fts}"
            );
        }
        // Last, as it renumbers the rows the full-text indexes point to.
        ra.rebuild_projection().unwrap();
        assert_eq!(
            ra.projection_dump().unwrap(),
            dump,
            "rebuilt from the snapshots"
        );
    }
}
