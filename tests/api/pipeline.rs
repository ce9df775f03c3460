//! The pipeline's semantics on small hand-made inputs, and the input layouts.
use serde_json::Value;

use crate::helpers::{Options, TestApp, spawn_app, spawn_app_with, write};
use adrec::gen_data::{GenOptions, Layout, generate};

const DAY: &str = "2024-05-01";

/// CRLF, a blank line, stray spaces; C is active but has no events; Z is inactive.
const ACTIVE: &str = "advertiser_id\r\nA\r\nB \r\n\r\nC\r\n";

fn product_views() -> String {
    let mut rows = vec!["advertiser_id,product_id,date".to_owned()];
    rows.extend(std::iter::repeat_n(format!("A,hot,{DAY}"), 3));
    // 21 products seen once: q01..q19 make ranks 2..20, q20 and q21 tie but fall off.
    rows.extend((1..=21).map(|i| format!("A,q{i:02},{DAY}")));
    rows.extend(std::iter::repeat_n("A,q21,2024-05-02".to_owned(), 5)); // other day
    rows.push(format!("Z,zz,{DAY}")); // inactive
    rows.push("A,x".into()); // too few fields
    rows.push(format!("A,x,{DAY},extra")); // too many
    rows.push("A,y,2024-13-01".into()); // bad date
    rows.push("A,y,someday".into()); // bad date
    rows.push(String::new()); // blank line
    rows.join("\n") + "\n"
}

fn ads_views() -> String {
    let mut rows = vec!["advertiser_id,product_id,type,date".to_owned()];
    let mut add = |p: &str, clicks: usize, imps: usize| {
        rows.extend(std::iter::repeat_n(format!("A,{p},click,{DAY}"), clicks));
        rows.extend(std::iter::repeat_n(format!("A,{p},impression,{DAY}"), imps));
    };
    add("p1", 1, 2); // ctr .5
    add("p2", 2, 4); // ctr .5, more clicks: before p1
    add("p3", 1, 2); // same as p1: product_id breaks the tie
    add("p4", 0, 1); // ctr 0, fewer impressions: before p5
    add("p5", 0, 3);
    add("p6", 2, 0); // clicks without impressions: excluded and counted
    rows.push(format!("B,b1,impression,{DAY}"));
    rows.push(format!("A,p1,view,{DAY}")); // unknown type
    rows.extend(std::iter::repeat_n("A,p4,click,2024-05-02".to_owned(), 3)); // other day
    rows.push(format!("Z,zz,click,{DAY}")); // inactive
    rows.join("\r\n") + "\r\n"
}

async fn recs(app: &TestApp, adv: &str, model: &str) -> Vec<(String, Value)> {
    let (status, body) = app
        .get_json(&format!("/recommendations/{adv}/{model}?date={DAY}"))
        .await;
    if status == 404 {
        return Vec::new();
    }
    assert_eq!(status, 200, "{body}");
    body["recommendations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["product_id"].as_str().unwrap().to_owned(),
                r["score"].clone(),
            )
        })
        .collect()
}

#[tokio::test]
async fn the_semantics_hold_on_hand_made_inputs() {
    let app = spawn_app().await;
    write(&app.raw, "advertiser_ids", ACTIVE);
    write(&app.raw, "product_views.csv", &product_views());
    write(&app.raw, "ads_views", &ads_views());

    let run = app.run_task("pipeline", DAY).await;

    assert_eq!(run["status"], "succeeded", "{run}");
    let f = &run["details"]["filter_data"]["details"];
    assert_eq!(
        f["product_views"]["rows"],
        serde_json::json!({"kept": 24, "inactive": 1, "malformed": 2, "bad_date": 2})
    );
    assert_eq!(
        f["ads_views"]["rows"],
        serde_json::json!({"kept": 19, "inactive": 1, "bad_type": 1})
    );
    assert_eq!(run["bad_rows"], 5);
    let ctr = &run["details"]["top_ctr"]["details"]["excluded_no_impressions"];
    assert_eq!(ctr, &serde_json::json!({"pairs": 1, "clicks": 2}));

    let top_ctr: Vec<String> = recs(&app, "A", "top_ctr")
        .await
        .into_iter()
        .map(|r| r.0)
        .collect();
    assert_eq!(top_ctr, ["p2", "p1", "p3", "p4", "p5"]);
    let top_product = recs(&app, "A", "top_product").await;
    assert_eq!(top_product.len(), 20);
    assert_eq!(top_product[0], ("hot".to_owned(), serde_json::json!(3.0)));
    assert_eq!(
        top_product[19].0, "q19",
        "ties at rank 20 broken by product_id"
    );
    assert_eq!(recs(&app, "B", "top_ctr").await.len(), 1);
    assert!(
        recs(&app, "B", "top_product").await.is_empty(),
        "B has no views"
    );
    assert!(
        recs(&app, "C", "top_ctr").await.is_empty(),
        "C has no events"
    );
    assert!(recs(&app, "Z", "top_ctr").await.is_empty(), "Z is inactive");
    app.stop().await;
}

#[tokio::test]
async fn reruns_replace_exactly_that_date() {
    let app = spawn_app().await;
    write(&app.raw, "advertiser_ids", ACTIVE);
    write(&app.raw, "product_views", &product_views());
    write(&app.raw, "ads_views", &ads_views());
    assert_eq!(app.run_task("pipeline", DAY).await["status"], "succeeded");
    let first = manifest(&app, "filtered");

    assert_eq!(
        app.run_task("filter_data", DAY).await["status"],
        "succeeded"
    );
    assert_eq!(app.run_task("db_writing", DAY).await["status"], "succeeded");

    let second = manifest(&app, "filtered");
    assert_ne!(first["run_id"], second["run_id"]);
    let files: Vec<_> = walk(&app.work.join(format!("filtered/date={DAY}")));
    let listed = second["files"].as_array().unwrap().len();
    assert_eq!(
        files.len(),
        listed + 1,
        "the manifest's files and the manifest only: {files:?}"
    );
    // The event tables are bucketed by advertiser (the models read them with no exchange), each
    // file named for its bucket; the codes table is not.
    for f in second["files"].as_array().unwrap() {
        let (table, path) = (f["table"].as_str().unwrap(), f["path"].as_str().unwrap());
        if table == "advertisers" {
            assert!(f.get("bucket").is_none(), "{f}");
            continue;
        }
        let (b, of) = (
            f["bucket"][0].as_u64().unwrap(),
            f["bucket"][1].as_u64().unwrap(),
        );
        assert!(b < of && path.ends_with(&format!("-b{b}.parquet")), "{f}");
    }
    let run_id = second["run_id"].as_str().unwrap();
    assert!(
        files
            .iter()
            .all(|f| f.ends_with("_manifest.json") || f.to_str().unwrap().contains(run_id)),
        "{files:?}"
    );
    let n = app.count("SELECT count(*) FROM recommendations", &[]).await;
    assert_eq!(n, 5 + 20 + 1, "A: 5 top_ctr + 20 top_product, B: 1 top_ctr");
    app.stop().await;
}

fn manifest(app: &TestApp, stage: &str) -> Value {
    let path = app.work.join(format!("{stage}/date={DAY}/_manifest.json"));
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p))
        } else {
            out.push(p)
        }
    }
    out
}

#[tokio::test]
async fn old_dates_are_pruned_past_retention() {
    let app = spawn_app_with(Options {
        retention_days: 1,
        ..Options::default()
    })
    .await;
    let raw = app.raw.clone();
    gen_logs(&raw, Layout::Single, 3);
    for day in ["2024-05-01", "2024-05-02", "2024-05-03"] {
        assert_eq!(app.run_task("pipeline", day).await["status"], "succeeded");
    }
    let (_, stats) = app.get_json("/stats").await;
    let dates: Vec<&str> = stats["dates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["date"].as_str().unwrap())
        .collect();
    assert_eq!(dates, ["2024-05-03", "2024-05-02"]);
    app.stop().await;
}

fn gen_logs(dir: &std::path::Path, layout: Layout, days: u64) {
    generate(&GenOptions {
        dir: dir.to_owned(),
        advertisers: 5,
        inactive: 2,
        products: 30,
        days,
        views_per_day: 2000,
        ads_per_day: 3000,
        click_rate: 0.05,
        bad_rows_per_day: 8,
        crlf: layout == Layout::Daily,
        layout,
        seed: 7,
        ..GenOptions::default()
    })
    .unwrap();
}

#[tokio::test]
async fn every_input_layout_gives_the_same_answer() {
    let mut answers = Vec::new();
    for layout in [Layout::Single, Layout::Daily, Layout::Hive] {
        let app = spawn_app().await;
        gen_logs(&app.raw, layout, 3);
        let run = app.run_task("pipeline", "2024-05-02").await;
        assert_eq!(run["status"], "succeeded", "{layout:?}: {run}");
        // Rows that name no usable day (malformed, bad date) are counted by every run that reads
        // their file: one file for 3 days holds 3 days of them.
        let bad = if layout == Layout::Single {
            3 * 6 + 2
        } else {
            8
        };
        assert_eq!(run["bad_rows"], bad, "{layout:?}");
        let (_, rows) = app.get_auth("/jobs/runs?task=pipeline").await;
        let files = &rows["runs"][0]["details"]["filter_data"]["details"]["product_views"]["files"];
        if layout != Layout::Single {
            assert_eq!(
                files.as_array().unwrap().len(),
                1,
                "{layout:?} reads only that day: {files}"
            );
        }
        let rows = app
            .db
            .query("SELECT advertiser_id, model::text, rank, product_id, score FROM recommendations ORDER BY 1, 2, 3", &[])
            .await
            .unwrap();
        let rows: Vec<(String, String, i16, String, f64)> = rows
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
            .collect();
        assert_eq!(rows.len(), 5 * 2 * 20);
        answers.push(rows);
        app.stop().await;
    }
    assert_eq!(answers[0], answers[1], "single file vs files per day");
    assert_eq!(answers[0], answers[2], "single file vs hive partitions");
}

#[tokio::test]
async fn hive_partitions_may_leave_the_date_column_out() {
    let app = spawn_app().await;
    write(&app.raw, "advertiser_ids.csv", "advertiser_id\nA\n");
    write(
        &app.raw,
        "product_views/date=2024-05-01/part-0.csv",
        "advertiser_id,product_id\nA,p1\nA,p1\nA,p2\n",
    );
    write(
        &app.raw,
        "product_views/date=2024-05-02/part-0.csv",
        "advertiser_id,product_id\nA,p9\n",
    );
    write(
        &app.raw,
        "ads_views/date=2024-05-01/part-0.csv",
        "advertiser_id,product_id,type\nA,p1,impression\n",
    );

    let run = app.run_task("pipeline", DAY).await;

    assert_eq!(run["status"], "succeeded", "{run}");
    let top: Vec<String> = recs(&app, "A", "top_product")
        .await
        .into_iter()
        .map(|r| r.0)
        .collect();
    assert_eq!(top, ["p1", "p2"]);
    app.stop().await;
}
