//! Several Gatehouse instances on one database (PostgreSQL when `GATEHOUSE_TEST_POSTGRES_URL`
//! is set, else one SQLite file): background work runs on one of them at a time and passes to
//! another when that one stops.

mod common;

use common::{fresh_database_url, spawn_app_on, TestApp};
use std::sync::Arc;
use std::time::Duration;

/// Who holds `job`'s lease, once someone does (waits up to five seconds).
async fn holder(app: &TestApp, job: &str, not: Option<&str>) -> String {
    for _ in 0..50 {
        if let Some((holder, _)) = app.state.storage.lease_holder(job).await.unwrap() {
            if Some(holder.as_str()) != not {
                return holder;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("nobody took the {job} lease");
}

#[tokio::test]
async fn background_work_runs_on_one_instance_at_a_time_and_passes_on_when_it_stops() {
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let url = fresh_database_url(&dir).await;
    let one = spawn_app_on(dir.clone(), url.clone()).await;
    let two = spawn_app_on(dir.clone(), url).await;
    let ids = [
        one.state.instance.to_string(),
        two.state.instance.to_string(),
    ];

    let leader = holder(&one, "logouts", None).await;
    assert!(ids.contains(&leader), "{leader} is one of the instances");
    // Rounds go on every second; the lease stays where it is.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(holder(&one, "logouts", None).await, leader);
    assert_eq!(holder(&one, "housekeeping", None).await, leader);

    // The leader stops: it gives its leases up, and the other instance takes them.
    let (stopping, staying) = if leader == ids[0] {
        (one, two)
    } else {
        (two, one)
    };
    stopping.stop().await;
    let next = holder(&staying, "logouts", Some(&leader)).await;
    assert_eq!(next, staying.state.instance.to_string());
}
