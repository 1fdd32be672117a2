//! The one error shape JavaScript sees: a stable `code`, a readable
//! `message`, and the offending `field` when there is one. Every error of
//! the core maps here, so the UI can branch on codes and show messages.

use serde::Serialize;
use store_core::query::QueryError;
use store_core::sync::SessionError;
use store_core::{ApplyError, CommandError, OpenError};

/// An error for JavaScript (thrown as an `Error` carrying `code` and
/// `field`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EngineError {
    /// Stable machine-readable code: a [`CommandError::code`], a
    /// [`QueryError::code`], or one of the facade's own (`invalid_input`,
    /// `not_paired`, `already_paired`, `storage`, `storage_unavailable`,
    /// `sync_refused`, `network`...).
    pub code: String,
    /// What went wrong, for a person.
    pub message: String,
    /// The input field at fault, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl EngineError {
    /// An error with a code and a message.
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        EngineError {
            code: code.to_string(),
            message: message.into(),
            field: None,
        }
    }

    /// Input that does not have the expected shape (missing field, wrong
    /// type, unknown command).
    pub fn invalid_input(what: &str, e: impl std::fmt::Display) -> Self {
        Self::new("invalid_input", format!("{what}: {e}"))
    }

    /// The terminal has no identity yet: it must be paired with a server.
    pub fn not_paired() -> Self {
        Self::new(
            "not_paired",
            "this terminal is not paired with a server yet: pair it with a terminal token first",
        )
    }
}

impl std::fmt::Display for EngineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.code)
    }
}

impl std::error::Error for EngineError {}

impl From<CommandError> for EngineError {
    fn from(e: CommandError) -> Self {
        let field = match &e {
            CommandError::Invalid { field, .. } => Some(field.clone()),
            _ => None,
        };
        EngineError {
            code: e.code().to_string(),
            message: e.to_string(),
            field,
        }
    }
}

impl From<QueryError> for EngineError {
    fn from(e: QueryError) -> Self {
        let field = match &e {
            QueryError::Invalid { field, .. } => Some(field.to_string()),
            _ => None,
        };
        EngineError {
            code: e.code().to_string(),
            message: e.to_string(),
            field,
        }
    }
}

impl From<OpenError> for EngineError {
    fn from(e: OpenError) -> Self {
        let code = match &e {
            OpenError::IdentityMismatch { .. } => "identity_mismatch",
            OpenError::InvalidIdentity(_) => "invalid_identity",
            _ => "storage",
        };
        Self::new(code, e.to_string())
    }
}

impl From<ApplyError> for EngineError {
    fn from(e: ApplyError) -> Self {
        Self::new("storage", e.to_string())
    }
}

impl From<SessionError> for EngineError {
    fn from(e: SessionError) -> Self {
        match e {
            SessionError::Refused { code, message } => EngineError {
                code: "sync_refused".into(),
                message: format!(
                    "the server refused this terminal ({}): {message}",
                    code.name()
                ),
                field: Some(code.name().to_string()),
            },
            SessionError::Protocol(m) => Self::new("sync_protocol", m),
            other => Self::new("storage", other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_errors_keep_their_code_and_field() {
        let e: EngineError = serde_json::from_str::<store_core::Command>(r#"{"type":"sell"}"#)
            .map_err(|e| EngineError::invalid_input("command", e))
            .unwrap_err();
        assert_eq!(e.code, "invalid_input");
        assert!(e.message.contains("lines"), "{}", e.message);

        let q = store_core::query::Request::SearchProducts {
            text: "x".into(),
            branch_id: String::new(),
            after: None,
            limit: 10,
        };
        let e: EngineError = q.validate().unwrap_err().into();
        assert_eq!(
            (e.code.as_str(), e.field.as_deref()),
            ("invalid", Some("branch_id"))
        );
    }
}
