//! The one error type of the HTTP layer. Its `IntoResponse` gives a status and a JSON body a
//! person can act on; internal details go to the log, never to the client.

use crate::domain::FieldErrors;
use crate::storage::StorageError;
use app::types::{ErrorBody, ErrorDetail};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("not signed in")]
    Unauthorized,
    #[error("not allowed")]
    Forbidden,
    #[error("not found: {0}")]
    NotFound(&'static str),
    #[error("invalid input")]
    Validation(FieldErrors),
    #[error("conflict")]
    Conflict(FieldErrors),
    #[error("wrong email or password")]
    BadCredentials,
    #[error("too many attempts")]
    RateLimited,
    #[error("cross-site request refused")]
    CrossSite,
    #[error("link expired or used")]
    LinkInvalid,
    #[error("request body over {0} bytes")]
    TooLarge(usize),
    #[error("internal error: {0}")]
    Internal(String),
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    fn parts(&self) -> (StatusCode, &'static str, String) {
        match self {
            ApiError::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "Sign in to continue.".into(),
            ),
            ApiError::Forbidden => (
                StatusCode::FORBIDDEN,
                "forbidden",
                "Your account is not allowed to do this.".into(),
            ),
            ApiError::NotFound(what) => (
                StatusCode::NOT_FOUND,
                "not_found",
                format!("This {what} does not exist, or you cannot see it."),
            ),
            ApiError::Validation(_) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation",
                "Some fields need attention.".into(),
            ),
            ApiError::Conflict(_) => (
                StatusCode::CONFLICT,
                "conflict",
                "This conflicts with an existing record: see the highlighted field.".into(),
            ),
            ApiError::BadCredentials => (
                StatusCode::UNAUTHORIZED,
                "bad_credentials",
                "The email or password is not right. Check both and try again.".into(),
            ),
            ApiError::RateLimited => (
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "Too many attempts. Wait a minute, then try again.".into(),
            ),
            ApiError::CrossSite => (
                StatusCode::FORBIDDEN,
                "csrf",
                "This request did not come from a Gatehouse page and was refused.".into(),
            ),
            ApiError::LinkInvalid => (
                StatusCode::GONE,
                "link_invalid",
                "This link has expired or was already used. Ask for a new one.".into(),
            ),
            ApiError::TooLarge(limit) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!(
                    "This is larger than Gatehouse accepts ({} MB at most). Split it into smaller parts.",
                    limit / (1024 * 1024)
                ),
            ),
            ApiError::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Something went wrong on our side. Try again; if it persists, tell your operator."
                    .into(),
            ),
        }
    }

    pub fn status(&self) -> StatusCode {
        self.parts().0
    }

    pub fn field(field: &str, message: impl Into<String>) -> Self {
        ApiError::Validation(FieldErrors::single(field, message))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(detail) = &self {
            tracing::error!(error = %detail, "internal error");
        }
        let (status, code, message) = self.parts();
        let fields = match self {
            ApiError::Validation(f) | ApiError::Conflict(f) => f.0,
            _ => Default::default(),
        };
        let body = ErrorBody {
            error: ErrorDetail {
                code: code.into(),
                message,
                fields,
            },
        };
        (status, Json(body)).into_response()
    }
}

impl From<StorageError> for ApiError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::NotFound => ApiError::NotFound("item"),
            StorageError::Conflict(field) => {
                let message = match field {
                    "slug" => "Another organization already uses this slug.",
                    "email" => "An account with this email already exists here.",
                    "directory_object_id" => {
                        "Another member of this organization already has this Object ID."
                    }
                    _ => "This value is already taken.",
                };
                ApiError::Conflict(FieldErrors::single(field, message))
            }
            StorageError::HeldBy(holder) => ApiError::Conflict(FieldErrors::single(
                "directory_object_id",
                format!(
                    "{holder} already has this Object ID: one directory user maps to one member."
                ),
            )),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<crate::provider::ProviderError> for ApiError {
    fn from(e: crate::provider::ProviderError) -> Self {
        match e {
            crate::provider::ProviderError::Storage(e) => e.into(),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<crate::auth::password::PasswordSignInError> for ApiError {
    fn from(e: crate::auth::password::PasswordSignInError) -> Self {
        use crate::auth::password::PasswordSignInError as E;
        match e {
            E::Invalid(errors) => ApiError::Validation(errors),
            E::RateLimited => ApiError::RateLimited,
            E::BadCredentials => ApiError::BadCredentials,
            E::Storage(e) => e.into(),
        }
    }
}

impl From<crate::auth::AccessDenied> for ApiError {
    fn from(e: crate::auth::AccessDenied) -> Self {
        match e {
            crate::auth::AccessDenied::Forbidden => ApiError::Forbidden,
            crate::auth::AccessDenied::UnknownOrganization => ApiError::NotFound("organization"),
        }
    }
}

impl From<crate::connections::ConnectionError> for ApiError {
    fn from(e: crate::connections::ConnectionError) -> Self {
        use crate::connections::ConnectionError as E;
        match e {
            E::Invalid(errors) => ApiError::Validation(errors),
            E::ChangedMeanwhile => ApiError::Conflict(FieldErrors::single(
                "version",
                "Someone else changed this connection since you opened it. Reload to see their changes, then make yours again.",
            )),
            E::AlreadyAnswered => ApiError::LinkInvalid,
            E::Storage(e) => e.into(),
            E::Stored(e) => e.into(),
            E::Domains(e) => e.into(),
        }
    }
}

impl From<crate::members::import_jobs::ImportError> for ApiError {
    fn from(e: crate::members::import_jobs::ImportError) -> Self {
        use crate::members::import_jobs::ImportError as E;
        match e {
            E::UnknownOrganization => ApiError::NotFound("organization"),
            E::UnknownImport => ApiError::NotFound("import"),
            E::NotReady => ApiError::field(
                "import",
                "Only a checked import without problems can be applied, once.",
            ),
            E::PromotionsUnconfirmed(n) => ApiError::Conflict(FieldErrors::single(
                "import",
                format!("This import makes {n} members who sign in with the directory admins. Confirm that to apply it."),
            )),
            E::Storage(e) => e.into(),
            E::Stored(e) => e.into(),
        }
    }
}

impl From<crate::members::mapping::MappingError> for ApiError {
    fn from(e: crate::members::mapping::MappingError) -> Self {
        use crate::members::mapping::MappingError as E;
        match e {
            E::Invalid(errors) => ApiError::Validation(errors),
            E::UnknownMember => ApiError::NotFound("member"),
            E::Storage(e) => e.into(),
            E::Stored(e) => e.into(),
        }
    }
}

impl From<crate::domains::DomainError> for ApiError {
    fn from(e: crate::domains::DomainError) -> Self {
        use crate::domains::DomainError as E;
        match e {
            E::NotListed => ApiError::NotFound("email domain"),
            E::ClaimedElsewhere => ApiError::Conflict(FieldErrors::single(
                "domain",
                "Another organization has already proven this domain. If it is yours, ask your Gatehouse operator.",
            )),
            E::RecordMissing { record_name } => ApiError::field(
                "domain",
                format!("No TXT record named {record_name} holds the value shown yet. Add it at your DNS host; changes can take a few minutes to be seen, then check again."),
            ),
            E::LookupFailed(_) => ApiError::field(
                "domain",
                "The DNS did not answer the lookup. Nothing changed; try again in a few minutes.",
            ),
            E::Storage(e) => e.into(),
        }
    }
}

/// Failures of the layers below that are ours alone (nothing the person can fix): logged under
/// `Internal`, never shown.
macro_rules! internal_errors {
    ($($error:ty),* $(,)?) => {
        $(impl From<$error> for ApiError {
            fn from(e: $error) -> Self {
                ApiError::Internal(e.to_string())
            }
        })*
    };
}

internal_errors!(
    crate::crypto::passwords::HashingError,
    crate::connections::StoredConnectionError,
    crate::members::import::ExportError,
);

/// JSON bodies that do not parse become a validation error naming the problem.
impl From<axum::extract::rejection::JsonRejection> for ApiError {
    fn from(e: axum::extract::rejection::JsonRejection) -> Self {
        ApiError::field(
            "body",
            format!("The request body is not valid: {}", e.body_text()),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_conflicts_name_the_field() {
        match ApiError::from(StorageError::Conflict("slug")) {
            ApiError::Conflict(f) => assert!(f.0["slug"].contains("slug")),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn internal_errors_hide_their_details() {
        let response = ApiError::Internal("password=hunter2 at db".into()).into_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let (_, _, message) = ApiError::Internal("secret".into()).parts();
        assert!(!message.contains("secret"));
    }
}
