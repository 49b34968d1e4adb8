//! The server's layers, read from its source: a module imports only modules of its own layer
//! or below, and only the web layer speaks HTTP (axum, tower, Leptos). From the bottom:
//!
//! 1. foundation: `clock`, `config`, `crypto`, `data_folder`, `domain` (validated values)
//! 2. `storage`: all SQL
//! 3. directories: `entra`, `oidc`, `saml`, `outbound` (calls to them)
//! 4. concepts: `auth`, `backup`, `connections`, `directory`, `domains`, `first_run`,
//!    `members`, `provider`, `sign_in`
//! 5. web: `api`, each concept's `web` module, and what wires them (`application`,
//!    `background`, `error`, `ops`, `state`, `web_guard`, `web_settings`, `main`)
//!
//! The test fails when any import breaks a rule: move the code to its layer.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Crates only the web layer may use.
const WEB_CRATES: &[&str] = &[
    "axum",
    "tower",
    "tower_http",
    "tower_sessions",
    "leptos",
    "leptos_axum",
];

fn layer_of_module(module: &str) -> Option<u8> {
    if module.ends_with("::web") {
        return Some(5);
    }
    Some(match module {
        "clock" | "config" | "crypto" | "data_folder" | "domain" => 1,
        "storage" => 2,
        "entra" | "mail" | "oidc" | "saml" | "outbound" => 3,
        "auth" | "backup" | "connections" | "directory" | "domains" | "first_run" | "members"
        | "provider" | "sign_in" => 4,
        "api" | "application" | "background" | "error" | "ops" | "state" | "web_guard"
        | "web_settings" | "main" | "lib" => 5,
        _ => return None,
    })
}

/// A file's layer: its top module's, or the web layer's for a concept's `web` module.
fn layer_of_file(relative: &str) -> u8 {
    let parts: Vec<&str> = relative.split('/').collect();
    if parts.len() > 1 && (parts[1] == "web" || parts[1] == "web.rs") {
        return 5;
    }
    let top = parts[0].trim_end_matches(".rs");
    layer_of_module(top).unwrap_or_else(|| panic!("{relative}: add its module to a layer"))
}

fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("a source folder") {
        let path = entry.expect("an entry").path();
        if path.is_dir() {
            rust_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

/// What a file's code (its tests left out) imports: `crate::x` modules and outside crates.
fn imports(source: &str) -> BTreeSet<String> {
    let code = source.split("#[cfg(test)]").next().unwrap_or_default();
    let mut found = BTreeSet::new();
    for line in code.lines().map(str::trim) {
        if line.starts_with("//") {
            continue;
        }
        for (at, _) in line.match_indices("crate::") {
            let before = line[..at].chars().last();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                continue;
            }
            let rest = &line[at + "crate::".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            // A concept's web module belongs to the web layer.
            if rest[name.len()..].starts_with("::web") {
                found.insert(format!("{name}::web"));
            } else {
                found.insert(name);
            }
        }
        for web in WEB_CRATES {
            let used = line.starts_with(&format!("use {web}::"))
                || line.contains(&format!(" {web}::"))
                || line.contains(&format!("({web}::"))
                || line.contains(&format!("<{web}::"))
                || line.contains(&format!("&{web}::"));
            if used {
                found.insert(web.to_string());
            }
        }
    }
    found
}

#[test]
fn no_module_imports_a_layer_above_its_own_and_only_the_web_layer_speaks_http() {
    let root = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/src"));
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    let mut breaking = BTreeSet::new();
    for file in &files {
        let relative = file
            .strip_prefix(&root)
            .expect("inside src")
            .to_string_lossy()
            .replace('\\', "/");
        let layer = layer_of_file(&relative);
        let source = std::fs::read_to_string(file).expect("a readable file");
        for imported in imports(&source) {
            let breaks = if WEB_CRATES.contains(&imported.as_str()) {
                layer < 5
            } else {
                layer_of_module(&imported).is_some_and(|above| above > layer)
            };
            if breaks {
                breaking.insert((relative.clone(), imported));
            }
        }
    }
    assert!(
        breaking.is_empty(),
        "imports that run up a layer: {breaking:?}"
    );
}

#[test]
fn the_check_sees_an_import_that_runs_up_a_layer() {
    let found = imports(
        "use crate::storage::Storage;\nuse axum::Json;\nfn f() { crate::api::x(); }\n\
         use crate::sign_in::web::page;\n\
         // crate::state in a comment\n#[cfg(test)]\nmod tests { use crate::state; }",
    );
    let found: Vec<&str> = found.iter().map(String::as_str).collect();
    assert_eq!(found, ["api", "axum", "sign_in::web", "storage"]);
    assert_eq!(layer_of_module("sign_in::web"), Some(5));
    assert_eq!(layer_of_file("sign_in/web/mod.rs"), 5);
    assert_eq!(layer_of_file("sign_in/mod.rs"), 4);
    assert_eq!(layer_of_file("storage/members.rs"), 2);
}
