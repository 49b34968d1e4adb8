//! Calls to directories and Microsoft Graph: one HTTP client with timeouts, no redirects and
//! the guarded resolver, and answers read up to `MAX_ANSWER_BYTES`, so an unknown host cannot
//! make Gatehouse hold an endless body in memory.

use crate::domain::AllowedAuthorities;
use crate::entra::authority::GuardedResolver;
use openidconnect::{HttpClientError, HttpRequest, HttpResponse};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// The most Gatehouse reads of one answer from a directory or Graph.
pub const MAX_ANSWER_BYTES: usize = 1024 * 1024;

/// The client for every call to a directory: each call ends after `timeout` (connecting
/// included), answered or not.
pub fn client(allowed: &AllowedAuthorities, timeout: Duration) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("Gatehouse/", env!("CARGO_PKG_VERSION")))
        .dns_resolver(Arc::new(GuardedResolver {
            allowed: allowed.clone(),
        }))
        .build()
}

/// Runs one call to a directory (or Graph), recording how long it took in
/// `gatehouse_directory_request_duration_seconds{kind}`: `discovery`, `keys`, `token` or
/// `graph`.
pub async fn timed<T>(kind: &'static str, call: impl Future<Output = T>) -> T {
    let started = std::time::Instant::now();
    let answer = call.await;
    metrics::histogram!("gatehouse_directory_request_duration_seconds", "kind" => kind)
        .record(started.elapsed().as_secs_f64());
    answer
}

/// Why an answer could not be read.
#[derive(Debug, thiserror::Error)]
pub enum AnswerError {
    #[error(transparent)]
    Transport(#[from] reqwest::Error),
    #[error("the answer is larger than {MAX_ANSWER_BYTES} bytes")]
    TooLarge,
}

/// Reads an answer's body, refusing one larger than `MAX_ANSWER_BYTES`.
pub async fn read_body(mut response: reqwest::Response) -> Result<Vec<u8>, AnswerError> {
    if response
        .content_length()
        .is_some_and(|n| n > MAX_ANSWER_BYTES as u64)
    {
        return Err(AnswerError::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(AnswerError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The answer's body as text (lossy), up to `MAX_ANSWER_BYTES`.
pub async fn read_text(response: reqwest::Response) -> Result<String, AnswerError> {
    Ok(String::from_utf8_lossy(&read_body(response).await?).into_owned())
}

/// The client as `openidconnect` calls it, with every answer read by `read_body`.
pub struct Capped<'a>(pub &'a reqwest::Client);

impl<'c> openidconnect::AsyncHttpClient<'c> for Capped<'_> {
    type Error = HttpClientError<AnswerError>;
    type Future =
        Pin<Box<dyn Future<Output = Result<HttpResponse, Self::Error>> + Send + Sync + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(async move {
            let request = request
                .try_into()
                .map_err(|e: reqwest::Error| Box::new(AnswerError::from(e)))?;
            let response = self
                .0
                .execute(request)
                .await
                .map_err(|e| Box::new(AnswerError::from(e)))?;
            let mut builder = openidconnect::http::Response::builder()
                .status(response.status())
                .version(response.version());
            for (name, value) in response.headers() {
                builder = builder.header(name, value);
            }
            let body = read_body(response).await.map_err(Box::new)?;
            builder.body(body).map_err(HttpClientError::Http)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_answer_over_the_limit_is_refused_even_without_a_length() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let app = axum::Router::new()
            .route(
                "/big",
                axum::routing::get(|| async {
                    let chunks = (0..20).map(|_| Ok::<_, std::io::Error>(vec![b'x'; 100_000]));
                    axum::body::Body::from_stream(futures_util::stream::iter(chunks))
                }),
            )
            .route("/small", axum::routing::get(|| async { "fine" }));
        tokio::spawn(async move { axum::serve(listener, app).await });
        let http = reqwest::Client::new();
        let big = http.get(format!("http://{address}/big")).send().await;
        assert!(matches!(
            read_body(big.unwrap()).await,
            Err(AnswerError::TooLarge)
        ));
        let small = http.get(format!("http://{address}/small")).send().await;
        assert_eq!(read_text(small.unwrap()).await.unwrap(), "fine");
    }
}
