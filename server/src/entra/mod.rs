//! Microsoft Entra ID: where its endpoints are, what its error codes mean, and the live checks
//! of a connection's values.

pub mod aadsts;
pub mod authority;
pub mod client_credential;
pub mod device_code;
pub mod graph;
pub mod registrations;
pub mod verify;

/// The OpenID discovery document's address for a directory.
pub fn discovery_url(authority_host: &str, tenant: &str) -> String {
    format!("{authority_host}/{tenant}/v2.0/.well-known/openid-configuration")
}

/// The directory GUID in an issuer such as `https://login.microsoftonline.com/<guid>/v2.0`;
/// `None` unless that part is a GUID.
pub fn tenant_of_issuer(issuer: &str) -> Option<String> {
    let mut parts = issuer.trim_end_matches('/').rsplit('/');
    let version = parts.next()?;
    let tenant = parts.next()?;
    if version != "v2.0" {
        return None;
    }
    crate::domain::Guid::parse(tenant).ok().map(|guid| guid.0)
}

/// The `.default` scope of Microsoft Graph in each cloud, for client-credentials requests.
pub fn graph_default_scope(cloud: app::types::Cloud) -> &'static str {
    use app::types::Cloud;
    match cloud {
        Cloud::UsGovernment => "https://graph.microsoft.us/.default",
        Cloud::China => "https://microsoftgraph.chinacloudapi.cn/.default",
        Cloud::Global | Cloud::Custom => "https://graph.microsoft.com/.default",
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_tenant_is_read_from_the_issuer() {
        assert_eq!(
            super::tenant_of_issuer(
                "https://login.microsoftonline.com/6f1c0c1e-7a52-4c4e-9d6b-3a8e2f0b9c11/v2.0"
            ),
            Some("6f1c0c1e-7a52-4c4e-9d6b-3a8e2f0b9c11".into())
        );
        assert_eq!(super::tenant_of_issuer("https://sts.windows.net/x/"), None);
        assert_eq!(
            super::tenant_of_issuer("https://login.example/../../internal/v2.0"),
            None
        );
        assert_eq!(
            super::tenant_of_issuer("https://login.example/contoso.com/v2.0"),
            None
        );
    }
}
