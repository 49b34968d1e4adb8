//! Mapping members to directory users in bulk: CSV import (preview, all-or-nothing apply) and
//! export, the directory picker over Microsoft Graph, suggestions the admin confirms, and the
//! health of the mapping — against the Entra-shaped provider's Graph stand-in.

mod common;

use common::body;
use common::idp::{ADELE, ADELE_OID, CONTOSO, SIMON, SIMON_OID};
use common::wizard::{wizard, Wizard, SECRET};
use reqwest::StatusCode;
use serde_json::{json, Value};

const ALEX_OID: &str = "4c5d6e7f-8a9b-4c0d-9e1f-2a3b4c5d6e7f";
const MEGAN_OID: &str = "5d6e7f8a-9b0c-4d1e-8f2a-3b4c5d6e7f8a";
const LEE_OID: &str = "6e7f8a9b-0c1d-4e2f-9a3b-4c5d6e7f8a9b";

/// Contoso with its app's credentials saved (not yet active): enough to read the directory.
async fn contoso() -> Wizard {
    let w = wizard().await;
    let saved = w.save(0, CONTOSO, &w.client_id, Some(SECRET)).await;
    assert_eq!(saved.status(), StatusCode::OK);
    w
}

fn org_path(w: &Wizard, rest: &str) -> String {
    format!("/organizations/{}{rest}", w.org)
}

async fn get(w: &Wizard, rest: &str) -> Value {
    let response = w.app.get(&w.admin, &org_path(w, rest)).await;
    assert_eq!(response.status(), StatusCode::OK, "{rest}");
    body(response).await
}

async fn members(w: &Wizard) -> Vec<Value> {
    let list = get(w, "/members?sort=email").await;
    list["items"].as_array().expect("items").clone()
}

async fn add_member(w: &Wizard, email: &str, name: &str) -> String {
    let created = w
        .app
        .post(
            &w.admin,
            &org_path(w, "/members"),
            json!({ "email": email, "display_name": name, "role": "member" }),
        )
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    body(created).await["id"].as_str().expect("id").to_string()
}

/// Uploads a CSV file and waits for its preview (or failure).
async fn import(w: &Wizard, csv: &str) -> Value {
    let response = w
        .admin
        .post(w.app.api(&org_path(w, "/member-imports")))
        .header("Origin", &w.app.url)
        .header("Content-Type", "text/csv")
        .body(csv.to_string())
        .send()
        .await
        .expect("upload");
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let id = body(response).await["id"].as_str().expect("id").to_string();
    wait_for(w, &id, &["ready", "failed"]).await
}

async fn wait_for(w: &Wizard, id: &str, stages: &[&str]) -> Value {
    for _ in 0..200 {
        let view = get(w, &format!("/member-imports/{id}")).await;
        if stages.contains(&view["stage"].as_str().unwrap_or("")) {
            return view;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("import {id} did not reach {stages:?}");
}

async fn apply(w: &Wizard, preview: &Value) -> Value {
    let id = preview["id"].as_str().expect("id");
    let response = w
        .app
        .post(
            &w.admin,
            &org_path(w, &format!("/member-imports/{id}/apply")),
            json!({}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    wait_for(w, id, &["applied", "failed"]).await
}

#[tokio::test]
async fn a_file_with_bad_lines_shows_every_problem_and_changes_nothing() {
    let w = contoso().await;
    let before = members(&w).await.len();
    let csv = format!(
        "email,display name,role,object id,sso enabled\n\
         b.simon@contoso.com,B. Simon,member,{SIMON_OID},yes\n\
         adele-at-contoso.com,Adele Vance,member,{ADELE_OID},yes\n\
         alexw@contoso.com,Alex Wilber,member,not-a-guid,yes\n"
    );
    let preview = import(&w, &csv).await;
    assert_eq!(preview["stage"], "failed", "{preview}");
    let problems = preview["problems"].as_array().expect("problems");
    let where_: Vec<(u64, &str)> = problems
        .iter()
        .map(|p| (p["line"].as_u64().unwrap(), p["column"].as_str().unwrap()))
        .collect();
    assert_eq!(where_, vec![(3, "email"), (4, "object id")]);
    assert!(preview["message"]
        .as_str()
        .unwrap()
        .contains("Nothing was imported"));
    assert_eq!(members(&w).await.len(), before, "nothing applied");

    let fixed = csv
        .replace("adele-at-contoso.com", ADELE)
        .replace("not-a-guid", ALEX_OID);
    let preview = import(&w, &fixed).await;
    assert_eq!(preview["stage"], "ready", "{preview}");
    assert_eq!(preview["to_create"], 3);
    assert_eq!(preview["problem_count"], 0);
    assert_eq!(members(&w).await.len(), before, "a preview writes nothing");
    let applied = apply(&w, &preview).await;
    assert_eq!(applied["stage"], "applied", "{applied}");
    let list = members(&w).await;
    assert_eq!(list.len(), before + 3);
    let simon = list
        .iter()
        .find(|m| m["email"] == "b.simon@contoso.com")
        .expect("imported");
    assert_eq!(simon["directory_object_id"], SIMON_OID);
    assert_eq!(simon["directory_tenant_id"], CONTOSO);
    assert_eq!(simon["sso_enabled"], true);

    // The same file again changes nothing; applying an import twice is refused.
    let again = import(&w, &fixed).await;
    assert_eq!(again["unchanged"], 3);
    assert_eq!(again["to_create"], 0);
    let twice = w
        .app
        .post(
            &w.admin,
            &org_path(
                &w,
                &format!("/member-imports/{}/apply", applied["id"].as_str().unwrap()),
            ),
            json!({}),
        )
        .await;
    assert_eq!(twice.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn an_import_applies_all_or_nothing_against_the_members_as_they_are_then() {
    let w = contoso().await;
    let preview = import(
        &w,
        &format!("email,display name,object id\nnew.one@contoso.com,New One,{ADELE_OID}\nnew.two@contoso.com,New Two,\n"),
    )
    .await;
    assert_eq!(preview["stage"], "ready", "{preview}");
    // Meanwhile another admin maps Adele's directory user to someone else.
    w.add_mapped_member(ADELE, "Adele Vance", ADELE_OID, true)
        .await;
    let before = members(&w).await.len();
    let applied = apply(&w, &preview).await;
    assert_eq!(applied["stage"], "failed", "{applied}");
    assert_eq!(applied["problems"][0]["line"], 2);
    assert!(applied["problems"][0]["message"]
        .as_str()
        .unwrap()
        .contains("Adele Vance"));
    assert_eq!(members(&w).await.len(), before, "not even the good row");
}

#[tokio::test]
async fn the_export_imports_back_unchanged_and_lists_every_mapping() {
    let w = contoso().await;
    w.add_mapped_member(SIMON, "B. Simon", SIMON_OID, true)
        .await;
    add_member(&w, "o'brien@contoso.com", "Pat \"Quotes\", O'Brien").await;
    // Names a spreadsheet would run as formulas.
    add_member(
        &w,
        "formula@contoso.com",
        "=HYPERLINK(\"https://evil.example\",\"x\")",
    )
    .await;
    add_member(&w, "-sales@contoso.com", "+1 Sales").await;
    add_member(&w, "ops@contoso.com", "@Ops").await;
    let response = w.app.get(&w.admin, &org_path(&w, "/members/export")).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .contains("members-contoso.csv"));
    let csv = response.text().await.unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("email,display name,role,object id,sso enabled")
    );
    assert!(csv.contains(&format!("{SIMON},B. Simon,member,{SIMON_OID},yes")));
    assert!(csv.contains("\"Pat \"\"Quotes\"\", O'Brien\""));
    for line in csv.lines().skip(1) {
        for cell in line.split(',') {
            let cell = cell.trim_start_matches('"');
            assert!(
                !cell.starts_with(['=', '+', '-', '@']),
                "{cell:?} would run as a formula"
            );
        }
    }
    assert!(csv.contains("'-sales@contoso.com,'+1 Sales,"), "{csv}");
    let preview = import(&w, &csv).await;
    assert_eq!(preview["stage"], "ready", "{preview}");
    assert_eq!(preview["to_create"], 0);
    assert_eq!(preview["to_update"], 0);
    assert_eq!(preview["unchanged"], members(&w).await.len());
}

#[tokio::test]
async fn an_organization_keeps_its_three_newest_imports() {
    let w = contoso().await;
    let mut ids = Vec::new();
    for n in 0..4 {
        let preview = import(
            &w,
            &format!("email,display name\nperson{n}@contoso.com,P {n}\n"),
        )
        .await;
        ids.push(preview["id"].as_str().unwrap().to_string());
    }
    let first = w
        .app
        .get(
            &w.admin,
            &org_path(&w, &format!("/member-imports/{}", ids[0])),
        )
        .await;
    assert_eq!(first.status(), StatusCode::NOT_FOUND, "the oldest let go");
    for id in &ids[1..] {
        get(&w, &format!("/member-imports/{id}")).await;
    }
}

#[tokio::test]
async fn a_file_over_the_limit_is_refused_with_a_clear_message() {
    let w = contoso().await;
    let huge = "x".repeat(app::types::IMPORT_MAX_BYTES + 1);
    let response = w
        .admin
        .post(w.app.api(&org_path(&w, "/member-imports")))
        .header("Origin", &w.app.url)
        .header("Content-Type", "text/csv")
        .body(huge)
        .send()
        .await
        .expect("upload");
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(body(response).await["error"]["message"]
        .as_str()
        .unwrap()
        .contains("32 MB"));
}

#[tokio::test]
async fn the_picker_maps_a_member_to_the_directory_user_it_reads() {
    let w = contoso().await;
    let adele = add_member(&w, ADELE, "Adele").await;
    let found = get(&w, "/directory/users?q=adele").await;
    assert_eq!(found["access"], "readable", "{found}");
    let users = found["users"].as_array().unwrap();
    assert_eq!(users.len(), 1);
    assert_eq!(users[0]["id"], ADELE_OID);
    assert_eq!(users[0]["mapped_to"], Value::Null);

    let mapped = w
        .app
        .post(
            &w.admin,
            &org_path(&w, &format!("/members/{adele}/directory-user")),
            json!({ "object_id": ADELE_OID }),
        )
        .await;
    assert_eq!(mapped.status(), StatusCode::OK);
    let mapped = body(mapped).await;
    assert_eq!(mapped["directory_object_id"], ADELE_OID);
    assert_eq!(mapped["directory_user_principal_name"], ADELE);
    let again = get(&w, "/directory/users?q=AdeleV@").await;
    assert_eq!(again["users"][0]["mapped_to"]["id"], adele);
    // The UPN is searchable in the members list.
    let listed = get(&w, "/members?q=adelev%40contoso").await;
    assert_eq!(listed["total"], 1);

    // A user the directory does not have is refused, precisely.
    let simon = add_member(&w, SIMON, "B. Simon").await;
    let missing = w
        .app
        .post(
            &w.admin,
            &org_path(&w, &format!("/members/{simon}/directory-user")),
            json!({ "object_id": uuid::Uuid::new_v4().to_string() }),
        )
        .await;
    assert_eq!(missing.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(common::field_error(&body(missing).await, "object_id").contains("no user"));
    // Adele's user stays with Adele.
    let taken = w
        .app
        .post(
            &w.admin,
            &org_path(&w, &format!("/members/{simon}/directory-user")),
            json!({ "object_id": ADELE_OID }),
        )
        .await;
    assert_eq!(taken.status(), StatusCode::CONFLICT);
}

#[tokio::test]
async fn without_user_read_all_the_console_says_what_to_grant() {
    let w = contoso().await;
    w.idp.set_graph_permissions(&w.client_id, json!([])).await;
    let found = get(&w, "/directory/users?q=adele").await;
    assert_eq!(found["access"], "permission_missing");
    let message = found["message"].as_str().unwrap();
    assert!(message.contains("User.Read.All"), "{message}");
    assert!(message.contains("Grant admin consent"), "{message}");
    // Once granted, the next search works (a new token carries the new permission).
    w.idp
        .set_graph_permissions(&w.client_id, json!(["User.Read.All"]))
        .await;
    let found = get(&w, "/directory/users?q=adele").await;
    assert_eq!(found["access"], "readable");
}

#[tokio::test]
async fn without_a_connection_there_is_nothing_to_read() {
    let app = common::spawn_app().await;
    let operator = app.operator().await;
    let fabrikam = app.create_org(&operator, "Fabrikam", "fabrikam").await;
    let found = app
        .get(
            &operator,
            &format!("/organizations/{fabrikam}/directory/users?q=a"),
        )
        .await;
    let found = body(found).await;
    assert_eq!(found["access"], "not_connected");
    assert!(found["message"].as_str().unwrap().contains("Connect"));
    let health = body(
        app.get(
            &operator,
            &format!("/organizations/{fabrikam}/mapping/health"),
        )
        .await,
    )
    .await;
    assert_eq!(health["access"], "not_connected");
    assert_eq!(health["stale"], Value::Null);
}

#[tokio::test]
async fn members_are_added_from_picked_directory_users() {
    let w = contoso().await;
    add_member(&w, "AlexW@contoso.com", "Alex").await;
    let added = w
        .app
        .post(
            &w.admin,
            &org_path(&w, "/members/from-directory"),
            json!({ "object_ids": [LEE_OID, ALEX_OID] }),
        )
        .await;
    assert_eq!(added.status(), StatusCode::OK);
    let added = body(added).await;
    assert_eq!(added["added"].as_array().unwrap().len(), 1);
    assert_eq!(added["added"][0]["display_name"], "Lee Gu");
    assert_eq!(added["added"][0]["email"], "LeeG@contoso.com");
    assert_eq!(added["added"][0]["directory_object_id"], LEE_OID);
    assert_eq!(added["skipped"][0]["object_id"], ALEX_OID);
    assert!(added["skipped"][0]["reason"]
        .as_str()
        .unwrap()
        .contains("already exists"));
}

#[tokio::test]
async fn suggestions_are_applied_only_as_confirmed() {
    let w = contoso().await;
    let alex = add_member(&w, "alexw@CONTOSO.com", "Alex W").await;
    let megan = add_member(&w, "meganb@contoso.com", "Megan B").await;
    let nobody = add_member(&w, "someone.else@contoso.com", "Someone Else").await;
    let found = get(&w, "/mapping/suggestions").await;
    assert_eq!(found["access"], "readable", "{found}");
    let pairs: Vec<(&str, &str)> = found["suggestions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["member_id"].as_str().unwrap(),
                s["object_id"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        pairs,
        vec![(alex.as_str(), ALEX_OID), (megan.as_str(), MEGAN_OID)]
    );
    assert!(members(&w)
        .await
        .iter()
        .all(|m| m["directory_object_id"].is_null()));

    // Only the confirmed pairs are mapped; a pair that is not a suggestion is refused.
    let confirmed = w
        .app
        .post(
            &w.admin,
            &org_path(&w, "/mapping/suggestions/confirm"),
            json!({ "choices": [
                { "member_id": alex, "object_id": ALEX_OID },
                { "member_id": megan, "object_id": MEGAN_OID },
                { "member_id": nobody, "object_id": LEE_OID },
            ]}),
        )
        .await;
    assert_eq!(confirmed.status(), StatusCode::OK);
    let confirmed = body(confirmed).await;
    assert_eq!(confirmed["mapped"], 2);
    assert_eq!(confirmed["skipped"].as_array().unwrap().len(), 1);
    let list = members(&w).await;
    let object_of = |id: &str| {
        list.iter()
            .find(|m| m["id"] == id)
            .map(|m| m["directory_object_id"].clone())
            .unwrap()
    };
    assert_eq!(object_of(&alex), ALEX_OID);
    assert_eq!(object_of(&megan), MEGAN_OID);
    assert_eq!(object_of(&nobody), Value::Null);
    let after = get(&w, "/mapping/suggestions").await;
    assert_eq!(after["total"], 0);
}

#[tokio::test]
async fn the_health_counts_mapped_unmapped_and_stale_mappings() {
    let w = contoso().await;
    let gone = uuid::Uuid::new_v4().to_string();
    w.idp
        .add_users(
            CONTOSO,
            json!([{ "oid": gone, "name": "Leaver", "upn": "leaver@contoso.com", "password": "x" }]),
        )
        .await;
    w.add_mapped_member("leaver@contoso.com", "Leaver", &gone, true)
        .await;
    w.add_mapped_member(SIMON, "B. Simon", SIMON_OID, true)
        .await;
    add_member(&w, "unmapped@contoso.com", "Not Mapped").await;
    w.idp.remove_user(CONTOSO, &gone).await;
    // Mapped while the organization used another directory: it cannot sign in either.
    let earlier = w
        .add_mapped_member(
            "earlier@contoso.com",
            "Earlier",
            &uuid::Uuid::new_v4().to_string(),
            true,
        )
        .await;
    let state = &w.app.state;
    let other_directory_oid = uuid::Uuid::new_v4().to_string();
    let update = gatehouse::storage::MemberUpdate {
        directory_identity: Some(Some(gatehouse::storage::DirectoryIdentity::new(
            "0b0e7f8a-1d1c-4a55-9a0e-8f5f7f1b2c3d",
            &other_directory_oid,
        ))),
        ..Default::default()
    };
    let actor = gatehouse::storage::Actor {
        label: "test".into(),
        client_addr: "127.0.0.1".into(),
    };
    state
        .storage
        .update_member(
            &w.org,
            &earlier,
            &update,
            &actor,
            time::OffsetDateTime::now_utc(),
        )
        .await
        .unwrap();
    let health = get(&w, "/mapping/health").await;
    assert_eq!(health["mapped"], 3);
    // The admin (ada@contoso.com) and the unmapped member.
    assert_eq!(health["unmapped"], 2);
    assert_eq!(health["stale"], 2);
    assert_eq!(health["access"], "readable");
    assert!(health["checked_at"].is_string());
}

#[tokio::test]
async fn an_import_that_makes_a_directory_member_admin_needs_confirmation() {
    let w = contoso().await;
    w.add_mapped_member(SIMON, "B. Simon", SIMON_OID, true)
        .await;
    let preview = import(
        &w,
        &format!(
            "email,display name,role\n{SIMON},,admin\nnew.person@contoso.com,New Person,member\n"
        ),
    )
    .await;
    let preview = wait_for(&w, preview["id"].as_str().unwrap(), &["ready", "failed"]).await;
    assert_eq!(preview["stage"], "ready", "{preview}");
    assert_eq!(preview["promotions"], 1);
    let id = preview["id"].as_str().unwrap();
    let path = org_path(&w, &format!("/member-imports/{id}/apply"));
    let unconfirmed = w.app.post(&w.admin, &path, json!({})).await;
    assert_eq!(unconfirmed.status(), StatusCode::CONFLICT);
    assert!(common::field_error(&body(unconfirmed).await, "import").contains("Confirm"));
    let before = members(&w).await;
    assert!(
        before
            .iter()
            .all(|m| m["email"] != "new.person@contoso.com"),
        "nothing applied"
    );
    let confirmed = w
        .app
        .post(&w.admin, &path, json!({"confirm_promotions": true}))
        .await;
    assert_eq!(confirmed.status(), StatusCode::ACCEPTED);
    let applied = wait_for(&w, id, &["applied", "failed"]).await;
    assert_eq!(applied["stage"], "applied", "{applied}");
    let audit = body(
        w.app
            .get(&w.admin, &format!("/organizations/{}/audit", w.org))
            .await,
    )
    .await;
    assert!(audit["items"][0]["detail"]
        .as_str()
        .unwrap()
        .contains("1 members mapped to a directory user made admins"));
}
