//! The query engine as a user meets it: a job that cannot fit in JOB_MEMORY_LIMIT fails with an
//! error naming the setting while the service goes on, and a running run reports its progress.
use serde_json::Value;

use crate::helpers::{Options, TOKEN, spawn_app_with};
use adrec::gen_data::{GenOptions, generate};

fn logs(dir: &std::path::Path, events_per_day: u64) {
    generate(&GenOptions {
        dir: dir.to_owned(),
        days: 2,
        views_per_day: events_per_day,
        ads_per_day: events_per_day,
        bad_rows_per_day: 4,
        ..GenOptions::default()
    })
    .unwrap();
}

#[tokio::test]
async fn a_job_over_the_memory_limit_fails_naming_the_setting_and_the_service_goes_on() {
    let app = spawn_app_with(Options {
        memory_limit: 64 << 10,
        ..Options::default()
    })
    .await;
    logs(&app.raw, 20_000);

    let run = app.run_task("filter_data", "2024-05-02").await;

    assert_eq!(run["status"], "failed", "{run}");
    let error = run["error"].as_str().unwrap();
    assert!(error.contains("JOB_MEMORY_LIMIT (64 KiB)"), "{error}");
    assert!(error.contains("Resources exhausted"), "{error}");
    // The process is fine: it answers, and the run is recorded.
    assert_eq!(app.get_json("/healthz").await.0, 200);
    let (_, runs) = app.get_auth("/jobs/runs?task=filter_data").await;
    assert_eq!(runs["runs"][0]["status"], "failed");
    app.stop().await;
}

#[tokio::test]
async fn a_running_run_reports_its_stage_and_bytes_scanned() {
    let app = spawn_app_with(Options::default()).await;
    logs(&app.raw, 300_000);
    let total: u64 = ["product_views", "ads_views"]
        .iter()
        .map(|f| std::fs::metadata(app.raw.join(f)).unwrap().len())
        .sum();

    let (status, run) = app
        .post_job("/jobs/pipeline?date=2024-05-02", Some(TOKEN))
        .await;
    assert_eq!(status, 202, "{run}");
    let id = run["id"].as_str().unwrap().to_owned();
    let mut seen: Vec<Value> = Vec::new();
    let finished = loop {
        let (_, r) = app.get_auth(&format!("/jobs/runs/{id}")).await;
        if r["status"] != "running" {
            break r;
        }
        seen.push(r["progress"].clone());
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };

    assert_eq!(finished["status"], "succeeded", "{finished}");
    assert!(
        finished.get("progress").is_none(),
        "a finished run has no progress: {finished}"
    );
    let scanning: Vec<&Value> = seen
        .iter()
        .filter(|p| p["stage"] == "filter_data" && p["bytes_total"] == total)
        .collect();
    assert!(
        !scanning.is_empty(),
        "filter_data's scan was seen: {seen:?}"
    );
    for p in &scanning {
        assert_eq!(
            (p["step"].as_u64(), p["steps"].as_u64()),
            (Some(1), Some(4)),
            "{p}"
        );
        assert!(p["bytes_scanned"].as_u64().unwrap() <= total, "{p}");
    }
    let last = scanning.last().unwrap();
    assert!(last["rows"].as_u64().is_some(), "{last}");
    app.stop().await;
}
