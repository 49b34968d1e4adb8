//! Discovery documents and signing keys, cached per directory. A warm sign-in fetches nothing;
//! a token signed with a key the cache does not know makes the keys be fetched again, at most
//! once per `key_refetch_interval` per directory, so a flood of unknown `kid`s cannot make
//! Gatehouse hammer the directory. A sign-in that finds the last fetch too recent waits for the
//! next one (at most the interval, a few seconds), so tokens with bogus `kid`s just before a
//! real rotation cannot make the first sign-in with the new key fail.

use super::{failure, EntraClient, OidcFailure, Registration};
use crate::outbound::Capped;
use openidconnect::core::{CoreJsonWebKeySet, CoreProviderMetadata};
use openidconnect::IssuerUrl;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a discovery document and its keys are used before they are read again.
pub const DEFAULT_TTL: Duration = Duration::from_secs(24 * 60 * 60);
/// The shortest time between two key re-fetches for one directory, and the longest a sign-in
/// waits for the next one.
pub const DEFAULT_KEY_REFETCH_INTERVAL: Duration = Duration::from_secs(5);

struct Entry {
    metadata: Arc<CoreProviderMetadata>,
    fetched_at: Instant,
    /// When an unknown key last made the keys be fetched again.
    keys_refetched_at: Option<Instant>,
    /// Held while the keys are fetched again: sign-ins waiting for the same fetch queue here,
    /// then find the new key without fetching themselves.
    refetching: Arc<tokio::sync::Mutex<()>>,
    /// Clients built from `metadata`, by registration (`client_key`).
    clients: HashMap<String, Arc<EntraClient>>,
}

/// At most this many clients are kept per directory (one per registration that signs in there).
const MAX_CLIENTS: usize = 256;

fn client_key(registration: &Registration<'_>) -> String {
    [
        registration.client_id,
        &registration.credential.fingerprint(),
        registration.redirect_uri,
    ]
    .join("\n")
}

pub struct DirectoryCache {
    entries: Mutex<HashMap<String, Entry>>,
    ttl: Duration,
    key_refetch_interval: Duration,
}

impl Default for DirectoryCache {
    fn default() -> Self {
        DirectoryCache::new(DEFAULT_TTL, DEFAULT_KEY_REFETCH_INTERVAL)
    }
}

impl std::fmt::Debug for DirectoryCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DirectoryCache")
            .field("ttl", &self.ttl)
            .field("key_refetch_interval", &self.key_refetch_interval)
            .finish_non_exhaustive()
    }
}

/// The issuer address of a directory, which also keys the cache.
pub fn issuer_of(authority_host: &str, tenant_id: &str) -> String {
    format!("{authority_host}/{tenant_id}/v2.0")
}

fn lock(
    entries: &Mutex<HashMap<String, Entry>>,
) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
    entries
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl DirectoryCache {
    pub fn new(ttl: Duration, key_refetch_interval: Duration) -> Self {
        DirectoryCache {
            entries: Mutex::new(HashMap::new()),
            ttl,
            key_refetch_interval,
        }
    }

    /// The directory's discovery document with its keys, from the cache when fresh.
    pub async fn metadata(
        &self,
        http: &reqwest::Client,
        issuer: &str,
    ) -> Result<Arc<CoreProviderMetadata>, OidcFailure> {
        if let Some(entry) = lock(&self.entries).get(issuer) {
            if entry.fetched_at.elapsed() < self.ttl {
                return Ok(entry.metadata.clone());
            }
        }
        let url = IssuerUrl::new(issuer.to_string()).map_err(|e| {
            failure(
                "provider_address",
                "The directory's address is not valid.",
                e,
            )
        })?;
        metrics::counter!("gatehouse_directory_fetches_total", "kind" => "discovery").increment(1);
        let metadata = Arc::new(
            crate::outbound::timed(
                "discovery",
                CoreProviderMetadata::discover_async(url, &Capped(http)),
            )
            .await
                .map_err(|e| {
                    failure(
                        super::UNREACHABLE,
                        "Gatehouse could not read the directory's sign-in settings. The directory may be down or slow; try again in a few minutes.",
                        super::error_chain(&e),
                    )
                })?,
        );
        endpoints_on_issuer(issuer, &metadata)?;
        self.remember(issuer, metadata.clone());
        Ok(metadata)
    }

    /// Keeps a freshly read discovery document, in place of what the directory had.
    fn remember(&self, issuer: &str, metadata: Arc<CoreProviderMetadata>) {
        lock(&self.entries).insert(
            issuer.to_string(),
            Entry {
                metadata,
                fetched_at: Instant::now(),
                keys_refetched_at: None,
                refetching: Arc::default(),
                clients: HashMap::new(),
            },
        );
    }

    /// Reads the directory's keys again because a token names `kid`, which the cached keys lack,
    /// waiting (at most `key_refetch_interval`) when the last fetch was too recent. Answers the
    /// refreshed document, or `None` when the wait ran out, the fetch failed or the keys still
    /// lack `kid`.
    pub async fn refresh_keys(
        &self,
        http: &reqwest::Client,
        issuer: &str,
        kid: &str,
    ) -> Option<Arc<CoreProviderMetadata>> {
        let waited_from = Instant::now();
        loop {
            let (wait, refetching) = {
                let entries = lock(&self.entries);
                let entry = entries.get(issuer)?;
                if super::validate::has_key(&entry.metadata, kid) {
                    // Another sign-in already fetched the new key.
                    return Some(entry.metadata.clone());
                }
                let wait = entry
                    .keys_refetched_at
                    .and_then(|at| self.key_refetch_interval.checked_sub(at.elapsed()));
                (wait, entry.refetching.clone())
            };
            if let Some(wait) = wait {
                if waited_from.elapsed() + wait > self.key_refetch_interval {
                    return None;
                }
                tokio::time::sleep(wait).await;
                continue;
            }
            let _fetching = refetching.lock().await;
            let current = {
                let mut entries = lock(&self.entries);
                let entry = entries.get_mut(issuer)?;
                if super::validate::has_key(&entry.metadata, kid) {
                    return Some(entry.metadata.clone());
                }
                if entry
                    .keys_refetched_at
                    .is_some_and(|at| at.elapsed() < self.key_refetch_interval)
                {
                    // Fetched while this sign-in queued, without its key: wait for the next.
                    continue;
                }
                entry.keys_refetched_at = Some(Instant::now());
                entry.metadata.clone()
            };
            metrics::counter!("gatehouse_directory_fetches_total", "kind" => "keys").increment(1);
            let fetched = crate::outbound::timed(
                "keys",
                CoreJsonWebKeySet::fetch_async(current.jwks_uri(), &Capped(http)),
            )
            .await;
            let keys = match fetched {
                Ok(keys) => keys,
                Err(e) => {
                    tracing::warn!(issuer, error = %super::error_chain(&e), "key re-fetch failed");
                    return None;
                }
            };
            let refreshed = Arc::new((*current).clone().set_jwks(keys));
            if let Some(entry) = lock(&self.entries).get_mut(issuer) {
                entry.metadata = refreshed.clone();
                entry.clients.clear();
            }
            return super::validate::has_key(&refreshed, kid).then_some(refreshed);
        }
    }

    /// The OpenID Connect client for `registration` at the directory `metadata` describes:
    /// built once per registration and document (building copies the whole document and parses
    /// its addresses), then shared by every sign-in.
    pub fn client(
        &self,
        issuer: &str,
        metadata: &Arc<CoreProviderMetadata>,
        registration: &Registration<'_>,
    ) -> Result<Arc<EntraClient>, OidcFailure> {
        let key = client_key(registration);
        let cached = lock(&self.entries).get(issuer).and_then(|entry| {
            Arc::ptr_eq(&entry.metadata, metadata)
                .then(|| entry.clients.get(&key).cloned())
                .flatten()
        });
        if let Some(client) = cached {
            return Ok(client);
        }
        let client = Arc::new(registration.client(metadata)?);
        if let Some(entry) = lock(&self.entries).get_mut(issuer) {
            if Arc::ptr_eq(&entry.metadata, metadata) {
                if entry.clients.len() >= MAX_CLIENTS {
                    entry.clients.clear();
                }
                entry.clients.insert(key, client.clone());
            }
        }
        Ok(client)
    }
}

/// Every endpoint Gatehouse uses from a discovery document must be on the directory's own
/// origin: a document that sends the token request or the key fetch elsewhere is refused.
fn endpoints_on_issuer(issuer: &str, metadata: &CoreProviderMetadata) -> Result<(), OidcFailure> {
    let mut used = vec![
        metadata.authorization_endpoint().as_str(),
        metadata.jwks_uri().as_str(),
    ];
    used.extend(metadata.token_endpoint().map(|t| t.as_str()));
    match used
        .into_iter()
        .find(|endpoint| !crate::entra::authority::on_authority(issuer, endpoint))
    {
        None => Ok(()),
        Some(elsewhere) => Err(failure(
            "provider_endpoint_elsewhere",
            "The directory's sign-in settings name an endpoint on another host, which Gatehouse does not follow. Check the cloud or the authority host.",
            elsewhere,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entra::client_credential::ClientCredential;

    fn metadata(issuer: &str) -> Arc<CoreProviderMetadata> {
        metadata_with_keys_at(issuer, &format!("{issuer}/keys"))
    }

    fn metadata_with_keys_at(issuer: &str, jwks_uri: &str) -> Arc<CoreProviderMetadata> {
        let document = serde_json::json!({
            "issuer": issuer,
            "authorization_endpoint": format!("{issuer}/authorize"),
            "token_endpoint": format!("{issuer}/token"),
            "jwks_uri": jwks_uri,
            "response_types_supported": ["code"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
        });
        Arc::new(serde_json::from_value(document).expect("a discovery document"))
    }

    fn secret(value: &str) -> ClientCredential {
        ClientCredential::Secret(value.into())
    }

    fn registration(credential: &ClientCredential) -> Registration<'_> {
        Registration {
            authority_host: "https://login.example",
            tenant_id: "tenant",
            client_id: "client",
            credential,
            redirect_uri: "https://gatehouse.example/auth/callback",
        }
    }

    #[test]
    fn a_registration_reuses_its_client_until_the_document_or_its_credentials_change() {
        let cache = DirectoryCache::default();
        let issuer = "https://login.example/tenant/v2.0";
        let first = metadata(issuer);
        cache.remember(issuer, first.clone());

        let client = cache
            .client(issuer, &first, &registration(&secret("one")))
            .unwrap();
        let again = cache
            .client(issuer, &first, &registration(&secret("one")))
            .unwrap();
        assert!(Arc::ptr_eq(&client, &again), "built once, then shared");

        let new_secret = cache
            .client(issuer, &first, &registration(&secret("two")))
            .unwrap();
        assert!(
            !Arc::ptr_eq(&client, &new_secret),
            "a new secret gets its own client"
        );

        // The document was read again (its day was up): a new document replaces the old one.
        let second = metadata(issuer);
        cache.remember(issuer, second.clone());
        let rebuilt = cache
            .client(issuer, &second, &registration(&secret("one")))
            .unwrap();
        assert!(
            !Arc::ptr_eq(&client, &rebuilt),
            "a new document, a new client"
        );
        // A sign-in still holding the old document gets a client of its own, not the cache's.
        let stale = cache
            .client(issuer, &first, &registration(&secret("one")))
            .unwrap();
        assert!(!Arc::ptr_eq(&stale, &rebuilt));
    }

    #[tokio::test]
    async fn keys_read_again_for_a_new_key_give_every_registration_a_new_client() {
        // The directory's keys, now with the key "rotated-in" that the cached document lacks.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let keys_at = format!("http://{}/keys", listener.local_addr().unwrap());
        let public = {
            use rsa::pkcs1::DecodeRsaPrivateKey;
            let pem = include_str!("testdata/unit-test-signing-key.pem");
            rsa::RsaPrivateKey::from_pkcs1_pem(pem)
                .unwrap()
                .to_public_key()
        };
        let jwks = {
            use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
            use rsa::traits::PublicKeyParts;
            serde_json::json!({"keys": [{
                "kty": "RSA", "use": "sig", "alg": "RS256", "kid": "rotated-in",
                "n": URL_SAFE_NO_PAD.encode(public.n().to_bytes_be()),
                "e": URL_SAFE_NO_PAD.encode(public.e().to_bytes_be()),
            }]})
        };
        let keys = axum::Router::new().route(
            "/keys",
            axum::routing::get(move || {
                let jwks = jwks.clone();
                async move { axum::Json(jwks) }
            }),
        );
        tokio::spawn(async move { axum::serve(listener, keys).await });

        let cache = DirectoryCache::default();
        let issuer = "https://login.example/tenant/v2.0";
        let before = metadata_with_keys_at(issuer, &keys_at);
        cache.remember(issuer, before.clone());
        let client = cache
            .client(issuer, &before, &registration(&secret("one")))
            .unwrap();

        let after = cache
            .refresh_keys(&reqwest::Client::new(), issuer, "rotated-in")
            .await
            .expect("the new key is found");
        let rebuilt = cache
            .client(issuer, &after, &registration(&secret("one")))
            .unwrap();
        assert!(
            !Arc::ptr_eq(&client, &rebuilt),
            "a client holding the old keys is not handed out with the new document"
        );
        let again = cache
            .client(issuer, &after, &registration(&secret("one")))
            .unwrap();
        assert!(Arc::ptr_eq(&rebuilt, &again), "then shared again");
    }
}
