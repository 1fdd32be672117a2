//! Browser facade over `store-core`.
//!
//! This crate will expose the engine to a dedicated Web Worker through
//! wasm-bindgen; for now it only re-exports the core so that the workspace
//! layout already matches the architecture.

pub use store_core as core;
