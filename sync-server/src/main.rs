//! The store engine's server binary: `serve` (the default) runs the sync
//! endpoint and the back office; the other subcommands administer the
//! database.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use rusqlite::{Connection, OpenFlags};
use store_core::query::{Period, Queries, TopBy};
use store_core::{Env, SystemEnv};
use sync_server::{Config, Limits, Maintenance};

#[derive(Parser, Debug)]
#[command(
    version,
    about = "Offline-first store engine: sync server and back office"
)]
struct Cli {
    /// Directory holding the server's database (server.sqlite).
    #[arg(long, env = "STORE_DATA_DIR", default_value = "data", global = true)]
    data_dir: PathBuf,
    /// Log filter (error, warn, info, debug, trace, or a tracing directive).
    #[arg(long, env = "STORE_LOG", default_value = "info", global = true)]
    log: String,
    #[command(subcommand)]
    command: Option<Cmd>,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Run the server (the default). A new database gets demo data.
    Serve {
        /// Address to listen on.
        #[arg(long, env = "STORE_BIND", default_value = "127.0.0.1:8080")]
        bind: SocketAddr,
        /// Token for the admin endpoints (register terminals, branches).
        #[arg(long, env = "STORE_ADMIN_TOKEN")]
        admin_token: Option<String>,
        /// Do not create demo data in a new database.
        #[arg(long)]
        no_demo: bool,
        /// Seed of the demo data.
        #[arg(long, default_value_t = 2026)]
        seed: u64,
        /// Frames a terminal may send per second.
        #[arg(long, env = "STORE_RATE", default_value_t = 50)]
        rate: u32,
        /// Hours between verified backups into <data-dir>/backups (0: none).
        #[arg(long, env = "STORE_BACKUP_HOURS", default_value_t = 6)]
        backup_hours: u64,
        /// Directory of the browser terminal (index.html, engine/, pkg/)
        /// served at `/`. Default: `web` when it exists in the current
        /// directory (as under `cargo xtask run`).
        #[arg(long, env = "STORE_WEB_DIR")]
        web_dir: Option<PathBuf>,
    },
    /// Register a terminal for a branch and print its identity and token.
    RegisterTerminal {
        /// Branch id.
        #[arg(long)]
        branch: String,
        /// Terminal code (default: the branch's next free T<n>).
        #[arg(long)]
        code: Option<String>,
    },
    /// Revoke a terminal's token.
    RevokeTerminal {
        /// Terminal id.
        id: String,
    },
    /// Print the back-office reports of a branch.
    Report {
        /// Branch code.
        #[arg(long, default_value = "B1")]
        branch: String,
    },
}

fn money(v: i64) -> String {
    let sign = if v < 0 { "-" } else { "" };
    let v = v.unsigned_abs();
    let units = (v / 100).to_string();
    let mut grouped = String::new();
    for (i, c) in units.chars().enumerate() {
        if i > 0 && (units.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("{sign}{grouped}.{:02}", v % 100)
}

fn qty(v: i64) -> String {
    let sign = if v < 0 { "-" } else { "" };
    let v = v.unsigned_abs();
    format!("{sign}{}.{:03}", v / 1000, v % 1000)
}

fn report(conn: &Connection, code: &str) -> Result<(), Box<dyn std::error::Error>> {
    let branch: String = conn
        .query_row("SELECT id FROM branches WHERE code = ?1", [code], |r| {
            r.get(0)
        })
        .map_err(|_| format!("no branch with code {code}"))?;
    let branch = branch.as_str();
    let now = SystemEnv.now_ms();
    let q = Queries::new(conn);
    let (first_day, last_day): (String, String) = conn.query_row(
        "SELECT coalesce(min(day), ''), coalesce(max(day), '') FROM invoices",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    println!("Branch {code} — sales from {first_day} to {last_day}\n");

    println!("Monthly sales by branch");
    let report = q.sales_report(Period::Month, &first_day, &last_day)?;
    for s in &report.sales {
        println!(
            "  {} {:<6} {:>6} invoices  total {:>14}  paid {:>14}  void {}",
            s.period,
            s.branch_id,
            s.invoices,
            money(s.total),
            money(s.paid),
            s.voided
        );
    }
    println!("Payments by channel");
    for c in &report.channels {
        println!(
            "  {} {:<8} {:>6} payments  net {:>14}",
            c.period,
            c.channel,
            c.payments,
            money(c.net)
        );
    }
    println!("Sales by category");
    for c in &report.categories {
        println!("  {} {:<10} {:>14}", c.period, c.category, money(c.total));
    }

    println!("\nTop products by revenue");
    for t in q.top_products(Some(branch), &first_day, &last_day, TopBy::Revenue, 10)? {
        println!(
            "  {:<12} {:<28} {:>12} {:<6} {:>14}",
            t.sku.unwrap_or_default(),
            t.name.unwrap_or_default(),
            qty(t.qty),
            t.unit.unwrap_or_default(),
            money(t.revenue)
        );
    }

    println!("\nLow stock at {branch}");
    let low = q.low_stock(branch, None, 15)?;
    for l in &low.rows {
        println!(
            "  {:<12} {:<28} on hand {:>12}  min {:>10}",
            l.sku,
            l.name,
            qty(l.on_hand),
            qty(l.min_stock)
        );
    }

    let a = q.receivables_aging(now)?;
    println!(
        "\nReceivables: {} open invoices, {}  (0-30: {}, 31-60: {}, 61-90: {}, 90+: {})",
        a.invoices,
        money(a.total),
        money(a.days_0_30),
        money(a.days_31_60),
        money(a.days_61_90),
        money(a.over_90)
    );
    println!("Customers with the largest balances");
    for c in q.customers_with_balance(None, 10)?.rows {
        println!(
            "  {:<24} {:>14}  limit {:>14}",
            c.name.unwrap_or_default(),
            money(c.balance),
            money(c.credit_limit.unwrap_or(0))
        );
    }

    let v = q.stock_valuation(branch)?;
    println!("\nStock valuation at {branch}: {}", money(v.total));

    let schedule_day: String = conn.query_row(
        "SELECT coalesce(max(scheduled_date), '') FROM service_orders WHERE branch_id = ?1",
        [branch],
        |r| r.get(0),
    )?;
    println!("\nWorkshop schedule for {schedule_day}");
    for o in q.day_schedule(branch, &schedule_day, None, 20)?.rows {
        println!(
            "  {:<18} {:<14} {:<22} {:<10} {:<18} {}",
            o.number,
            o.status,
            o.customer_name.unwrap_or_default(),
            o.plate.unwrap_or_default(),
            format!(
                "{} {}",
                o.make.unwrap_or_default(),
                o.model.unwrap_or_default()
            ),
            o.technician_name.unwrap_or_default()
        );
    }

    let s = q.alerts_summary()?;
    println!(
        "\nAlerts: {} negative stock, {} customers over credit, {} field conflicts, {} duplicate keys, {} rejected records",
        s.negative_stock,
        s.customers_over_credit,
        s.field_conflicts,
        s.duplicate_keys,
        s.rejected_records
    );
    Ok(())
}

/// The admin token kept in `data/admin-token`, created (random, readable by
/// the owner only) on first start when none is configured.
fn admin_token_file(data_dir: &std::path::Path) -> std::io::Result<String> {
    let path = data_dir.join("admin-token");
    if let Ok(t) = std::fs::read_to_string(&path) {
        return Ok(t.trim().to_string());
    }
    std::fs::create_dir_all(data_dir)?;
    let mut b = [0u8; 24];
    SystemEnv.fill_random(&mut b);
    let token: String = b.iter().map(|x| format!("{x:02x}")).collect();
    std::fs::write(&path, &token)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    }
    tracing::info!(file = %path.display(), "admin token created");
    Ok(token)
}

async fn run(cli: Cli) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let db = cli.data_dir.join("server.sqlite");
    // No subcommand means `serve` with its flags' defaults and environment.
    let command = match cli.command {
        Some(c) => c,
        None => Cli::parse_from(["sync-server", "serve"])
            .command
            .expect("`serve` parses"),
    };
    match command {
        Cmd::Serve {
            bind,
            admin_token,
            no_demo,
            seed,
            rate,
            backup_hours,
            web_dir,
        } => {
            let web_dir = web_dir.or_else(|| {
                let d = PathBuf::from("web");
                d.join("index.html").exists().then_some(d)
            });
            let new = !db.exists();
            let admin_token = match admin_token {
                Some(t) => t,
                None => admin_token_file(&cli.data_dir)?,
            };
            let admin_token = Some(admin_token);
            let running = sync_server::serve(Config {
                bind,
                data_dir: cli.data_dir.clone(),
                admin_token,
                limits: Limits {
                    frames_per_sec: rate,
                    ..Limits::default()
                },
                maintenance: Maintenance {
                    backup_every: (backup_hours > 0)
                        .then(|| std::time::Duration::from_secs(backup_hours * 3600)),
                    ..Maintenance::default()
                },
                web_dir: web_dir.clone(),
            })
            .await?;
            if new && !no_demo {
                tracing::info!("new database: creating demo data");
                sync_server::demo::seed(&running.state.store, &cli.data_dir, seed).await?;
                tracing::info!(
                    file = %cli.data_dir.join("demo-terminal.json").display(),
                    "demo terminal registered"
                );
            }
            println!("store server listening on http://{}", running.addr);
            match &web_dir {
                Some(d) if d.join("pkg").join("store_wasm_bg.wasm").exists() => {
                    println!(
                        "  terminal: http://{}/  (browser terminal, from {})",
                        running.addr,
                        d.display()
                    );
                }
                Some(d) => println!(
                    "  terminal: {} has no wasm bundle (web/pkg): build it with `cargo xtask wasm`",
                    d.display()
                ),
                None => println!("  terminal: not served (no web directory; see --web-dir)"),
            }
            let browser = std::fs::read_to_string(cli.data_dir.join("browser-terminal.json"))
                .ok()
                .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok());
            if let Some(reg) = browser {
                println!(
                    "  pair a browser terminal with token {} (terminal {})",
                    reg["token"].as_str().unwrap_or("?"),
                    reg["identity"]["replica_id"].as_str().unwrap_or("?")
                );
            }
            println!("  health:  http://{}/health", running.addr);
            println!("  metrics: http://{}/metrics", running.addr);
            println!("  sync:    ws://{}/sync", running.addr);
            println!(
                "  back office and admin API: Authorization: Bearer <token> (see {} unless --admin-token is given)",
                cli.data_dir.join("admin-token").display()
            );
            tokio::select! {
                r = running.wait() => r?,
                _ = tokio::signal::ctrl_c() => tracing::info!("shutting down"),
            }
        }
        Cmd::RegisterTerminal { branch, code } => {
            let store = sync_server::store::Store::open(&db)?;
            let reg = store
                .write(move |r| {
                    sync_server::terminals::register(
                        r.connection(),
                        &branch,
                        code.as_deref(),
                        SystemEnv.now_ms(),
                    )
                })
                .await??;
            println!("{}", serde_json::to_string_pretty(&reg)?);
        }
        Cmd::RevokeTerminal { id } => {
            let store = sync_server::store::Store::open(&db)?;
            store
                .write(move |r| {
                    sync_server::terminals::revoke(r.connection(), &id, SystemEnv.now_ms())
                })
                .await??;
            println!("revoked");
        }
        Cmd::Report { branch } => {
            let conn = Connection::open_with_flags(&db, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
            report(&conn, &branch).map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(&cli.log))
        .with_writer(std::io::stderr)
        .init();
    let runtime = tokio::runtime::Runtime::new().expect("start the async runtime");
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
