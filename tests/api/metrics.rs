//! `/metrics` after the demo pipeline: the series people alert on, read from `job_runs` and
//! `recommendations`, so a restarted process (or another instance) reports the same.
use chrono::NaiveDate;
use serde_json::Value;

use crate::helpers::{Options, TestApp, admin_url, course_data, spawn_app, spawn_app_with};

pub const DAYS: [&str; 3] = ["2024-11-23", "2024-11-24", "2024-11-25"];

/// The course sample logs (data/sample) with a few bad rows of each kind added to each day,
/// the pipeline run for its three days, then a run that fails (top_ctr of a day with no
/// filtered data). Returns the app and the finished runs, in order.
pub async fn demo_app(opts: Options) -> (TestApp, Vec<Value>) {
    let app = spawn_app_with(opts).await;
    let src = course_data();
    let active = std::fs::read_to_string(src.join("advertiser_ids")).unwrap();
    let adv = active.lines().nth(1).unwrap().trim().to_owned();
    std::fs::copy(src.join("advertiser_ids"), app.raw.join("advertiser_ids")).unwrap();
    let mut views = std::fs::read_to_string(src.join("product_views")).unwrap();
    let mut ads = std::fs::read_to_string(src.join("ads_views")).unwrap();
    for (i, day) in DAYS.iter().enumerate() {
        for _ in 0..=i {
            views.push_str(&format!("{adv},too,many,fields,{day}\n"));
            ads.push_str(&format!("{adv},p1,view,{day}\n"));
        }
    }
    views.push_str(&format!("{adv},p1,2024-11-99\n"));
    std::fs::write(app.raw.join("product_views"), views).unwrap();
    std::fs::write(app.raw.join("ads_views"), ads).unwrap();

    let mut runs = Vec::new();
    for day in DAYS {
        let run = app.run_task("pipeline", day).await;
        assert_eq!(run["status"], "succeeded", "{run}");
        runs.push(run);
    }
    let failed = app.run_task("top_ctr", "2024-11-26").await;
    assert_eq!(failed["status"], "failed", "{failed}");
    runs.push(failed);
    (app, runs)
}

fn midnight(day: &str) -> f64 {
    let d: NaiveDate = day.parse().unwrap();
    d.and_hms_opt(0, 0, 0).unwrap().and_utc().timestamp() as f64
}

fn finished_at(run: &Value) -> f64 {
    let t: chrono::DateTime<chrono::Utc> = run["finished_at"].as_str().unwrap().parse().unwrap();
    t.timestamp_millis() as f64 / 1e3
}

#[tokio::test]
async fn alerting_series_come_from_the_database_and_survive_a_restart() {
    let (app, runs) = demo_app(Options::default()).await;
    let last = &runs[2];
    let f = &last["details"]["filter_data"]["details"];

    assert_eq!(app.metric("adrec_database_up").await, 1.0);
    assert_eq!(
        app.metric("adrec_latest_published_date_timestamp_seconds")
            .await,
        midnight("2024-11-25")
    );
    let success = app
        .metric("adrec_job_last_success_timestamp_seconds{task=\"pipeline\"}")
        .await;
    assert!((success - finished_at(last)).abs() < 0.002, "{success}");
    assert_eq!(
        app.metric("adrec_job_last_success_timestamp_seconds{task=\"filter_data\"}")
            .await,
        0.0,
        "never run on its own"
    );
    assert_eq!(
        app.metric("adrec_job_last_run_failed{task=\"top_ctr\"}")
            .await,
        1.0
    );
    assert_eq!(
        app.metric("adrec_job_last_run_failed{task=\"pipeline\"}")
            .await,
        0.0
    );
    assert_eq!(
        app.metric("adrec_job_last_run_bad_rows{task=\"pipeline\"}")
            .await,
        last["bad_rows"].as_f64().unwrap()
    );
    assert_eq!(
        app.metric("adrec_job_last_run_rows_in{task=\"pipeline\"}")
            .await,
        last["rows_in"].as_f64().unwrap()
    );
    for (log, outcome) in [
        ("product_views", "malformed"),
        ("product_views", "bad_date"),
        ("ads_views", "bad_type"),
        ("ads_views", "kept"),
    ] {
        let series = format!(
            "adrec_job_last_run_filter_rows{{task=\"pipeline\",log=\"{log}\",outcome=\"{outcome}\"}}"
        );
        assert_eq!(
            app.metric(&series).await,
            f[log]["rows"][outcome].as_f64().unwrap(),
            "{series}"
        );
    }
    assert!(
        app.metric("adrec_job_last_run_duration_seconds{task=\"pipeline\"}")
            .await
            > 0.0
    );
    // The served scores: every row of the latest date, in its model's histogram.
    for model in ["top_ctr", "top_product"] {
        let rows = app.count(crate::dashboard::SERVED_ROWS, &[&model]).await;
        assert!(rows > 0);
        assert_eq!(
            app.metric(&format!("adrec_served_score_count{{model=\"{model}\"}}"))
                .await,
            rows as f64
        );
        assert_eq!(
            app.metric(&format!(
                "adrec_served_score_bucket{{model=\"{model}\",le=\"+Inf\"}}"
            ))
            .await,
            rows as f64
        );
    }
    // This process's own counters.
    assert_eq!(
        app.metric("adrec_job_runs_total{task=\"pipeline\",status=\"succeeded\"}")
            .await,
        3.0
    );
    assert_eq!(
        app.metric("adrec_job_duration_seconds_count{task=\"top_ctr\"}")
            .await,
        1.0
    );

    // A new process on the same database reports the same, though it ran nothing itself.
    let again = spawn_app_with(Options {
        database_url: Some(app.database_url.clone()),
        ..Options::default()
    })
    .await;
    assert_eq!(
        again
            .metric("adrec_job_last_success_timestamp_seconds{task=\"pipeline\"}")
            .await,
        success
    );
    assert_eq!(
        again
            .metric("adrec_job_last_run_failed{task=\"top_ctr\"}")
            .await,
        1.0
    );
    assert_eq!(
        again
            .metric("adrec_job_runs_total{task=\"pipeline\",status=\"succeeded\"}")
            .await,
        0.0
    );
    again.stop().await;
    app.stop().await;
}

#[tokio::test]
async fn database_up_goes_to_zero_when_the_database_is_gone() {
    let app = spawn_app().await;
    assert_eq!(app.metric("adrec_database_up").await, 1.0);
    assert_eq!(
        app.metric("adrec_latest_published_date_timestamp_seconds")
            .await,
        0.0,
        "nothing published"
    );
    let name = app.database_url.rsplit('/').next().unwrap().to_owned();
    let (admin, conn) =
        tokio_postgres::connect(&format!("{}/postgres", admin_url()), tokio_postgres::NoTls)
            .await
            .unwrap();
    tokio::spawn(conn);
    admin
        .batch_execute(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .await
        .unwrap();
    // Database series are at most 5 s old.
    let mut up = 1.0;
    for _ in 0..40 {
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        up = app.metric("adrec_database_up").await;
        if up == 0.0 {
            break;
        }
    }
    assert_eq!(up, 0.0);
    app.stop().await;
}
