//! Where Gatehouse may connect for an organization's directory. An admin chooses among
//! Microsoft Entra's clouds; any other authority must be on the operator's list
//! (`GATEHOUSE_ALLOWED_AUTHORITIES`, for development and tests). Every endpoint a discovery
//! document names must be on its authority's own origin, and connections to hosts that are not
//! on the operator's list never reach loopback, private, link-local or metadata addresses.

use crate::domain::AllowedAuthorities;
use reqwest::Url;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Whether Gatehouse may connect to `authority_host`: one of Entra's clouds, or on the
/// operator's list.
pub fn permitted(allowed: &AllowedAuthorities, authority_host: &str) -> bool {
    allowed.is_entra_cloud(authority_host) || allowed.authority(authority_host).is_ok()
}

/// Resolves host names for calls to directories: a host that is not on the operator's list
/// gets only public addresses, so a name pointed at an internal address is never reached.
pub struct GuardedResolver {
    pub allowed: AllowedAuthorities,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_string();
        let any_address = self.allowed.allows_host(&host);
        Box::pin(async move {
            let found = tokio::net::lookup_host((host.as_str(), 0)).await?;
            let kept: Vec<SocketAddr> =
                found.filter(|a| any_address || is_public(a.ip())).collect();
            if kept.is_empty() {
                return Err(format!("{host} has no public address").into());
            }
            Ok(Box::new(kept.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// Whether `endpoint`, named by the discovery document of `authority_host`, is on that
/// authority's own origin: same scheme, host and port.
pub fn on_authority(authority_host: &str, endpoint: &str) -> bool {
    match (Url::parse(authority_host), Url::parse(endpoint)) {
        (Ok(authority), Ok(endpoint)) => {
            authority.origin() == endpoint.origin() && endpoint.origin().is_tuple()
        }
        _ => false,
    }
}

/// Whether an address is one that the public internet reaches: not loopback, private,
/// link-local (cloud metadata services live there), shared, documentation or multicast.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_multicast()
        || a == 0
        // Shared address space (carrier-grade NAT), 100.64.0.0/10.
        || (a == 100 && (64..128).contains(&b))
        // Benchmarking, 198.18.0.0/15, and the reserved 240.0.0.0/4.
        || (a == 198 && (b == 18 || b == 19))
        || a >= 240)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        // Unique local fc00::/7 and link-local fe80::/10.
        || (first & 0xfe00) == 0xfc00
        || (first & 0xffc0) == 0xfe80
        // Documentation 2001:db8::/32.
        || (first == 0x2001 && ip.segments()[1] == 0x0db8))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_entra_clouds_and_listed_authorities_are_permitted() {
        let none = AllowedAuthorities::default();
        assert!(permitted(&none, "https://login.microsoftonline.us"));
        assert!(!permitted(&none, "https://169.254.169.254"));
        let listed = AllowedAuthorities::parse("http://127.0.0.1:4111").unwrap();
        assert!(permitted(&listed, "http://127.0.0.1:4111"));
        assert!(!permitted(&listed, "http://127.0.0.1:9"));
    }

    #[tokio::test]
    async fn names_of_internal_addresses_resolve_only_for_listed_hosts() {
        use reqwest::dns::Resolve;
        let guarded = GuardedResolver {
            allowed: AllowedAuthorities::default(),
        };
        let name: reqwest::dns::Name = "localhost".parse().unwrap();
        assert!(guarded.resolve(name).await.is_err());
        let open = GuardedResolver {
            allowed: AllowedAuthorities::parse("http://localhost:4111").unwrap(),
        };
        let name: reqwest::dns::Name = "localhost".parse().unwrap();
        assert!(open.resolve(name).await.is_ok());
    }

    #[test]
    fn endpoints_must_be_on_the_authority_origin() {
        let entra = "https://login.microsoftonline.com";
        assert!(on_authority(
            entra,
            "https://login.microsoftonline.com/t/oauth2/v2.0/token"
        ));
        assert!(!on_authority(
            entra,
            "http://login.microsoftonline.com/t/keys"
        ));
        assert!(!on_authority(
            entra,
            "https://login.microsoftonline.com.evil.test/keys"
        ));
        assert!(!on_authority(
            entra,
            "https://169.254.169.254/latest/meta-data"
        ));
        assert!(!on_authority(
            entra,
            "https://login.microsoftonline.com:8443/keys"
        ));
    }

    #[test]
    fn internal_addresses_are_not_public() {
        for internal in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
        ] {
            assert!(!is_public(internal.parse().unwrap()), "{internal}");
        }
        for public in ["20.190.160.1", "40.126.0.1", "2603:1006::1"] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }
}
