//! The OpenAPI document is generated from the same route list as the router; these tests fail
//! when a route escapes it.

mod common;

use common::{body, spawn_app};
use reqwest::StatusCode;

#[tokio::test]
async fn every_documented_operation_is_served() {
    let app = spawn_app().await;
    let doc = body(
        app.browser()
            .get(app.api("/openapi.json"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let paths = doc["paths"].as_object().expect("paths");
    assert!(paths.len() >= 9, "{paths:?}");
    let client = app.browser();
    let mut operations = 0;
    for (path, item) in paths {
        for method in item.as_object().unwrap().keys() {
            if !["get", "post", "patch", "delete", "put"].contains(&method.as_str()) {
                continue;
            }
            operations += 1;
            let concrete = path
                .replace("{id}", "x")
                .replace("{member_id}", "y")
                .replace("{token}", "z");
            let response = client
                .request(method.to_uppercase().parse().unwrap(), app.api(&concrete))
                .header("Origin", &app.url)
                .header("Content-Type", "application/json")
                .body("{}")
                .send()
                .await
                .unwrap();
            assert_ne!(
                response.status(),
                StatusCode::METHOD_NOT_ALLOWED,
                "{method} {path}"
            );
            if response.status() == StatusCode::NOT_FOUND {
                let message = body(response).await["error"]["message"].to_string();
                assert!(
                    !message.contains("API route"),
                    "{method} {path} is not routed"
                );
            }
        }
    }
    assert!(operations >= 14, "{operations} operations documented");
}

#[test]
fn api_routes_are_registered_only_through_the_openapi_router() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/api");
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let source = std::fs::read_to_string(&path).unwrap();
        let routes = source.matches(".route(").count();
        let allowed = if path.ends_with("mod.rs") { 1 } else { 0 }; // the document itself
        assert_eq!(
            routes, allowed,
            "{} registers a route outside utoipa-axum's routes!: it would be missing from the OpenAPI document",
            path.display()
        );
    }
}

#[tokio::test]
async fn the_document_names_its_schemas() {
    let app = spawn_app().await;
    let doc = body(
        app.browser()
            .get(app.api("/openapi.json"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    for schema in [
        "Me",
        "Organization",
        "Member",
        "ErrorBody",
        "AuditEvent",
        "SignInRequest",
    ] {
        assert!(
            doc["components"]["schemas"][schema].is_object(),
            "{schema} missing"
        );
    }
    assert_eq!(doc["servers"][0]["url"], "/api/v1");
}
