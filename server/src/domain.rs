//! Values parsed at the boundary. Each constructor checks its input and says precisely what is
//! wrong, naming the request field; past the boundary the types guarantee validity.

use app::types::Cloud;
use reqwest::Url;
use std::collections::BTreeMap;

/// Messages for the fields of one request that failed validation.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FieldErrors(pub BTreeMap<String, String>);

impl FieldErrors {
    pub fn add(&mut self, field: &str, message: impl Into<String>) {
        self.0
            .entry(field.to_string())
            .or_insert_with(|| message.into());
    }

    /// Keeps the value when it parsed, records the message when not.
    pub fn check<T>(&mut self, field: &str, parsed: Result<T, String>) -> Option<T> {
        match parsed {
            Ok(v) => Some(v),
            Err(message) => {
                self.add(field, message);
                None
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn single(field: &str, message: impl Into<String>) -> Self {
        let mut errors = FieldErrors::default();
        errors.add(field, message);
        errors
    }
}

/// An email address as people type it, with its lower-case form for comparisons.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailAddress {
    pub display: String,
    pub normalized: String,
}

impl EmailAddress {
    /// The part after the @, in lower case.
    pub fn domain(&self) -> &str {
        self.normalized
            .rsplit_once('@')
            .map(|(_, domain)| domain)
            .unwrap_or_default()
    }

    pub fn parse(input: &str) -> Result<Self, String> {
        let email = input.trim();
        if email.is_empty() {
            return Err("Enter an email address.".into());
        }
        if email.len() > 254 {
            return Err("An email address has at most 254 characters.".into());
        }
        let Some((local, domain)) = email.rsplit_once('@') else {
            return Err("An email address needs an @, as in name@example.com.".into());
        };
        if local.is_empty() {
            return Err("Add the part before the @.".into());
        }
        if email.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err("An email address cannot contain spaces.".into());
        }
        if local.contains('@') {
            return Err("An email address has exactly one @.".into());
        }
        Domain::parse(domain).map_err(|e| format!("The part after the @ is not a domain: {e}"))?;
        Ok(EmailAddress {
            display: email.to_string(),
            normalized: email.to_lowercase(),
        })
    }
}

/// A DNS domain name such as `contoso.com`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Domain(pub String);

impl Domain {
    pub fn parse(input: &str) -> Result<Self, String> {
        let domain = input.trim().trim_end_matches('.').to_lowercase();
        if domain.is_empty() {
            return Err("enter a domain such as contoso.com.".into());
        }
        if domain.len() > 253 {
            return Err("a domain has at most 253 characters.".into());
        }
        let labels: Vec<&str> = domain.split('.').collect();
        if labels.len() < 2 {
            return Err("a domain has at least two parts, such as contoso.com.".into());
        }
        for label in &labels {
            let valid = !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
            if !valid {
                return Err(format!(
                    "“{label}” is not valid: use letters, digits and inner hyphens, at most 63 characters."
                ));
            }
        }
        Ok(Domain(domain))
    }
}

/// The URL part naming an organization: 3–40 of `a-z`, `0-9` and `-`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slug(pub String);

impl Slug {
    pub fn parse(input: &str) -> Result<Self, String> {
        let slug = input.trim();
        if slug.len() < 3 || slug.len() > 40 {
            return Err("A slug has 3 to 40 characters.".into());
        }
        if let Some(bad) = slug
            .chars()
            .find(|c| !matches!(c, 'a'..='z' | '0'..='9' | '-'))
        {
            return Err(format!(
                "“{bad}” is not allowed: use lowercase letters a–z, digits and hyphens."
            ));
        }
        if slug.starts_with('-') || slug.ends_with('-') {
            return Err("A slug cannot start or end with a hyphen.".into());
        }
        Ok(Slug(slug.to_string()))
    }
}

/// A person's or an organization's name: 1–100 visible characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name(pub String);

impl Name {
    pub fn parse(input: &str) -> Result<Self, String> {
        let name = input.trim();
        if name.is_empty() {
            return Err("Enter a name.".into());
        }
        if name.chars().count() > 100 {
            return Err("A name has at most 100 characters.".into());
        }
        if name.chars().any(char::is_control) {
            return Err("A name cannot contain control characters.".into());
        }
        Ok(Name(name.to_string()))
    }
}

/// A new password: 12 to 1024 characters.
pub struct NewPassword(pub String);

impl std::fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NewPassword(…)")
    }
}

impl NewPassword {
    pub const MIN_CHARS: usize = 12;

    pub fn parse(input: &str) -> Result<Self, String> {
        let count = input.chars().count();
        if count < Self::MIN_CHARS {
            return Err(format!(
                "Use at least {} characters (this one has {count}).",
                Self::MIN_CHARS
            ));
        }
        if count > 1024 {
            return Err("Use at most 1024 characters.".into());
        }
        Ok(NewPassword(input.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_trimmed_and_compared_in_lower_case() {
        let e = EmailAddress::parse("  B.Simon@Contoso.com ").unwrap();
        assert_eq!(e.display, "B.Simon@Contoso.com");
        assert_eq!(e.normalized, "b.simon@contoso.com");
    }

    #[test]
    fn bad_emails_say_what_is_wrong() {
        assert!(EmailAddress::parse("").unwrap_err().contains("Enter"));
        assert!(EmailAddress::parse("bsimon").unwrap_err().contains("@"));
        assert!(EmailAddress::parse("@contoso.com")
            .unwrap_err()
            .contains("before"));
        assert!(EmailAddress::parse("b simon@contoso.com")
            .unwrap_err()
            .contains("spaces"));
        assert!(EmailAddress::parse("b@contoso")
            .unwrap_err()
            .contains("two parts"));
        assert!(EmailAddress::parse("b@-contoso.com")
            .unwrap_err()
            .contains("not valid"));
    }

    #[test]
    fn slugs_follow_the_rules() {
        assert!(Slug::parse("contoso").is_ok());
        assert!(Slug::parse("contoso-eu-2").is_ok());
        assert!(Slug::parse("ab").unwrap_err().contains("3 to 40"));
        assert!(Slug::parse(&"a".repeat(41))
            .unwrap_err()
            .contains("3 to 40"));
        assert!(Slug::parse("Contoso").unwrap_err().contains("“C”"));
        assert!(Slug::parse("con_toso").unwrap_err().contains("“_”"));
        assert!(Slug::parse("-contoso").unwrap_err().contains("hyphen"));
    }

    #[test]
    fn names_and_passwords_have_limits() {
        assert!(Name::parse("   ").is_err());
        assert!(Name::parse(&"x".repeat(101)).is_err());
        assert_eq!(Name::parse(" Contoso ").unwrap().0, "Contoso");
        assert!(NewPassword::parse("short").unwrap_err().contains("12"));
        assert!(NewPassword::parse("twelve chars").is_ok());
    }

    #[test]
    fn field_errors_keep_the_first_message_per_field() {
        let mut errors = FieldErrors::default();
        assert!(errors.check("slug", Slug::parse("x")).is_none());
        errors.add("slug", "second");
        assert_eq!(errors.0["slug"], "A slug has 3 to 40 characters.");
    }
}

/// A GUID as Entra shows them (Directory ID, Application ID, Object ID), in lower case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Guid(pub String);

impl Guid {
    pub fn parse(input: &str) -> Result<Self, String> {
        match app::validate::guid_problem(input) {
            Some(problem) => Err(problem),
            None => Ok(Guid(app::validate::normalize_guid(input))),
        }
    }
}

/// The other authorities the operator allows, by base URL, and (for tests only) a local
/// provider standing in for Entra's global cloud.
#[derive(Debug, Clone, Default)]
pub struct AllowedAuthorities {
    allowed: Vec<Url>,
    global_cloud_stand_in: Option<Url>,
}

impl AllowedAuthorities {
    /// Reads the operator's list: base URLs (scheme, host and port only) separated by commas
    /// or spaces.
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut allowed = Vec::new();
        for item in list
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|s| !s.is_empty())
        {
            let url = Url::parse(item).map_err(|e| format!("{item:?} is not a URL: {e}"))?;
            let bare = url.path() == "/" && url.query().is_none() && url.fragment().is_none();
            if !matches!(url.scheme(), "http" | "https") || url.host().is_none() || !bare {
                return Err(format!(
                    "{item:?} is not a base URL such as https://login.example.com"
                ));
            }
            allowed.push(url);
        }
        Ok(AllowedAuthorities {
            allowed,
            global_cloud_stand_in: None,
        })
    }

    /// For tests only: a local provider at `base` plays Entra's global cloud (its sign-in and
    /// its Microsoft Graph), so the rules that hold only on Entra's clouds can be exercised.
    pub fn with_global_cloud_stand_in(mut self, base: &str) -> Result<Self, String> {
        let stand_in = Self::parse(base)?.allowed;
        match stand_in.as_slice() {
            [one] => self.global_cloud_stand_in = Some(one.clone()),
            _ => return Err(format!("{base:?} is not one base URL")),
        }
        Ok(self)
    }

    /// The authority host of one of Entra's clouds; `None` for a custom authority.
    pub fn entra_authority(&self, cloud: Cloud) -> Option<String> {
        match (cloud, &self.global_cloud_stand_in) {
            (Cloud::Global, Some(stand_in)) => Some(bare(stand_in)),
            _ => cloud.authority_host().map(str::to_string),
        }
    }

    /// Whether `authority_host` is one of Entra's clouds (or the tests' stand-in for one).
    pub fn is_entra_cloud(&self, authority_host: &str) -> bool {
        [Cloud::Global, Cloud::UsGovernment, Cloud::China]
            .into_iter()
            .any(|cloud| self.entra_authority(cloud).as_deref() == Some(authority_host))
    }

    /// Where Microsoft Graph is for a connection: the cloud's own Graph host; a custom
    /// authority serves it at its own host.
    pub fn graph_base(&self, cloud: Cloud, authority_host: &str) -> String {
        match (cloud, &self.global_cloud_stand_in) {
            (Cloud::Global, Some(stand_in)) => bare(stand_in),
            (Cloud::Global, None) => "https://graph.microsoft.com".into(),
            (Cloud::UsGovernment, _) => "https://graph.microsoft.us".into(),
            (Cloud::China, _) => "https://microsoftgraph.chinacloudapi.cn".into(),
            (Cloud::Custom, _) => authority_host.trim_end_matches('/').to_string(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.allowed.is_empty()
    }

    /// The allowed authority `input` names (as the operator wrote it, without a trailing
    /// slash), or why it is refused.
    pub fn authority(&self, input: &str) -> Result<String, String> {
        let refused = || {
            "Gatehouse connects only to Microsoft Entra's clouds: choose yours above. Another authority host works only when the operator of this Gatehouse allows it.".to_string()
        };
        let url = Url::parse(input.trim()).map_err(|_| refused())?;
        self.allowed
            .iter()
            .find(|a| a.origin() == url.origin() && url.path().trim_end_matches('/').is_empty())
            .map(|a| a.as_str().trim_end_matches('/').to_string())
            .ok_or_else(refused)
    }

    /// Whether connections to `host` may reach any address (it is on the operator's list).
    pub fn allows_host(&self, host: &str) -> bool {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        self.allowed
            .iter()
            .chain(&self.global_cloud_stand_in)
            .any(|a| {
                a.host_str()
                    .is_some_and(|h| h.trim_start_matches('[').trim_end_matches(']') == host)
            })
    }
}

fn bare(url: &Url) -> String {
    url.as_str().trim_end_matches('/').to_string()
}

/// A calendar date `YYYY-MM-DD`.
/// A credential (a client secret, a certificate) that expires within this many days is
/// expiring soon: the wizard warns about it, and its admins are warned from then on.
pub const EXPIRES_SOON_DAYS: i64 = 30;

pub fn parse_date(input: &str) -> Result<time::Date, String> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(input.trim(), format).map_err(|_| {
        "Enter the date as YYYY-MM-DD, as the Entra portal shows it under Expires.".to_string()
    })
}

#[cfg(test)]
mod entra_value_tests {
    use super::*;

    #[test]
    fn only_listed_authorities_are_allowed_and_only_by_their_origin() {
        let none = AllowedAuthorities::default();
        assert!(none.authority("https://169.254.169.254").is_err());
        assert!(none.authority("http://127.0.0.1:9").is_err());
        let listed =
            AllowedAuthorities::parse("http://127.0.0.1:4111, https://login.example.com").unwrap();
        assert_eq!(
            listed.authority("http://127.0.0.1:4111/").unwrap(),
            "http://127.0.0.1:4111"
        );
        assert!(listed.authority("http://127.0.0.1:4112").is_err());
        assert!(listed
            .authority("https://login.example.com.evil.test")
            .is_err());
        assert!(listed.authority("https://login.example.com/other").is_err());
        assert!(listed.allows_host("127.0.0.1"));
        assert!(!listed.allows_host("localhost"));
        assert!(AllowedAuthorities::parse("https://login.example.com/path").is_err());
        assert!(AllowedAuthorities::parse("ftp://login.example.com").is_err());
    }

    #[test]
    fn each_cloud_has_its_graph_and_a_stand_in_plays_only_the_global_cloud() {
        let none = AllowedAuthorities::default();
        assert_eq!(
            none.graph_base(Cloud::Global, "https://login.microsoftonline.com"),
            "https://graph.microsoft.com"
        );
        assert_eq!(
            none.graph_base(Cloud::Custom, "http://127.0.0.1:4011/"),
            "http://127.0.0.1:4011"
        );
        assert!(none.is_entra_cloud("https://login.microsoftonline.us"));
        assert!(!none.is_entra_cloud("http://localhost:4111"));
        let tests = AllowedAuthorities::default()
            .with_global_cloud_stand_in("http://localhost:4111")
            .unwrap();
        assert_eq!(
            tests.entra_authority(Cloud::Global).as_deref(),
            Some("http://localhost:4111")
        );
        assert!(tests.is_entra_cloud("http://localhost:4111"));
        assert!(!tests.is_entra_cloud("https://login.microsoftonline.com"));
        assert_eq!(
            tests.graph_base(Cloud::Global, "http://localhost:4111"),
            "http://localhost:4111"
        );
        assert_eq!(
            tests.graph_base(Cloud::China, ""),
            "https://microsoftgraph.chinacloudapi.cn"
        );
        assert!(tests.allows_host("localhost"));
    }

    #[test]
    fn guids_are_checked_precisely() {
        assert_eq!(
            Guid::parse(" 6F1C0C1E-7A52-4C4E-9D6B-3A8E2F0B9C11 ")
                .unwrap()
                .0,
            "6f1c0c1e-7a52-4c4e-9d6b-3a8e2f0b9c11"
        );
        assert!(Guid::parse("").unwrap_err().contains("Paste"));
        assert!(Guid::parse("6f1c0c1e7a524c4e9d6b3a8e2f0b9c11")
            .unwrap_err()
            .contains("8-4-4-4-12"));
        assert!(Guid::parse("6f1c0c1e-7a52-4c4e-9d6b-3a8e2f0b9c1")
            .unwrap_err()
            .contains("8-4-4-4-12"));
        assert!(Guid::parse("6f1c0c1e-7a52-4c4e-9d6b-3a8e2f0b9cxz")
            .unwrap_err()
            .contains("“x”"));
    }

    #[test]
    fn dates_use_the_portal_format() {
        assert_eq!(parse_date("2027-05-01").unwrap().to_string(), "2027-05-01");
        assert!(parse_date("01/05/2027").unwrap_err().contains("YYYY-MM-DD"));
    }
}

/// Escapes text for HTML or XML, in element content or a quoted attribute value.
pub fn escape_markup(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
