//! Reading the directory's users from Microsoft Graph with an app-only token (the
//! client-credentials flow and the `User.Read.All` application permission). Every call has the
//! shared client's timeouts; a missing permission is told apart from every other failure so the
//! console can say exactly what to grant.

use crate::outbound::{read_body, read_text, AnswerError};
use app::types::Cloud;
use serde::Deserialize;

/// How many users one page of a full directory read asks for (Graph's maximum).
const PAGE_SIZE: u32 = 999;
/// How many users a search returns.
pub const SEARCH_RESULTS: u32 = 20;
/// A directory larger than this is not read whole (suggestions and stale counts stop there).
pub const MAX_DIRECTORY_USERS: usize = 500_000;

/// One directory user as Graph describes it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DirectoryUser {
    pub id: String,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub user_principal_name: Option<String>,
    #[serde(default)]
    pub mail: Option<String>,
}

impl DirectoryUser {
    pub fn name(&self) -> &str {
        self.display_name
            .as_deref()
            .or(self.user_principal_name.as_deref())
            .unwrap_or(&self.id)
    }

    /// The address a member created from this user gets: the mail, else the UPN.
    pub fn email(&self) -> Option<&str> {
        self.mail
            .as_deref()
            .filter(|m| !m.is_empty())
            .or(self.user_principal_name.as_deref())
    }
}

/// Why Graph could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GraphFailure {
    /// Graph answered 403: the app lacks the `User.Read.All` application permission (or its
    /// admin consent).
    PermissionMissing,
    /// The token endpoint refused the app's credentials.
    TokenRefused(String),
    /// Graph or the token endpoint could not be reached or answered something unexpected.
    Unavailable(String),
}

impl GraphFailure {
    /// Words for the admin.
    pub fn message(&self) -> String {
        match self {
            GraphFailure::PermissionMissing => PERMISSION_GUIDANCE.to_string(),
            GraphFailure::TokenRefused(detail) => format!(
                "Entra refused the app's credentials when Gatehouse asked to read the directory: {detail}"
            ),
            GraphFailure::Unavailable(detail) => format!(
                "Gatehouse could not read the directory through Microsoft Graph: {detail}. Try again in a moment."
            ),
        }
    }
}

/// What the admin grants so Gatehouse can read the directory.
pub const PERMISSION_GUIDANCE: &str = "Gatehouse cannot read this directory yet. In the Entra \
admin center open App registrations, then this app, then API permissions: choose Add a \
permission, Microsoft Graph, Application permissions, select User.Read.All and Add \
permissions; then choose Grant admin consent for the directory. Until then, paste Object IDs \
by hand.";

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

#[derive(Deserialize)]
struct UsersPage {
    value: Vec<DirectoryUser>,
    #[serde(rename = "@odata.nextLink", default)]
    next_link: Option<String>,
}

fn unavailable(error: reqwest::Error) -> GraphFailure {
    GraphFailure::Unavailable(if error.is_timeout() {
        "it did not answer in time".into()
    } else {
        error.to_string()
    })
}

fn unreadable(error: AnswerError) -> GraphFailure {
    match error {
        AnswerError::Transport(e) => unavailable(e),
        AnswerError::TooLarge => GraphFailure::Unavailable("its answer was too large".into()),
    }
}

/// An answer's JSON body, read up to the size limit.
async fn json_of<T: for<'de> Deserialize<'de>>(
    response: reqwest::Response,
) -> Result<T, GraphFailure> {
    let body = read_body(response).await.map_err(unreadable)?;
    serde_json::from_slice(&body)
        .map_err(|e| GraphFailure::Unavailable(format!("its answer was not understood: {e}")))
}

/// An app-only token for Graph and how many seconds it lives.
pub async fn app_token(
    http: &reqwest::Client,
    authority_host: &str,
    tenant_id: &str,
    cloud: Cloud,
    client_id: &str,
    credential: &super::client_credential::ClientCredential,
) -> Result<(String, u64), GraphFailure> {
    let url = format!(
        "{}/{tenant_id}/oauth2/v2.0/token",
        authority_host.trim_end_matches('/')
    );
    let mut form = credential
        .token_fields(client_id, &url)
        .map_err(|e| GraphFailure::TokenRefused(e.to_string()))?;
    form.push(("grant_type", "client_credentials".into()));
    form.push(("scope", super::graph_default_scope(cloud).into()));
    let response = crate::outbound::timed("graph", http.post(&url).form(&form).send())
        .await
        .map_err(unavailable)?;
    if !response.status().is_success() {
        let status = response.status();
        let body = read_text(response).await.unwrap_or_default();
        let described = serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["error_description"].as_str().map(str::to_string))
            .unwrap_or_else(|| format!("the token endpoint answered {status}"));
        return Err(GraphFailure::TokenRefused(described));
    }
    let token: TokenResponse = json_of(response).await?;
    Ok((token.access_token, token.expires_in.unwrap_or(3600)))
}

async fn get_json<T: for<'de> Deserialize<'de>>(
    http: &reqwest::Client,
    url: &str,
    token: &str,
) -> Result<Option<T>, GraphFailure> {
    let request = http
        .get(url)
        .bearer_auth(token)
        .header("Accept", "application/json");
    let response = crate::outbound::timed("graph", request.send())
        .await
        .map_err(unavailable)?;
    match response.status().as_u16() {
        200 => Ok(Some(json_of(response).await?)),
        403 => Err(GraphFailure::PermissionMissing),
        404 => Ok(None),
        status => {
            let body = read_text(response).await.unwrap_or_default();
            let message = serde_json::from_str::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v["error"]["message"].as_str().map(str::to_string))
                .unwrap_or_else(|| format!("status {status}"));
            Err(GraphFailure::Unavailable(message))
        }
    }
}

#[derive(Deserialize)]
struct Organizations {
    value: Vec<OrganizationEntry>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OrganizationEntry {
    #[serde(default)]
    verified_domains: Vec<VerifiedDomain>,
}

#[derive(Deserialize)]
struct VerifiedDomain {
    name: String,
}

/// The domains the directory has verified (`GET /organization` → `verifiedDomains`), in lower
/// case, read with the signed-in person's delegated token (Microsoft Graph's `User.Read`).
pub async fn verified_domains(
    http: &reqwest::Client,
    base: &str,
    delegated_token: &str,
) -> Result<Vec<String>, GraphFailure> {
    let found: Option<Organizations> = get_json(
        http,
        &format!("{base}/v1.0/organization?$select=verifiedDomains"),
        delegated_token,
    )
    .await?;
    Ok(found
        .into_iter()
        .flat_map(|o| o.value)
        .flat_map(|o| o.verified_domains)
        .map(|d| d.name.to_lowercase())
        .collect())
}

const SELECT: &str = "id,displayName,userPrincipalName,mail";

/// Escapes a value inside an OData string literal.
fn odata_literal(text: &str) -> String {
    text.replace('\'', "''")
}

/// Users whose display name, UPN or mail starts with `text`.
pub async fn search_users(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    text: &str,
) -> Result<Vec<DirectoryUser>, GraphFailure> {
    let literal = odata_literal(text.trim());
    let filter = format!(
        "startswith(displayName,'{literal}') or startswith(userPrincipalName,'{literal}') or startswith(mail,'{literal}')"
    );
    let mut url = reqwest::Url::parse(&format!("{base}/v1.0/users"))
        .map_err(|e| GraphFailure::Unavailable(e.to_string()))?;
    url.query_pairs_mut()
        .append_pair("$select", SELECT)
        .append_pair("$top", &SEARCH_RESULTS.to_string())
        .append_pair("$filter", &filter);
    let page: Option<UsersPage> = get_json(http, url.as_str(), token).await?;
    Ok(page.map(|p| p.value).unwrap_or_default())
}

/// One user by Object ID, or `None` when the directory has no such user.
pub async fn get_user(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    object_id: &str,
) -> Result<Option<DirectoryUser>, GraphFailure> {
    get_json(
        http,
        &format!("{base}/v1.0/users/{object_id}?$select={SELECT}"),
        token,
    )
    .await
}

/// Every user of the directory, following `@odata.nextLink` (up to `MAX_DIRECTORY_USERS`).
pub async fn all_users(
    http: &reqwest::Client,
    base: &str,
    token: &str,
) -> Result<Vec<DirectoryUser>, GraphFailure> {
    let mut users = Vec::new();
    let mut next = Some(format!(
        "{base}/v1.0/users?$select={SELECT}&$top={PAGE_SIZE}"
    ));
    while let Some(url) = next.take() {
        let page: UsersPage = get_json(http, &url, token)
            .await?
            .ok_or_else(|| GraphFailure::Unavailable("the users list was not found".into()))?;
        users.extend(page.value);
        if users.len() >= MAX_DIRECTORY_USERS {
            break;
        }
        // Only follow links to the same Graph host.
        next = page
            .next_link
            .filter(|link| crate::entra::authority::on_authority(base, link));
    }
    Ok(users)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odata_literals_double_their_quotes() {
        assert_eq!(odata_literal("O'Brien"), "O''Brien");
    }
}
