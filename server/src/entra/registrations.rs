//! Managing an app registration through Microsoft Graph: what the automatic setup does with
//! the admin's delegated token (the application, its service principal, admin consent, the
//! optional application permission, removing the setup client's own grant) and what the
//! automatic rotation does with the app's own token (`addKey`, `removeKey`, with a proof of
//! possession signed by the current key).

use crate::outbound::{read_body, AnswerError};
use serde::Deserialize;
use serde_json::{json, Value};

/// Microsoft Graph's application id, the same in every directory.
pub const GRAPH_APP_ID: &str = "00000003-0000-0000-c000-000000000000";
/// The delegated permissions the app is granted (admin consent for everyone).
pub const DELEGATED_SCOPES: &str = "openid profile email User.Read";
/// Microsoft Graph's ids of those delegated permissions, and of the `User.Read.All` app role.
const SCOPE_IDS: [&str; 4] = [
    "37f7f235-527c-4136-accd-4a02d197296e", // openid
    "14dad69e-099b-42c9-810b-d002981feec1", // profile
    "64a6cdd6-aab1-4aaf-94b8-3cc8405e90d0", // email
    "e1fe6dd8-ba31-4d61-89e7-88639da4683d", // User.Read
];
pub const USER_READ_ALL_ROLE: &str = "df021288-bdef-4463-88db-98f22de89214";

/// Why a Graph call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistrationError {
    /// Graph does not know an object (yet: new objects replicate with a delay).
    #[error("{0}")]
    NotFound(String),
    /// The token's permissions or the admin's directory role do not allow the call.
    #[error("{0}")]
    Denied(String),
    #[error("{0}")]
    Failed(String),
}

impl RegistrationError {
    /// Whether Entra's replication delay may explain it: worth a retry after a pause.
    pub fn may_be_replication(&self) -> bool {
        match self {
            RegistrationError::NotFound(_) => true,
            RegistrationError::Failed(message) => {
                message.contains("does not exist") || message.contains("does not reference a valid")
            }
            RegistrationError::Denied(_) => false,
        }
    }
}

/// An app registration as Graph describes it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Application {
    /// The object id.
    pub id: String,
    /// The Application (client) ID.
    pub app_id: String,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub key_credentials: Vec<KeyCredential>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyCredential {
    pub key_id: String,
    /// The SHA-1 thumbprint, upper-case hex.
    #[serde(default)]
    pub custom_key_identifier: Option<String>,
}

/// The directory the token's admin signed in to.
#[derive(Debug, Clone)]
pub struct Organization {
    pub display_name: String,
    /// Its verified domains, in lower case.
    pub domains: Vec<String>,
}

/// What the app registration is made with.
pub struct NewApplication<'a> {
    pub display_name: &'a str,
    pub tag: &'a str,
    pub redirect_uri: &'a str,
    pub home_page_url: &'a str,
    pub logout_url: &'a str,
    /// Whether `User.Read.All` (application) is listed: the directory picker.
    pub directory_picker: bool,
}

impl NewApplication<'_> {
    /// The registration's properties, without its credentials.
    fn properties(&self) -> Value {
        let mut access: Vec<Value> = SCOPE_IDS
            .iter()
            .map(|id| json!({ "id": id, "type": "Scope" }))
            .collect();
        if self.directory_picker {
            access.push(json!({ "id": USER_READ_ALL_ROLE, "type": "Role" }));
        }
        json!({
            "displayName": self.display_name,
            "tags": ["Gatehouse", self.tag],
            "signInAudience": "AzureADMyOrg",
            "web": {
                "redirectUris": [self.redirect_uri],
                "homePageUrl": self.home_page_url,
                "logoutUrl": self.logout_url,
            },
            "optionalClaims": {
                "idToken": [
                    { "name": "email", "essential": false },
                    { "name": "xms_edov", "essential": false },
                    { "name": "sid", "essential": false },
                ],
            },
            "requiredResourceAccess": [
                { "resourceAppId": GRAPH_APP_ID, "resourceAccess": access },
            ],
        })
    }
}

/// A certificate to add to the app (DER in base64).
fn key_credential(certificate_der_base64: &str, display_name: &str) -> Value {
    json!({
        "type": "AsymmetricX509Cert",
        "usage": "Verify",
        "key": certificate_der_base64,
        "displayName": display_name,
    })
}

/// Microsoft Graph, called with one bearer token.
pub struct Graph<'a> {
    pub http: &'a reqwest::Client,
    /// Such as `https://graph.microsoft.com`.
    pub base: &'a str,
    pub token: &'a str,
}

#[derive(Deserialize)]
struct List<T> {
    value: Vec<T>,
}

#[derive(Deserialize)]
struct Identified {
    id: String,
}

fn unreadable(error: AnswerError) -> RegistrationError {
    RegistrationError::Failed(match error {
        AnswerError::Transport(e) if e.is_timeout() => {
            "Microsoft Graph did not answer in time".into()
        }
        AnswerError::Transport(e) => format!("Microsoft Graph could not be reached: {e}"),
        AnswerError::TooLarge => "Microsoft Graph's answer was too large".into(),
    })
}

impl Graph<'_> {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Option<Vec<u8>>, RegistrationError> {
        let mut request = self
            .http
            .request(method, format!("{}/v1.0{path}", self.base))
            .bearer_auth(self.token)
            .header("Accept", "application/json");
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = crate::outbound::timed("graph", request.send())
            .await
            .map_err(|e| unreadable(AnswerError::Transport(e)))?;
        let status = response.status();
        let bytes = read_body(response).await.map_err(unreadable)?;
        if status.is_success() {
            return Ok((!bytes.is_empty()).then_some(bytes));
        }
        let message = serde_json::from_slice::<Value>(&bytes)
            .ok()
            .and_then(|v| v["error"]["message"].as_str().map(str::to_string))
            .unwrap_or_else(|| format!("Microsoft Graph answered {status}"));
        Err(match status.as_u16() {
            401 | 403 => RegistrationError::Denied(message),
            404 => RegistrationError::NotFound(message),
            _ => RegistrationError::Failed(message),
        })
    }

    async fn json<T: for<'de> Deserialize<'de>>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<T, RegistrationError> {
        let bytes = self.call(method, path, body).await?.unwrap_or_default();
        serde_json::from_slice(&bytes).map_err(|e| {
            RegistrationError::Failed(format!("Microsoft Graph's answer was not understood: {e}"))
        })
    }

    /// The signed-in admin's directory: its name and verified domains.
    pub async fn organization(&self) -> Result<Organization, RegistrationError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Entry {
            #[serde(default)]
            display_name: Option<String>,
            #[serde(default)]
            verified_domains: Vec<Domain>,
        }
        #[derive(Deserialize)]
        struct Domain {
            name: String,
        }
        let list: List<Entry> = self
            .json(
                reqwest::Method::GET,
                "/organization?$select=displayName,verifiedDomains",
                None,
            )
            .await?;
        let entry = list.value.into_iter().next().ok_or_else(|| {
            RegistrationError::Failed("Microsoft Graph named no organization".into())
        })?;
        Ok(Organization {
            display_name: entry.display_name.unwrap_or_default(),
            domains: entry
                .verified_domains
                .into_iter()
                .map(|d| d.name.to_lowercase())
                .collect(),
        })
    }

    /// The application with object id `id`, when it exists and carries `tag`.
    pub async fn application_tagged(
        &self,
        id: &str,
        tag: &str,
    ) -> Result<Option<Application>, RegistrationError> {
        match self
            .json::<Application>(reqwest::Method::GET, &format!("/applications/{id}"), None)
            .await
        {
            Ok(app) => Ok(app.tags.iter().any(|t| t == tag).then_some(app)),
            Err(RegistrationError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The applications carrying `tag`.
    pub async fn applications_tagged(
        &self,
        tag: &str,
    ) -> Result<Vec<Application>, RegistrationError> {
        // The tag is Gatehouse's own (letters, digits, '-' and ':'); a quote would be doubled.
        let path = format!(
            "/applications?$filter=tags/any(t:t%20eq%20'{}')",
            tag.replace('\'', "''")
        );
        Ok(self
            .json::<List<Application>>(reqwest::Method::GET, &path, None)
            .await?
            .value)
    }

    /// Creates the application with the certificate as its credential.
    pub async fn create_application(
        &self,
        new: &NewApplication<'_>,
        certificate_der_base64: &str,
    ) -> Result<Application, RegistrationError> {
        let mut body = new.properties();
        body["keyCredentials"] = json!([key_credential(certificate_der_base64, "Gatehouse")]);
        self.json(reqwest::Method::POST, "/applications", Some(&body))
            .await
    }

    /// Sets the application's properties again (a re-run) and its certificates to exactly
    /// `certificates` (DER in base64): Graph replaces the whole list, so the one still serving
    /// sign-ins is named again beside the new one.
    pub async fn update_application(
        &self,
        id: &str,
        new: &NewApplication<'_>,
        certificates: &[&str],
    ) -> Result<(), RegistrationError> {
        let mut body = new.properties();
        body["keyCredentials"] = certificates
            .iter()
            .map(|c| key_credential(c, "Gatehouse"))
            .collect();
        self.call(
            reqwest::Method::PATCH,
            &format!("/applications/{id}"),
            Some(&body),
        )
        .await
        .map(|_| ())
    }

    pub async fn delete_application(&self, id: &str) -> Result<(), RegistrationError> {
        self.call(
            reqwest::Method::DELETE,
            &format!("/applications/{id}"),
            None,
        )
        .await
        .map(|_| ())
    }

    /// The service principal of `app_id` in this directory, if there is one.
    pub async fn service_principal(
        &self,
        app_id: &str,
    ) -> Result<Option<String>, RegistrationError> {
        let path = format!("/servicePrincipals?$filter=appId%20eq%20'{app_id}'");
        let list: List<Identified> = self.json(reqwest::Method::GET, &path, None).await?;
        Ok(list.value.into_iter().next().map(|sp| sp.id))
    }

    pub async fn create_service_principal(
        &self,
        app_id: &str,
    ) -> Result<String, RegistrationError> {
        let made: Identified = self
            .json(
                reqwest::Method::POST,
                "/servicePrincipals",
                Some(&json!({ "appId": app_id })),
            )
            .await?;
        Ok(made.id)
    }

    /// The ids of the delegated permission grants given to service principal `client`.
    pub async fn grants_of(&self, client: &str) -> Result<Vec<String>, RegistrationError> {
        let path = format!("/oauth2PermissionGrants?$filter=clientId%20eq%20'{client}'");
        let list: List<Identified> = self.json(reqwest::Method::GET, &path, None).await?;
        Ok(list.value.into_iter().map(|g| g.id).collect())
    }

    /// Admin consent for everyone: `client` may use `scope` of `resource`.
    pub async fn grant_for_everyone(
        &self,
        client: &str,
        resource: &str,
        scope: &str,
    ) -> Result<(), RegistrationError> {
        let body = json!({ "clientId": client, "consentType": "AllPrincipals", "resourceId": resource, "scope": scope });
        self.call(
            reqwest::Method::POST,
            "/oauth2PermissionGrants",
            Some(&body),
        )
        .await
        .map(|_| ())
    }

    pub async fn delete_grant(&self, id: &str) -> Result<(), RegistrationError> {
        self.call(
            reqwest::Method::DELETE,
            &format!("/oauth2PermissionGrants/{id}"),
            None,
        )
        .await
        .map(|_| ())
    }

    /// Grants the application permission `role` of `resource` to service principal `principal`.
    pub async fn assign_app_role(
        &self,
        principal: &str,
        resource: &str,
        role: &str,
    ) -> Result<(), RegistrationError> {
        let body = json!({ "principalId": principal, "resourceId": resource, "appRoleId": role });
        self.call(
            reqwest::Method::POST,
            &format!("/servicePrincipals/{resource}/appRoleAssignedTo"),
            Some(&body),
        )
        .await
        .map(|_| ())
    }

    /// Adds a certificate to application `id` (its own token may call this), proving
    /// possession of a current key with `proof`; answers the new key's id.
    pub async fn add_key(
        &self,
        id: &str,
        certificate_der_base64: &str,
        proof: &str,
    ) -> Result<String, RegistrationError> {
        let body = json!({
            "keyCredential": key_credential(certificate_der_base64, "Gatehouse"),
            "passwordCredential": null,
            "proof": proof,
        });
        let added: KeyCredential = self
            .json(
                reqwest::Method::POST,
                &format!("/applications/{id}/addKey"),
                Some(&body),
            )
            .await?;
        Ok(added.key_id)
    }

    /// Removes the certificate `key_id` from application `id`.
    pub async fn remove_key(
        &self,
        id: &str,
        key_id: &str,
        proof: &str,
    ) -> Result<(), RegistrationError> {
        let body = json!({ "keyId": key_id, "proof": proof });
        self.call(
            reqwest::Method::POST,
            &format!("/applications/{id}/removeKey"),
            Some(&body),
        )
        .await
        .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_registration_asks_for_exactly_what_it_is_granted() {
        let new = NewApplication {
            display_name: "Gatehouse SSO for Contoso",
            tag: "gatehouse-organization:o1",
            redirect_uri: "https://g.example/auth/callback",
            home_page_url: "https://g.example/o/contoso/sso",
            logout_url: "https://g.example/auth/logout",
            directory_picker: false,
        };
        let body = new.properties();
        assert_eq!(body["signInAudience"], "AzureADMyOrg");
        let access = body["requiredResourceAccess"][0]["resourceAccess"]
            .as_array()
            .unwrap();
        assert_eq!(access.len(), 4);
        assert!(access.iter().all(|a| a["type"] == "Scope"));
        let picker = NewApplication {
            directory_picker: true,
            ..new
        };
        let access = picker.properties()["requiredResourceAccess"][0]["resourceAccess"].clone();
        assert_eq!(access[4]["id"], USER_READ_ALL_ROLE);
        assert_eq!(access[4]["type"], "Role");
    }

    #[test]
    fn replication_delays_are_told_apart() {
        assert!(RegistrationError::NotFound("x".into()).may_be_replication());
        assert!(RegistrationError::Failed(
            "The appId 'a' of the service principal does not reference a valid application object."
                .into()
        )
        .may_be_replication());
        assert!(!RegistrationError::Denied("Insufficient privileges".into()).may_be_replication());
    }
}
