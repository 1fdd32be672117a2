//! Admin endpoints, guarded by the admin token (`Authorization: Bearer`).

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{delete, post};
use axum::{Json, Router};
use serde::Deserialize;
use store_core::{Command, Env, SystemEnv};

use super::error::ApiError;
use crate::state::AppState;
use crate::terminals::{self, RegisterError, Registration};

/// The admin routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/branches", post(create_branch))
        .route("/api/terminals", post(register))
        .route("/api/terminals/{id}", delete(revoke))
}

/// Checks the `Authorization: Bearer <admin token>` header.
pub fn require_admin(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(expected) = &state.admin_token else {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "admin_disabled",
            "no admin token is configured on this server",
        ));
    };
    let given = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    // Compare hashes so the time taken does not depend on the prefix matched.
    use sha2::{Digest, Sha256};
    match given {
        Some(g) if Sha256::digest(g.as_bytes()) == Sha256::digest(expected.as_bytes()) => Ok(()),
        _ => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing or wrong admin token",
        )),
    }
}

#[derive(Deserialize)]
struct NewBranch {
    code: String,
    name: String,
}

async fn create_branch(
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(body): Json<NewBranch>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    require_admin(&state, &headers)?;
    let outcome = crate::routes::sync::execute_and_publish(
        &state,
        "admin",
        Command::CreateBranch {
            code: body.code.clone(),
            name: body.name,
        },
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({"id": outcome.id, "code": body.code})),
    ))
}

#[derive(Deserialize)]
struct NewTerminal {
    branch_id: String,
    #[serde(default)]
    code: Option<String>,
}

async fn register(
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(body): Json<NewTerminal>,
) -> Result<(StatusCode, Json<Registration>), ApiError> {
    require_admin(&state, &headers)?;
    let reg = state
        .store
        .write(move |r| {
            terminals::register(
                r.connection(),
                &body.branch_id,
                body.code.as_deref(),
                SystemEnv.now_ms(),
            )
        })
        .await?
        .map_err(register_error)?;
    tracing::info!(terminal = %reg.identity.replica_id, "terminal registered");
    Ok((StatusCode::CREATED, Json(reg)))
}

async fn revoke(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    require_admin(&state, &headers)?;
    state
        .store
        .write(move |r| terminals::revoke(r.connection(), &id, SystemEnv.now_ms()))
        .await?
        .map_err(register_error)?;
    Ok(StatusCode::NO_CONTENT)
}

fn register_error(e: RegisterError) -> ApiError {
    match e {
        RegisterError::UnknownBranch(_) | RegisterError::UnknownTerminal(_) => {
            ApiError::not_found(e.to_string())
        }
        RegisterError::DuplicateCode(_) => {
            ApiError::new(StatusCode::CONFLICT, "duplicate", e.to_string())
        }
        RegisterError::InvalidCode(_) => ApiError::invalid(e.to_string()),
        RegisterError::Sql(e) => ApiError::internal(e),
    }
}
