//! The browser terminal's engine: a wasm-bindgen facade over `store-core`,
//! run in a dedicated Web Worker with its SQLite database in the origin
//! private file system (OPFS, through the "sahpool" VFS).
//!
//! JavaScript sees one class, `Terminal` (see `web/engine/types.d.ts` for
//! the TypeScript types of its commands, queries and answers):
//!
//! ```js
//! import init, { Terminal } from "./pkg/store_wasm.js";
//! await init();
//! const t = await Terminal.open("terminal");
//! if (!t.identity()) await t.pair("ws://shop.example:8080/sync", token);
//! const sale = t.execute("alice", { type: "sell", lines: [...], payments: [...] });
//! const page = t.query({ query: "search_products", text: "rebar", branch_id: "B1" });
//! ```
//!
//! Every command and query of the core is reachable; inputs arrive as
//! plain JavaScript objects (serde-wasm-bindgen) and errors are thrown as
//! `Error`s with a stable `code` (and `field` when one is at fault). Time
//! and randomness come from the browser (`Date.now()`,
//! `crypto.getRandomValues`). The sync client speaks the same protocol as
//! the native one, through the same state machine
//! ([`store_core::sync::ClientSession`]), over a WebSocket of the worker.
//!
//! Natively this crate holds only its platform-independent part (the error
//! mapping), so the workspace builds and tests everywhere.

#![warn(missing_docs)]

#[cfg(all(target_family = "wasm", target_os = "unknown"))]
mod browser;
mod error;

#[cfg(all(target_family = "wasm", target_os = "unknown"))]
pub use browser::Terminal;
pub use error::EngineError;
