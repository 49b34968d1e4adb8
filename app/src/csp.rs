//! The Content-Security-Policy of Gatehouse's pages: the app's own scripts and WebAssembly,
//! nothing inline but the hydration script that carries this response's nonce, no framing.

use leptos::nonce::{provide_nonce, use_nonce};
use leptos::prelude::*;

/// The policy; `nonce` is the one given to this page's scripts, if any.
pub fn content_security_policy(nonce: Option<&str>) -> String {
    let scripts = match nonce {
        Some(n) => format!("script-src 'self' 'wasm-unsafe-eval' 'nonce-{n}'"),
        None => "script-src 'self' 'wasm-unsafe-eval'".to_string(),
    };
    format!(
        "default-src 'self'; {scripts}; style-src 'self'; img-src 'self' data:; \
         connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
         frame-ancestors 'none'"
    )
}

/// Gives this render a fresh nonce and sends the policy naming it with the response.
pub fn provide_nonce_and_policy() {
    provide_nonce();
    let Some(nonce) = use_nonce() else { return };
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        if let Ok(value) = http::HeaderValue::from_str(&content_security_policy(Some(&nonce))) {
            response.insert_header(http::header::CONTENT_SECURITY_POLICY, value);
        }
    }
}
