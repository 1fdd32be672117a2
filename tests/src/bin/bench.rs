//! The benchmark: this engine, the floor and the seed's naive design side by
//! side at scale, as a markdown report (see `store_tests::bench`).
//!
//! ```text
//! bench [--size demo|terminal] [--out FILE] [--seed N] [--iterations X]
//!       [--data-dir DIR] [--no-cache] [--regenerate] [--command TEXT]
//! bench --generate FILE --size NAME [--seed N]
//! bench --generate-server DIR [--size NAME] [--branches N] [--seed N]
//! bench --server-queries DIR
//! ```
//!
//! `cargo xtask bench` builds it in release, runs it and puts the report in
//! the README. Generated datasets are kept in `--data-dir` (default
//! `target/bench-data`) and reused while the engine's sources are unchanged;
//! `--regenerate` makes a new one, `--no-cache` keeps none. The second form
//! is how the benchmark generates a dataset in a separate process, so that
//! the generator's memory does not count in the benchmark's peak. The third
//! generates the server dataset (every branch's terminal, then the server's
//! database) into DIR and prints what it made, how long it took, and the
//! times of the query catalogue on the server's database; the fourth times
//! the queries again on a server dataset already in DIR.

use std::path::PathBuf;
use std::process::ExitCode;

use store_tests::bench::{self, Generator, NamedSize, Options};

/// mimalloc, for the generator (`--generate`, which the benchmark runs as
/// a child process of this binary): its document thread frees what the
/// writing thread allocated, which glibc's malloc serialises on the
/// arena's lock; a terminal dataset took 50-55 s with glibc, 40-47 s with
/// mimalloc. It costs the engine's writes into large documents (their
/// columns reallocated, which glibc does with mremap): a reprice in the
/// 50k-product catalogue took 0.85-1.13 ms at p50 against 0.68-0.80 ms with
/// glibc, a checkout the same. So the server keeps glibc's malloc, and the
/// write rows of this report are a little pessimistic for catalogue writes.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn usage() -> ExitCode {
    eprintln!(
        "usage: bench [--size demo|terminal] [--out FILE] [--seed N] [--iterations X] \
         [--data-dir DIR] [--no-cache] [--regenerate] [--command TEXT]\n       \
         bench --generate FILE --size NAME [--seed N]\n       \
         bench --generate-server DIR [--size NAME] [--branches N] [--seed N]\n       \
         bench --server-queries DIR"
    );
    ExitCode::from(2)
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"))
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mut size = "terminal".to_string();
    let mut out: Option<PathBuf> = None;
    let mut seed = 42u64;
    let mut iterations = 1.0f64;
    let mut data_dir: Option<PathBuf> = None;
    let mut cache = true;
    let mut regenerate = false;
    let mut command: Option<String> = None;
    let mut generate: Option<PathBuf> = None;
    let mut generate_server: Option<PathBuf> = None;
    let mut server_queries: Option<PathBuf> = None;
    let mut branches = store_core::generate::SERVER_BRANCHES;
    while let Some(a) = args.next() {
        let mut value = || args.next();
        match a.as_str() {
            "--size" => match value() {
                Some(v) => size = v,
                None => return usage(),
            },
            "--out" => out = value().map(PathBuf::from),
            "--seed" => match value().and_then(|v| v.parse().ok()) {
                Some(v) => seed = v,
                None => return usage(),
            },
            "--iterations" => match value().and_then(|v| v.parse().ok()) {
                Some(v) => iterations = v,
                None => return usage(),
            },
            "--data-dir" => data_dir = value().map(PathBuf::from),
            "--no-cache" => cache = false,
            "--regenerate" => regenerate = true,
            "--command" => command = value(),
            "--generate" => generate = value().map(PathBuf::from),
            "--generate-server" => generate_server = value().map(PathBuf::from),
            "--server-queries" => server_queries = value().map(PathBuf::from),
            "--branches" => match value().and_then(|v| v.parse().ok()) {
                Some(v) if v > 0 => branches = v,
                _ => return usage(),
            },
            "-h" | "--help" => {
                usage();
                return ExitCode::SUCCESS;
            }
            _ => return usage(),
        }
    }
    let Some(named) = NamedSize::parse(&size) else {
        eprintln!("bench: unknown size {size:?} (demo, tenth or terminal)");
        return ExitCode::from(2);
    };
    if let Some(dir) = server_queries {
        return match bench::server_queries_report(&dir) {
            Ok(table) => {
                print!("{table}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("bench: the server dataset's queries failed: {e}");
                ExitCode::FAILURE
            }
        };
    }
    if let Some(dir) = generate_server {
        return match bench::generate_server_dataset(&dir, &named, branches, seed) {
            Ok(text) => match bench::server_queries_report(&dir) {
                Ok(table) => {
                    print!("{text}\n{table}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("bench: the server dataset's queries failed: {e}");
                    ExitCode::FAILURE
                }
            },
            Err(e) => {
                eprintln!("bench: server dataset generation failed: {e}");
                ExitCode::FAILURE
            }
        };
    }
    if let Some(path) = generate {
        return match bench::generate_dataset(&path, &named.size, seed) {
            Ok(g) => {
                print!("{}", bench::generation_text(&g));
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("bench: generation failed: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let data_dir = data_dir.unwrap_or_else(|| target_dir().join("bench-data"));
    let exe = match std::env::current_exe() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("bench: cannot find this executable: {e}");
            return ExitCode::FAILURE;
        }
    };
    let opts = Options {
        size: named,
        seed,
        iterations,
        cache_dir: cache.then(|| data_dir.clone()),
        work_dir: data_dir,
        generator: Generator::Subprocess(exe),
        regenerate,
        command: command.unwrap_or_else(|| format!("cargo xtask bench --size {size}")),
    };
    match bench::run(&opts) {
        Ok(report) => {
            let md = report.markdown();
            if let Some(out) = out {
                if let Err(e) = std::fs::write(&out, &md) {
                    eprintln!("bench: cannot write {}: {e}", out.display());
                    return ExitCode::FAILURE;
                }
                eprintln!("bench: report written to {}", out.display());
            }
            println!("{md}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("bench: {e}");
            ExitCode::FAILURE
        }
    }
}
