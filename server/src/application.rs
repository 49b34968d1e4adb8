//! Builds the whole server from a configuration: storage, keys, routes and layers. Tests build
//! it on port 0 and drive the real thing.

use crate::auth::rate_limit::{AddressLimit, SignInLimits};
use crate::auth::web::session_cookie;
use crate::auth::web::session_store::DbSessionStore;
use crate::clock::{Clock, ShiftedClock, SystemClock};
use crate::config::Config;
use crate::crypto::sealing::{SealingError, SealingKey};
use crate::data_folder::InUse;
use crate::directory::DirectoryReader;
use crate::members::import_jobs::ImportJobs;
use crate::oidc::DirectoryCache;
use crate::state::{AppState, Shared};
use crate::storage::{Storage, StorageError};
use crate::web_settings::{WebSettings, WebSettingsError};
use crate::{api, first_run, ops, sign_in, web_guard};
use axum::http::Request;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::Router;
use leptos_axum::{generate_route_list, AxumRouteListing, LeptosRoutes};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, LazyLock};

/// Uses of one-time links a client address may make a minute: each live one hashes a
/// password, and nobody needs more than a few.
const ONE_TIME_LINK_USES_PER_MINUTE: u32 = 20;
use std::time::Duration;
use tokio::net::TcpListener;
use tower::ServiceExt;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tower_sessions::SessionManagerLayer;
use tracing::Level;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot create the data folder {0}: {1}")]
    DataDir(String, std::io::Error),
    #[error(transparent)]
    WebSettings(#[from] WebSettingsError),
    #[error("cannot open the database: {0}")]
    Storage(#[from] StorageError),
    #[error("master key: {0}")]
    MasterKey(#[from] SealingError),
    #[error("cannot build the HTTP client: {0}")]
    HttpClient(String),
    #[error("cannot listen on {0}: {1}")]
    Listen(SocketAddr, std::io::Error),
    #[error(transparent)]
    Mail(#[from] crate::mail::MailSettingsError),
    #[error(transparent)]
    DataFolder(#[from] crate::data_folder::LockError),
}

pub struct Application {
    listener: TcpListener,
    addr: SocketAddr,
    /// `/metrics` on its own address, when the operator asked for one.
    metrics_listener: Option<(TcpListener, SocketAddr)>,
    router: Router,
    state: AppState,
    first_run_url: Option<String>,
    /// Held while serving: no restore replaces the data meanwhile.
    _in_use: InUse,
}

impl Application {
    pub async fn build(config: Config) -> Result<Self, StartError> {
        let clock: Arc<dyn Clock> = match config.test_clock_offset {
            Some(offset) => {
                tracing::warn!(
                    days = offset.whole_days(),
                    "GATEHOUSE_TEST_CLOCK_OFFSET_DAYS moves this instance's clock: for tests only"
                );
                Arc::new(ShiftedClock(offset))
            }
            None => Arc::new(SystemClock),
        };
        Self::build_with_clock(config, clock).await
    }

    pub async fn build_with_clock(
        mut config: Config,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, StartError> {
        std::fs::create_dir_all(&config.data_dir)
            .map_err(|e| StartError::DataDir(config.data_dir.display().to_string(), e))?;
        let in_use = InUse::serving(&config.data_dir)?;
        let web = WebSettings::load(&config.leptos_toml)?;
        let (listener, addr) = listen(config.listen.unwrap_or(web.site_addr)).await?;
        let metrics_listener = match config.metrics_listen {
            Some(wanted) => Some(listen(wanted).await?),
            None => None,
        };
        if config.public_url_from_listen {
            config.public_url = format!("http://{addr}");
        }
        let sealing_key = match &config.master_key {
            Some(key) => SealingKey::from_base64(key)?,
            None => SealingKey::load_or_create_file(&config.data_dir.join("master.key"))?,
        };
        let storage = Storage::connect(&config.database_url).await?;
        let first_run_url =
            first_run::issue_link_if_needed(&storage, clock.as_ref(), &config.public_url).await?;

        let http = crate::outbound::client(&config.allowed_authorities, config.directory_timeout)
            .map_err(|e| StartError::HttpClient(e.to_string()))?;
        let application_http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("Gatehouse/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| StartError::HttpClient(e.to_string()))?;
        let txt_lookup = crate::domains::dns::TxtLookup::new(config.dns_server);
        let mailer = crate::mail::Mailer::from_settings(
            config.smtp_url.as_deref(),
            config.mail_from.as_deref(),
        )?;
        let state = AppState::new(Shared {
            leptos_options: web.leptos_options(addr),
            storage,
            sso_limit: AddressLimit::per_minute(config.sso_requests_per_minute),
            link_limit: AddressLimit::per_minute(ONE_TIME_LINK_USES_PER_MINUTE),
            active_connections: Default::default(),
            directories: DirectoryCache::default(),
            directory_reader: DirectoryReader::default(),
            member_imports: ImportJobs::default(),
            signing_keys: Default::default(),
            config,
            clock,
            sign_in_limits: SignInLimits::default(),
            sealing_key,
            http,
            application_http,
            txt_lookup,
            mailer,
            instance: uuid::Uuid::new_v4().to_string().into(),
        });
        ops::prometheus(); // installed before the first request is counted
        let router = router(state.clone());
        Ok(Application {
            listener,
            addr,
            metrics_listener,
            router,
            state,
            first_run_url,
            _in_use: in_use,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Where `/metrics` is served, when not on the public listener.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_listener.as_ref().map(|(_, addr)| *addr)
    }

    pub fn public_url(&self) -> &str {
        &self.state.config.public_url
    }

    /// The one-time link that creates the first operator, when none exists yet.
    pub fn first_run_url(&self) -> Option<&str> {
        self.first_run_url.as_deref()
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` completes, then finishes the requests in flight.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let background = crate::background::start(&self.state);
        let metrics_upkeep = tokio::spawn(ops::metrics_upkeep());
        let metrics = self.metrics_listener.map(|(listener, _)| {
            tokio::spawn(async move { axum::serve(listener, ops::metrics_routes::<()>()).await })
        });
        let result = axum::serve(
            self.listener,
            self.router
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await;
        background.stop(&self.state).await;
        if let Some(metrics) = metrics {
            metrics.abort();
        }
        metrics_upkeep.abort();
        self.state.storage.close().await;
        result
    }
}

/// A listener on `wanted`, and the address it got (the port, when `wanted`'s is 0).
async fn listen(wanted: SocketAddr) -> Result<(TcpListener, SocketAddr), StartError> {
    let listener = TcpListener::bind(wanted)
        .await
        .map_err(|e| StartError::Listen(wanted, e))?;
    let addr = listener
        .local_addr()
        .map_err(|e| StartError::Listen(wanted, e))?;
    Ok((listener, addr))
}

/// The pages' routes, listed once per process. Listing them runs the whole app with every
/// resource held back, through a switch Leptos keeps for the whole process (leptos#4773): a
/// page that started loading its data while another router was being built (tests start many
/// servers in one process) would wait for that data forever.
static PAGES: LazyLock<Vec<AxumRouteListing>> = LazyLock::new(|| generate_route_list(app::App));

/// Every route of Gatehouse with its layers.
pub fn router(state: AppState) -> Router {
    let in_process = in_process_api(state.clone());
    let pages = PAGES.clone();
    Router::new()
        .merge(api_routes(&state))
        .merge(ops::routes(state.config.metrics_listen.is_some()))
        .merge(sign_in::web::routes())
        .merge(crate::provider::web::routes())
        .leptos_routes_with_context(
            &state,
            pages,
            move || leptos::prelude::provide_context(in_process.clone()),
            {
                let options = state.leptos_options.clone();
                move || app::shell(options.clone())
            },
        )
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(
            app::shell,
        ))
        .layer(sessions(&state))
        .layer(from_fn(ops::track_requests))
        .layer(from_fn_with_state(
            state.config.is_https(),
            web_guard::security_headers,
        ))
        .layer(from_fn(web_guard::limit_bodies))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|request: &Request<_>| {
                    let request_id = request
                        .headers()
                        .get("x-request-id")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("-");
                    tracing::info_span!(
                        "request",
                        request_id = %request_id,
                        method = %request.method(),
                        path = %loggable_path(request.uri().path()),
                    )
                })
                .on_response(DefaultOnResponse::new().level(Level::INFO)),
        )
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(RequestIds))
        .with_state(state)
}

/// The JSON API under `/api/v1`, behind the same-origin guard.
fn api_routes(state: &AppState) -> Router<AppState> {
    let origin: Arc<str> = web_guard::origin_of(&state.config.public_url).into();
    let (api, _) = api::routes();
    Router::new().nest(
        "/api/v1",
        api.layer(from_fn_with_state(origin, web_guard::same_origin_only)),
    )
}

fn sessions(state: &AppState) -> SessionManagerLayer<DbSessionStore> {
    session_cookie::layer(
        DbSessionStore::new(state.storage.clone()),
        state.config.is_https(),
    )
}

/// How long a page rendering on the server waits for one of its API calls.
const IN_PROCESS_LIMIT: Duration = Duration::from_secs(10);

/// The API as pages call it while they render on the server: the same routes, guard and
/// sessions as the browser's calls, in-process.
fn in_process_api(state: AppState) -> app::api::ServerApi {
    let service = api_routes(&state).layer(sessions(&state)).with_state(state);
    app::api::ServerApi(Arc::new(move |request: Request<String>| {
        let service = service.clone();
        // Of the page request's extensions, the API call keeps only the client's address: the
        // page route's own (such as its path parameters) would confuse the API's routing.
        let (mut parts, body) = request.into_parts();
        let client = parts
            .extensions
            .get::<axum::extract::ConnectInfo<SocketAddr>>()
            .cloned();
        parts.extensions = Default::default();
        if let Some(client) = client {
            parts.extensions.insert(client);
        }
        let request = Request::from_parts(parts, axum::body::Body::from(body));
        Box::pin(async move {
            // A page never waits on its data without end: past the limit it renders the error.
            let response =
                match tokio::time::timeout(IN_PROCESS_LIMIT, service.oneshot(request)).await {
                    Ok(Ok(response)) => response,
                    Ok(Err(never)) => match never {},
                    Err(_) => {
                        tracing::warn!("an in-process API call for a page did not answer in time");
                        return axum::http::Response::builder()
                            .status(axum::http::StatusCode::SERVICE_UNAVAILABLE)
                            .body(String::new())
                            .unwrap_or_default();
                    }
                };
            let (parts, body) = response.into_parts();
            let text = match http_body_util::BodyExt::collect(body).await {
                Ok(collected) => String::from_utf8_lossy(&collected.to_bytes()).into_owned(),
                Err(e) => {
                    tracing::warn!(error = %e, "reading an in-process API answer failed");
                    String::new()
                }
            };
            axum::http::Response::from_parts(parts, text)
        })
    }))
}

/// The path with one-time tokens replaced by `…`, so logs never hold a usable link.
pub fn loggable_path(path: &str) -> String {
    const TOKEN_PREFIXES: [&str; 6] = [
        "/setup/",
        "/invite/",
        "/connect/",
        "/api/v1/first-run/",
        "/api/v1/invites/",
        "/api/v1/setup-links/",
    ];
    for prefix in TOKEN_PREFIXES {
        if let Some(rest) = path.strip_prefix(prefix) {
            let tail = rest.find('/').map(|i| &rest[i..]).unwrap_or("");
            return format!("{prefix}…{tail}");
        }
    }
    path.to_string()
}

/// A random (version 4) UUID for each request, drawn from the thread's generator: tower-http's
/// `MakeRequestUuid` asks the operating system for every one, a system call per request.
#[derive(Clone, Copy)]
struct RequestIds;

impl MakeRequestId for RequestIds {
    fn make_request_id<B>(&mut self, _: &Request<B>) -> Option<RequestId> {
        let id = uuid::Builder::from_random_bytes(rand::random()).into_uuid();
        axum::http::HeaderValue::from_str(&id.to_string())
            .ok()
            .map(RequestId::new)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn tokens_never_reach_the_log() {
        assert_eq!(super::loggable_path("/setup/abc123"), "/setup/…");
        assert_eq!(
            super::loggable_path("/api/v1/invites/abc/accept"),
            "/api/v1/invites/…/accept"
        );
        assert_eq!(super::loggable_path("/console/orgs/1"), "/console/orgs/1");
    }
}
