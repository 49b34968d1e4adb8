//! Response headers every answer carries, and the cross-site request check of the API.

use crate::error::ApiError;
use axum::extract::Request;
use axum::http::{header, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Adds the security headers; pages set their own Content-Security-Policy (with a nonce).
/// Only the site's built files (`/pkg/…`) may be cached: every other answer may carry a
/// one-time link, a secret's hint or someone's data, so it is `no-store`. On https, browsers
/// are told to use nothing else (HSTS).
pub async fn security_headers(
    axum::extract::State(https): axum::extract::State<bool>,
    request: Request,
    next: Next,
) -> Response {
    let cacheable = request.uri().path().starts_with("/pkg/");
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    if !cacheable {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if https {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=63072000"),
        );
    }
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        if let Ok(value) = HeaderValue::from_str(&app::csp::content_security_policy(None)) {
            headers.insert(header::CONTENT_SECURITY_POLICY, value);
        }
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

/// Refuses state-changing API calls that do not come from Gatehouse's own pages: the
/// `Origin` header must be Gatehouse's public origin, or, without it, the browser must say
/// `Sec-Fetch-Site: same-origin`. (OWASP's "verifying origin with standard headers"; JSON
/// bodies add a CORS preflight that other sites cannot pass.)
pub async fn same_origin_only(
    axum::extract::State(expected_origin): axum::extract::State<std::sync::Arc<str>>,
    request: Request,
    next: Next,
) -> Response {
    if matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    ) {
        return next.run(request).await;
    }
    let headers = request.headers();
    let allowed = match headers.get(header::ORIGIN) {
        Some(origin) => origin.as_bytes() == expected_origin.as_bytes(),
        None => headers
            .get("sec-fetch-site")
            .is_some_and(|v| v.as_bytes() == b"same-origin"),
    };
    if allowed {
        next.run(request).await
    } else {
        ApiError::CrossSite.into_response()
    }
}

/// The origin (`scheme://host[:port]`) of a public URL.
pub fn origin_of(public_url: &str) -> String {
    let (scheme, rest) = public_url.split_once("://").unwrap_or(("http", public_url));
    let host = rest.split('/').next().unwrap_or(rest);
    format!("{scheme}://{host}")
}

/// The largest request body, except a members CSV import.
pub const BODY_LIMIT_BYTES: usize = 1024 * 1024;

/// Refuses bodies over the limit with 413 before a handler reads them: `BODY_LIMIT_BYTES`, or
/// `IMPORT_MAX_BYTES` for a members CSV import (`POST …/member-imports`).
pub async fn limit_bodies(request: Request, next: Next) -> Response {
    let is_import =
        request.method() == Method::POST && request.uri().path().ends_with("/member-imports");
    let limit = if is_import {
        app::types::IMPORT_MAX_BYTES
    } else {
        BODY_LIMIT_BYTES
    };
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|length| length > limit) {
        return ApiError::TooLarge(limit).into_response();
    }
    let (parts, body) = request.into_parts();
    let body = axum::body::Body::new(http_body_util::Limited::new(body, limit));
    next.run(Request::from_parts(parts, body)).await
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_origin_drops_the_path() {
        assert_eq!(
            super::origin_of("https://sso.example.com/base"),
            "https://sso.example.com"
        );
        assert_eq!(
            super::origin_of("http://127.0.0.1:3000"),
            "http://127.0.0.1:3000"
        );
    }
}
