//! Build and test tooling: the two commands at the top of the README.
//!
//! - `cargo xtask run`: builds and starts the product.
//! - `cargo xtask test`: installs what the tests need when it is missing,
//!   then runs formatting, lint and every test of the workspace.
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

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("test") => test(),
        Some("run") => start(&args[1..]),
        _ => {
            eprintln!("usage: cargo xtask <run [server args...] | test>");
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
