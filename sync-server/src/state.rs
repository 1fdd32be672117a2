//! What every request handler shares.

use std::sync::Arc;

use crate::hub::Hub;
use crate::metrics::Metrics;
use crate::store::Store;

/// Limits applied to terminals.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Frames a terminal may send per second (sustained).
    pub frames_per_sec: u32,
    /// Extra frames a terminal may send in a burst.
    pub burst: u32,
    /// Largest WebSocket message accepted, in bytes.
    pub max_frame_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            frames_per_sec: 50,
            burst: 200,
            max_frame_bytes: store_core::sync::MAX_FRAME_BYTES,
        }
    }
}

/// Shared state of the server.
#[derive(Clone)]
pub struct AppState {
    /// The database.
    pub store: Store,
    /// Fan-out of stored changes to connected terminals.
    pub hub: Hub,
    /// Counters and histograms for `/metrics`.
    pub metrics: Arc<Metrics>,
    /// Token required by the admin endpoints (none: admin endpoints refuse).
    pub admin_token: Option<Arc<str>>,
    /// Terminal limits.
    pub limits: Limits,
}
