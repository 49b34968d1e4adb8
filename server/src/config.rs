//! The only place that reads the environment. Every setting comes from a command-line flag,
//! an environment variable, or an optional TOML config file, in that order of precedence.

use crate::domain::AllowedAuthorities;
use clap::Parser;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Gatehouse: single sign-on for each organization's Microsoft Entra ID directory.
#[derive(Debug, Clone, Parser)]
#[command(name = "gatehouse", version, about)]
pub struct Cli {
    /// Base URL people use to reach Gatehouse; every URL shown to admins is built from it.
    #[arg(long, env = "GATEHOUSE_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Address to listen on.
    #[arg(long, env = "GATEHOUSE_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Folder for the SQLite database and the master key file.
    #[arg(long, env = "GATEHOUSE_DATA_DIR", global = true)]
    pub data_dir: Option<PathBuf>,
    /// Database: `sqlite://...` (default: gatehouse.db in the data folder) or `postgres://...`.
    #[arg(long, env = "DATABASE_URL", global = true)]
    pub database_url: Option<String>,
    /// Base64 of 32 random bytes sealing secrets at rest; default: `master.key` in the data
    /// folder, created with mode 0600 on first start.
    #[arg(long, env = "GATEHOUSE_MASTER_KEY", hide_env_values = true)]
    pub master_key: Option<String>,
    /// Path of the web settings file (site root, package folder).
    #[arg(long, env = "GATEHOUSE_LEPTOS_TOML")]
    pub leptos_toml: Option<PathBuf>,
    /// Log format: `text` or `json`.
    #[arg(long, env = "GATEHOUSE_LOG_FORMAT")]
    pub log_format: Option<LogFormat>,
    /// Clock skew allowed on ID token times (`exp`, `nbf`, `iat`), in seconds; at most 300.
    #[arg(long, env = "GATEHOUSE_CLOCK_SKEW_SECONDS")]
    pub clock_skew_seconds: Option<u64>,
    /// How long Gatehouse waits for a directory (or Microsoft Graph) to answer one call before
    /// it gives up and says the directory cannot be reached, in seconds (default 5, at most 60).
    #[arg(long, env = "GATEHOUSE_DIRECTORY_TIMEOUT_SECONDS")]
    pub directory_timeout_seconds: Option<u64>,
    /// How long audit entries are kept, in days (default 365); older ones are deleted by the
    /// housekeeping round.
    #[arg(long, env = "GATEHOUSE_AUDIT_RETENTION_DAYS")]
    pub audit_retention_days: Option<u32>,
    /// Single sign-on starts and callbacks allowed per client address per minute.
    #[arg(long, env = "GATEHOUSE_SSO_REQUESTS_PER_MINUTE")]
    pub sso_requests_per_minute: Option<u32>,
    /// How long a session lasts after sign-in, however active, in hours (default 168: 7 days).
    #[arg(long, env = "GATEHOUSE_SESSION_LIFETIME_HOURS")]
    pub session_lifetime_hours: Option<u32>,
    /// Reverse proxies (CIDR list, comma-separated) whose `X-Forwarded-For` names the client's
    /// address; from any other peer the header is ignored.
    #[arg(long, env = "GATEHOUSE_TRUSTED_PROXIES")]
    pub trusted_proxies: Option<String>,
    /// The DNS server that domain proofs are looked up at (`address:port`), instead of the
    /// system's; for tests.
    #[arg(long, env = "GATEHOUSE_DNS_SERVER")]
    pub dns_server: Option<SocketAddr>,
    /// Serve `/metrics` on this address only (not on the public listener), for example
    /// `127.0.0.1:9100`.
    #[arg(long, env = "GATEHOUSE_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
    /// For development and tests only: other authority hosts than Entra's clouds that admins
    /// may connect to, as base URLs separated by commas (such as a local test provider).
    #[arg(long, env = "GATEHOUSE_ALLOWED_AUTHORITIES")]
    pub allowed_authorities: Option<String>,
    /// The SMTP server that email to people goes through, as a URL:
    /// `smtps://user:password@mail.example.com`, `smtp://mail.example.com:587?tls=required`, or
    /// `smtp://127.0.0.1:2525` (no encryption, for a local relay). Unset: messages wait.
    #[arg(long, env = "GATEHOUSE_SMTP_URL")]
    pub smtp_url: Option<String>,
    /// The address email comes from, such as `Gatehouse <gatehouse@example.com>`.
    #[arg(long, env = "GATEHOUSE_MAIL_FROM")]
    pub mail_from: Option<String>,
    /// The Application (client) ID of Gatehouse's setup client in Entra's global cloud: a
    /// multi-tenant public client the operator registers once, with which admins "Set up
    /// automatically" (see the README). Unset: only the manual setup is offered.
    #[arg(long, env = "GATEHOUSE_SETUP_CLIENT_ID")]
    pub setup_client_id: Option<String>,
    /// The same, registered in the US Government cloud.
    #[arg(long, env = "GATEHOUSE_SETUP_CLIENT_ID_US_GOVERNMENT")]
    pub setup_client_id_us_government: Option<String>,
    /// The same, registered in the China cloud (operated by 21Vianet).
    #[arg(long, env = "GATEHOUSE_SETUP_CLIENT_ID_CHINA")]
    pub setup_client_id_china: Option<String>,
    /// For tests only: a local provider (base URL) that plays Microsoft Entra's global cloud,
    /// its sign-in and its Microsoft Graph. Never set it in production.
    #[arg(long, env = "GATEHOUSE_TEST_GLOBAL_CLOUD")]
    pub test_global_cloud: Option<String>,
    /// For tests only: moves this instance's clock by this many days, to see what happens
    /// months later (certificate rotation). Never set it in production.
    #[arg(
        long,
        env = "GATEHOUSE_TEST_CLOCK_OFFSET_DAYS",
        allow_hyphen_values = true
    )]
    pub test_clock_offset_days: Option<i64>,
    /// Optional TOML file with any of the settings above (keys in snake_case).
    #[arg(long, env = "GATEHOUSE_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// Without a command, Gatehouse serves.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// What else `gatehouse` does besides serving.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
    /// Writes a consistent copy of the SQLite database to FILE, while Gatehouse serves.
    Backup {
        /// A new file (an existing one is never overwritten).
        file: PathBuf,
    },
    /// Puts the backup FILE in place of the SQLite database; refused while a Gatehouse
    /// serves the data folder.
    Restore { file: PathBuf },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    Text,
    Json,
}

/// The settings a config file may hold.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    public_url: Option<String>,
    listen: Option<SocketAddr>,
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    master_key: Option<String>,
    leptos_toml: Option<PathBuf>,
    log_format: Option<LogFormat>,
    clock_skew_seconds: Option<u64>,
    directory_timeout_seconds: Option<u64>,
    audit_retention_days: Option<u32>,
    sso_requests_per_minute: Option<u32>,
    allowed_authorities: Option<String>,
    metrics_listen: Option<SocketAddr>,
    session_lifetime_hours: Option<u32>,
    dns_server: Option<SocketAddr>,
    trusted_proxies: Option<String>,
    smtp_url: Option<String>,
    mail_from: Option<String>,
    setup_client_id: Option<String>,
    setup_client_id_us_government: Option<String>,
    setup_client_id_china: Option<String>,
}

/// Default absolute session lifetime: 7 days.
pub const DEFAULT_SESSION_LIFETIME_HOURS: u32 = 168;
/// Default ID token clock skew: two minutes.
pub const DEFAULT_CLOCK_SKEW_SECONDS: u64 = 120;
/// Default time audit entries are kept: a year.
pub const DEFAULT_AUDIT_RETENTION_DAYS: u32 = 365;
/// Default time a directory has to answer one call: five seconds.
pub const DEFAULT_DIRECTORY_TIMEOUT_SECONDS: u64 = 5;
/// Default limit of single sign-on starts and callbacks per client address per minute.
pub const DEFAULT_SSO_REQUESTS_PER_MINUTE: u32 = 60;

/// The resolved configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// Without a trailing slash.
    pub public_url: String,
    /// True when no public URL was given: it is then the address actually listened on.
    pub public_url_from_listen: bool,
    /// Overrides the site address from the web settings when given.
    pub listen: Option<SocketAddr>,
    pub data_dir: PathBuf,
    pub database_url: String,
    pub master_key: Option<String>,
    pub leptos_toml: PathBuf,
    pub log_format: LogFormat,
    /// Allowed clock skew on ID token times; at most five minutes.
    pub clock_skew: std::time::Duration,
    pub sso_requests_per_minute: u32,
    /// Authorities besides Entra's clouds that admins may connect to (development and tests).
    pub allowed_authorities: AllowedAuthorities,
    /// Where `/metrics` is served instead of the public listener.
    pub metrics_listen: Option<SocketAddr>,
    /// How long a session lasts after sign-in, beside the idle timeout.
    pub session_lifetime: time::Duration,
    /// Where domain proofs are looked up; the system's name servers when `None`.
    pub dns_server: Option<SocketAddr>,
    /// How long audit entries are kept.
    pub audit_retention: time::Duration,
    /// How long one call to a directory (or Graph) may take.
    pub directory_timeout: std::time::Duration,
    /// Peers whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// The operator's SMTP server (a URL) and the address email comes from.
    pub smtp_url: Option<String>,
    pub mail_from: Option<String>,
    /// The setup client per cloud, for the automatic setup.
    pub setup_clients: SetupClients,
    /// Tests only: how far this instance's clock is moved.
    pub test_clock_offset: Option<time::Duration>,
}

/// The public client the operator registered once per cloud for the device code sign-in.
#[derive(Debug, Clone, Default)]
pub struct SetupClients {
    pub global: Option<String>,
    pub us_government: Option<String>,
    pub china: Option<String>,
}

impl SetupClients {
    /// The clouds with a setup client; a custom authority (development and tests) uses the
    /// global one when the operator allows custom authorities.
    pub fn clouds(&self, custom_allowed: bool) -> Vec<app::types::Cloud> {
        use app::types::Cloud;
        let mut clouds: Vec<Cloud> = [Cloud::Global, Cloud::UsGovernment, Cloud::China]
            .into_iter()
            .filter(|c| self.of(*c).is_some())
            .collect();
        if custom_allowed && self.global.is_some() {
            clouds.push(Cloud::Custom);
        }
        clouds
    }

    /// The setup client of `cloud` (a custom authority uses the global one).
    pub fn of(&self, cloud: app::types::Cloud) -> Option<&str> {
        match cloud {
            app::types::Cloud::Global | app::types::Cloud::Custom => self.global.as_deref(),
            app::types::Cloud::UsGovernment => self.us_government.as_deref(),
            app::types::Cloud::China => self.china.as_deref(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the config file {path}: {source}")]
    ReadFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the config file {path} is not valid: {source}")]
    ParseFile {
        path: PathBuf,
        source: toml::de::Error,
    },
    #[error("GATEHOUSE_PUBLIC_URL must be an absolute http:// or https:// URL, got {0:?}")]
    PublicUrl(String),
    #[error(
        "the clock skew is at most 300 seconds (the security rules allow five minutes), got {0}"
    )]
    ClockSkew(u64),
    #[error("the directory timeout is 1 to 60 seconds, got {0}")]
    DirectoryTimeout(u64),
    #[error("audit entries are kept at least one day (GATEHOUSE_AUDIT_RETENTION_DAYS), got 0")]
    AuditRetention,
    #[error("GATEHOUSE_TRUSTED_PROXIES: {0:?} is not an address or a CIDR network")]
    TrustedProxies(String),
    #[error("GATEHOUSE_ALLOWED_AUTHORITIES: {0}")]
    AllowedAuthorities(String),
    #[error("the setup client is an Application (client) ID, a GUID: {0}")]
    SetupClient(String),
}

impl Config {
    /// Resolves flags and environment over the config file over defaults.
    pub fn load(cli: Cli) -> Result<Self, ConfigError> {
        let file = match &cli.config {
            Some(path) => {
                let text =
                    std::fs::read_to_string(path).map_err(|source| ConfigError::ReadFile {
                        path: path.clone(),
                        source,
                    })?;
                toml::from_str(&text).map_err(|source| ConfigError::ParseFile {
                    path: path.clone(),
                    source,
                })?
            }
            None => FileSettings::default(),
        };
        let data_dir = cli
            .data_dir
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from("data"));
        let listen = cli.listen.or(file.listen);
        let given_url = cli.public_url.or(file.public_url);
        let public_url_from_listen = given_url.is_none();
        let public_url = validate_public_url(&given_url.unwrap_or_else(|| match listen {
            Some(addr) => format!("http://{addr}"),
            None => "http://127.0.0.1:3000".to_string(),
        }))?;
        let database_url = cli
            .database_url
            .or(file.database_url)
            .unwrap_or_else(|| default_sqlite_url(&data_dir));
        let skew = cli
            .clock_skew_seconds
            .or(file.clock_skew_seconds)
            .unwrap_or(DEFAULT_CLOCK_SKEW_SECONDS);
        if skew > 300 {
            return Err(ConfigError::ClockSkew(skew));
        }
        let directory_timeout = cli
            .directory_timeout_seconds
            .or(file.directory_timeout_seconds)
            .unwrap_or(DEFAULT_DIRECTORY_TIMEOUT_SECONDS);
        if !(1..=60).contains(&directory_timeout) {
            return Err(ConfigError::DirectoryTimeout(directory_timeout));
        }
        let audit_retention_days = cli
            .audit_retention_days
            .or(file.audit_retention_days)
            .unwrap_or(DEFAULT_AUDIT_RETENTION_DAYS);
        if audit_retention_days == 0 {
            return Err(ConfigError::AuditRetention);
        }
        let allowed_authorities = AllowedAuthorities::parse(
            cli.allowed_authorities
                .or(file.allowed_authorities)
                .as_deref()
                .unwrap_or_default(),
        )
        .map_err(ConfigError::AllowedAuthorities)?;
        let allowed_authorities = match cli.test_global_cloud.as_deref() {
            Some(stand_in) => allowed_authorities
                .with_global_cloud_stand_in(stand_in)
                .map_err(ConfigError::AllowedAuthorities)?,
            None => allowed_authorities,
        };
        let setup_client =
            |value: Option<String>, name: &str| -> Result<Option<String>, ConfigError> {
                value
                    .map(|v| {
                        crate::domain::Guid::parse(&v)
                            .map(|g| g.0)
                            .map_err(|e| ConfigError::SetupClient(format!("{name}: {e}")))
                    })
                    .transpose()
            };
        let setup_clients = SetupClients {
            global: setup_client(
                cli.setup_client_id.or(file.setup_client_id),
                "GATEHOUSE_SETUP_CLIENT_ID",
            )?,
            us_government: setup_client(
                cli.setup_client_id_us_government
                    .or(file.setup_client_id_us_government),
                "GATEHOUSE_SETUP_CLIENT_ID_US_GOVERNMENT",
            )?,
            china: setup_client(
                cli.setup_client_id_china.or(file.setup_client_id_china),
                "GATEHOUSE_SETUP_CLIENT_ID_CHINA",
            )?,
        };
        Ok(Config {
            test_clock_offset: cli.test_clock_offset_days.map(time::Duration::days),
            setup_clients,
            smtp_url: cli.smtp_url.or(file.smtp_url),
            mail_from: cli.mail_from.or(file.mail_from),
            allowed_authorities,
            metrics_listen: cli.metrics_listen.or(file.metrics_listen),
            dns_server: cli.dns_server.or(file.dns_server),
            trusted_proxies: parse_networks(
                cli.trusted_proxies
                    .or(file.trusted_proxies)
                    .as_deref()
                    .unwrap_or_default(),
            )?,
            session_lifetime: time::Duration::hours(i64::from(
                cli.session_lifetime_hours
                    .or(file.session_lifetime_hours)
                    .unwrap_or(DEFAULT_SESSION_LIFETIME_HOURS)
                    .max(1),
            )),
            clock_skew: std::time::Duration::from_secs(skew),
            directory_timeout: std::time::Duration::from_secs(directory_timeout),
            audit_retention: time::Duration::days(i64::from(audit_retention_days)),
            sso_requests_per_minute: cli
                .sso_requests_per_minute
                .or(file.sso_requests_per_minute)
                .unwrap_or(DEFAULT_SSO_REQUESTS_PER_MINUTE),
            public_url,
            public_url_from_listen,
            listen,
            database_url,
            master_key: cli.master_key.or(file.master_key),
            leptos_toml: cli
                .leptos_toml
                .or(file.leptos_toml)
                .unwrap_or_else(|| PathBuf::from("Leptos.toml")),
            log_format: cli
                .log_format
                .or(file.log_format)
                .unwrap_or(LogFormat::Text),
            data_dir,
        })
    }

    /// Whether cookies must carry the `Secure` flag.
    pub fn is_https(&self) -> bool {
        self.public_url.starts_with("https://")
    }
}

/// A comma-separated list of networks (`10.0.0.0/8`) or single addresses.
fn parse_networks(list: &str) -> Result<Vec<ipnet::IpNet>, ConfigError> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|item| {
            item.parse::<ipnet::IpNet>()
                .or_else(|_| item.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| ConfigError::TrustedProxies(item.to_string()))
        })
        .collect()
}

fn default_sqlite_url(data_dir: &Path) -> String {
    format!(
        "sqlite://{}?mode=rwc",
        data_dir.join("gatehouse.db").display()
    )
}

fn validate_public_url(url: &str) -> Result<String, ConfigError> {
    let trimmed = url.trim_end_matches('/');
    let rest = trimmed
        .strip_prefix("https://")
        .or_else(|| trimmed.strip_prefix("http://"));
    match rest {
        Some(host) if !host.is_empty() && !host.contains(['?', '#', ' ']) => {
            Ok(trimmed.to_string())
        }
        _ => Err(ConfigError::PublicUrl(url.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cli(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("gatehouse").chain(args.iter().copied())).unwrap()
    }

    #[test]
    fn defaults_need_no_configuration() {
        let config = Config::load(cli(&["--data-dir", "/tmp/gh"])).unwrap();
        assert_eq!(config.public_url, "http://127.0.0.1:3000");
        assert_eq!(
            config.database_url,
            "sqlite:///tmp/gh/gatehouse.db?mode=rwc"
        );
        assert!(!config.is_https());
    }

    #[test]
    fn the_directory_timeout_and_audit_retention_have_defaults_and_bounds() {
        let config = Config::load(cli(&["--data-dir", "/tmp/gh"])).unwrap();
        assert_eq!(config.directory_timeout, std::time::Duration::from_secs(5));
        assert_eq!(config.audit_retention, time::Duration::days(365));
        for bad in [
            &["--directory-timeout-seconds", "0"][..],
            &["--directory-timeout-seconds", "61"],
            &["--audit-retention-days", "0"],
        ] {
            let error = Config::load(cli(bad)).unwrap_err().to_string();
            assert!(
                error.contains("timeout") || error.contains("at least one day"),
                "{error}"
            );
        }
        let config = Config::load(cli(&["--directory-timeout-seconds", "2"])).unwrap();
        assert_eq!(config.directory_timeout, std::time::Duration::from_secs(2));
    }

    #[test]
    fn public_url_loses_its_trailing_slash_and_must_be_http() {
        let config = Config::load(cli(&["--public-url", "https://sso.example.com/"])).unwrap();
        assert_eq!(config.public_url, "https://sso.example.com");
        assert!(config.is_https());
        assert!(Config::load(cli(&["--public-url", "sso.example.com"])).is_err());
    }

    #[test]
    fn flags_win_over_the_config_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("gatehouse.toml");
        std::fs::write(
            &file,
            "public_url = \"https://file.example\"\ndata_dir = \"/srv/gh\"\n",
        )
        .unwrap();
        let config = Config::load(cli(&[
            "--config",
            file.to_str().unwrap(),
            "--public-url",
            "https://flag.example",
        ]))
        .unwrap();
        assert_eq!(config.public_url, "https://flag.example");
        assert_eq!(config.data_dir, PathBuf::from("/srv/gh"));
    }

    #[test]
    fn unknown_keys_in_the_config_file_are_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("gatehouse.toml");
        std::fs::write(&file, "pubic_url = \"https://typo.example\"\n").unwrap();
        let err = Config::load(cli(&["--config", file.to_str().unwrap()])).unwrap_err();
        assert!(err.to_string().contains("not valid"), "{err}");
    }
}
