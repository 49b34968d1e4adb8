//! Operations: liveness, readiness, Prometheus metrics and the request metrics middleware.

use crate::state::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::Instant;

/// Health checks, and `/metrics` unless it has a listener of its own (`metrics_elsewhere`).
pub fn routes(metrics_elsewhere: bool) -> Router<AppState> {
    let routes = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz));
    if metrics_elsewhere {
        routes
    } else {
        routes.merge(metrics_routes())
    }
}

/// `/metrics` alone, for its own listener.
pub fn metrics_routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new().route("/metrics", get(metrics_text))
}

/// The process-wide Prometheus recorder (metrics are global by the `metrics` crate's design).
pub fn prometheus() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Suffix("duration_seconds".into()),
                &[
                    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                ],
            )
            .unwrap_or_else(|_| PrometheusBuilder::new())
            .build_recorder();
        let handle = recorder.handle();
        // Another recorder may already be installed (several servers in one test process).
        let _ = metrics::set_global_recorder(recorder);
        handle
    })
}

/// Folds recorded histogram samples into their buckets every few seconds. Without it the
/// recorder keeps every sample until `/metrics` is read, so memory grows with each request
/// when nobody scrapes.
pub async fn metrics_upkeep() {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(5));
    loop {
        tick.tick().await;
        prometheus().run_upkeep();
    }
}

async fn healthz() -> &'static str {
    "ok"
}

/// How long readiness waits for the database: a database that does not answer is as
/// unready as one that refuses.
const READY_WITHIN: std::time::Duration = std::time::Duration::from_secs(2);

/// Ready while the database answers; not ready (503) while it does not, and ready again by
/// itself once it does (broken connections are replaced, not kept).
async fn readyz(State(state): State<AppState>) -> Response {
    let error = match tokio::time::timeout(READY_WITHIN, state.storage.ping()).await {
        Ok(Ok(())) => return "ready".into_response(),
        Ok(Err(e)) => e.to_string(),
        Err(_) => format!("no answer within {} s", READY_WITHIN.as_secs()),
    };
    tracing::warn!(error, "readiness check failed");
    (StatusCode::SERVICE_UNAVAILABLE, "database unreachable").into_response()
}

async fn metrics_text() -> Response {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        prometheus().render(),
    )
        .into_response()
}

/// Counts requests by route and status and records their latency.
pub async fn track_requests(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = request.method().as_str().to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    let labels = [
        ("method", method),
        ("route", route),
        ("status", response.status().as_u16().to_string()),
    ];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!("http_request_duration_seconds", &labels)
        .record(started.elapsed().as_secs_f64());
    response
}
