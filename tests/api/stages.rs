//! A pipeline run shows each stage's result as soon as the stage is over, while it runs.
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::helpers::{TOKEN, small_logs, spawn_app};

#[tokio::test]
async fn a_running_pipeline_shows_its_finished_stages() {
    // Arrange: db_writing will wait on a lock the test holds on the served table.
    let app = spawn_app().await;
    small_logs(&app.raw, 3);
    app.db
        .batch_execute("BEGIN; LOCK TABLE recommendations IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();

    // Act
    let (status, run) = app
        .post_job("/jobs/pipeline?date=2024-05-01", Some(TOKEN))
        .await;
    assert_eq!(status, 202, "{run}");
    let id = run["id"].as_str().unwrap().to_owned();
    let started = Instant::now();
    let running: Value = loop {
        let (_, r) = app.get_auth(&format!("/jobs/runs/{id}")).await;
        let d = &r["details"];
        if r["status"] != "running" || (d["top_ctr"].is_object() && d["top_product"].is_object()) {
            break r;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "{r}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };

    // Assert: three stages recorded, db_writing not yet.
    assert_eq!(running["status"], "running", "{running}");
    let d = &running["details"];
    assert!(d["filter_data"]["rows_out"].as_i64().unwrap() > 0, "{d}");
    assert!(d["top_ctr"]["rows_out"].as_i64().unwrap() > 0, "{d}");
    assert!(d["top_product"]["seconds"].is_number(), "{d}");
    assert!(d.get("db_writing").is_none(), "{d}");
    app.db.batch_execute("COMMIT").await.unwrap();
    let (_, done) = app.get_auth(&format!("/jobs/runs/{id}?wait=60")).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert!(done["details"]["db_writing"]["rows_out"].as_i64().unwrap() > 0);
    app.stop().await;
}
