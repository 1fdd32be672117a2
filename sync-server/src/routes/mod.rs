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

/// Every route of the server; with `web_dir`, the browser terminal's files
/// are served for every other path.
pub fn router(state: AppState, web_dir: Option<&std::path::Path>) -> Router {
    let router = Router::new()
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .route("/sync", get(sync::upgrade))
        .merge(admin::router())
        .merge(backoffice::router())
        .layer(middleware::from_fn_with_state(state.clone(), timed))
        .with_state(state);
    match web_dir {
        Some(dir) => router.fallback_service(web(dir)),
        None => router,
    }
}

/// The terminal's static files. Revalidated on every load (`no-cache`), so
/// a new version reaches the terminals as soon as they are online; offline
/// they run from their service worker's cache.
fn web(dir: &std::path::Path) -> axum::routing::MethodRouter {
    use axum::http::{HeaderValue, header};
    use tower_http::services::ServeDir;
    use tower_http::set_header::SetResponseHeaderLayer;
    axum::routing::get_service(ServeDir::new(dir).append_index_html_on_directories(true)).layer(
        SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-cache"),
        ),
    )
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
