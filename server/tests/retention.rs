//! What keeps the database bounded: audit entries past their retention
//! (`GATEHOUSE_AUDIT_RETENTION_DAYS`) are deleted by the housekeeping round, the rest kept.

mod common;

use common::{body, fresh_database_url, spawn_app_with};
use std::sync::Arc;

/// How many entries an organization's audit log has.
async fn audit_total(app: &common::TestApp, operator: &reqwest::Client, org: &str) -> i64 {
    let page = body(
        app.get(operator, &format!("/organizations/{org}/audit"))
            .await,
    )
    .await;
    page["total"].as_i64().unwrap_or_else(|| panic!("{page}"))
}

#[tokio::test]
async fn audit_entries_past_their_retention_are_deleted_and_newer_ones_kept() {
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let url = fresh_database_url(&dir).await;
    let app = spawn_app_with(dir, url, &["--audit-retention-days", "30"]).await;
    let operator = app.operator().await;
    let old = app.create_org(&operator, "Old", "old").await;
    assert!(audit_total(&app, &operator, &old).await > 0);

    app.clock.advance(time::Duration::days(31));
    let operator = app.operator_again().await;
    let new = app.create_org(&operator, "New", "new").await;
    gatehouse::background::housekeeping(app.state.clone()).await;
    assert_eq!(
        audit_total(&app, &operator, &old).await,
        0,
        "past the 30 days"
    );
    assert!(audit_total(&app, &operator, &new).await > 0, "within them");
}
