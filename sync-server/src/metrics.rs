//! Prometheus metrics (OpenMetrics text at `/metrics`).

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Label set with a terminal id.
pub type TerminalLabel = Vec<(&'static str, String)>;

/// Label set: (label name, value) pairs.
pub type Labels = Vec<(&'static str, String)>;

/// A family of latency histograms with the server's buckets.
pub type LatencyFamily = Family<Labels, Histogram, fn() -> Histogram>;

/// Every metric the server exports.
pub struct Metrics {
    registry: Registry,
    /// Terminals connected now.
    pub connected_terminals: Gauge,
    /// Changes stored from terminals (new ones, not duplicates).
    pub changes_merged: Counter,
    /// Changes refused from terminals.
    pub changes_rejected: Counter,
    /// Frames refused or connections closed for bad input, by reason.
    pub protocol_errors: Family<Vec<(&'static str, String)>, Counter>,
    /// Milliseconds between a change's commit on its terminal and its
    /// storage on the server, per terminal (the last value seen).
    pub sync_lag_ms: Family<TerminalLabel, Gauge>,
    /// Seconds to merge one `Changes` frame (apply + durable commit).
    pub merge_seconds: Histogram,
    /// HTTP request latency in seconds, by route.
    pub http_seconds: LatencyFamily,
    /// Documents in the server's in-memory cache: hits and misses.
    pub doc_cache: Family<Vec<(&'static str, String)>, Gauge>,
    /// Jobs waiting for the store's writer.
    pub store_queue: Gauge,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

fn latency() -> Histogram {
    Histogram::new(exponential_buckets(0.0001, 2.0, 18))
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("store");
        let connected_terminals = Gauge::default();
        registry.register(
            "connected_terminals",
            "Terminals connected now",
            connected_terminals.clone(),
        );
        let changes_merged = Counter::default();
        registry.register(
            "changes_merged",
            "Changes stored from terminals",
            changes_merged.clone(),
        );
        let changes_rejected = Counter::default();
        registry.register(
            "changes_rejected",
            "Changes refused from terminals",
            changes_rejected.clone(),
        );
        let protocol_errors = Family::default();
        registry.register(
            "protocol_errors",
            "Refused frames and closed connections, by reason",
            protocol_errors.clone(),
        );
        let sync_lag_ms = Family::default();
        registry.register(
            "sync_lag_ms",
            "Commit-to-server lag of the last change, per terminal",
            sync_lag_ms.clone(),
        );
        let merge_seconds = latency();
        registry.register(
            "merge_seconds",
            "Time to merge one Changes frame durably",
            merge_seconds.clone(),
        );
        let http_seconds: LatencyFamily = Family::new_with_constructor(latency);
        registry.register(
            "http_seconds",
            "HTTP request latency by route",
            http_seconds.clone(),
        );
        let doc_cache = Family::default();
        registry.register(
            "doc_cache",
            "Document cache hits and misses",
            doc_cache.clone(),
        );
        let store_queue = Gauge::default();
        registry.register(
            "store_queue",
            "Jobs waiting for the store writer",
            store_queue.clone(),
        );
        Metrics {
            registry,
            connected_terminals,
            changes_merged,
            changes_rejected,
            protocol_errors,
            sync_lag_ms,
            merge_seconds,
            http_seconds,
            doc_cache,
            store_queue,
        }
    }
}

impl Metrics {
    /// The metrics in OpenMetrics text format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        encode(&mut out, &self.registry).expect("writing to a String cannot fail");
        out
    }

    /// Counts a protocol error.
    pub fn protocol_error(&self, reason: &str) {
        self.protocol_errors
            .get_or_create(&vec![("reason", reason.to_string())])
            .inc();
    }
}
