//! Fan-out of stored changes to the connected terminals whose scope holds
//! the document.

use std::sync::Arc;

use store_core::DocId;
use tokio::sync::broadcast;

/// Changes the server just stored durably.
#[derive(Debug, Clone)]
pub struct Stored {
    /// Document.
    pub doc: DocId,
    /// Encoded changes, in dependency order.
    pub changes: Arc<Vec<Vec<u8>>>,
    /// The server's heads after storing them.
    pub heads: Arc<Vec<store_core::ChangeHash>>,
    /// Terminal that sent them (it is not sent its own changes back).
    pub origin: Option<String>,
}

/// The broadcast channel every connection subscribes to.
#[derive(Clone)]
pub struct Hub {
    tx: broadcast::Sender<Stored>,
}

impl Default for Hub {
    fn default() -> Self {
        // A connection that falls this far behind resynchronises from the
        // database instead (see the sync route).
        let (tx, _) = broadcast::channel(4096);
        Hub { tx }
    }
}

impl Hub {
    /// Announces stored changes.
    pub fn publish(&self, stored: Stored) {
        // No receiver (no terminal connected) is fine.
        let _ = self.tx.send(stored);
    }

    /// A new subscription.
    pub fn subscribe(&self) -> broadcast::Receiver<Stored> {
        self.tx.subscribe()
    }
}
