//! `Leptos.toml` (read by the server) and Cargo.toml's `[[workspace.metadata.leptos]]` (read by
//! cargo-leptos) must agree on every value both hold.

use gatehouse::web_settings::WebSettings;

#[test]
fn leptos_toml_matches_the_cargo_leptos_build_settings() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let settings = WebSettings::load(std::path::Path::new(&format!("{root}/Leptos.toml")))
        .expect("Leptos.toml parses");
    let cargo: toml::Value =
        toml::from_str(&std::fs::read_to_string(format!("{root}/Cargo.toml")).expect("Cargo.toml"))
            .expect("Cargo.toml parses");
    let build = &cargo["workspace"]["metadata"]["leptos"][0];
    let value = |key: &str| {
        build[key]
            .as_str()
            .unwrap_or_else(|| panic!("{key} in Cargo.toml"))
            .to_string()
    };
    assert_eq!(
        settings.output_name,
        value("output-name"),
        "output-name drifted"
    );
    assert_eq!(settings.site_root, value("site-root"), "site-root drifted");
    assert_eq!(
        settings.site_pkg_dir,
        value("site-pkg-dir"),
        "site-pkg-dir drifted"
    );
    assert_eq!(
        settings.site_addr.to_string(),
        value("site-addr"),
        "site-addr drifted"
    );
    assert_eq!(
        format!("/{}/{}.css", settings.site_pkg_dir, settings.output_name),
        app::STYLESHEET,
        "the page shell links a stylesheet the build does not produce"
    );
}

#[test]
fn unknown_keys_in_leptos_toml_are_refused() {
    assert!(WebSettings::parse("output-name = \"x\"\nsite-root = \"r\"\nsite-pkg-dir = \"p\"\nsite-addr = \"127.0.0.1:1\"\nsite-rot = \"typo\"").is_err());
}
