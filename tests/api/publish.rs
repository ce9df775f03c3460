//! Publication safety: a stray date cannot wipe served history, and retention is bounded.
use serde_json::json;

use crate::helpers::{Options, TestApp, spawn_app, spawn_app_with};
use adrec::gen_data::{GenOptions, generate};

fn logs(dir: &std::path::Path) {
    generate(&GenOptions {
        dir: dir.to_owned(),
        advertisers: 5,
        inactive: 1,
        products: 30,
        days: 3,
        views_per_day: 600,
        ads_per_day: 900,
        click_rate: 0.05,
        seed: 11,
        ..GenOptions::default()
    })
    .unwrap();
}

/// Logs of 2024-05-01..03 plus one row dated 2024-06-15 (of the advertiser returned), the three
/// days published.
async fn publish_three_days_with_a_stray_row(app: &TestApp) -> String {
    logs(&app.raw);
    let adv = std::fs::read_to_string(app.raw.join("advertiser_ids")).unwrap();
    let adv = adv.lines().nth(1).unwrap().to_owned();
    append(
        &app.raw.join("ads_views"),
        &format!("{adv},stray,impression,2024-06-15"),
    );
    append(
        &app.raw.join("product_views"),
        &format!("{adv},stray,2024-06-15"),
    );
    for day in ["2024-05-01", "2024-05-02", "2024-05-03"] {
        assert_eq!(app.run_task("pipeline", day).await["status"], "succeeded");
    }
    adv
}

fn append(path: &std::path::Path, line: &str) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new().append(true).open(path).unwrap();
    writeln!(f, "{line}").unwrap();
}

/// The case from the field: one row dated 2024-06-15 in logs of 2024-05-01..03. Publishing it
/// used to make it "latest" and prune everything 30 days before it.
#[tokio::test]
async fn a_stray_date_never_wipes_served_history() {
    let app = spawn_app().await;
    let adv = publish_three_days_with_a_stray_row(&app).await;
    let before = served(&app).await;

    let run = app.run_task("pipeline", "2024-06-15").await;

    assert_eq!(run["status"], "failed", "{run}");
    let error = run["error"].as_str().unwrap();
    assert!(
        error.contains("43 days after the latest published date 2024-05-03")
            && error.contains("PUBLISH_MAX_GAP_DAYS=7"),
        "{error}"
    );
    // The stages before db_writing are recorded, and nothing served changed.
    assert_eq!(run["details"]["filter_data"]["rows_out"], 2, "{run}");
    assert!(run["details"]["db_writing"]["error"].is_string(), "{run}");
    assert_eq!(served(&app).await, before);
    let (status, body) = app
        .get_json(&format!("/recommendations/{adv}/TopCTR"))
        .await;
    assert_eq!((status, body["date"].clone()), (200, json!("2024-05-03")));
    let (status, _) = app
        .get_json(&format!("/recommendations/{adv}/TopCTR?date=2024-05-01"))
        .await;
    assert_eq!(status, 200);
    // Publishing a real date again prunes nothing.
    let run = app.run_task("db_writing", "2024-05-03").await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["details"]["pruned_rows"], 0);
    app.stop().await;
}

async fn served(app: &crate::helpers::TestApp) -> i64 {
    app.db
        .query_one("SELECT count(*) FROM recommendations", &[])
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn retention_counts_back_from_the_published_date_a_few_dates_per_run() {
    let app = spawn_app_with(Options {
        retention_days: 1,
        ..Options::default()
    })
    .await;
    logs(&app.raw);
    for date in [
        "2024-04-26",
        "2024-04-27",
        "2024-04-28",
        "2024-04-29",
        "2024-04-30",
    ] {
        app.seed(date, "OLD", "top_ctr", 3).await;
    }

    let run = app.run_task("pipeline", "2024-05-01").await;

    assert_eq!(run["status"], "succeeded", "{run}");
    let w = &run["details"]["db_writing"]["details"];
    assert_eq!(
        w["pruned_dates"],
        json!(["2024-04-26", "2024-04-27", "2024-04-28"]),
        "{w}"
    );
    assert_eq!(w["pruned_rows"], 9);
    assert_eq!(
        w["prune_pending_dates"], 1,
        "2024-04-29 waits for the next run"
    );
    let dates: Vec<String> = app
        .db
        .query(
            "SELECT DISTINCT date::text FROM recommendations ORDER BY 1",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(dates, ["2024-04-29", "2024-04-30", "2024-05-01"]);
    app.stop().await;
}

/// `force` publishes what the policy refuses and lifts the prune bound; the run records it.
#[tokio::test]
async fn force_publishes_a_refused_date_and_the_run_says_so() {
    let app = spawn_app().await;
    let adv = publish_three_days_with_a_stray_row(&app).await;
    // Two more old dates: five to prune, past RETENTION_MAX_PRUNE_DATES=3.
    app.seed("2024-04-20", "OLD", "top_ctr", 2).await;
    app.seed("2024-04-21", "OLD", "top_ctr", 2).await;
    let refused = app.run_task("pipeline", "2024-06-15").await;
    assert_eq!(refused["status"], "failed", "{refused}");
    assert_eq!(refused["force"], false);

    let (status, mut run) = app
        .send_auth(
            reqwest::Method::POST,
            "/jobs/db_writing?wait=60",
            Some(r#"{"date": "2024-06-15", "force": true}"#),
        )
        .await;
    assert!(status == 200 || status == 202, "{status} {run}");
    while run["status"] == "running" {
        run = app
            .get_auth(&format!(
                "/jobs/runs/{}?wait=30",
                run["id"].as_str().unwrap()
            ))
            .await
            .1;
    }

    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["force"], true);
    assert_eq!(run["details"]["forced"], true);
    assert_eq!(
        run["details"]["pruned_dates"],
        json!([
            "2024-04-20",
            "2024-04-21",
            "2024-05-01",
            "2024-05-02",
            "2024-05-03"
        ]),
        "{run}"
    );
    assert_eq!(run["details"]["prune_pending_dates"], 0);
    let (_, listed) = app
        .get_auth(&format!("/jobs/runs/{}", run["id"].as_str().unwrap()))
        .await;
    assert_eq!(listed["force"], true);
    let (status, body) = app
        .get_json(&format!("/recommendations/{adv}/TopProduct"))
        .await;
    assert_eq!((status, body["date"].clone()), (200, json!("2024-06-15")));
    app.stop().await;
}

#[tokio::test]
async fn force_is_given_in_the_query_or_the_body_and_the_body_wins() {
    let app = spawn_app().await;
    for (path, body, code) in [
        (
            "/jobs/db_writing?date=2024-05-01&force=yes",
            None,
            "invalid_force",
        ),
        (
            "/jobs/db_writing?date=2024-05-01&force=",
            None,
            "invalid_force",
        ),
        (
            "/jobs/db_writing?date=2024-05-01",
            Some(r#"{"force": "true"}"#),
            "invalid_force",
        ),
        (
            "/jobs/db_writing?date=2024-05-01",
            Some(r#"{"force": true, "dry_run": true}"#),
            "invalid_body",
        ),
    ] {
        let (status, err) = app.send_auth(reqwest::Method::POST, path, body).await;
        assert_eq!(status, 400, "{path} {body:?}: {err}");
        crate::helpers::assert_error(&err, code);
    }
    // Accepted (each run fails later: nothing to publish), force as given.
    for (path, body, force) in [
        ("/jobs/db_writing?date=2024-05-01", None, false),
        ("/jobs/db_writing?date=2024-05-02&force=true", None, true),
        ("/jobs/db_writing?date=2024-05-03&force=false", None, false),
        (
            "/jobs/db_writing?date=2024-05-04",
            Some(r#"{"force": true}"#),
            true,
        ),
        (
            "/jobs/db_writing?force=true",
            Some(r#"{"date": "2024-05-05", "force": true}"#),
            true,
        ),
        (
            "/jobs/db_writing?date=2024-05-06&force=true",
            Some(r#"{"force": false}"#),
            false,
        ),
    ] {
        let (status, run) = app.send_auth(reqwest::Method::POST, path, body).await;
        assert!(status == 200 || status == 202, "{path}: {status} {run}");
        assert_eq!(run["force"], force, "{path} {body:?}");
    }
    app.stop().await;
}
