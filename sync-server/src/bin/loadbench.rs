//! The sync load benchmark (issue 3): the real server binary on loopback,
//! driven by many simulated terminals, and the server's merge path with the
//! network taken out. Prints a markdown report; not a test.
//!
//! ```text
//! loadbench [--terminals 100,1000] [--branches 10] [--seconds 60]
//!           [--offline-sales 5000] [--offline-peers 9]
//!           [--merge-sales 20000] [--merge-terminals 200]
//!           [--server PATH] [--out FILE] [--command TEXT]
//! ```
//!
//! A *simulated terminal* is a tokio task in this load-generator process
//! with everything a native terminal has except a disk: its own `Replica`
//! (the full schema and projection, in an in-memory SQLite database cloned
//! from one migrated template, so 1,000 of them open in seconds), its own
//! WebSocket session through the native client
//! (`sync_server::client::Session`), its own registered identity and token.
//! It sells through the real command path (`Replica::execute`), pushes the
//! change, and applies what the server pushes, acknowledging each frame.
//! What is shared: the process, its two-thread runtime, the template file
//! and the clock the latencies are read from.
//!
//! `cargo xtask bench load` builds it in release, runs it and puts the
//! report in the README between `<!-- loadbench:start -->` and
//! `<!-- loadbench:end -->`.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command as Process, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use store_core::{
    Command, DocId, OpenOptions, Replica, ReplicaIdentity, SaleLine, SystemEnv, Tender,
};
use sync_server::client::{Session, sync_once};
use sync_server::store::{Store, StoreOptions};
use sync_server::terminals::Registration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const ADMIN: &str = "loadbench-admin";

/// Every option, with the defaults of the README's run.
#[derive(Debug, Clone)]
struct Options {
    terminals: Vec<usize>,
    branches: usize,
    seconds: u64,
    offline_sales: usize,
    offline_peers: usize,
    merge_sales: usize,
    merge_terminals: usize,
    server: PathBuf,
    out: Option<PathBuf>,
    command: String,
}

fn parse() -> Result<Options, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut o = Options {
        terminals: vec![100, 1000],
        branches: 10,
        seconds: 60,
        offline_sales: 5000,
        offline_peers: 9,
        merge_sales: 20_000,
        merge_terminals: 200,
        server: exe.with_file_name("sync-server"),
        out: None,
        command: "cargo xtask bench load".into(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut v = || args.next().ok_or(format!("{a} needs a value"));
        let num = |s: String| s.parse::<usize>().map_err(|e| format!("{s}: {e}"));
        match a.as_str() {
            "--terminals" => {
                o.terminals = v()?
                    .split(',')
                    .map(|s| num(s.to_string()))
                    .collect::<Result<_, _>>()?
            }
            "--branches" => o.branches = num(v()?)?.max(1),
            "--seconds" => o.seconds = num(v()?)? as u64,
            "--offline-sales" => o.offline_sales = num(v()?)?,
            "--offline-peers" => o.offline_peers = num(v()?)?,
            "--merge-sales" => o.merge_sales = num(v()?)?,
            "--merge-terminals" => o.merge_terminals = num(v()?)?.max(1),
            "--server" => o.server = PathBuf::from(v()?),
            "--out" => o.out = Some(PathBuf::from(v()?)),
            "--command" => o.command = v()?,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(o)
}

// ---------------------------------------------------------------------------
// The server process and what /proc says about it.

/// The server child process; killed when dropped so no run leaves one behind.
struct Server {
    child: Child,
    addr: SocketAddr,
    data: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Starts the real server binary on a free loopback port, with the
    /// default rate limit and no demo data.
    fn spawn(bin: &Path, data: &Path) -> Result<Server, String> {
        let mut child = Process::new(bin)
            .args([
                "--data-dir",
                data.to_str().ok_or("data dir is not UTF-8")?,
                "--log",
                "warn",
                "serve",
                "--bind",
                "127.0.0.1:0",
                "--no-demo",
                "--admin-token",
                ADMIN,
                "--backup-hours",
                "0",
            ])
            .stdout(Stdio::piped())
            .stderr(
                std::fs::File::create(data.with_extension("log"))
                    .map(Stdio::from)
                    .unwrap_or(Stdio::null()),
            )
            .spawn()
            .map_err(|e| format!("start {}: {e}", bin.display()))?;
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().ok_or("no stdout")?)
            .read_line(&mut line)
            .map_err(|e| e.to_string())?;
        let addr = line
            .trim()
            .rsplit("http://")
            .next()
            .and_then(|a| a.parse().ok())
            .ok_or(format!("unexpected first line from the server: {line:?}"))?;
        Ok(Server {
            child,
            addr,
            data: data.to_path_buf(),
        })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Lines of the server's log mentioning an error or a warning.
    fn log_problems(&self) -> Vec<String> {
        std::fs::read_to_string(self.data.with_extension("log"))
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("WARN") || l.contains("ERROR"))
            .map(str::to_string)
            .collect()
    }
}

/// CPU time (user + system) of a process, in seconds.
fn cpu_seconds(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) start after ')'.
    let rest = stat.rsplit_once(')').map(|x| x.1).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of stat, 12 and 13 after ')'
    // (state is field 3). USER_HZ is 100 on Linux.
    (ticks(11) + ticks(12)) / 100.0
}

/// A `kB` field of /proc/<pid>/status, in MiB.
fn status_mib(pid: &str, field: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .next()
        .unwrap_or("?")
        .to_string()
}

/// Samples a process's RSS every 250 ms until stopped; keeps the peak.
fn rss_sampler(pid: String, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<(f64, f64)> {
    std::thread::spawn(move || {
        let (mut peak, mut last) = (0f64, 0f64);
        while !stop.load(Ordering::Relaxed) {
            last = status_mib(&pid, "VmRSS:");
            peak = peak.max(last);
            std::thread::sleep(Duration::from_millis(250));
        }
        (peak, last)
    })
}

// ---------------------------------------------------------------------------
// The admin API over plain HTTP/1.1 (loopback only).

async fn post(addr: SocketAddr, path: &str, body: &str) -> Result<serde_json::Value, String> {
    let mut s = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {ADMIN}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut out = String::new();
    s.read_to_string(&mut out)
        .await
        .map_err(|e| e.to_string())?;
    let (a, b) = (
        out.find('{').ok_or(format!("no JSON in {out:?}"))?,
        out.rfind('}').ok_or(format!("no JSON in {out:?}"))?,
    );
    serde_json::from_str(&out[a..=b]).map_err(|e| format!("{e}: {out}"))
}

async fn create_branch(addr: SocketAddr, code: &str) -> Result<String, String> {
    let v = post(
        addr,
        "/api/branches",
        &format!(r#"{{"code":"{code}","name":"Branch {code}"}}"#),
    )
    .await?;
    v["id"]
        .as_str()
        .map(str::to_string)
        .ok_or(format!("no branch id in {v}"))
}

async fn register(addr: SocketAddr, branch: &str) -> Result<Registration, String> {
    let v = post(
        addr,
        "/api/terminals",
        &format!(r#"{{"branch_id":"{branch}"}}"#),
    )
    .await?;
    serde_json::from_value(v.clone()).map_err(|e| format!("{e}: {v}"))
}

// ---------------------------------------------------------------------------
// Terminals.

/// A migrated, identity-less database every simulated terminal is cloned
/// from: migrations run once instead of once per terminal.
fn make_template(path: &Path) -> Result<(), String> {
    let me = ReplicaIdentity {
        replica_id: "template".into(),
        branch_id: "X".into(),
        branch_code: "X".into(),
        terminal_code: "X".into(),
    };
    drop(
        Replica::open(path, me, Box::new(SystemEnv), &terminal_options())
            .map_err(|e| e.to_string())?,
    );
    let c = rusqlite::Connection::open(path).map_err(|e| e.to_string())?;
    c.execute_batch("DELETE FROM settings WHERE key IN ('identity', 'install')")
        .map_err(|e| e.to_string())?;
    Ok(())
}

fn terminal_options() -> OpenOptions {
    OpenOptions {
        // In memory there is nothing to flush; the terminal's own
        // durability is not what this benchmark measures.
        synchronous_full: false,
        wal: false,
        cache_docs: 64,
        ..OpenOptions::default()
    }
}

fn open_terminal(template: &Path, identity: ReplicaIdentity) -> Result<Replica, String> {
    let mut conn = rusqlite::Connection::open_in_memory().map_err(|e| e.to_string())?;
    conn.restore(
        rusqlite::MAIN_DB,
        template,
        None::<fn(rusqlite::backup::Progress)>,
    )
    .map_err(|e| e.to_string())?;
    Replica::with_connection(conn, identity, Box::new(SystemEnv), &terminal_options())
        .map_err(|e| e.to_string())
}

fn sale(product: &str) -> Command {
    Command::Sell {
        customer_id: None,
        lines: vec![SaleLine {
            product_id: product.to_string(),
            qty: 1000,
            unit_price: None,
            discount: 0,
            tax_rate_bp: 0,
        }],
        payments: vec![Tender {
            channel: "cash".into(),
            amount: 40,
        }],
        // Terminals sell without receiving stock: negative stock is
        // allowed offline (it raises an alert), and this keeps every change
        // a sale.
        allow_negative_stock: true,
        allow_over_credit_limit: false,
    }
}

/// Creates the cash channel and the product on a setup terminal and sends
/// them to the server, so every terminal receives them at its first sync.
async fn seed_catalogue(template: &Path, addr: SocketAddr, branch: &str) -> Result<String, String> {
    let reg = register(addr, branch).await?;
    let mut t = open_terminal(template, reg.identity)?;
    t.execute(
        "setup",
        &Command::SetPaymentChannel {
            code: "cash".into(),
            name: "Cash".into(),
            is_cash: true,
            active: true,
        },
    )
    .map_err(|e| e.to_string())?;
    let p = t
        .execute(
            "setup",
            &Command::CreateProduct {
                sku: "NUT-M8".into(),
                barcode: None,
                name: "Hex nut M8".into(),
                category: "fasteners".into(),
                grade: None,
                unit: "piece".into(),
                price: 40,
                cost: 20,
                min_stock: 0,
            },
        )
        .map_err(|e| e.to_string())?
        .id;
    sync_once(&mut t, &url(addr), &reg.token)
        .await
        .map_err(|e| e.to_string())?;
    Ok(p)
}

fn url(addr: SocketAddr) -> String {
    format!("ws://{addr}/sync")
}

/// Invoices seen by a terminal since `last_rowid`: (rowid, invoice id).
fn new_invoices(r: &Replica, last_rowid: i64) -> Vec<(i64, String)> {
    let Ok(mut st) = r
        .connection()
        .prepare_cached("SELECT rowid, id FROM invoices WHERE rowid > ?1 ORDER BY rowid")
    else {
        return Vec::new();
    };
    st.query_map([last_rowid], |x| Ok((x.get(0)?, x.get(1)?)))
        .map(|rows| rows.flatten().collect())
        .unwrap_or_default()
}

/// What all terminals of a run share.
struct Shared {
    /// Commit instant of every sale, by invoice id, with its terminal.
    committed: Mutex<HashMap<String, (Instant, usize)>>,
    /// Sales committed per branch.
    sold: Vec<AtomicUsize>,
    /// Set when every terminal stopped selling: the totals are final.
    selling_over: AtomicBool,
    stopped_selling: AtomicUsize,
    errors: Mutex<Vec<String>>,
    reconnects: AtomicU64,
}

impl Shared {
    fn error(&self, what: String) {
        let mut e = self.errors.lock().expect("errors");
        if e.len() < 10_000 {
            e.push(what);
        }
    }
}

/// What one terminal measured.
#[derive(Default)]
struct TermResult {
    /// Propagation latencies of other terminals' sales, in microseconds.
    latencies: Vec<u32>,
    sold: usize,
    /// Sales sold in the window and acknowledged by the server in it.
    acked_in_window: usize,
    /// Other terminals' sales of the branch this terminal holds at the end.
    received: usize,
    converged: bool,
    late_ticks: usize,
}

struct TermPlan {
    index: usize,
    branch: usize,
    reg: Registration,
    product: String,
    /// Of all terminals: first second of selling, its end, and the last
    /// moment to wait for convergence. Known once all are connected.
    times: tokio::sync::watch::Receiver<Option<Times>>,
    /// This terminal's first sale, as a fraction of the first second.
    offset: Duration,
}

#[derive(Debug, Clone, Copy)]
struct Times {
    start: tokio::time::Instant,
    end: tokio::time::Instant,
    drain_until: tokio::time::Instant,
}

async fn reopen(
    replica: &mut Replica,
    addr: SocketAddr,
    token: &str,
    shared: &Shared,
    deadline: tokio::time::Instant,
) -> Option<Session> {
    let mut backoff = Duration::from_millis(100);
    while tokio::time::Instant::now() < deadline {
        shared.reconnects.fetch_add(1, Ordering::Relaxed);
        match Session::open(replica, &url(addr), token).await {
            Ok(s) => return Some(s),
            Err(e) => shared.error(format!("reconnect: {e}")),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(2));
    }
    None
}

/// One simulated terminal: connects, sells once a second until `end`,
/// applies every push, then waits until it holds every sale of its branch.
async fn terminal(
    mut plan: TermPlan,
    mut replica: Replica,
    addr: SocketAddr,
    shared: Arc<Shared>,
    ready: Arc<tokio::sync::Barrier>,
) -> TermResult {
    let mut out = TermResult::default();
    let me = replica.identity().replica_id.clone();
    let mut session = match Session::open(&mut replica, &url(addr), &plan.reg.token).await {
        Ok(s) => Some(s),
        Err(e) => {
            shared.error(format!("{me}: connect: {e}"));
            None
        }
    };
    if let Some(s) = session.as_mut()
        && let Err(e) = s
            .settle(
                &mut replica,
                Duration::from_millis(50),
                Duration::from_secs(120),
            )
            .await
    {
        shared.error(format!("{me}: first sync: {e}"));
    }
    let mut last_rowid = new_invoices(&replica, 0).last().map_or(0, |x| x.0);
    // Acks of the first sync are not sales.
    let acks_base = session.as_ref().map_or(0, |s| s.stats().acks);
    ready.wait().await;
    let Ok(times) = plan
        .times
        .wait_for(Option::is_some)
        .await
        .map(|t| t.expect("set"))
    else {
        return out;
    };
    let mut next_sale = times.start + plan.offset;
    let mut acks_at_end: Option<usize> = None;
    let mut acks_before = 0usize;
    let mut selling = true;
    loop {
        let now = tokio::time::Instant::now();
        if selling && now >= times.end {
            selling = false;
            acks_at_end = Some(acks_before + session.as_ref().map_or(0, |s| s.stats().acks));
            shared.stopped_selling.fetch_add(1, Ordering::SeqCst);
        }
        if !selling {
            let total = shared.sold[plan.branch].load(Ordering::SeqCst);
            if shared.selling_over.load(Ordering::SeqCst)
                && out.received + out.sold >= total
                && session.as_ref().is_some_and(Session::is_idle)
            {
                out.converged = true;
                break;
            }
            if now >= times.drain_until {
                break;
            }
        }
        if selling && now >= next_sale {
            if now > next_sale + Duration::from_millis(100) {
                out.late_ticks += 1;
            }
            next_sale += Duration::from_secs(1);
            match replica.execute("cashier", &sale(&plan.product)) {
                Ok(o) => {
                    let at = Instant::now();
                    shared
                        .committed
                        .lock()
                        .expect("committed")
                        .insert(o.id, (at, plan.index));
                    shared.sold[plan.branch].fetch_add(1, Ordering::SeqCst);
                    out.sold += 1;
                }
                Err(e) => shared.error(format!("{me}: sale refused: {e}")),
            }
            if let Some(s) = session.as_mut()
                && let Err(e) = s.push_local(&mut replica).await
            {
                shared.error(format!("{me}: push: {e}"));
                acks_before += s.stats().acks;
                session = None;
            }
        }
        if session.is_none() {
            session = reopen(
                &mut replica,
                addr,
                &plan.reg.token,
                &shared,
                times.drain_until,
            )
            .await;
            if session.is_none() {
                break;
            }
        }
        let s = session.as_mut().expect("connected");
        let wait = if selling {
            next_sale
                .saturating_duration_since(tokio::time::Instant::now())
                .max(Duration::from_millis(1))
        } else {
            Duration::from_millis(50)
        };
        match s.step(&mut replica, wait).await {
            Ok(true) => {
                // A frame arrived: which sales of other terminals are new here?
                let arrived = Instant::now();
                let fresh = new_invoices(&replica, last_rowid);
                if let Some(last) = fresh.last() {
                    last_rowid = last.0;
                }
                let committed = shared.committed.lock().expect("committed");
                for (_, id) in fresh {
                    if let Some((at, origin)) = committed.get(&id)
                        && *origin != plan.index
                    {
                        out.received += 1;
                        let us = arrived.saturating_duration_since(*at).as_micros();
                        out.latencies.push(us.min(u32::MAX as u128) as u32);
                    }
                }
            }
            Ok(false) => {}
            Err(e) => {
                shared.error(format!("{me}: {e}"));
                acks_before += s.stats().acks;
                session = None;
            }
        }
    }
    out.acked_in_window = acks_at_end.unwrap_or(acks_before).saturating_sub(acks_base);
    if let Some(s) = session {
        s.close().await;
    }
    out
}

// ---------------------------------------------------------------------------
// Phase 1: N terminals selling once a second.

struct LoadReport {
    terminals: usize,
    branches: usize,
    seconds: u64,
    connected_in: Duration,
    sold: usize,
    acked_in_window: usize,
    server_invoices: i64,
    latencies: Vec<u32>,
    expected_deliveries: usize,
    delivered: usize,
    converged: usize,
    late_ticks: usize,
    errors: Vec<String>,
    reconnects: u64,
    server_cpu: f64,
    server_rss_peak: f64,
    server_rss_end: f64,
    server_hwm: f64,
    gen_cpu: f64,
    gen_rss: f64,
    load_before: String,
    load_after: String,
    log_problems: Vec<String>,
    drain: Duration,
}

async fn load_run(
    o: &Options,
    n: usize,
    template: &Path,
    dir: &Path,
) -> Result<LoadReport, String> {
    let branches = o.branches.min(n).max(1);
    let server = Server::spawn(&o.server, &dir.join(format!("server-{n}")))?;
    let addr = server.addr;
    let pid = server.pid().to_string();
    eprintln!("[{n} terminals] server pid {pid} on {addr}; registering");
    let mut branch_ids = Vec::new();
    for b in 0..branches {
        branch_ids.push(create_branch(addr, &format!("L{b}")).await?);
    }
    let product = seed_catalogue(template, addr, &branch_ids[0]).await?;
    let mut regs = Vec::new();
    for i in 0..n {
        regs.push((
            i % branches,
            register(addr, &branch_ids[i % branches]).await?,
        ));
    }
    let shared = Arc::new(Shared {
        committed: Mutex::new(HashMap::with_capacity(n * o.seconds as usize + 16)),
        sold: (0..branches).map(|_| AtomicUsize::new(0)).collect(),
        selling_over: AtomicBool::new(false),
        stopped_selling: AtomicUsize::new(0),
        errors: Mutex::new(Vec::new()),
        reconnects: AtomicU64::new(0),
    });
    let ready = Arc::new(tokio::sync::Barrier::new(n + 1));
    eprintln!("[{n} terminals] opening replicas and connecting");
    let connect_started = Instant::now();
    let (times_tx, times_rx) = tokio::sync::watch::channel(None::<Times>);
    let mut tasks = Vec::new();
    for (i, (branch, reg)) in regs.into_iter().enumerate() {
        let replica = open_terminal(template, reg.identity.clone())?;
        let plan = TermPlan {
            index: i,
            branch,
            reg,
            product: product.clone(),
            times: times_rx.clone(),
            // Spread the sales evenly over each second, as real terminals
            // would be, rather than all at once.
            offset: Duration::from_secs(1) * i as u32 / n as u32,
        };
        tasks.push(tokio::spawn(terminal(
            plan,
            replica,
            addr,
            shared.clone(),
            ready.clone(),
        )));
    }
    // Selling starts once every terminal is connected and has the catalogue.
    ready.wait().await;
    let connected_in = connect_started.elapsed();
    eprintln!(
        "[{n} terminals] all connected in {:.1} s; selling for {} s",
        connected_in.as_secs_f64(),
        o.seconds
    );
    let start = tokio::time::Instant::now() + Duration::from_millis(500);
    let end = start + Duration::from_secs(o.seconds);
    let drain = Duration::from_secs(30);
    let _ = times_tx.send(Some(Times {
        start,
        end,
        drain_until: end + drain,
    }));
    let load_before = loadavg();
    tokio::time::sleep_until(start).await;
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = rss_sampler(pid.clone(), stop.clone());
    let me = std::process::id().to_string();
    let (cpu0, gen0) = (cpu_seconds(&pid), cpu_seconds(&me));
    tokio::time::sleep_until(end).await;
    let (cpu1, gen1) = (cpu_seconds(&pid), cpu_seconds(&me));
    stop.store(true, Ordering::Relaxed);
    let (rss_peak, rss_end) = sampler.join().map_err(|_| "sampler panicked")?;
    let load_after = loadavg();
    // Totals are final once every terminal has passed its end of selling.
    while shared.stopped_selling.load(Ordering::SeqCst) < n {
        tokio::time::sleep(Duration::from_millis(20)).await;
        if tokio::time::Instant::now() > end + drain {
            break;
        }
    }
    shared.selling_over.store(true, Ordering::SeqCst);
    let drain_started = Instant::now();
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.map_err(|e| e.to_string())?);
    }
    let drained = drain_started.elapsed();
    let sizes: Vec<usize> = (0..branches)
        .map(|b| (0..n).filter(|i| i % branches == b).count())
        .collect();
    let expected_deliveries = (0..branches)
        .map(|b| shared.sold[b].load(Ordering::SeqCst) * (sizes[b] - 1))
        .sum();
    let db = rusqlite::Connection::open_with_flags(
        server.data.join("server.sqlite"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .map_err(|e| e.to_string())?;
    let server_invoices: i64 = db
        .query_row("SELECT count(*) FROM invoices", [], |r| r.get(0))
        .map_err(|e| e.to_string())?;
    let mut latencies = Vec::new();
    let mut r = LoadReport {
        terminals: n,
        branches,
        seconds: o.seconds,
        connected_in,
        sold: 0,
        acked_in_window: 0,
        server_invoices,
        latencies: Vec::new(),
        expected_deliveries,
        delivered: 0,
        converged: 0,
        late_ticks: 0,
        errors: std::mem::take(&mut *shared.errors.lock().expect("errors")),
        reconnects: shared.reconnects.load(Ordering::Relaxed),
        server_cpu: (cpu1 - cpu0) / o.seconds as f64,
        server_rss_peak: rss_peak,
        server_rss_end: rss_end,
        server_hwm: status_mib(&pid, "VmHWM:"),
        gen_cpu: (gen1 - gen0) / o.seconds as f64,
        gen_rss: status_mib(&me, "VmHWM:"),
        load_before,
        load_after,
        log_problems: server.log_problems(),
        drain: drained,
    };
    for t in results {
        r.sold += t.sold;
        r.acked_in_window += t.acked_in_window;
        r.delivered += t.received;
        r.converged += usize::from(t.converged);
        r.late_ticks += t.late_ticks;
        latencies.extend(t.latencies);
    }
    latencies.sort_unstable();
    r.latencies = latencies;
    drop(server);
    Ok(r)
}

// ---------------------------------------------------------------------------
// Phase 2: a terminal that was offline for a day reconnects.

struct OfflineReport {
    sales: usize,
    peers: usize,
    sell_time: Duration,
    server: Duration,
    peers_converged: Vec<Duration>,
    errors: Vec<String>,
}

type Target = Option<(DocId, Vec<store_core::ChangeHash>)>;

/// A connected terminal of the offline one's branch: returns when it holds
/// the target heads.
async fn peer(
    addr: SocketAddr,
    reg: Registration,
    mut r: Replica,
    mut target: tokio::sync::watch::Receiver<Target>,
    ready: Arc<tokio::sync::Barrier>,
) -> Result<Instant, String> {
    let opened = Session::open(&mut r, &url(addr), &reg.token).await;
    let mut s = match opened {
        Ok(mut s) => {
            let settled = s
                .settle(&mut r, Duration::from_millis(50), Duration::from_secs(60))
                .await;
            ready.wait().await;
            settled.map_err(|e| e.to_string())?;
            s
        }
        Err(e) => {
            ready.wait().await;
            return Err(e.to_string());
        }
    };
    let (doc, mut want) = target
        .wait_for(Option::is_some)
        .await
        .map_err(|e| e.to_string())?
        .clone()
        .expect("set");
    want.sort();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(600);
    while tokio::time::Instant::now() < deadline {
        s.step(&mut r, Duration::from_millis(50))
            .await
            .map_err(|e| e.to_string())?;
        let mut have = r.heads(&doc).unwrap_or_default();
        have.sort();
        if have == want {
            let at = Instant::now();
            s.close().await;
            return Ok(at);
        }
    }
    Err("did not converge in 600 s".into())
}

async fn offline_day(o: &Options, template: &Path, dir: &Path) -> Result<OfflineReport, String> {
    let server = Server::spawn(&o.server, &dir.join("server-offline"))?;
    let addr = server.addr;
    let branch = create_branch(addr, "OFF").await?;
    let product = seed_catalogue(template, addr, &branch).await?;
    let off_reg = register(addr, &branch).await?;
    let me = off_reg.identity.replica_id.clone();
    let mut off = open_terminal(template, off_reg.identity.clone())?;
    // Online once (the day it was installed): it has the catalogue.
    sync_once(&mut off, &url(addr), &off_reg.token)
        .await
        .map_err(|e| e.to_string())?;
    let (target_tx, target_rx) = tokio::sync::watch::channel(None);
    let ready = Arc::new(tokio::sync::Barrier::new(o.offline_peers + 1));
    let mut peers = Vec::new();
    for _ in 0..o.offline_peers {
        let reg = register(addr, &branch).await?;
        let r = open_terminal(template, reg.identity.clone())?;
        peers.push(tokio::spawn(peer(
            addr,
            reg,
            r,
            target_rx.clone(),
            ready.clone(),
        )));
    }
    ready.wait().await;
    eprintln!(
        "[offline day] {} peers connected; {} sales offline",
        o.offline_peers, o.offline_sales
    );
    let started = Instant::now();
    for _ in 0..o.offline_sales {
        off.execute("cashier", &sale(&product))
            .map_err(|e| e.to_string())?;
    }
    let sell_time = started.elapsed();
    let journal = off
        .doc_ids()
        .map_err(|e| e.to_string())?
        .into_iter()
        .find(|d| matches!(d, DocId::Journal { terminal, .. } if *terminal == me))
        .ok_or("no journal")?;
    let mut heads = off.heads(&journal).map_err(|e| e.to_string())?;
    heads.sort();
    let _ = target_tx.send(Some((journal.clone(), heads.clone())));
    eprintln!("[offline day] reconnecting");
    // The terminal is its own device: it reconnects on a thread and runtime
    // of its own. On the peers' runtime its session waited behind their
    // applies (each a synchronous merge of a whole frame of sales), which
    // measured this process's task scheduling, not the reconciliation.
    let peer_url = url(addr);
    let token = off_reg.token.clone();
    let reconnect = std::thread::Builder::new()
        .name("offline-terminal".into())
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            rt.block_on(async move {
                let t0 = Instant::now();
                let mut s = Session::open(&mut off, &peer_url, &token)
                    .await
                    .map_err(|e| e.to_string())?;
                let deadline = tokio::time::Instant::now() + Duration::from_secs(600);
                while !s.is_idle() {
                    if tokio::time::Instant::now() > deadline {
                        return Err("not all acknowledged in 600 s".to_string());
                    }
                    s.step(&mut off, Duration::from_millis(100))
                        .await
                        .map_err(|e| e.to_string())?;
                }
                let server_time = t0.elapsed();
                let synced = off
                    .synced_heads(&peer_url)
                    .map_err(|e| e.to_string())?
                    .remove(&journal.to_string())
                    .unwrap_or_default();
                s.close().await;
                Ok((t0, server_time, synced))
            })
        })
        .map_err(|e| e.to_string())?;
    let (t0, server_time, mut synced) = tokio::task::spawn_blocking(move || reconnect.join())
        .await
        .map_err(|e| e.to_string())?
        .map_err(|_| "the offline terminal's thread panicked".to_string())??;
    let mut errors = Vec::new();
    synced.sort();
    if synced != heads {
        errors.push("the server's acknowledged heads differ from the terminal's".into());
    }
    let mut peers_converged = Vec::new();
    for p in peers {
        match p.await.map_err(|e| e.to_string())? {
            Ok(at) => peers_converged.push(at.saturating_duration_since(t0)),
            Err(e) => errors.push(format!("peer: {e}")),
        }
    }
    drop(server);
    Ok(OfflineReport {
        sales: o.offline_sales,
        peers: o.offline_peers,
        sell_time,
        server: server_time,
        peers_converged,
        errors,
    })
}

// ---------------------------------------------------------------------------
// Phase 3: the server's merge path with the network taken out.

struct MergeReport {
    terminals: usize,
    /// Mode, sales, time, mean frames per transaction.
    rows: Vec<(String, usize, Duration, f64)>,
}

/// Frames of one terminal: (document, changes), in order.
type Frames = Vec<(DocId, Vec<Vec<u8>>)>;

/// The catalogue's changes, and per terminal its sales as frames of one
/// sale each (as a terminal selling online sends them).
fn merge_frames(
    template: &Path,
    terminals: usize,
    sales: usize,
) -> Result<(Vec<Vec<u8>>, Vec<Frames>), String> {
    let id = |i: usize| ReplicaIdentity {
        replica_id: format!("M1-T{i}"),
        branch_id: "M1".into(),
        branch_code: "M1".into(),
        terminal_code: format!("T{i}"),
    };
    let mut first = open_terminal(template, id(0))?;
    first
        .execute(
            "setup",
            &Command::SetPaymentChannel {
                code: "cash".into(),
                name: "Cash".into(),
                is_cash: true,
                active: true,
            },
        )
        .map_err(|e| e.to_string())?;
    let p = first
        .execute(
            "setup",
            &Command::CreateProduct {
                sku: "NUT-M8".into(),
                barcode: None,
                name: "Hex nut M8".into(),
                category: "fasteners".into(),
                grade: None,
                unit: "piece".into(),
                price: 40,
                cost: 20,
                min_stock: 0,
            },
        )
        .map_err(|e| e.to_string())?
        .id;
    let catalog = first
        .changes_since(&DocId::Catalog, &[])
        .map_err(|e| e.to_string())?;
    let mut all = Vec::new();
    for i in 0..terminals {
        let per = sales / terminals + usize::from(i < sales % terminals);
        let mut t = open_terminal(template, id(i + 1))?;
        t.apply_changes(&DocId::Catalog, catalog.clone())
            .map_err(|e| e.to_string())?;
        for _ in 0..per {
            t.execute("cashier", &sale(&p)).map_err(|e| e.to_string())?;
        }
        let mut frames = Vec::new();
        let journal = t
            .doc_ids()
            .map_err(|e| e.to_string())?
            .into_iter()
            .find(|d| matches!(d, DocId::Journal { .. }));
        if let Some(journal) = journal {
            let changes = t.changes_since(&journal, &[]).map_err(|e| e.to_string())?;
            // The journal's genesis rides with the first sale.
            let mut it = changes.into_iter();
            let head: Vec<Vec<u8>> = it.by_ref().take(2).collect();
            frames.push((journal.clone(), head));
            for c in it {
                frames.push((journal.clone(), vec![c]));
            }
        }
        all.push(frames);
    }
    Ok((catalog, all))
}

/// Feeds every terminal's frames to a fresh store, one task per terminal
/// with one frame in flight each. Returns sales, time and the mean group.
async fn merge_run(
    path: &Path,
    group_frames: usize,
    catalog: &[Vec<u8>],
    frames: &[Frames],
) -> Result<(usize, Duration, f64), String> {
    let store = Store::open_with(
        path,
        &StoreOptions {
            group_frames,
            ..StoreOptions::default()
        },
    )
    .map_err(|e| e.to_string())?;
    store
        .merge(DocId::Catalog, catalog.to_vec())
        .await
        .map_err(|e| e.to_string())??;
    let sales: usize = frames.iter().map(Vec::len).sum();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for f in frames {
        let store = store.clone();
        let f = f.clone();
        tasks.push(tokio::spawn(async move {
            let mut groups = 0usize;
            for (doc, changes) in f {
                let m = store
                    .merge(doc, changes)
                    .await
                    .map_err(|e| e.to_string())??;
                if !m.report.rejected.is_empty() {
                    return Err(format!("rejected: {:?}", m.report.rejected));
                }
                groups += m.group;
            }
            Ok::<usize, String>(groups)
        }));
    }
    let mut group_sum = 0;
    for t in tasks {
        group_sum += t.await.map_err(|e| e.to_string())??;
    }
    let elapsed = started.elapsed();
    let invoices: i64 = store
        .write(|r| {
            r.connection()
                .query_row("SELECT count(*) FROM invoices", [], |x| x.get(0))
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    if invoices as usize != sales {
        return Err(format!("{invoices} invoices stored for {sales} sales"));
    }
    Ok((sales, elapsed, group_sum as f64 / sales.max(1) as f64))
}

async fn merge_bench(o: &Options, template: &Path, dir: &Path) -> Result<MergeReport, String> {
    eprintln!(
        "[merge] generating {} sales on {} terminals",
        o.merge_sales, o.merge_terminals
    );
    let (catalog, frames) = merge_frames(template, o.merge_terminals, o.merge_sales)?;
    let mut rows = Vec::new();
    eprintln!("[merge] group commit");
    let (n, t, g) = merge_run(&dir.join("merge-group.sqlite"), 256, &catalog, &frames).await?;
    rows.push((
        "group commit (up to 256 frames a transaction)".into(),
        n,
        t,
        g,
    ));
    // A transaction per frame pays an fsync per sale: a tenth of the sales
    // is enough to measure it.
    let tenth: Vec<Frames> = frames
        .iter()
        .map(|f| f[..f.len().div_ceil(10)].to_vec())
        .collect();
    eprintln!("[merge] one transaction per frame");
    let (n, t, g) = merge_run(&dir.join("merge-single.sqlite"), 1, &catalog, &tenth).await?;
    rows.push(("one transaction per frame (before)".into(), n, t, g));
    Ok(MergeReport {
        terminals: o.merge_terminals,
        rows,
    })
}

// ---------------------------------------------------------------------------
// The report.

/// The `p` quantile of sorted microseconds, in milliseconds.
fn pct(v: &[u32], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i] as f64 / 1000.0
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

fn machine() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
        / 1024.0;
    format!("{cpus} cores, {mem:.1} GiB of memory")
}

fn load_table(w: &mut String, loads: &[Result<LoadReport, String>]) {
    use std::fmt::Write as _;
    let _ = writeln!(
        w,
        "| terminals (branches) | window | merged sales/s (acknowledged in the window / sold) | propagation p50 / p95 / p99 (max) | deliveries | errors | server CPU | server RSS peak (end) | load generator CPU, peak RSS | load average before → after |"
    );
    let _ = writeln!(w, "|---|---|---|---|---|---|---|---|---|---|");
    let mut notes = Vec::new();
    for l in loads {
        let r = match l {
            Ok(r) => r,
            Err(e) => {
                let _ = writeln!(w, "| failed: {e} | | | | | | | | | |");
                continue;
            }
        };
        let errors = r.errors.len() + (r.terminals - r.converged);
        let _ = writeln!(
            w,
            "| {} ({}) | {} s | {:.0} ({} / {}) | {:.1} / {:.1} / {:.1} ms ({:.0} ms) | {} of {} | {} | {:.0}% | {:.0} MiB ({:.0} MiB) | {:.0}%, {:.0} MiB | {} → {} |",
            r.terminals,
            r.branches,
            r.seconds,
            r.acked_in_window as f64 / r.seconds as f64,
            r.acked_in_window,
            r.sold,
            pct(&r.latencies, 0.5),
            pct(&r.latencies, 0.95),
            pct(&r.latencies, 0.99),
            pct(&r.latencies, 1.0),
            r.delivered,
            r.expected_deliveries,
            errors,
            r.server_cpu * 100.0,
            r.server_rss_peak,
            r.server_rss_end,
            r.gen_cpu * 100.0,
            r.gen_rss,
            r.load_before,
            r.load_after,
        );
        let mut kinds: HashMap<String, usize> = HashMap::new();
        for e in &r.errors {
            // Drop the terminal id: count kinds of errors.
            let k = e.split_once(": ").map_or(e.as_str(), |x| x.1);
            *kinds.entry(k.chars().take(90).collect()).or_default() += 1;
        }
        let mut kinds: Vec<_> = kinds.into_iter().collect();
        kinds.sort_by_key(|k| std::cmp::Reverse(k.1));
        let mut note = format!(
            "- {} terminals: all connected and synced in {:.1} s; {} sales started more than 100 ms late by the load generator; {} reconnects; {} invoices on the server at the end for {} sold; {} of {} terminals held every sale of their branch when the run ended ({:.1} s after the window); server peak RSS (VmHWM) {:.0} MiB.",
            r.terminals,
            r.connected_in.as_secs_f64(),
            r.late_ticks,
            r.reconnects,
            r.server_invoices,
            r.sold,
            r.converged,
            r.terminals,
            r.drain.as_secs_f64(),
            r.server_hwm,
        );
        if !kinds.is_empty() {
            note.push_str(" Errors: ");
            note.push_str(
                &kinds
                    .iter()
                    .take(5)
                    .map(|(k, n)| format!("{n}× `{}`", k.replace('`', "'")))
                    .collect::<Vec<_>>()
                    .join("; "),
            );
            note.push('.');
        }
        if !r.log_problems.is_empty() {
            let first: String = r.log_problems[0].chars().take(200).collect();
            note.push_str(&format!(
                " Server log: {} warnings or errors, the first: `{}`.",
                r.log_problems.len(),
                first.replace('`', "'")
            ));
        }
        notes.push(note);
    }
    let _ = writeln!(w);
    for n in notes {
        let _ = writeln!(w, "{n}");
    }
}

fn report(
    o: &Options,
    loads: &[Result<LoadReport, String>],
    offline: &Result<OfflineReport, String>,
    merge: &Result<MergeReport, String>,
    total: Duration,
) -> String {
    use std::fmt::Write as _;
    let mut w = String::new();
    let _ = writeln!(
        w,
        "Reproduce with `{}` (release build; it rewrites this section). Machine: {}, shared by the server, the load generator and whatever else runs (see the load averages). Whole run: {:.0} s.\n",
        o.command,
        machine(),
        total.as_secs_f64()
    );
    let _ = writeln!(
        w,
        "**Setup.** The real `sync-server` binary runs as a child process on 127.0.0.1 with a fresh data directory (`synchronous = FULL`, WAL, the default rate limit of 50 `Changes` frames/s per terminal, group commit of up to 256 frames). Branches and terminals are registered through the admin API (`POST /api/branches`, `POST /api/terminals`). A *simulated terminal* is a tokio task of one load-generator process (2 runtime threads) with its own `Replica` (full schema and projection in an in-memory SQLite database cloned from one migrated template; no fsync on the terminal side), its own identity and token and its own WebSocket session through the native client (`sync_server::client::Session`). Each sells once a second (one `Sell` through `Replica::execute`, one automerge change, pushed at once), the first sales spread over the first second, and applies and acknowledges every change the server pushes. Terminals are spread round-robin over {} branches; every sale is pushed to the other terminals of its branch.\n",
        o.branches
    );
    let _ = writeln!(
        w,
        "**Propagation latency**: from `execute` returning on terminal A to terminal B of the same branch having applied the pushed change and seeing the invoice in its projection (one clock: both are tasks of one process). **Merged sales/s**: sales whose `Ack` (sent after the durable commit) arrived during the selling window, divided by the window. **Errors**: failed connections, closed sessions, refused sales, and terminals that did not hold every sale of their branch 30 s after the window. **Server CPU**: user + system time over the window from `/proc/<pid>/stat` (100% = one core); RSS from `/proc/<pid>/status`, sampled every 250 ms.\n"
    );
    let _ = writeln!(w, "#### Terminals selling once a second\n");
    load_table(&mut w, loads);
    let _ = writeln!(w, "\n#### A terminal offline for a day reconnects\n");
    match offline {
        Ok(r) => {
            let slowest = r.peers_converged.iter().max().copied();
            let _ = writeln!(
                w,
                "One terminal made {} sales offline (each its own change; {:.1} s of selling), then reconnected to its branch, where {} other terminals were connected. It reconnects on a thread of its own, as the device of its own it is; the other terminals share the load generator's two runtime threads, where each applies every sale it is pushed, so they compete with it and with the server for the two cores. From reconnecting until the server had acknowledged every change (its heads equal the terminal's): **{}**; until every other terminal of the branch held the same heads: **{}**{}. Budget (DESIGN.md §7): 2 s.{}\n",
                r.sales,
                r.sell_time.as_secs_f64(),
                r.peers,
                ms(r.server),
                if r.peers == 0 {
                    "no other terminal".into()
                } else {
                    slowest.map_or("never".into(), ms)
                },
                if r.peers_converged.len() == r.peers {
                    String::new()
                } else {
                    format!(" ({} of {} converged)", r.peers_converged.len(), r.peers)
                },
                if r.errors.is_empty() {
                    " No errors.".to_string()
                } else {
                    format!(" Errors: {}.", r.errors.join("; "))
                }
            );
        }
        Err(e) => {
            let _ = writeln!(w, "Failed: {e}\n");
        }
    }
    let _ = writeln!(w, "#### Server merge throughput, network taken out\n");
    match merge {
        Ok(m) => {
            let _ = writeln!(
                w,
                "Sales made on {} terminals, fed as frames of one sale each (as terminals send them online) straight into the server's store (`Store::merge`: the writer thread, a file database with `synchronous = FULL`), one task per terminal with one frame in flight each. Budget (DESIGN.md §7): ≥ 10,000 sales/s.\n",
                m.terminals
            );
            let _ = writeln!(
                w,
                "| mode | sales | time | sales/s | frames per transaction (mean, as seen by a frame) |"
            );
            let _ = writeln!(w, "|---|---|---|---|---|");
            for (name, n, t, g) in &m.rows {
                let _ = writeln!(
                    w,
                    "| {name} | {n} | {:.2} s | {:.0} | {g:.1} |",
                    t.as_secs_f64(),
                    *n as f64 / t.as_secs_f64()
                );
            }
        }
        Err(e) => {
            let _ = writeln!(w, "Failed: {e}");
        }
    }
    w
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    let o = match parse() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("loadbench: {e}");
            return ExitCode::from(2);
        }
    };
    if !o.server.exists() {
        eprintln!(
            "loadbench: server binary {} not found (cargo build --release -p sync-server)",
            o.server.display()
        );
        return ExitCode::FAILURE;
    }
    let started = Instant::now();
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("loadbench: {e}");
            return ExitCode::FAILURE;
        }
    };
    let template = dir.path().join("template.sqlite");
    if let Err(e) = make_template(&template) {
        eprintln!("loadbench: template: {e}");
        return ExitCode::FAILURE;
    }
    let mut loads = Vec::new();
    for &n in &o.terminals {
        let r = load_run(&o, n, &template, dir.path()).await;
        if let Err(e) = &r {
            eprintln!("[{n} terminals] failed: {e}");
        }
        loads.push(r);
    }
    let offline = if o.offline_sales > 0 {
        offline_day(&o, &template, dir.path()).await
    } else {
        Err("skipped".into())
    };
    let merge = if o.merge_sales > 0 {
        merge_bench(&o, &template, dir.path()).await
    } else {
        Err("skipped".into())
    };
    let text = report(&o, &loads, &offline, &merge, started.elapsed());
    println!("{text}");
    if let Some(out) = &o.out
        && let Err(e) = std::fs::File::create(out).and_then(|mut f| f.write_all(text.as_bytes()))
    {
        eprintln!("loadbench: {}: {e}", out.display());
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
