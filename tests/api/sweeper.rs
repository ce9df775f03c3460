//! Nothing unmanifested survives a failure: a failed run's files are deleted at once, and those
//! of a run whose process died (or was stopped) by the next start, never a manifest's files.
use chrono::NaiveDate;
use uuid::Uuid;

use crate::helpers::{
    Options, create_database, files_under, small_logs, spawn_app, spawn_app_with, write,
};

const DAY: &str = "2024-05-01";

/// The files a pipeline run with id `id` writes, named as its stages name theirs; the first
/// `n` of them (the first two are filter_data's).
fn litter(work: &std::path::Path, id: Uuid, n: usize) -> Vec<String> {
    let rels = [
        format!("filtered/date={DAY}/product_views/part-{id}-0.parquet"),
        format!("filtered/date={DAY}/ads_views/part-{id}-1.parquet"),
        format!("top_ctr/date={DAY}/top_ctr/part-{id}-0.parquet"),
        format!("top_product/date={DAY}/top_product/part-{id}-0.parquet"),
    ];
    for rel in &rels[..n] {
        write(work, rel, "half a parquet file");
    }
    rels[..n].to_vec()
}

#[tokio::test]
async fn a_crashed_runs_files_are_swept_at_startup_and_manifests_kept() {
    // Arrange: a published day, then two runs that never finished: one left `running` by a
    // process that died (silent for 5 minutes), one failed by a shutdown that interrupted it.
    let dirs = tempfile::tempdir().unwrap();
    let (raw, work) = (dirs.path().join("raw"), dirs.path().join("work"));
    std::fs::create_dir_all(&raw).unwrap();
    std::fs::create_dir_all(&work).unwrap();
    small_logs(&raw, 5);
    let (_, database_url) = create_database().await;
    let options = || Options {
        database_url: Some(database_url.clone()),
        raw_url: Some(raw.to_str().unwrap().to_owned()),
        work_url: Some(work.to_str().unwrap().to_owned()),
        ..Options::default()
    };
    let app = spawn_app_with(options()).await;
    assert_eq!(app.run_task("pipeline", DAY).await["status"], "succeeded");
    let published = files_under(&work);
    let manifests = published.iter().filter(|f| f.ends_with("_manifest.json"));
    assert_eq!(manifests.count(), 3, "{published:?}");
    let date: NaiveDate = DAY.parse().unwrap();
    let (crashed, stopped) = (Uuid::new_v4(), Uuid::new_v4());
    app.db
        .execute(
            "INSERT INTO job_runs (id, task, date, status, trigger, started_at, heartbeat_at) \
             VALUES ($1, 'pipeline', $2, 'running', 'http', now() - interval '10 minutes', \
                     now() - interval '5 minutes')",
            &[&crashed, &date],
        )
        .await
        .unwrap();
    app.db
        .execute(
            "INSERT INTO job_runs (id, task, date, status, trigger, started_at, finished_at, error) \
             VALUES ($1, 'filter_data', $2, 'failed', 'http', now() - interval '10 minutes', \
                     now() - interval '2 minutes', 'interrupted: the service stopped')",
            &[&stopped, &date],
        )
        .await
        .unwrap();
    let mut left = litter(&work, crashed, 4);
    left.extend(litter(&work, stopped, 2));
    for rel in &left {
        assert!(work.join(rel).exists());
    }
    app.stop().await;

    // Act: the service starts again.
    let app = spawn_app_with(options()).await;

    // Assert: their files are gone, the manifested output is whole and still serves.
    assert_eq!(files_under(&work), published);
    let (_, run) = app.get_auth(&format!("/jobs/runs/{crashed}")).await;
    assert_eq!(run["status"], "failed", "{run}");
    assert!(run["error"].as_str().unwrap().contains("interrupted"));
    assert_eq!(run["details"]["swept_files"], 4, "{run}");
    let (_, run) = app.get_auth(&format!("/jobs/runs/{stopped}")).await;
    assert_eq!(run["details"]["swept_files"], 2, "{run}");
    assert_eq!(app.run_task("db_writing", DAY).await["status"], "succeeded");
    app.stop().await;
}

/// filter_data fails after writing product_views (ads_views holds no row of the day): nothing
/// it wrote survives (the stage deletes its files; the runner's sweep is the safety net).
#[tokio::test]
async fn a_failed_run_leaves_no_file_behind() {
    let app = spawn_app().await;
    write(&app.raw, "advertiser_ids", "advertiser_id\nA\n");
    write(
        &app.raw,
        "product_views",
        &format!("advertiser_id,product_id,date\nA,p1,{DAY}\nA,p2,{DAY}\n"),
    );
    write(
        &app.raw,
        "ads_views",
        "advertiser_id,product_id,type,date\nA,p1,impression,2024-05-02\n",
    );

    let run = app.run_task("filter_data", DAY).await;

    assert_eq!(run["status"], "failed", "{run}");
    assert!(
        run["error"].as_str().unwrap().contains("holds no rows"),
        "{run}"
    );
    assert_eq!(files_under(&app.work), Vec::<String>::new(), "{run}");
    app.stop().await;
}
