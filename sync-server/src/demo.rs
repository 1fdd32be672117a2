//! Demo data for a new server: a branch, a registered terminal, and two
//! months of that terminal's work, merged in as a sync would.

use std::path::Path;

use store_core::generate::{DatasetSize, generate_file};
use store_core::{Command, Env, SystemEnv};

use crate::store::Store;
use crate::terminals;

/// Creates branch `B1`, registers terminal `B1-T1`, generates its sales in a
/// database of its own and merges its documents into the server. Writes the
/// terminal's token to `demo-terminal.json` under `data_dir`, and registers
/// `B1-W1` for a browser terminal to pair with (`browser-terminal.json`).
pub async fn seed(
    store: &Store,
    data_dir: &Path,
    seed: u64,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let now = SystemEnv.now_ms();
    let registration = store
        .write(
            move |r| -> Result<_, Box<dyn std::error::Error + Send + Sync>> {
                let branch = r
                    .execute(
                        "admin",
                        &Command::CreateBranch {
                            code: "B1".into(),
                            name: "Main branch".into(),
                        },
                    )?
                    .id;
                let native = terminals::register(r.connection(), &branch, Some("T1"), now)?;
                let browser = terminals::register(r.connection(), &branch, Some("W1"), now)?;
                Ok((native, browser))
            },
        )
        .await??;
    let (registration, browser) = registration;
    std::fs::write(
        data_dir.join("browser-terminal.json"),
        serde_json::to_string_pretty(&browser)?,
    )?;
    let terminal_db = data_dir.join("demo-terminal.sqlite");
    let _ = std::fs::remove_file(&terminal_db);
    let identity = registration.identity.clone();
    let path = terminal_db.clone();
    let report = tokio::task::spawn_blocking(move || {
        generate_file(&path, identity, &DatasetSize::DEMO, seed, now)
    })
    .await??;
    tracing::info!(invoices = report.invoices, "demo terminal generated");
    let identity = registration.identity.clone();
    store
        .write(
            move |server| -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
                let mut terminal = store_core::Replica::open(
                    &terminal_db,
                    identity,
                    Box::new(SystemEnv),
                    &store_core::OpenOptions::default(),
                )?;
                for doc in terminal.doc_ids()? {
                    let changes = terminal.changes_since(&doc, &[])?;
                    for chunk in changes.chunks(512) {
                        let rep = server.apply_changes(&doc, chunk.to_vec())?;
                        if !rep.rejected.is_empty() {
                            return Err(format!("demo changes refused: {:?}", rep.rejected).into());
                        }
                    }
                }
                Ok(())
            },
        )
        .await??;
    std::fs::write(
        data_dir.join("demo-terminal.json"),
        serde_json::to_string_pretty(&registration)?,
    )?;
    Ok(())
}
