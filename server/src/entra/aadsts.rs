//! Entra's AADSTS error codes in plain words: what happened and what the admin should do.

/// The AADSTS code at the start of an Entra `error_description`, such as `7000215`.
pub fn code_of(description: &str) -> Option<String> {
    let start = description.find("AADSTS")? + "AADSTS".len();
    let digits: String = description[start..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    (!digits.is_empty()).then_some(digits)
}

/// What an AADSTS code means for an admin, or `None` for codes Gatehouse does not know.
/// `redirect_uri` is the exact URI to register, for AADSTS50011.
pub fn explain(code: &str, redirect_uri: &str) -> Option<String> {
    Some(match code {
        "50011" => format!(
            "The redirect URI Gatehouse sent is not registered on the app. In Entra, open the app's \
             Authentication page and add exactly {redirect_uri} as a Web redirect URI (the match is \
             exact and case-sensitive)."
        ),
        "7000215" => "The client secret is not right. Paste the secret's Value (shown only once, when \
             the secret is created), not its Secret ID."
            .into(),
        "7000222" => "This client secret has expired. Create a new secret under Certificates & secrets \
             and paste its Value and expiry date here."
            .into(),
        "700027" => "Entra does not accept Gatehouse's certificate for this app. Upload the certificate \
             Gatehouse generated (the .cer file) to the app under Certificates & secrets, \
             Certificates, check that its thumbprint matches the one shown here, then verify again \
             (a new certificate can take a few minutes to be accepted)."
            .into(),
        "700024" => "Gatehouse's certificate was not accepted at this time: check that the server's \
             clock is right, then verify again."
            .into(),
        "700016" => "No app with this Application (client) ID exists in this directory. Check the \
             client ID on the app's Overview page, the Directory (tenant) ID, and that the app was \
             registered in the same cloud."
            .into(),
        "90002" => "This directory was not found. Check the Directory (tenant) ID on the app's \
             Overview page, or choose the cloud where the directory lives."
            .into(),
        "50105" => "The person is not assigned to the app. In Entra, open Enterprise applications, \
             choose the app, and assign the user (or a group they are in) under Users and groups."
            .into(),
        "65001" => "Consent has not been granted for the app. In Entra, open the app's API \
             permissions and choose \"Grant admin consent\"."
            .into(),
        "50020" => "The account belongs to another directory. Invite the person as a guest in this \
             directory, or have them use their account in it."
            .into(),
        "50194" => "The app is single-tenant but was called through /common. Gatehouse uses the \
             directory's own address; check the Directory (tenant) ID."
            .into(),
        "700054" => "Entra says the id_token response type is not enabled. Gatehouse uses the \
             authorization code flow, so nothing needs enabling: check that the redirect URI is \
             registered under the Web platform."
            .into(),
        "50076" => "Multi-factor authentication is required. Sign in again and complete the \
             verification."
            .into(),
        "90038" => "The directory lives in another national cloud. Choose that cloud and use an app \
             registered there."
            .into(),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_found_in_entra_descriptions() {
        assert_eq!(
            code_of("AADSTS7000215: Invalid client secret provided."),
            Some("7000215".into())
        );
        assert_eq!(
            code_of("Trace ID: x AADSTS50011: The redirect"),
            Some("50011".into())
        );
        assert_eq!(code_of("no code here"), None);
    }

    #[test]
    fn every_code_of_the_brief_has_guidance() {
        for code in [
            "50011", "7000215", "7000222", "700016", "90002", "50105", "65001", "50020", "50194",
            "700054", "50076", "90038",
        ] {
            assert!(
                explain(code, "https://gh/auth/callback").is_some(),
                "{code}"
            );
        }
        assert!(explain("50011", "https://gh/auth/callback")
            .unwrap()
            .contains("https://gh/auth/callback"));
        assert!(explain("1", "").is_none());
    }
}
