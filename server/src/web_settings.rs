//! The web settings in `Leptos.toml`: where the built site lives and which address to serve.
//! cargo-leptos builds from `Cargo.toml`'s `[[workspace.metadata.leptos]]`; a test keeps both
//! files in agreement.

use leptos::config::LeptosOptions;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::Path;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct WebSettings {
    pub output_name: String,
    pub site_root: String,
    pub site_pkg_dir: String,
    pub site_addr: SocketAddr,
}

#[derive(Debug, thiserror::Error)]
pub enum WebSettingsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not valid: {source}")]
    Parse {
        path: String,
        source: toml::de::Error,
    },
}

impl WebSettings {
    pub fn load(path: &Path) -> Result<Self, WebSettingsError> {
        let text = std::fs::read_to_string(path).map_err(|source| WebSettingsError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text).map_err(|source| WebSettingsError::Parse {
            path: path.display().to_string(),
            source,
        })
    }

    pub fn parse(text: &str) -> Result<Self, toml::de::Error> {
        toml::from_str(text)
    }

    pub fn leptos_options(&self, site_addr: SocketAddr) -> LeptosOptions {
        LeptosOptions::builder()
            .output_name(self.output_name.clone())
            .site_root(self.site_root.clone())
            .site_pkg_dir(self.site_pkg_dir.clone())
            .site_addr(site_addr)
            .build()
    }
}
