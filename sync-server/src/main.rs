//! The store engine's server binary.
//!
//! `demo` creates (on first start) a store database under the data directory
//! with generated data and prints the back-office reports from it. The sync
//! endpoint and the back-office HTTP API come with the sync-server issue.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use store_core::generate::{DatasetSize, generate_file};
use store_core::query::{Period, Queries, TopBy};
use store_core::{OpenOptions, Replica, ReplicaIdentity, SystemEnv};
use tracing::info;

#[derive(Parser, Debug)]
#[command(version, about = "Offline-first store engine: server and back office")]
struct Cli {
    /// Directory holding the server's database and backups.
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
    /// Create the store with generated demo data when new, then print the
    /// back-office reports (the default).
    Demo {
        /// Seed of the generated data (same seed, same store).
        #[arg(long, default_value_t = 2026)]
        seed: u64,
        /// Branch whose reports are printed.
        #[arg(long, default_value = "B1")]
        branch: String,
    },
}

fn identity(branch: &str) -> ReplicaIdentity {
    ReplicaIdentity {
        replica_id: "server".into(),
        branch_id: branch.into(),
        branch_code: branch.into(),
        terminal_code: "HQ".into(),
    }
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

fn demo(
    data_dir: &std::path::Path,
    seed: u64,
    branch: &str,
) -> Result<(), Box<dyn std::error::Error>> {
    std::fs::create_dir_all(data_dir)?;
    let path = data_dir.join("store.sqlite");
    let now = {
        use store_core::Env;
        SystemEnv.now_ms()
    };
    if !path.exists() {
        info!(path = %path.display(), seed, "new database: generating the demo store");
        let started = std::time::Instant::now();
        let report = generate_file(&path, identity(branch), &DatasetSize::DEMO, seed, now)?;
        info!(
            commands = report.commands,
            invoices = report.invoices,
            service_orders = report.service_orders,
            secs = started.elapsed().as_secs_f64(),
            "demo store generated"
        );
    }
    let replica = Replica::open(
        &path,
        identity(branch),
        Box::new(SystemEnv),
        &OpenOptions::default(),
    )?;
    replica.integrity_check()?;
    let q = Queries::new(replica.connection());
    let (first_day, last_day): (String, String) = replica.connection().query_row(
        "SELECT coalesce(min(day), ''), coalesce(max(day), '') FROM invoices",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    println!(
        "Store {} — sales from {first_day} to {last_day}\n",
        path.display()
    );

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

    let schedule_day: String = replica.connection().query_row(
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(&cli.log))
        .with_writer(std::io::stderr)
        .init();
    let result = match cli.command.unwrap_or(Cmd::Demo {
        seed: 2026,
        branch: "B1".into(),
    }) {
        Cmd::Demo { seed, branch } => demo(&cli.data_dir, seed, &branch),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
