//! The page a sign-in ends on when it cannot continue: what happened in plain words, who can
//! fix it, the reference id that the audit log entry carries, and the directory's own text,
//! escaped. Every piece of text on it is escaped.

use crate::domain::escape_markup as escape;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

/// One page for a sign-in that stopped.
#[derive(Debug, Clone)]
pub struct Problem {
    pub status: StatusCode,
    pub title: &'static str,
    pub message: String,
    /// The matching audit log entry's reference.
    pub reference: Option<String>,
    /// The directory's own words, under "Details".
    pub details: Option<String>,
    /// Where "Try again" leads.
    pub retry: Option<String>,
    /// Where "Continue" leads, for a page that asks before going on.
    pub proceed: Option<String>,
}

impl Problem {
    pub fn new(status: StatusCode, title: &'static str, message: impl Into<String>) -> Self {
        Problem {
            status,
            title,
            message: message.into(),
            reference: None,
            details: None,
            retry: None,
            proceed: None,
        }
    }

    pub fn with_proceed(self, href: impl Into<String>) -> Self {
        Problem {
            proceed: Some(href.into()),
            ..self
        }
    }

    pub fn with_reference(self, reference: &str) -> Self {
        Problem {
            reference: Some(reference.to_string()),
            ..self
        }
    }

    pub fn with_details(self, details: impl Into<String>) -> Self {
        Problem {
            details: Some(details.into()).filter(|d: &String| !d.is_empty()),
            ..self
        }
    }

    pub fn with_retry(self, href: impl Into<String>) -> Self {
        Problem {
            retry: Some(href.into()),
            ..self
        }
    }

    /// Our own failure (`what` failed with `error`): logged under a fresh reference, which
    /// the page shows.
    pub fn ours(what: &str, error: impl std::fmt::Display) -> Self {
        let reference = crate::sign_in::new_reference();
        tracing::error!(error = %error, reference, "{what}");
        Problem::internal(&reference)
    }

    /// Our own failure: nothing the person can fix.
    pub fn internal(reference: &str) -> Self {
        Problem::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Sign-in failed",
            "Something went wrong on our side. Try again; if it keeps happening, give the reference below to your admin.",
        )
        .with_reference(reference)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let reference = self
            .reference
            .as_deref()
            .map(|r| {
                format!(
                    "<p>Reference: <code id=\"reference\">{}</code> (your admin finds it in the audit log)</p>",
                    escape(r)
                )
            })
            .unwrap_or_default();
        let details = self
            .details
            .as_deref()
            .map(|d| {
                format!(
                    "<details><summary>Details</summary><pre id=\"details\">{}</pre></details>",
                    escape(d)
                )
            })
            .unwrap_or_default();
        let retry = self
            .retry
            .as_deref()
            .map(|href| format!("<a href=\"{}\">Try again</a> · ", escape(href)))
            .unwrap_or_default();
        let proceed = self
            .proceed
            .as_deref()
            .map(|href| {
                format!(
                    "<p><a class=\"button\" id=\"proceed\" href=\"{}\">Continue to your directory</a></p>",
                    escape(href)
                )
            })
            .unwrap_or_default();
        let body = format!(
            "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" \
             content=\"width=device-width, initial-scale=1\"><title>{t} · Gatehouse</title>\
             <link rel=\"stylesheet\" href=\"{css}\"></head><body><main id=\"main\">\
             <section class=\"card narrow\"><h1>{t}</h1><p role=\"alert\" id=\"problem\">{m}</p>\
             {reference}{details}{proceed}<p>{retry}<a href=\"/\">Go to the start page</a></p>\
             </section></main></body></html>",
            t = escape(self.title),
            m = escape(&self.message),
            css = app::STYLESHEET,
        );
        (self.status, Html(body)).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn provider_text_is_escaped_never_html() {
        let response = Problem::new(StatusCode::BAD_REQUEST, "Refused", "<b>no</b>")
            .with_details("<script>alert(1)</script>")
            .with_reference("AB12-CD34")
            .into_response();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        let html = String::from_utf8(bytes.to_vec()).unwrap();
        assert!(!html.contains("<script>alert"));
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(html.contains("&lt;b&gt;no&lt;/b&gt;"));
        assert!(html.contains("AB12-CD34"));
    }
}
