//! Live TXT lookups for domain proofs, with hickory's resolver: the system's name servers, or
//! the one `GATEHOUSE_DNS_SERVER` names (the tests' own). Nothing is cached: a check asks the
//! DNS each time, so a record an admin just added is seen at once.

use hickory_resolver::config::{NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::RData;
use hickory_resolver::TokioResolver;
use std::net::SocketAddr;
use std::time::Duration;

/// What the DNS says about a name's TXT records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxtAnswer {
    /// The name's TXT values (each record's strings joined).
    Found(Vec<String>),
    /// The name does not exist, or has no TXT record: a definite answer.
    Missing,
    /// No answer could be had (timeout, SERVFAIL, refused): says nothing about the record.
    Failed(String),
}

/// Looks up TXT records.
#[derive(Clone)]
pub struct TxtLookup {
    /// Or why there is no resolver (the system's DNS settings could not be read): Gatehouse
    /// still starts, and each check says the lookup failed.
    resolver: Result<TokioResolver, String>,
}

impl TxtLookup {
    /// A lookup through `server`, or through the system's name servers when `None`.
    pub fn new(server: Option<SocketAddr>) -> Self {
        let resolver = Self::resolver(server);
        if let Err(e) = &resolver {
            tracing::warn!(error = %e, "no DNS resolver: email domain proofs cannot be checked");
        }
        TxtLookup { resolver }
    }

    fn resolver(server: Option<SocketAddr>) -> Result<TokioResolver, String> {
        let builder = match server {
            Some(address) => {
                let mut name_server = NameServerConfig::udp_and_tcp(address.ip());
                for connection in &mut name_server.connections {
                    connection.port = address.port();
                }
                TokioResolver::builder_with_config(
                    ResolverConfig::from_name_servers(vec![name_server]),
                    TokioRuntimeProvider::default(),
                )
            }
            None => TokioResolver::builder_tokio().map_err(|e| e.to_string())?,
        };
        let mut builder = builder;
        let options = builder.options_mut();
        options.cache_size = 0;
        options.timeout = Duration::from_secs(3);
        options.attempts = 2;
        builder.build().map_err(|e| e.to_string())
    }

    /// The TXT records of `name`.
    pub async fn txt(&self, name: &str) -> TxtAnswer {
        // A fully qualified name: no search domains are tried.
        let fqdn = format!("{}.", name.trim_end_matches('.'));
        let resolver = match &self.resolver {
            Ok(resolver) => resolver,
            Err(e) => return TxtAnswer::Failed(e.clone()),
        };
        match resolver.txt_lookup(fqdn.as_str()).await {
            Ok(lookup) => {
                let values: Vec<String> = lookup
                    .answers()
                    .iter()
                    .filter_map(|record| match &record.data {
                        RData::TXT(txt) => Some(
                            txt.txt_data
                                .iter()
                                .map(|part| String::from_utf8_lossy(part).into_owned())
                                .collect::<String>(),
                        ),
                        _ => None,
                    })
                    .collect();
                if values.is_empty() {
                    TxtAnswer::Missing
                } else {
                    TxtAnswer::Found(values)
                }
            }
            Err(e) if e.is_no_records_found() => TxtAnswer::Missing,
            Err(e) => TxtAnswer::Failed(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{TxtAnswer, TxtLookup};

    #[tokio::test]
    async fn without_dns_settings_a_check_fails_instead_of_gatehouse_not_starting() {
        let lookup = TxtLookup {
            resolver: Err("no /etc/resolv.conf".into()),
        };
        assert_eq!(
            lookup.txt("_gatehouse-challenge.contoso.com").await,
            TxtAnswer::Failed("no /etc/resolv.conf".into())
        );
    }
}
