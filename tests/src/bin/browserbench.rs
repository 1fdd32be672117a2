//! The browser benchmark (issue 4): the terminal engine in headless
//! Chromium (wasm in a dedicated worker, SQLite on OPFS) on the terminal
//! dataset of DESIGN.md §7, side by side with the same queries run
//! natively on the same file, as a markdown report.
//!
//! ```text
//! browserbench [--size demo|terminal] [--seed N] [--out FILE] [--data-dir DIR]
//!              [--dataset FILE] [--regenerate] [--server-bin PATH]
//!              [--iterations X] [--checkouts N] [--command TEXT]
//! ```
//!
//! It generates the dataset natively (or reuses the one cached in
//! `--data-dir`, default `target/browserbench-data`, while the engine's
//! sources are unchanged), makes a rollback-journal copy of it, starts the
//! real `sync-server` serving `web/` (the page's origin), Chromium through
//! chromedriver, hands the file to the page (a loopback file server of this
//! process) and restores it into OPFS with `Engine.importDatabase`. Then:
//! the time from starting the engine to the first answer; every query of
//! the catalogue, timed inside the worker (`Engine.benchmark`) and from the
//! page through `postMessage`; durable checkouts (5 lines and a payment);
//! the wasm bundle's size; memory. The same queries and checkouts run
//! natively (`Replica`, `Request::run`) on a copy of the same file in the
//! same run. There is no sync: the restored terminal has no server.
//!
//! `cargo xtask bench browser` builds everything, runs it and puts the
//! report in the README.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command as Process, ExitCode, Stdio};
use std::time::{Duration, Instant};

use fantoccini::Client;
use rusqlite::Connection;
use serde_json::{Value, json};
use store_core::query::{Queries, Request};
use store_core::{Command, OpenOptions, Replica, SystemEnv};
use store_tests::bench::{self, Machine, NamedSize, Stats, fmt_ms};
use store_tests::queries::{Query, Scope, one, plan, request_variants};

type Result<T> = std::result::Result<T, String>;

/// Checkouts run in the browser before the timed ones.
const WARM_CHECKOUTS: usize = 10;

/// Name of the terminal database in OPFS.
const DB: &str = "bench";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is in the workspace")
        .to_path_buf()
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
}

struct Options {
    size: NamedSize,
    seed: u64,
    out: Option<PathBuf>,
    data_dir: PathBuf,
    dataset: Option<PathBuf>,
    regenerate: bool,
    server_bin: Option<PathBuf>,
    iterations: f64,
    /// Timed checkouts in the worker (half as many from the page).
    checkouts: usize,
    command: String,
}

fn usage() -> ExitCode {
    eprintln!(
        "usage: browserbench [--size demo|terminal] [--seed N] [--out FILE] [--data-dir DIR] \
         [--dataset FILE] [--regenerate] [--server-bin PATH] [--iterations X] [--checkouts N] [--command TEXT]"
    );
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let mut size = "terminal".to_string();
    let mut o = Options {
        size: NamedSize::parse("terminal").unwrap(),
        seed: 42,
        out: None,
        data_dir: target_dir().join("browserbench-data"),
        dataset: None,
        regenerate: false,
        server_bin: None,
        iterations: 1.0,
        checkouts: 200,
        command: String::new(),
    };
    let mut command = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next();
        match a.as_str() {
            "--size" => match value() {
                Some(v) => size = v,
                None => return usage(),
            },
            "--seed" => match value().and_then(|v| v.parse().ok()) {
                Some(v) => o.seed = v,
                None => return usage(),
            },
            "--iterations" => match value().and_then(|v| v.parse().ok()) {
                Some(v) => o.iterations = v,
                None => return usage(),
            },
            "--checkouts" => match value().and_then(|v| v.parse().ok()) {
                Some(v) => o.checkouts = v,
                None => return usage(),
            },
            "--out" => o.out = value().map(PathBuf::from),
            "--data-dir" => match value() {
                Some(v) => o.data_dir = PathBuf::from(v),
                None => return usage(),
            },
            "--dataset" => o.dataset = value().map(PathBuf::from),
            "--server-bin" => o.server_bin = value().map(PathBuf::from),
            "--regenerate" => o.regenerate = true,
            "--command" => command = value(),
            "-h" | "--help" => {
                usage();
                return ExitCode::SUCCESS;
            }
            _ => return usage(),
        }
    }
    let Some(named) = NamedSize::parse(&size) else {
        eprintln!("browserbench: unknown size {size:?} (demo or terminal)");
        return ExitCode::from(2);
    };
    o.size = named;
    o.command = command.unwrap_or_else(|| format!("cargo xtask bench browser --size {size}"));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match rt.block_on(run(&o)) {
        Ok(md) => {
            if let Some(out) = &o.out {
                if let Err(e) = std::fs::write(out, &md) {
                    eprintln!("browserbench: cannot write {}: {e}", out.display());
                    return ExitCode::FAILURE;
                }
                eprintln!("browserbench: report written to {}", out.display());
            }
            println!("{md}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("browserbench: {e}");
            ExitCode::FAILURE
        }
    }
}

// ---------------------------------------------------------------- dataset

/// The dataset (generated, or reused from the cache) and how long its
/// generation took (`None` when reused or given).
fn dataset(o: &Options) -> Result<(PathBuf, Option<f64>)> {
    if let Some(p) = &o.dataset {
        return Ok((p.clone(), None));
    }
    std::fs::create_dir_all(&o.data_dir).map_err(|e| format!("{}: {e}", o.data_dir.display()))?;
    let path = o.data_dir.join(format!(
        "{}-{}-{}.sqlite",
        o.size.name,
        o.seed,
        bench::source_digest().unwrap_or_else(|| "unversioned".into())
    ));
    // `cargo xtask bench` keeps the same dataset (same name: size, seed and
    // engine sources) in its own cache; `bench all` runs it first.
    let shared = target_dir()
        .join("bench-data")
        .join(path.file_name().expect("a file name"));
    if !o.regenerate && shared.exists() && shared.with_extension("generation").exists() {
        eprintln!("browserbench: reusing {}", shared.display());
        return Ok((shared, None));
    }
    let done = path.with_extension("done");
    if !o.regenerate && path.exists() && done.exists() {
        eprintln!("browserbench: reusing {}", path.display());
        return Ok((path, None));
    }
    let _ = std::fs::remove_file(&done);
    eprintln!(
        "browserbench: generating the {} dataset into {} (minutes for the terminal size)",
        o.size.name,
        path.display()
    );
    let g = bench::generate_dataset(&path, &o.size.size, o.seed).map_err(|e| e.to_string())?;
    std::fs::write(&done, format!("{}\n", g.millis)).map_err(|e| e.to_string())?;
    Ok((path, Some(g.millis as f64 / 1000.0)))
}

/// Copies a database into `to` as one closed file in rollback-journal
/// mode (what OPFS runs and what an import takes).
fn rollback_copy(from: &Path, to: &Path) -> Result<()> {
    let sql = |e: rusqlite::Error| e.to_string();
    {
        let c = Connection::open(from).map_err(sql)?;
        c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .map_err(sql)?;
    }
    for ext in ["", "-wal", "-shm", "-journal"] {
        let _ = std::fs::remove_file(format!("{}{ext}", to.display()));
    }
    std::fs::copy(from, to).map_err(|e| format!("copy {}: {e}", from.display()))?;
    let c = Connection::open(to).map_err(sql)?;
    let mode: String = c
        .query_row("PRAGMA journal_mode = DELETE", [], |r| r.get(0))
        .map_err(sql)?;
    if mode != "delete" {
        return Err(format!("journal mode stayed {mode}"));
    }
    Ok(())
}

// ---------------------------------------------------------------- the plan

/// One query of the catalogue with the parameters it runs with.
/// `n` checkouts: five lines of active products (deterministic choice and
/// quantities), 15% tax, paid in cash to the cent.
fn checkouts(c: &Connection, n: usize) -> Result<Vec<Value>> {
    let products: Vec<(String, i64)> = c
        .prepare("SELECT id, price FROM products WHERE status = 'active' ORDER BY rid LIMIT 200")
        .and_then(|mut s| {
            s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<Vec<_>>>()
        })
        .map_err(|e| e.to_string())?;
    if products.len() < 5 {
        return Err("the dataset has fewer than 5 active products".into());
    }
    let mut x = 0x2545F4914F6CDD1Du64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    Ok((0..n)
        .map(|_| {
            let mut total = 0;
            let lines: Vec<Value> = (0..5)
                .map(|_| {
                    let (id, price) = &products[(next() % products.len() as u64) as usize];
                    let qty = (1 + next() % 5) as i64 * 1000;
                    let gross = store_core::domain::gross(qty, *price).unwrap_or(0);
                    total += gross + store_core::domain::tax_on(gross, 1500).unwrap_or(0);
                    json!({"product_id": id, "qty": qty, "discount": 0, "tax_rate_bp": 1500})
                })
                .collect();
            json!({"type": "sell", "lines": lines,
                   "payments": [{"channel": "cash", "amount": total}],
                   "allow_negative_stock": true})
        })
        .collect())
}

/// Timed runs per query: about `budget_ms` of work at the native speed
/// times `slowdown`, within 10..=`max`.
fn rounds_for(native_p50: f64, o: &Options, max: usize) -> usize {
    let per = (native_p50 * 3.0).max(0.01);
    let n = (1500.0 / per) as usize;
    ((n.clamp(10, max) as f64 * o.iterations).round() as usize).max(1)
}

// ---------------------------------------------------------------- native

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn native_queries(path: &Path, plan: &[Query], o: &Options) -> Result<(f64, Vec<Stats>)> {
    let t = Instant::now();
    let r = open_native(path)?;
    let req: Request =
        serde_json::from_value(plan[0].request.clone()).map_err(|e| e.to_string())?;
    req.run(&Queries::new(r.connection()))
        .map_err(|e| e.to_string())?;
    let first = ms(t.elapsed());
    let mut out = Vec::new();
    for q in plan {
        let req: Request =
            serde_json::from_value(q.request.clone()).map_err(|e| format!("{}: {e}", q.label))?;
        let run = || {
            req.run(&Queries::new(r.connection()))
                .map(|_| ())
                .map_err(|e| format!("{}: {e}", q.label))
        };
        let t = Instant::now();
        run()?;
        let probe = ms(t.elapsed());
        let n = rounds_for(probe, o, 500);
        for _ in 0..(n / 10).max(1) {
            run()?;
        }
        let mut s = Stats::default();
        for _ in 0..n {
            let t = Instant::now();
            run()?;
            s.samples.push(ms(t.elapsed()));
        }
        out.push(s);
    }
    Ok((first, out))
}

fn open_native(path: &Path) -> Result<Replica> {
    let c = Connection::open(path).map_err(|e| e.to_string())?;
    let me = store_core::sync::stored_identity(&c)
        .map_err(|e| e.to_string())?
        .ok_or("the dataset has no identity")?;
    drop(c);
    Replica::open(
        path,
        me,
        Box::new(SystemEnv),
        &OpenOptions {
            synchronous_full: true,
            ..OpenOptions::default()
        },
    )
    .map_err(|e| e.to_string())
}

fn native_checkouts(path: &Path, commands: &[Value], warm: usize) -> Result<Stats> {
    let mut r = open_native(path)?;
    let mut s = Stats::default();
    for (k, c) in commands.iter().enumerate() {
        let cmd: Command = serde_json::from_value(c.clone()).map_err(|e| e.to_string())?;
        let t = Instant::now();
        r.execute("bench", &cmd).map_err(|e| format!("sell: {e}"))?;
        if k >= warm {
            s.samples.push(ms(t.elapsed()));
        }
    }
    Ok(s)
}

// ---------------------------------------------------------------- processes

/// A child process killed when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn server_bin(o: &Options) -> Result<PathBuf> {
    if let Some(p) = &o.server_bin {
        return Ok(p.clone());
    }
    for profile in ["release", "debug"] {
        let p = target_dir().join(profile).join("sync-server");
        if p.exists() {
            return Ok(p);
        }
    }
    Err("no sync-server binary: `cargo build --release -p sync-server`".into())
}

fn start_server(bin: &Path, data: &Path) -> Result<(Proc, SocketAddr)> {
    let mut child = Process::new(bin)
        .args([
            "--data-dir",
            &data.to_string_lossy(),
            "--log",
            "warn",
            "serve",
        ])
        .args(["--bind", "127.0.0.1:0", "--no-demo"])
        .args(["--admin-token", "browserbench-admin", "--web-dir"])
        .arg(root().join("web"))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("start {}: {e}", bin.display()))?;
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    let addr = loop {
        line.clear();
        if out.read_line(&mut line).map_err(|e| e.to_string())? == 0 {
            return Err("the server exited".into());
        }
        if let Some(a) = line
            .trim()
            .strip_prefix("store server listening on http://")
        {
            break a.parse().map_err(|e| format!("{a}: {e}"))?;
        }
    };
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    Ok((Proc(child), addr))
}

/// Serves one file on loopback (with CORS, for the page of the server's
/// origin) until the process ends.
fn serve_file(path: PathBuf) -> Result<SocketAddr> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let addr = l.local_addr().map_err(|e| e.to_string())?;
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            let path = path.clone();
            std::thread::spawn(move || {
                let _ = serve_one(s, &path);
            });
        }
    });
    Ok(addr)
}

fn serve_one(mut s: TcpStream, path: &Path) -> std::io::Result<()> {
    let mut r = BufReader::new(s.try_clone()?);
    let mut line = String::new();
    let mut first = String::new();
    r.read_line(&mut first)?;
    loop {
        line.clear();
        if r.read_line(&mut line)? == 0 || line.trim().is_empty() {
            break;
        }
    }
    let cors = "Access-Control-Allow-Origin: *\r\nAccess-Control-Allow-Methods: GET\r\n\
                Access-Control-Allow-Headers: *\r\n";
    if first.starts_with("OPTIONS") {
        write!(
            s,
            "HTTP/1.1 204 No Content\r\n{cors}Content-Length: 0\r\nConnection: close\r\n\r\n"
        )?;
        return Ok(());
    }
    let mut f = std::fs::File::open(path)?;
    let len = f.metadata()?.len();
    write!(
        s,
        "HTTP/1.1 200 OK\r\n{cors}Content-Type: application/octet-stream\r\n\
         Content-Length: {len}\r\nConnection: close\r\n\r\n"
    )?;
    std::io::copy(&mut f, &mut s)?;
    s.flush()
}

struct Browser {
    client: Client,
    driver: Proc,
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    /// Chromium outlives chromedriver when the session was not closed (a
    /// failed run): end the processes chromedriver started, by their ids.
    fn drop(&mut self) {
        for pid in descendants(self.driver.0.id()) {
            let _ = Process::new("kill").arg(pid.to_string()).status();
        }
    }
}

impl Browser {
    async fn start() -> Result<Browser> {
        let store_tests::chromium::Session {
            client,
            driver,
            profile,
        } = store_tests::chromium::start(Duration::from_secs(1800), Duration::from_secs(120))
            .await?;
        let driver = Proc(driver);
        Ok(Browser {
            client,
            driver,
            _profile: profile,
        })
    }

    /// Runs `body` (an async function body; `args` holds the arguments) in
    /// the page.
    async fn js(&self, body: &str, args: Vec<Value>) -> Result<Value> {
        let script = format!(
            "const done = arguments[arguments.length - 1];
             const args = Array.from(arguments).slice(0, -1);
             (async (args) => {{ {body} }})(args).then(
               (v) => done({{ ok: v === undefined ? null : v }}),
               (e) => done({{ err: {{ code: e && e.code, message: String(e && e.message || e) }} }}));"
        );
        let v = self
            .client
            .execute_async(&script, args)
            .await
            .map_err(|e| format!("page script: {e}"))?;
        match v.get("err") {
            Some(e) => Err(format!("page script failed: {e}\n{body}")),
            None => Ok(v["ok"].clone()),
        }
    }
}

/// Memory of Chromium's processes (the descendants of chromedriver).
#[derive(Default)]
struct ChromeMemory {
    /// (kind, RSS KiB, peak RSS KiB, PSS KiB) per process.
    procs: Vec<(String, u64, u64, u64)>,
}

fn proc_kib(status: &str, key: &str) -> u64 {
    status
        .lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// The processes below `root_pid`, from `/proc`.
fn descendants(root_pid: u32) -> Vec<u32> {
    let mut parent: BTreeMap<u32, u32> = BTreeMap::new();
    if let Ok(rd) = std::fs::read_dir("/proc") {
        for e in rd.flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            // The fields after the command name (which may hold spaces).
            if let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r)
                && let Some(pp) = rest.split_whitespace().nth(1).and_then(|v| v.parse().ok())
            {
                parent.insert(pid, pp);
            }
        }
    }
    parent
        .keys()
        .copied()
        .filter(|&pid| {
            let mut p = pid;
            while let Some(&pp) = parent.get(&p) {
                if pp == root_pid {
                    return true;
                }
                if pp <= 1 {
                    return false;
                }
                p = pp;
            }
            false
        })
        .collect()
}

fn chrome_memory(root_pid: u32) -> ChromeMemory {
    let mut m = ChromeMemory::default();
    for pid in descendants(root_pid) {
        let cmd = std::fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if !cmd.contains("chrom") {
            continue;
        }
        // Chromium rewrites the command line of the processes its zygote
        // forks into one space-separated string.
        let kind = cmd
            .split(['\0', ' '])
            .find_map(|a| a.strip_prefix("--type="))
            .unwrap_or("browser")
            .to_string();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let rollup =
            std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap_or_default();
        m.procs.push((
            kind,
            proc_kib(&status, "VmRSS:"),
            proc_kib(&status, "VmHWM:"),
            proc_kib(&rollup, "Pss:"),
        ));
    }
    m
}

// ---------------------------------------------------------------- the run

struct Measured {
    generated_s: Option<f64>,
    db_bytes: u64,
    counts: Vec<(String, i64)>,
    import_ms: f64,
    import_how: String,
    page_start_to_answer_ms: f64,
    startup: Value,
    first_query_ms: f64,
    native_open_first_ms: f64,
    plan: Vec<Query>,
    worker: Vec<Stats>,
    page: Vec<Stats>,
    native: Vec<Stats>,
    unmeasured: Vec<String>,
    checkout_worker: Stats,
    checkout_page: Stats,
    checkout_native: Stats,
    status_ms: f64,
    wasm_memory: f64,
    js_heap: Option<f64>,
    chrome: ChromeMemory,
    wasm_raw: u64,
    wasm_gz: u64,
    clock_resolution_ms: f64,
    chromium: String,
    seconds: f64,
}

async fn run(o: &Options) -> Result<String> {
    let started = Instant::now();
    let (data, generated_s) = dataset(o)?;
    let work = tempfile::Builder::new()
        .prefix("browserbench-")
        .tempdir_in(&o.data_dir)
        .map_err(|e| e.to_string())?;
    let import = work.path().join("import.sqlite");
    rollback_copy(&data, &import)?;
    let native_db = work.path().join("native.sqlite");
    std::fs::copy(&import, &native_db).map_err(|e| e.to_string())?;
    let db_bytes = std::fs::metadata(&import).map_err(|e| e.to_string())?.len();
    let (plan, commands, counts) = {
        let c = Connection::open(&import).map_err(|e| e.to_string())?;
        let mut counts = Vec::new();
        for t in [
            "products",
            "customers",
            "invoices",
            "invoice_lines",
            "stock_movements",
        ] {
            counts.push((
                t.to_string(),
                one(&c, &format!("SELECT count(*) FROM {t}"))?,
            ));
        }
        (
            plan(&c, &Scope::Stored)?,
            checkouts(&c, o.checkouts + WARM_CHECKOUTS + o.checkouts.div_ceil(2))?,
            counts,
        )
    };
    let planned: BTreeSet<String> = plan
        .iter()
        .map(|q| q.request["query"].as_str().unwrap_or("").to_string())
        .collect();
    let unmeasured: Vec<String> = request_variants().difference(&planned).cloned().collect();

    eprintln!("browserbench: native queries");
    let (native_open_first_ms, native) = native_queries(&native_db, &plan, o)?;
    eprintln!("browserbench: native checkouts");
    let checkout_native = native_checkouts(&native_db, &commands, WARM_CHECKOUTS)?;

    let wasm = root().join("web/pkg/store_wasm_bg.wasm");
    let wasm_raw = std::fs::metadata(&wasm)
        .map_err(|e| format!("{}: {e} (cargo xtask wasm)", wasm.display()))?
        .len();
    let gz = Process::new("gzip")
        .args(["-9", "-c"])
        .arg(&wasm)
        .output()
        .map_err(|e| format!("gzip: {e}"))?;
    let wasm_gz = gz.stdout.len() as u64;

    let server_data = work.path().join("server");
    let (_server, addr) = start_server(&server_bin(o)?, &server_data)?;
    let file = serve_file(import.clone())?;
    let b = Browser::start().await?;
    let chromium = Process::new("chromium")
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let url = format!("http://{addr}");
    b.client
        .goto(&format!("{url}/health"))
        .await
        .map_err(|e| e.to_string())?;

    // Restore the dataset into OPFS.
    eprintln!("browserbench: importing {} MiB into OPFS", db_bytes >> 20);
    let import_ms = b
        .js(
            "const { Engine } = await import('/engine/client.js');
             window.Engine = Engine;
             const e = Engine.start({ db: args[0] });
             await e.ready;
             const t = performance.now();
             let how = 'Blob';
             let data;
             try {
               data = await (await fetch(args[1])).blob();
             } catch (err) {
               // Chromium may refuse a Blob this large (blob storage
               // limits); the bytes in memory then.
               how = 'ArrayBuffer (the Blob failed: ' + err.message + ')';
               data = await (await fetch(args[1])).arrayBuffer();
             }
             await e.importDatabase(data);
             const ms = performance.now() - t;
             e.terminate();
             return { ms, how };",
            vec![json!(DB), json!(format!("http://{file}/dataset.sqlite"))],
        )
        .await?;
    let import_how = import_ms["how"].as_str().unwrap_or("").to_string();
    let import_ms = import_ms["ms"].as_f64().unwrap_or(f64::NAN);
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Open and answer the first query.
    eprintln!("browserbench: open to first answer");
    let opened = b
        .js(
            "const t = performance.now();
             const e = window.Engine.start({ db: args[0] });
             window.engine = e;
             await e.ready;
             const r = await e.benchmark({ queries: [args[1]], rounds: 0, warmup: 0 });
             return { total: performance.now() - t, r };",
            vec![json!(DB), plan[0].request.clone()],
        )
        .await?;
    let page_start_to_answer_ms = opened["total"].as_f64().unwrap_or(f64::NAN);
    let startup = opened["r"]["startup"].clone();
    let first_query_ms = opened["r"]["first_query_ms"].as_f64().unwrap_or(f64::NAN);
    let clock_resolution_ms = b
        .js(
            "let min = Infinity, last = performance.now();
             for (let i = 0; i < 200000 && min > 0.0005; i++) {
               const n = performance.now();
               if (n > last) { min = Math.min(min, n - last); last = n; }
             }
             return min;",
            vec![],
        )
        .await?
        .as_f64()
        .unwrap_or(f64::NAN);

    let samples = |v: &Value| Stats {
        samples: v
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_f64).collect())
            .unwrap_or_default(),
        extrapolated: None,
    };
    let mut worker = Vec::new();
    let mut page = Vec::new();
    let mut wasm_memory = f64::NAN;
    let mut js_heap = None;
    for (q, n) in plan.iter().zip(&native) {
        eprintln!("browserbench: {}", q.label);
        // The browser is slower: fewer rounds than natively.
        let rounds = rounds_for(n.p50() * 3.0, o, 300);
        let r = b
            .js(
                "return await window.engine.benchmark({ queries: [args[0]], rounds: args[1], warmup: Math.max(1, Math.floor(args[1] / 10)) });",
                vec![q.request.clone(), json!(rounds)],
            )
            .await?;
        worker.push(samples(&r["queries"][0]));
        wasm_memory = r["wasm_memory_bytes"].as_f64().unwrap_or(f64::NAN);
        js_heap = r["js_heap_bytes"].as_f64();
        let p = b
            .js(
                "const s = [];
                 for (let i = 0; i < args[1]; i++) {
                   const t = performance.now();
                   await window.engine.query(args[0]);
                   s.push(performance.now() - t);
                 }
                 return s;",
                vec![q.request.clone(), json!(rounds.min(100))],
            )
            .await?;
        page.push(samples(&p));
    }

    eprintln!("browserbench: checkouts");
    let half = o.checkouts + WARM_CHECKOUTS;
    let r = b
        .js(
            "return await window.engine.benchmark({ commands: args[0] });",
            vec![json!(commands[..half])],
        )
        .await?;
    let status_ms = r["status_ms"].as_f64().unwrap_or(f64::NAN);
    let mut checkout_worker = samples(&r["commands"]);
    checkout_worker.samples.drain(..WARM_CHECKOUTS.min(half));
    let p = b
        .js(
            "const s = [];
             for (const c of args[0]) {
               const t = performance.now();
               await window.engine.execute('bench', c);
               s.push(performance.now() - t);
             }
             return s;",
            vec![json!(commands[half..])],
        )
        .await?;
    let checkout_page = samples(&p);
    let chrome = chrome_memory(b.driver.0.id());
    let _ = b.client.clone().close().await;
    Ok(report(
        o,
        &Measured {
            generated_s,
            db_bytes,
            counts,
            import_ms,
            import_how,
            page_start_to_answer_ms,
            startup,
            first_query_ms,
            native_open_first_ms,
            plan,
            worker,
            page,
            native,
            unmeasured,
            checkout_worker,
            checkout_page,
            checkout_native,
            status_ms,
            wasm_memory,
            js_heap,
            chrome,
            wasm_raw,
            wasm_gz,
            clock_resolution_ms,
            chromium,
            seconds: started.elapsed().as_secs_f64(),
        },
    ))
}

// ---------------------------------------------------------------- report

fn mib(bytes: f64) -> String {
    format!("{:.1} MiB", bytes / 1_048_576.0)
}

fn ratio(a: f64, b: f64) -> String {
    if a.is_nan() || b.is_nan() || b <= 0.0 {
        return "n/a".into();
    }
    let r = a / b;
    if r >= 10.0 {
        format!("{r:.0}x")
    } else {
        format!("{r:.1}x")
    }
}

fn mean(s: &Stats) -> f64 {
    if s.samples.is_empty() {
        return f64::NAN;
    }
    s.samples.iter().sum::<f64>() / s.samples.len() as f64
}

/// The DESIGN.md §7 browser budget (p95) of a query, when it has one.
fn budget(query: &str) -> Option<f64> {
    match query {
        "search_products" | "product_by_barcode" | "customer_statement" => Some(2.0),
        "invoice" => Some(1.0),
        "sales_report" => Some(50.0),
        _ => None,
    }
}

fn verdict(p95: f64, limit: f64) -> String {
    format!(
        "{} {}",
        if p95 <= limit { "✅" } else { "❌" },
        fmt_ms(limit)
    )
}

fn report(o: &Options, m: &Measured) -> String {
    let mut s = String::new();
    let machine = Machine::detect();
    let _ = writeln!(
        s,
        "Browser benchmark, dataset `{}` (seed {}): {}. Database file {} ({}). \
         Chromium: {}. Machine: {} cores ({}), {:.1} GiB. Run took {:.0} s.\n",
        o.size.name,
        o.seed,
        m.counts
            .iter()
            .map(|(t, n)| format!("{n} {t}"))
            .collect::<Vec<_>>()
            .join(", "),
        mib(m.db_bytes as f64),
        match m.generated_s {
            Some(g) => format!("generated natively in {g:.0} s"),
            None => "reused from the cache".into(),
        },
        if m.chromium.is_empty() {
            "unknown version"
        } else {
            &m.chromium
        },
        machine.cores,
        machine.model,
        machine.memory_kib as f64 / 1_048_576.0,
        m.seconds,
    );
    let _ = writeln!(s, "Reproduce with `{}`.\n", o.command);
    let _ = writeln!(
        s,
        "The terminal runs as in production: `web/engine` (page `Engine`, dedicated worker, wasm \
         engine, SQLite on OPFS through the sahpool VFS, `synchronous = FULL`, rollback journal), \
         served by the real `sync-server`. The dataset was restored into OPFS with \
         `Engine.importDatabase` (written into OPFS in 8 MiB chunks). **worker** times each \
         call with `performance.now()` inside the worker (the engine's cost, JS ↔ wasm conversion \
         included); **page** times `await engine.query(...)` from the page (adds the \
         `postMessage` round trip). Native runs the same requests through `Request::run` on a copy \
         of the same file (`Replica`, WAL, `synchronous = FULL`). The browser clock's resolution \
         here is {} (Chromium coarsens `performance.now()` without cross-origin isolation), so \
         sub-resolution percentiles are quantised; the mean is exact over many calls.\n",
        fmt_ms(m.clock_resolution_ms)
    );

    let st = |k: &str| m.startup[k].as_f64().unwrap_or(f64::NAN);
    let open_to_answer = st("open_ms") + m.first_query_ms;
    let _ = writeln!(s, "#### Open and first answer\n");
    let _ = writeln!(s, "| step | browser | native |\n|---|---:|---:|");
    let _ = writeln!(
        s,
        "| `Terminal.open` to the first answer (product search), in the worker | {} ({}) | {} |",
        fmt_ms(open_to_answer),
        verdict(open_to_answer, 300.0),
        fmt_ms(m.native_open_first_ms)
    );
    let _ = writeln!(
        s,
        "| of which `Terminal.open` (install OPFS VFS, open, migrations check) | {} | |",
        fmt_ms(st("open_ms"))
    );
    let _ = writeln!(
        s,
        "| of which the first query (cold cache) | {} | |",
        fmt_ms(m.first_query_ms)
    );
    let _ = writeln!(
        s,
        "| `Engine.start` in the page to the first answer (worker start, wasm compile and init {}, Web Lock {}) | {} | |",
        fmt_ms(st("init_ms")),
        fmt_ms(st("lock_ms")),
        fmt_ms(m.page_start_to_answer_ms)
    );
    let _ = writeln!(
        s,
        "| restore {} into OPFS (`fetch` to {}, `importDatabase`) | {} | |\n",
        mib(m.db_bytes as f64),
        m.import_how,
        fmt_ms(m.import_ms)
    );

    let _ = writeln!(s, "#### Queries of the catalogue\n");
    let _ = writeln!(
        s,
        "| query | worker p50 / p95 / p99 (mean) | page p50 / p95 | native p50 / p95 / p99 (mean) | worker / native (mean) | browser budget (p95) |\n|---|---:|---:|---:|---:|---:|"
    );
    for (((q, w), p), n) in m.plan.iter().zip(&m.worker).zip(&m.page).zip(&m.native) {
        let name = q.request["query"].as_str().unwrap_or("");
        let _ = writeln!(
            s,
            "| {} (`{name}`) | {} / {} / {} ({}) | {} / {} | {} / {} / {} ({}) | {} | {} |",
            q.label,
            fmt_ms(w.p50()),
            fmt_ms(w.p95()),
            fmt_ms(w.p99()),
            fmt_ms(mean(w)),
            fmt_ms(p.p50()),
            fmt_ms(p.p95()),
            fmt_ms(n.p50()),
            fmt_ms(n.p95()),
            fmt_ms(n.p99()),
            fmt_ms(mean(n)),
            ratio(mean(w), mean(n)),
            budget(name)
                .map(|l| verdict(w.p95(), l))
                .unwrap_or_default(),
        );
    }
    if !m.unmeasured.is_empty() {
        let _ = writeln!(s, "\nNot measured: {}.", m.unmeasured.join(", "));
    }
    let _ = writeln!(
        s,
        "\nRuns per query: worker {}..{}, page up to 100, native {}..{} (after warm-up).\n",
        m.worker.iter().map(|w| w.samples.len()).min().unwrap_or(0),
        m.worker.iter().map(|w| w.samples.len()).max().unwrap_or(0),
        m.native.iter().map(|w| w.samples.len()).min().unwrap_or(0),
        m.native.iter().map(|w| w.samples.len()).max().unwrap_or(0),
    );

    let _ = writeln!(s, "#### Durable checkout (5 lines + payment)\n");
    let _ = writeln!(
        s,
        "| where | runs | p50 | p95 | p99 | mean | budget (p95) |\n|---|---:|---:|---:|---:|---:|---:|"
    );
    for (name, st, b) in [
        ("browser, worker", &m.checkout_worker, true),
        (
            "browser, page (`await engine.execute`)",
            &m.checkout_page,
            false,
        ),
        ("native", &m.checkout_native, false),
    ] {
        let _ = writeln!(
            s,
            "| {name} | {} | {} | {} | {} | {} | {} |",
            st.samples.len(),
            fmt_ms(st.p50()),
            fmt_ms(st.p95()),
            fmt_ms(st.p99()),
            fmt_ms(mean(st)),
            if b {
                verdict(st.p95(), 5.0)
            } else {
                String::new()
            }
        );
    }
    let _ = writeln!(
        s,
        "\nEach checkout is one `sell` command (validation, one automerge change, the projection \
         rows) committed in one SQLite transaction with `synchronous = FULL` before the promise \
         resolves; the first 10 are a warm-up. In the browser every write is followed \
         by the sync status the worker sends to the page (`Terminal.status`, which counts the \
         changes the server does not hold yet); one such status took {} after the checkouts \
         (this restored terminal never synced, so every change counts).\n",
        fmt_ms(m.status_ms)
    );

    let _ = writeln!(s, "#### Size and memory\n");
    let _ = writeln!(s, "| what | value |\n|---|---:|");
    let _ = writeln!(
        s,
        "| `web/pkg/store_wasm_bg.wasm` raw / gzip -9 | {} / {} |",
        mib(m.wasm_raw as f64),
        mib(m.wasm_gz as f64)
    );
    let _ = writeln!(
        s,
        "| wasm linear memory of the worker (after the run) | {} |",
        mib(m.wasm_memory)
    );
    if let Some(h) = m.js_heap {
        let _ = writeln!(s, "| JS heap used by the worker | {} |", mib(h));
    }
    let mut kinds: BTreeMap<&str, (usize, u64, u64, u64)> = BTreeMap::new();
    for p in &m.chrome.procs {
        let k = kinds.entry(p.0.as_str()).or_default();
        k.0 += 1;
        k.1 += p.1;
        k.2 = k.2.max(p.2);
        k.3 += p.3;
    }
    for (kind, (n, rss, hwm, pss)) in &kinds {
        let _ = writeln!(
            s,
            "| Chromium `{kind}` processes ({n}): RSS / largest peak RSS / PSS | {} / {} / {} |",
            mib(*rss as f64 * 1024.0),
            mib(*hwm as f64 * 1024.0),
            mib(*pss as f64 * 1024.0)
        );
    }
    let total_pss: u64 = m.chrome.procs.iter().map(|p| p.3).sum();
    let _ = writeln!(
        s,
        "| all Chromium processes ({}): PSS | {} |",
        m.chrome.procs.len(),
        mib(total_pss as f64 * 1024.0)
    );
    let _ = writeln!(
        s,
        "\nPSS shares pages between processes fairly; the page and its worker run in a renderer \
         process, whose memory holds SQLite's page cache inside the wasm memory."
    );
    s
}
