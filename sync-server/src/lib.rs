//! The store engine's server: merges every terminal's changes over a
//! WebSocket, serves the back office over HTTP, and keeps the database.
//!
//! - `store`: the database (one writer thread, pooled readers).
//! - `terminals`: registration and authentication.
//! - `routes`: HTTP routes: sync endpoint, admin, back office, health, metrics.
//! - `hub`: fan-out of stored changes to connected terminals.
//! - `client`: the native sync client (tests, load generator).
//!
//! The protocol is specified in `PROTOCOL.md` beside this crate.

pub mod client;
pub mod demo;
pub mod hub;
pub mod metrics;
pub mod routes;
pub mod state;
pub mod store;
pub mod terminals;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

pub use state::{AppState, Limits};

/// How to run the server.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to listen on.
    pub bind: SocketAddr,
    /// Directory holding the database.
    pub data_dir: PathBuf,
    /// Token for the admin endpoints.
    pub admin_token: Option<String>,
    /// Terminal limits.
    pub limits: Limits,
    /// Background maintenance (backups, planner statistics).
    pub maintenance: Maintenance,
    /// The browser terminal's files (`web/`, with the wasm bundle in
    /// `web/pkg`), served at `/` when given.
    pub web_dir: Option<PathBuf>,
}

/// Background jobs of the server.
#[derive(Debug, Clone)]
pub struct Maintenance {
    /// How often a verified backup is taken into `data/backups` (none: never).
    pub backup_every: Option<std::time::Duration>,
    /// Backups kept; older ones are deleted.
    pub keep_backups: usize,
    /// How often `PRAGMA optimize` runs.
    pub optimize_every: std::time::Duration,
}

impl Default for Maintenance {
    fn default() -> Self {
        Maintenance {
            backup_every: Some(std::time::Duration::from_secs(6 * 3600)),
            keep_backups: 7,
            optimize_every: std::time::Duration::from_secs(3600),
        }
    }
}

/// A running server.
pub struct Running {
    /// The address it listens on (the real port when bound to port 0).
    pub addr: SocketAddr,
    /// Shared state (the store, for tests and maintenance).
    pub state: AppState,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Running {
    /// Waits until the server stops.
    pub async fn wait(self) -> std::io::Result<()> {
        self.task
            .await
            .unwrap_or_else(|e| Err(std::io::Error::other(e)))
    }

    /// Stops accepting and aborts the server task.
    pub fn abort(&self) {
        self.task.abort();
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The database could not be opened.
    #[error(transparent)]
    Open(#[from] store_core::OpenError),
    /// The data directory or the socket failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Opens the database under `config.data_dir` (creating it) and starts
/// listening.
pub async fn serve(config: Config) -> Result<Running, StartError> {
    std::fs::create_dir_all(&config.data_dir)?;
    let store = store::Store::open(&config.data_dir.join("server.sqlite"))?;
    let state = AppState {
        store,
        hub: hub::Hub::default(),
        metrics: Arc::new(metrics::Metrics::default()),
        admin_token: config.admin_token.map(Arc::from),
        limits: config.limits,
    };
    maintenance(
        state.clone(),
        config.data_dir.join("backups"),
        config.maintenance,
    );
    let listener = tokio::net::TcpListener::bind(config.bind).await?;
    let addr = listener.local_addr()?;
    let app = routes::router(state.clone(), config.web_dir.as_deref());
    let task = tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    });
    tracing::info!(%addr, "listening");
    Ok(Running { addr, state, task })
}

/// Runs the periodic jobs on the store's writer (they queue behind merges,
/// which keep priority by arriving first).
fn maintenance(state: AppState, dir: PathBuf, m: Maintenance) {
    let store = state.store.clone();
    tokio::spawn(async move {
        let mut optimize = tokio::time::interval(m.optimize_every);
        optimize.tick().await;
        loop {
            optimize.tick().await;
            match store.write(|r| r.optimize()).await {
                Ok(Ok(())) => tracing::debug!("PRAGMA optimize done"),
                Ok(Err(e)) => tracing::warn!(%e, "PRAGMA optimize failed"),
                Err(_) => return,
            }
        }
    });
    let Some(every) = m.backup_every else { return };
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.tick().await;
        loop {
            tick.tick().await;
            match backup(&state.store, &dir, m.keep_backups).await {
                Ok(Some(path)) => tracing::info!(path = %path.display(), "verified backup written"),
                Ok(None) => return,
                Err(e) => tracing::error!(%e, "backup failed"),
            }
        }
    });
}

/// Takes one verified backup into `dir` and deletes all but the newest
/// `keep`. `Ok(None)` when the store has stopped.
pub async fn backup(
    store: &store::Store,
    dir: &std::path::Path,
    keep: usize,
) -> Result<Option<PathBuf>, String> {
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let now = {
        use store_core::Env;
        store_core::SystemEnv.now_ms()
    };
    let path = dir.join(format!("server-{now}.sqlite"));
    let dest = path.clone();
    let report = match store.write(move |r| r.backup_to(&dest)).await {
        Ok(r) => r.map_err(|e| e.to_string())?,
        Err(_) => return Ok(None),
    };
    tracing::debug!(
        pages = report.pages,
        changes = report.changes,
        "backup verified"
    );
    let mut backups: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| e.to_string())?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("server-") && n.ends_with(".sqlite"))
        })
        .collect();
    backups.sort();
    while backups.len() > keep.max(1) {
        let old = backups.remove(0);
        let _ = std::fs::remove_file(&old);
    }
    Ok(Some(path))
}
