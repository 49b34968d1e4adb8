//! Malformed input never crashes anything, and nothing malformed is taken for valid: property
//! tests (proptest) of what arrives from outside — the directory's callback with its query and
//! sign-in cookie (through a running Gatehouse), `return_to`, members' CSV files, GUIDs, domains,
//! emails and slugs. ID tokens and key sets are held to the same in the validator's own tests
//! (`oidc::validate`).
//!
//! Each property runs `PROPTEST_CASES` cases (256 by default here); a longer run is
//! `PROPTEST_CASES=100000 cargo test -p server --test malformed_input --release`. A failure
//! prints the smallest input that fails it: it becomes a regular test.

mod common;

use app::navigation::safe_return_to;
use gatehouse::crypto::tokens;
use gatehouse::domain::{Domain, EmailAddress, Guid, Slug};
use gatehouse::members::import;
use proptest::prelude::*;
use reqwest::Url;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, OnceLock};

/// Text with what breaks parsers: controls, slashes and backslashes, percent signs, dots,
/// `@`, quotes, non-ASCII letters and lookalikes.
fn hostile_text() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,80}",
        "[/\\\\%.@:?#a-zA-Z0-9 \"',;\\t\\r\\n\u{0}-\u{1f}\u{7f}ñ𝓪ı]{0,80}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(256)
    ))]

    /// Whatever `return_to` holds, an accepted one leads to a page of Gatehouse itself, never
    /// to another site.
    #[test]
    fn return_to_never_leaves_gatehouse(candidate in prop_oneof![
        hostile_text(),
        "/[/\\\\a-z.:@%0-9]{0,30}",
        "(https?:)?//[a-z.]{1,20}/[a-z]{0,10}",
    ]) {
        if let Some(kept) = safe_return_to(&candidate) {
            let base = Url::parse("https://gatehouse.example/signin").unwrap();
            let target = base.join(kept).expect("a kept path joins");
            prop_assert_eq!(target.host_str(), Some("gatehouse.example"), "{}", kept);
            prop_assert_eq!(target.scheme(), "https");
        }
    }

    /// An accepted GUID, domain, email or slug is in its one canonical form: read again, it
    /// is the same; GUIDs are GUIDs, domains have DNS's shape.
    #[test]
    fn identifiers_are_accepted_only_in_canonical_form(input in prop_oneof![
        hostile_text(),
        "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}",
        "[a-zA-Z0-9.-]{1,70}",
        "[a-zA-Z0-9._%+-]{1,20}@[a-zA-Z0-9.-]{1,30}",
    ]) {
        if let Ok(guid) = Guid::parse(&input) {
            prop_assert!(uuid::Uuid::parse_str(&guid.0).is_ok());
            prop_assert_eq!(Guid::parse(&guid.0).unwrap().0, guid.0.clone());
        }
        if let Ok(domain) = Domain::parse(&input) {
            prop_assert!(domain.0.len() <= 253, "{}", domain.0);
            prop_assert!(domain.0.split('.').all(|l| !l.is_empty() && l.len() <= 63), "{}", domain.0);
            prop_assert!(!domain.0.chars().any(|c| c.is_ascii_uppercase() || c.is_control()));
            prop_assert_eq!(Domain::parse(&domain.0).unwrap().0, domain.0.clone());
        }
        if let Ok(email) = EmailAddress::parse(&input) {
            let again = EmailAddress::parse(&email.display).expect("an accepted email reads again");
            prop_assert_eq!(&again, &email);
            prop_assert_eq!(email.normalized.clone(), email.display.to_lowercase());
            prop_assert!(!email.display.chars().any(char::is_control));
        }
        if let Ok(slug) = Slug::parse(&input) {
            prop_assert_eq!(Slug::parse(&slug.0).unwrap().0, slug.0.clone());
        }
    }

    /// Any bytes as a members' file: a clear problem or a preview, and every data row is
    /// either a row to import or has its problems listed.
    #[test]
    fn any_file_is_read_or_refused_with_a_reason(bytes in prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..400),
        proptest::collection::vec(
            proptest::collection::vec("[a-zA-Z0-9@.,\"\\- ]{0,20}", 0..7).prop_map(|cells| cells.join(",")),
            0..12,
        ).prop_map(|rows| format!("{}\n{}", app::types::MEMBER_CSV_COLUMNS.join(","), rows.join("\n")).into_bytes()),
    ]) {
        match import::parse(&bytes, &AtomicU64::new(0)) {
            Ok(parsed) => {
                let lines_with_problems: std::collections::BTreeSet<u64> =
                    parsed.problems.iter().map(|p| p.line).filter(|l| *l > 1).collect();
                prop_assert!(parsed.rows.len() as u64 + lines_with_problems.len() as u64 >= parsed.rows_total
                    || parsed.rows_total == 0);
                prop_assert!(parsed.rows.len() as u64 <= parsed.rows_total);
            }
            Err(problem) => prop_assert!(!problem.0.is_empty()),
        }
    }
}

/// One Gatehouse for the callback properties, on its own runtime (proptest cases are
/// synchronous), with the per-address limit raised so the cases are not rate limited.
fn gatehouse() -> &'static (tokio::runtime::Runtime, common::TestApp) {
    static APP: OnceLock<(tokio::runtime::Runtime, common::TestApp)> = OnceLock::new();
    APP.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let app = runtime.block_on(async {
            let dir = Arc::new(tempfile::tempdir().unwrap());
            let url = common::fresh_database_url(&dir).await;
            common::spawn_app_with(dir, url, &["--sso-requests-per-minute", "1000000"]).await
        });
        (runtime, app)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(256)
    ))]

    /// Whatever the directory's callback carries — any query, any sign-in cookie under the
    /// state's own name — Gatehouse answers with a page, never a server error, and never
    /// signs anyone in.
    #[test]
    fn the_callback_answers_any_query_and_cookie_with_a_page(
        state in hostile_text(),
        code in proptest::option::of(hostile_text()),
        error in proptest::option::of(hostile_text()),
        cookie in prop_oneof![hostile_text(), "[A-Za-z0-9_-]{0,300}"],
        raw_query in proptest::option::of(".{0,120}"),
    ) {
        let (runtime, app) = gatehouse();
        let mut url = Url::parse(&format!("{}/auth/callback", app.url)).unwrap();
        match raw_query {
            Some(raw) => url.set_query(Some(&raw)),
            None => {
                let mut pairs = url.query_pairs_mut();
                pairs.append_pair("state", &state);
                if let Some(code) = &code { pairs.append_pair("code", code); }
                if let Some(error) = &error { pairs.append_pair("error", error); }
            }
        }
        let cookie_name = format!("gatehouse_sign_in_{}", &tokens::hash(&state)[..16]);
        let cookie_value: String = cookie.chars().filter(|c| c.is_ascii_graphic() && *c != ';').collect();
        let (status, signed_in) = runtime.block_on(async {
            let response = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap()
                .get(url.clone())
                .header("Cookie", format!("{cookie_name}={cookie_value}"))
                .send()
                .await
                .expect("Gatehouse answers");
            let signed_in = response
                .headers()
                .get_all("set-cookie")
                .iter()
                .any(|c| c.to_str().unwrap_or("").starts_with("gatehouse_session"));
            (response.status(), signed_in)
        });
        prop_assert!(status.is_client_error(), "{} for {}", status, url);
        prop_assert!(!signed_in);
    }
}
