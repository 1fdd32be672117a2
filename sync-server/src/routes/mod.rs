//! HTTP routes.

pub mod admin;
pub mod backoffice;
pub mod error;
pub mod sync;

use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::state::AppState;

/// Every route of the server.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .route("/sync", get(sync::upgrade))
        .merge(admin::router())
        .merge(backoffice::router())
        .layer(middleware::from_fn_with_state(state.clone(), timed))
        .with_state(state)
}

async fn timed(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let started = Instant::now();
    let response = next.run(req).await;
    state
        .metrics
        .http_seconds
        .get_or_create(&vec![("route", route)])
        .observe(started.elapsed().as_secs_f64());
    response
}

async fn health(State(state): State<AppState>) -> Response {
    let db = state
        .store
        .read(|c| c.query_row("SELECT count(*) FROM documents", [], |r| r.get::<_, i64>(0)))
        .await;
    match db {
        Ok(documents) => axum::Json(serde_json::json!({
            "status": "ok",
            "documents": documents,
            "connected_terminals": state.metrics.connected_terminals.get(),
        }))
        .into_response(),
        Err(e) => error::ApiError::internal(e).into_response(),
    }
}

async fn metrics(State(state): State<AppState>) -> Response {
    let (hits, misses) = state
        .store
        .write(|r| r.cache_stats())
        .await
        .unwrap_or((0, 0));
    state
        .metrics
        .doc_cache
        .get_or_create(&vec![("result", "hit".to_string())])
        .set(hits as i64);
    state
        .metrics
        .doc_cache
        .get_or_create(&vec![("result", "miss".to_string())])
        .set(misses as i64);
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}
