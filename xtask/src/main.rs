//! Build and test tooling: the commands of the README.
//!
//! - `cargo xtask run`: builds and starts the product.
//! - `cargo xtask test`: installs what the tests need when it is missing,
//!   then runs formatting, lint, every test of the workspace, and the
//!   browser tests in headless Chromium.
//! - `cargo xtask wasm`: builds the browser engine into `web/pkg`.
//! - `cargo xtask bench all`: the three benchmarks below at full size in one
//!   run; the README's performance section, rewritten by them, is the
//!   report (also written to `target/bench-report.md` and printed).
//! - `cargo xtask bench server [--size tenth|terminal] [--branches N]
//!   [--no-readme]`: generates the server dataset (20 branches by default,
//!   each of a tenth of a terminal unless `--size terminal`) and times the
//!   query catalogue on the server's database; puts the result in the
//!   README between `<!-- serverbench:start -->` and `<!-- serverbench:end -->`.
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
//! - `cargo xtask bench browser [--size demo|terminal] [--out FILE]
//!   [--readme | --no-readme] [browserbench args...]`: builds the wasm
//!   bundle, the server and the browser benchmark (release), installs
//!   Chromium when missing, runs it (the terminal engine in headless
//!   Chromium on OPFS against the same queries natively), writes its report
//!   to FILE (default `target/browserbench-SIZE.md`) and, for the terminal
//!   size (or with `--readme`), puts it in the README between
//!   `<!-- browserbench:start -->` and `<!-- browserbench:end -->`.
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
    force_apt(packages)
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

/// The wasm-bindgen CLI must be exactly the version of the crate the bundle
/// is built with (wasm/Cargo.toml pins `=0.2.130`).
const WASM_BINDGEN: &str = "0.2.130";
const WASM_TARGET: &str = "wasm32-unknown-unknown";

fn rustup_has_wasm_target() -> bool {
    Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .any(|l| l.trim() == WASM_TARGET)
        })
        .unwrap_or(false)
}

fn ensure_wasm_bindgen() -> Result<(), String> {
    let ok = Command::new("wasm-bindgen")
        .arg("--version")
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout).trim() == format!("wasm-bindgen {WASM_BINDGEN}")
        })
        .unwrap_or(false);
    if ok {
        return Ok(());
    }
    // `--locked` once failed on a lock mismatch of the CLI's own
    // dependencies; the plain install works (TOOLCHAIN.md).
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.args(["install", "wasm-bindgen-cli", "--version", WASM_BINDGEN]);
    run(
        &format!("cargo install wasm-bindgen-cli {WASM_BINDGEN} (once, a few minutes)"),
        c,
    )
}

/// A cargo that builds for wasm32: the rustup toolchain when it has the
/// target (an ordinary laptop), else Debian's `rustc-web` with the standard
/// library built from source (`../shared/TOOLCHAIN.md`: the rustup target
/// cannot be downloaded on these machines). Both compile SQLite's C with
/// clang.
fn wasm_cargo() -> Result<(Command, bool), String> {
    ensure_apt("clang-19", &["clang-19", "lld-19", "llvm-19"])?;
    let mut c;
    let build_std = !rustup_has_wasm_target();
    if build_std {
        let debian = Path::new("/usr/lib/rustlib/src/rust/library").exists()
            && Command::new("/usr/bin/rustc")
                .arg("--version")
                .output()
                .map(|o| o.status.success())
                .unwrap_or(false)
            && Path::new("/usr/bin/cargo").exists();
        if !debian {
            force_apt(&["rustc-web", "cargo-web", "rust-web-src"])?;
        }
        c = Command::new("/usr/bin/cargo");
        let path = std::env::var("PATH").unwrap_or_default();
        c.env("PATH", format!("/usr/bin:{path}"))
            .env("RUSTC_BOOTSTRAP", "1")
            .env("CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER", "wasm-ld-19");
        // The rustup proxy's variables would pull the other compiler in.
        for v in [
            "RUSTC",
            "RUSTDOC",
            "RUSTC_WRAPPER",
            "RUSTUP_TOOLCHAIN",
            "CARGO",
        ] {
            c.env_remove(v);
        }
    } else {
        c = cargo();
    }
    c.current_dir(root())
        .env("CC_wasm32_unknown_unknown", "clang-19")
        .env("AR_wasm32_unknown_unknown", "llvm-ar-19")
        // Two compilers never share artefacts: the wasm build has its own
        // target directory.
        .env("CARGO_TARGET_DIR", target_dir().join("wasm"))
        // Small and fast: whole-program optimisation, no debug info.
        .env("CARGO_PROFILE_RELEASE_LTO", "true")
        .env("CARGO_PROFILE_RELEASE_DEBUG", "0")
        .env("CARGO_PROFILE_RELEASE_PANIC", "abort");
    Ok((c, build_std))
}

/// Installs Debian packages whatever is on PATH (for packages whose
/// commands shadow others, like Debian's rustc behind rustup's).
fn force_apt(packages: &[&str]) -> Result<(), String> {
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

fn file_size(p: &Path) -> u64 {
    std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
}

fn gzipped_size(p: &Path) -> Result<u64, String> {
    let out = Command::new("gzip")
        .args(["-9", "-c"])
        .arg(p)
        .output()
        .map_err(|e| format!("gzip: {e}"))?;
    Ok(out.stdout.len() as u64)
}

/// Builds the browser engine into `web/pkg` (`wasm-bindgen --target web`,
/// release, optimised) and prints its size.
fn wasm() -> Result<(), String> {
    ensure_apt("cc", &["build-essential"])?;
    ensure_wasm_bindgen()?;
    let (mut c, build_std) = wasm_cargo()?;
    c.args([
        "build",
        "--release",
        "--target",
        WASM_TARGET,
        "-p",
        "store-wasm",
    ]);
    if build_std {
        c.arg("-Zbuild-std=std,panic_abort");
    }
    run(
        if build_std {
            "cargo build store-wasm (Debian rustc-web, std from source)"
        } else {
            "cargo build store-wasm"
        },
        c,
    )?;
    let raw = target_dir()
        .join("wasm")
        .join(WASM_TARGET)
        .join("release")
        .join("store_wasm.wasm");
    let out = root().join("web").join("pkg");
    let mut b = Command::new("wasm-bindgen");
    b.args(["--target", "web", "--out-dir"]).arg(&out).arg(&raw);
    run("wasm-bindgen --target web", b)?;
    let wasm = out.join("store_wasm_bg.wasm");
    // binaryen's optimiser, when this machine has one that understands the
    // module; the bundle is already LTO-optimised without it.
    if have("wasm-opt", "--version") {
        let tmp = out.join("store_wasm_bg.opt.wasm");
        let ok = Command::new("wasm-opt")
            .args(["-O3", "--all-features"])
            .arg(&wasm)
            .arg("-o")
            .arg(&tmp)
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if ok {
            std::fs::rename(&tmp, &wasm).map_err(|e| format!("wasm-opt output: {e}"))?;
        } else {
            let _ = std::fs::remove_file(&tmp);
            eprintln!("==> wasm-opt failed on this module; keeping the LTO build");
        }
    }
    let size = file_size(&wasm);
    let gz = gzipped_size(&wasm)?;
    eprintln!(
        "==> web/pkg/store_wasm_bg.wasm: {:.2} MiB raw, {:.2} MiB gzipped",
        size as f64 / 1048576.0,
        gz as f64 / 1048576.0
    );
    Ok(())
}

/// Chromium and its driver from Debian (browsers that download themselves
/// cannot be fetched here).
fn ensure_chromium() -> Result<(), String> {
    ensure_apt("chromium", &["chromium"])?;
    ensure_apt("chromedriver", &["chromium-driver"])
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
    // The browser tests need the wasm bundle, the server binary and
    // Chromium; plain `cargo test` skips them (they are `#[ignore]`d with
    // that reason), this command runs them.
    wasm()?;
    ensure_chromium()?;
    let mut b = cargo();
    b.args(["build", "-p", "sync-server", "--bin", "sync-server"]);
    run("cargo build sync-server", b)?;
    let mut t = cargo();
    t.args([
        "test",
        "-p",
        "store-tests",
        "--test",
        "browser",
        "--",
        "--ignored",
        "--test-threads=1",
    ]);
    run("browser tests (headless Chromium)", t)?;
    Ok(())
}

fn start(args: &[String]) -> Result<(), String> {
    ensure_apt("cc", &["build-essential"])?;
    // The browser terminal is part of the product: build it first.
    wasm()?;
    let mut c = cargo();
    c.args([
        "run",
        "--release",
        "--package",
        "sync-server",
        "--bin",
        "sync-server",
        "--",
    ]);
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

/// Options of `bench` and `bench browser`; the others pass through to the
/// benchmark binary.
struct BenchArgs {
    size: String,
    out: Option<PathBuf>,
    /// Rewrite the README's part: by default only at terminal size.
    readme: Option<bool>,
    pass: Vec<String>,
}

impl BenchArgs {
    fn parse(args: &[String]) -> Result<BenchArgs, String> {
        let mut b = BenchArgs {
            size: "terminal".to_string(),
            out: None,
            readme: None,
            pass: Vec::new(),
        };
        let mut it = args.iter();
        while let Some(a) = it.next() {
            match a.as_str() {
                "--size" => b.size = it.next().ok_or("--size needs a value")?.clone(),
                "--out" => b.out = Some(PathBuf::from(it.next().ok_or("--out needs a value")?)),
                "--readme" => b.readme = Some(true),
                "--no-readme" => b.readme = Some(false),
                other => b.pass.push(other.to_string()),
            }
        }
        Ok(b)
    }
}

/// `cargo xtask bench browser`: the browser benchmark (issue 4).
fn bench_browser(args: &[String]) -> Result<(), String> {
    let BenchArgs {
        size,
        out,
        readme,
        pass,
    } = BenchArgs::parse(args)?;
    let out = out.unwrap_or_else(|| target_dir().join(format!("browserbench-{size}.md")));
    ensure_apt("cc", &["build-essential"])?;
    wasm()?;
    ensure_chromium()?;
    let mut build = cargo();
    build.args([
        "build",
        "--release",
        "-p",
        "sync-server",
        "--bin",
        "sync-server",
    ]);
    run("cargo build --release -p sync-server", build)?;
    let mut build = cargo();
    build.args([
        "build",
        "--release",
        "-p",
        "store-tests",
        "--bin",
        "browserbench",
    ]);
    run("cargo build --release --bin browserbench", build)?;
    let mut c = Command::new(target_dir().join("release").join("browserbench"));
    c.current_dir(root());
    let mut command = format!("cargo xtask bench browser --size {size}");
    for a in &pass {
        command.push(' ');
        command.push_str(a);
    }
    c.args(["--size", &size, "--out"]).arg(&out);
    c.args(["--command", &command]).args(&pass);
    c.stdout(std::process::Stdio::null());
    run(&format!("browserbench --size {size}"), c)?;
    eprintln!("==> report: {}", out.display());
    if readme.unwrap_or(size == "terminal") {
        put_in_readme(&read_report(&out)?, "browserbench")?;
    }
    Ok(())
}

/// The markdown report a benchmark wrote to `path`.
fn read_report(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

/// Puts `section` in the README between `<!-- {name}:start -->` and
/// `<!-- {name}:end -->`.
fn put_in_readme(section: &str, name: &str) -> Result<(), String> {
    let (start, end) = (
        format!("<!-- {name}:start -->"),
        format!("<!-- {name}:end -->"),
    );
    let path = root().join("README.md");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("README.md: {e}"))?;
    let new = replace_section(&text, section, &start, &end)
        .ok_or(format!("README.md lacks the {start} / {end} markers"))?;
    std::fs::write(&path, new).map_err(|e| format!("README.md: {e}"))?;
    eprintln!("==> README.md: the {name} part updated");
    Ok(())
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
        put_in_readme(&read_report(&out)?, "loadbench")?;
    }
    Ok(())
}

/// `cargo xtask bench server`: generates the server dataset (branches that
/// share a catalogue, merged into a server database) and times the query
/// catalogue on it.
fn bench_server(args: &[String]) -> Result<(), String> {
    let mut size = "tenth".to_string();
    let mut branches = "20".to_string();
    let mut readme = true;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--size" => size = it.next().ok_or("--size needs a value")?.clone(),
            "--branches" => branches = it.next().ok_or("--branches needs a value")?.clone(),
            "--no-readme" => readme = false,
            other => return Err(format!("bench server: unknown argument {other:?}")),
        }
    }
    ensure_apt("cc", &["build-essential"])?;
    let mut build = cargo();
    build.args(["build", "--release", "-p", "store-tests", "--bin", "bench"]);
    run("cargo build --release --bin bench", build)?;
    let dir = target_dir().join(format!("bench-server-{size}"));
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let out = Command::new(target_dir().join("release").join("bench"))
        .current_dir(root())
        .arg("--generate-server")
        .arg(&dir)
        .args(["--size", &size, "--branches", &branches])
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| format!("bench: {e}"))?;
    if !out.status.success() {
        return Err(format!("bench --generate-server: {}", out.status));
    }
    let report = format!(
        "Reproduce with `cargo xtask bench server --size {size} --branches {branches}` \
         (release build; it rewrites this part).\n\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let md = target_dir().join(format!("bench-server-{size}.md"));
    std::fs::write(&md, &report).map_err(|e| format!("{}: {e}", md.display()))?;
    eprintln!("==> report: {}", md.display());
    if readme {
        put_in_readme(&report, "serverbench")?;
    }
    // The files are large (a tenth-size run is gigabytes): gone once measured.
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// `cargo xtask bench all`: the whole suite in one run (engine, floor and
/// naive design at terminal scale; the server dataset; sync under load; the
/// browser), each
/// part rewriting its section of the README's performance section, which
/// is then the report: written to `target/bench-report.md` and printed.
fn bench_all(args: &[String]) -> Result<(), String> {
    if let Some(a) = args.first() {
        return Err(format!("bench all takes no arguments (got {a:?})"));
    }
    let started = std::time::Instant::now();
    let head = git_head();
    bench(&["--size".into(), "terminal".into(), "--readme".into()])?;
    bench_server(&[])?;
    bench_load(&["--readme".into()])?;
    bench_browser(&["--size".into(), "terminal".into(), "--readme".into()])?;
    let header = format!(
        "One run of `cargo xtask bench all` (commit `{head}`), {:.0} min in all, on {}. \
         Its four parts follow; each also runs alone with the command shown in its section.",
        started.elapsed().as_secs_f64() / 60.0,
        machine()
    );
    put_in_readme(&header, "report")?;
    let text =
        std::fs::read_to_string(root().join("README.md")).map_err(|e| format!("README.md: {e}"))?;
    let start = text
        .find("## Performance")
        .ok_or("README.md has no \"## Performance\" section")?;
    let end = text[start + 2..]
        .find("\n## ")
        .map_or(text.len(), |i| start + 2 + i + 1);
    let report = &text[start..end];
    let out = target_dir().join("bench-report.md");
    std::fs::write(&out, report).map_err(|e| format!("{}: {e}", out.display()))?;
    println!("{report}");
    eprintln!(
        "==> report: {} (and README.md's performance section)",
        out.display()
    );
    Ok(())
}

/// The commit the benchmark ran on, with `+changes` when the tree differs.
fn git_head() -> String {
    let out = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .current_dir(root())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let head = out(&["rev-parse", "--short", "HEAD"]).unwrap_or_else(|| "unknown".into());
    match out(&["status", "--porcelain", "--untracked-files=no"]) {
        Some(s) if !s.is_empty() => format!("{head}+changes"),
        _ => head,
    }
}

/// Cores, processor and memory of this machine, from /proc.
fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, m)| m.trim().to_string())
        .unwrap_or_else(|| "unknown processor".into());
    let mem_kib: f64 = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|l| l.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0);
    format!(
        "{cores} cores ({model}) and {:.1} GiB of memory",
        mem_kib / 1024.0 / 1024.0
    )
}

fn bench(args: &[String]) -> Result<(), String> {
    if args.first().map(String::as_str) == Some("all") {
        return bench_all(&args[1..]);
    }
    if args.first().map(String::as_str) == Some("server") {
        return bench_server(&args[1..]);
    }
    if args.first().map(String::as_str) == Some("load") {
        return bench_load(&args[1..]);
    }
    if args.first().map(String::as_str) == Some("browser") {
        return bench_browser(&args[1..]);
    }
    let BenchArgs {
        size,
        out,
        readme,
        pass,
    } = BenchArgs::parse(args)?;
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
        put_in_readme(&read_report(&out)?, "bench")?;
    }
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("test") => test(),
        Some("run") => start(&args[1..]),
        Some("bench") => bench(&args[1..]),
        Some("wasm") => wasm(),
        _ => {
            eprintln!(
                "usage: cargo xtask <run [server args...] | test | wasm | bench all | bench server [--size tenth|terminal] [--branches N] [--no-readme] | bench [--size demo|terminal] [--out FILE] [--readme|--no-readme] | bench load [--out FILE] [--no-readme] [loadbench args...] | bench browser [--size demo|terminal] [--out FILE] [--readme|--no-readme]>"
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
