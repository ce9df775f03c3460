//! Which runs may not run at once for the same date: the same task twice (see jobs_api.rs), and
//! `pipeline` with any single stage, which would delete each other's output files. Different
//! stages of one date may (the DAG runs top_ctr and top_product side by side).
use std::time::Duration;

use tokio_postgres::NoTls;
use tokio_postgres::error::SqlState;
use uuid::Uuid;

use crate::helpers::{TOKEN, TestApp, spawn_app};

/// A run another live instance is executing (it beat just now).
async fn running(app: &TestApp, task: &str, date: &str) -> Uuid {
    let id = Uuid::new_v4();
    app.db
        .execute(
            "INSERT INTO job_runs (id, task, date, status, trigger, started_at, heartbeat_at) \
             VALUES ($1, $2, $3::text::date, 'running', 'http', now(), now())",
            &[&id, &task, &date],
        )
        .await
        .unwrap();
    id
}

/// POST /jobs/{task}?date=… is refused with a 409 pointing at `blocker`.
async fn assert_conflict(app: &TestApp, task: &str, date: &str, blocker: Uuid) {
    app.assert_conflict(
        reqwest::Method::POST,
        &format!("/jobs/{task}?date={date}"),
        blocker,
    )
    .await;
}

#[tokio::test]
async fn a_pipeline_and_a_single_stage_of_one_date_exclude_each_other() {
    // Arrange: a pipeline running for 2024-05-01.
    let app = spawn_app().await;
    let pipeline = running(&app, "pipeline", "2024-05-01").await;

    // Act / Assert: no stage of that date may start, nor a second pipeline.
    for task in [
        "filter_data",
        "top_ctr",
        "top_product",
        "db_writing",
        "pipeline",
    ] {
        assert_conflict(&app, task, "2024-05-01", pipeline).await;
    }

    // A single stage running for 2024-05-02: no pipeline of that date may start...
    let top_ctr = running(&app, "top_ctr", "2024-05-02").await;
    assert_conflict(&app, "pipeline", "2024-05-02", top_ctr).await;
    assert_conflict(&app, "top_ctr", "2024-05-02", top_ctr).await;
    // ... but another stage may (it fails at once here: no inputs), and so may any other date.
    for (task, date) in [("top_product", "2024-05-02"), ("top_ctr", "2024-05-03")] {
        let (status, run) = app
            .post_job(&format!("/jobs/{task}?date={date}&wait=30"), Some(TOKEN))
            .await;
        assert!(
            status == 200 || status == 202,
            "{task} {date}: {status} {run}"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn concurrent_inserts_of_a_pipeline_and_a_stage_cannot_both_start() {
    // Arrange: two sessions; the first has inserted a running pipeline and not yet committed.
    let app = spawn_app().await;
    let url = app.database_url.split('?').next().unwrap().to_owned();
    let (other, conn) = tokio_postgres::connect(&url, NoTls).await.unwrap();
    tokio::spawn(conn);
    const INSERT: &str = "INSERT INTO job_runs (id, task, date, status, trigger, started_at, heartbeat_at) \
                          VALUES ($1, $2, DATE '2024-05-01', 'running', 'http', now(), now())";
    app.db.batch_execute("BEGIN").await.unwrap();
    app.db
        .execute(INSERT, &[&Uuid::new_v4(), &"pipeline"])
        .await
        .unwrap();

    // Act: the second session starts a stage of the same date meanwhile.
    let stage = tokio::spawn(async move {
        other
            .execute(INSERT, &[&Uuid::new_v4(), &"filter_data"])
            .await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!stage.is_finished(), "the stage waits for the date's lock");
    app.db.batch_execute("COMMIT").await.unwrap();

    // Assert: it sees the committed pipeline and is refused, with the SQLSTATE every adrec
    // version (one from before this rule, mid rolling deploy, too) answers with a 409.
    let err = stage.await.unwrap().unwrap_err();
    assert_eq!(err.code(), Some(&SqlState::UNIQUE_VIOLATION), "{err}");
    app.stop().await;
}
