//! Build and test tooling: the commands of the README.
//!
//! - `cargo xtask run`: builds and starts the product.
//! - `cargo xtask test`: installs what the tests need when it is missing,
//!   then runs formatting, lint and every test of the workspace.
//! - `cargo xtask bench [--size demo|terminal] [--out FILE] [--readme |
//!   --no-readme] [bench args...]`: builds the benchmark in release, runs
//!   it, writes its markdown report to FILE (default
//!   `target/bench-SIZE.md`) and, for the terminal size (or with
//!   `--readme`), puts the report in the README between
//!   `<!-- bench:start -->` and `<!-- bench:end -->`.
//! - `cargo xtask bench load [--out FILE] [--no-readme] [loadbench args...]`:
//!   builds the server and its load benchmark in release, runs it (the real
//!   server as a child process on loopback, 100 and 1,000 simulated
//!   terminals, a terminal offline for a day, merge throughput without the
//!   network), writes its report to FILE (default `target/loadbench.md`)
//!   and puts it in the README between `<!-- loadbench:start -->` and
//!   `<!-- loadbench:end -->`.
//!
//! Everything here shells out to the ordinary tools (cargo, apt-get) so a
//! reader can rerun any step by hand.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

fn cargo() -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(root());
    c
}

fn run(step: &str, mut cmd: Command) -> Result<(), String> {
    eprintln!("==> {step}");
    let status = cmd
        .status()
        .map_err(|e| format!("{step}: cannot start: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{step}: failed ({status})"))
    }
}

fn have(program: &str, arg: &str) -> bool {
    Command::new(program)
        .arg(arg)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// Installs Debian packages when a command they provide is missing.
fn ensure_apt(program: &str, packages: &[&str]) -> Result<(), String> {
    if have(program, "--version") {
        return Ok(());
    }
    if !have("apt-get", "--version") {
        return Err(format!(
            "{program} is missing and apt-get is not available: install {} by hand",
            packages.join(" ")
        ));
    }
    let sudo = !is_root();
    let apt = |args: &[&str]| {
        let mut c = if sudo {
            Command::new("sudo")
        } else {
            Command::new("apt-get")
        };
        if sudo {
            c.arg("apt-get");
        }
        c.args(args).env("DEBIAN_FRONTEND", "noninteractive");
        c
    };
    run("apt-get update", apt(&["update", "-q"]))?;
    let mut args = vec!["install", "-y", "-q", "--no-install-recommends"];
    args.extend_from_slice(packages);
    run(
        &format!("apt-get install {}", packages.join(" ")),
        apt(&args),
    )
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn ensure_rust_components() -> Result<(), String> {
    for (tool, component) in [("rustfmt", "rustfmt"), ("cargo-clippy", "clippy")] {
        if !have(tool, "--version") && have("rustup", "--version") {
            let mut c = Command::new("rustup");
            c.args(["component", "add", component]);
            run(&format!("rustup component add {component}"), c)?;
        }
    }
    Ok(())
}

fn test() -> Result<(), String> {
    // SQLite (bundled) is compiled from C.
    ensure_apt("cc", &["build-essential"])?;
    ensure_rust_components()?;
    let mut fmt = cargo();
    fmt.args(["fmt", "--all", "--check"]);
    run("cargo fmt --check", fmt)?;
    let mut clippy = cargo();
    clippy.args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]);
    run("cargo clippy -D warnings", clippy)?;
    let mut t = cargo();
    t.args(["test", "--workspace"]);
    run("cargo test --workspace", t)?;
    Ok(())
}

fn start(args: &[String]) -> Result<(), String> {
    ensure_apt("cc", &["build-essential"])?;
    let mut c = cargo();
    c.args(["run", "--release", "--package", "sync-server", "--"]);
    // `cargo xtask run -- serve --help`: the `--` separated cargo's options
    // from ours; the server must not see it.
    c.args(args.strip_prefix(&["--".to_string()]).unwrap_or(args));
    run("sync-server", c)
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
}

const BENCH_START: &str = "<!-- bench:start -->";
const BENCH_END: &str = "<!-- bench:end -->";
const LOADBENCH_START: &str = "<!-- loadbench:start -->";
const LOADBENCH_END: &str = "<!-- loadbench:end -->";

/// Replaces what is between the bench markers of `text` with `section`.
fn replace_bench_section(text: &str, section: &str) -> Option<String> {
    replace_section(text, section, BENCH_START, BENCH_END)
}

/// Replaces what is between the markers `start` and `end` of `text` with
/// `section`.
fn replace_section(text: &str, section: &str, start: &str, end: &str) -> Option<String> {
    let a = text.find(start)? + start.len();
    let b = a + text[a..].find(end)?;
    Some(format!(
        "{}\n{}\n{}",
        &text[..a],
        section.trim_end(),
        &text[b..]
    ))
}

/// `cargo xtask bench load`: the sync load benchmark (issue 3).
fn bench_load(args: &[String]) -> Result<(), String> {
    let mut out: Option<PathBuf> = None;
    let mut readme = true;
    let mut pass = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--out" => out = Some(PathBuf::from(it.next().ok_or("--out needs a value")?)),
            "--no-readme" => readme = false,
            "--readme" => readme = true,
            other => pass.push(other.to_string()),
        }
    }
    let out = out.unwrap_or_else(|| target_dir().join("loadbench.md"));
    ensure_apt("cc", &["build-essential"])?;
    let mut build = cargo();
    // Both binaries: the benchmark starts the server binary beside it.
    build.args(["build", "--release", "-p", "sync-server", "--bins"]);
    run("cargo build --release -p sync-server --bins", build)?;
    let mut c = Command::new(target_dir().join("release").join("loadbench"));
    c.current_dir(root());
    let mut command = "cargo xtask bench load".to_string();
    for a in &pass {
        command.push(' ');
        command.push_str(a);
    }
    c.args(["--out"]).arg(&out).args(["--command", &command]);
    c.args(&pass);
    c.stdout(std::process::Stdio::null());
    run("loadbench", c)?;
    eprintln!("==> report: {}", out.display());
    if readme {
        let report = std::fs::read_to_string(&out)
            .map_err(|e| format!("cannot read {}: {e}", out.display()))?;
        let path = root().join("README.md");
        let text = std::fs::read_to_string(&path).map_err(|e| format!("README.md: {e}"))?;
        let new = replace_section(&text, &report, LOADBENCH_START, LOADBENCH_END).ok_or(
            "README.md lacks the <!-- loadbench:start --> / <!-- loadbench:end --> markers",
        )?;
        std::fs::write(&path, new).map_err(|e| format!("README.md: {e}"))?;
        eprintln!("==> README.md sync load section updated");
    }
    Ok(())
}

fn bench(args: &[String]) -> Result<(), String> {
    if args.first().map(String::as_str) == Some("load") {
        return bench_load(&args[1..]);
    }
    let mut size = "terminal".to_string();
    let mut out: Option<PathBuf> = None;
    let mut readme: Option<bool> = None;
    let mut pass = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--size" => size = it.next().ok_or("--size needs a value")?.clone(),
            "--out" => out = Some(PathBuf::from(it.next().ok_or("--out needs a value")?)),
            "--readme" => readme = Some(true),
            "--no-readme" => readme = Some(false),
            other => pass.push(other.to_string()),
        }
    }
    let out = out.unwrap_or_else(|| target_dir().join(format!("bench-{size}.md")));
    ensure_apt("cc", &["build-essential"])?;
    let mut build = cargo();
    build.args(["build", "--release", "-p", "store-tests", "--bin", "bench"]);
    run("cargo build --release --bin bench", build)?;
    let mut c = cargo();
    c.args([
        "run",
        "--release",
        "-q",
        "-p",
        "store-tests",
        "--bin",
        "bench",
        "--",
    ]);
    c.args(["--size", &size, "--out"]);
    c.arg(&out);
    c.args(["--command", &format!("cargo xtask bench --size {size}")]);
    c.args(&pass);
    c.stdout(std::process::Stdio::null());
    run(&format!("bench --size {size}"), c)?;
    eprintln!("==> report: {}", out.display());
    if readme.unwrap_or(size == "terminal") {
        let report = std::fs::read_to_string(&out)
            .map_err(|e| format!("cannot read {}: {e}", out.display()))?;
        let path = root().join("README.md");
        let text = std::fs::read_to_string(&path).map_err(|e| format!("README.md: {e}"))?;
        let new = replace_bench_section(&text, &report)
            .ok_or("README.md lacks the <!-- bench:start --> / <!-- bench:end --> markers")?;
        std::fs::write(&path, new).map_err(|e| format!("README.md: {e}"))?;
        eprintln!("==> README.md performance section updated");
    }
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("test") => test(),
        Some("run") => start(&args[1..]),
        Some("bench") => bench(&args[1..]),
        _ => {
            eprintln!(
                "usage: cargo xtask <run [server args...] | test | bench [--size demo|terminal] [--out FILE] [--readme|--no-readme] | bench load [--out FILE] [--no-readme] [loadbench args...]>"
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}
