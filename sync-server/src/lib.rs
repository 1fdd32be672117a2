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
    let listener = tokio::net::TcpListener::bind(config.bind).await?;
    let addr = listener.local_addr()?;
    let app = routes::router(state.clone());
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
