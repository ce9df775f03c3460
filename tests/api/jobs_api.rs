use serde_json::Value;

use crate::helpers::{
    Options, TOKEN, assert_error, assert_error_reply, course_data, json_of, spawn_app,
    spawn_app_with,
};

#[tokio::test]
async fn jobs_need_a_valid_bearer_token() {
    let app = spawn_app().await;
    for token in [None, Some("wrong"), Some("")] {
        let (status, body) = app
            .post_job("/jobs/filter_data?date=2024-05-01", token)
            .await;
        assert_eq!(status, 401, "{token:?}");
        assert_error(&body, "unauthorized");
    }
    let r = app
        .request(reqwest::Method::GET, "/jobs/runs", None, None)
        .await;
    assert_eq!(r.status, 401);
    assert_eq!(r.headers["www-authenticate"], "Bearer");
    // Either configured token works (rotation).
    let (status, _) = app
        .post_job("/jobs/filter_data?date=bad", Some("old-token"))
        .await;
    assert_eq!(status, 400);
    app.stop().await;
}

#[tokio::test]
async fn bad_requests_are_named() {
    let app = spawn_app().await;
    let (status, body) = app
        .post_job("/jobs/nope?date=2024-05-01", Some(TOKEN))
        .await;
    assert_eq!(status, 404, "unknown task: {body}");
    assert_error(&body, "not_found");

    let (status, body) = app
        .post_job("/jobs/top_ctr?date=2024-5-1", Some(TOKEN))
        .await;
    assert_eq!(status, 400);
    assert_error(&body, "invalid_date");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("YYYY-MM-DD")
    );

    // No date: yesterday (UTC), the day a nightly run processes.
    let (status, run) = app.post_job("/jobs/top_ctr", Some(TOKEN)).await;
    assert_eq!(status, 202, "{run}");
    let yesterday = chrono::Utc::now().date_naive() - chrono::Days::new(1);
    assert_eq!(run["date"], yesterday.to_string());

    let r = app
        .send_auth(reqwest::Method::POST, "/jobs/top_ctr", Some("{nope"))
        .await;
    assert_error_reply(&r, 400, "invalid_body");

    // Too large, with or without an announced length (a chunked stream has none).
    let big = format!(
        "{{\"date\": \"2024-05-01\", \"pad\": \"{}\"}}",
        "x".repeat(20_000)
    );
    let (status, body) = app
        .send_auth(reqwest::Method::POST, "/jobs/top_ctr", Some(&big))
        .await;
    assert_eq!(status, 400);
    assert!(body.to_string().contains("too large"), "{body}");
    let chunks = futures::stream::iter([
        Ok::<_, std::io::Error>(big.clone().into_bytes()),
        Ok(big.into_bytes()),
    ]);
    let r = app
        .client
        .post(format!("{}/jobs/top_ctr", app.base))
        .bearer_auth(TOKEN)
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);

    let (status, body) = app.get_auth("/jobs/runs/not-a-uuid").await;
    assert_eq!(status, 400);
    assert_error(&body, "invalid_id");
    let (status, _) = app
        .get_auth(&format!("/jobs/runs/{}", uuid::Uuid::new_v4()))
        .await;
    assert_eq!(status, 404);
    let (status, body) = app.get_auth("/jobs/runs?limit=0").await;
    assert_eq!(status, 400);
    assert_error(&body, "invalid_limit");
    app.stop().await;
}

#[tokio::test]
async fn a_failed_stage_names_the_missing_input_and_keeps_served_data() {
    let app = spawn_app().await;
    app.seed("2024-05-01", "ADV1", "top_ctr", 3).await;

    // top_ctr before filter_data: no manifest for that date.
    let run = app.run_task("top_ctr", "2024-05-02").await;
    assert_eq!(run["status"], "failed", "{run}");
    let err = run["error"].as_str().unwrap();
    assert!(
        err.contains("filtered") && err.contains("run filter_data for 2024-05-02"),
        "{err}"
    );
    // filter_data with no raw logs at all.
    let run = app.run_task("filter_data", "2024-05-02").await;
    assert_eq!(run["status"], "failed");
    assert!(
        run["error"]
            .as_str()
            .unwrap()
            .contains("not found under RAW_URL"),
        "{run}"
    );

    let (status, body) = app.get_json("/recommendations/ADV1/TopCTR").await;
    assert_eq!(status, 200);
    assert_eq!(body["date"], "2024-05-01");
    app.stop().await;
}

#[tokio::test]
async fn the_pipeline_runs_over_http_on_the_course_data() {
    let raw = course_data();
    let app = spawn_app_with(Options {
        raw_url: Some(raw.to_str().unwrap().to_owned()),
        ..Options::default()
    })
    .await;
    // With the read cache on, a 404 is cached; the publication below must replace it.
    app.wait_for_read_cache().await;
    let adv_url = "/recommendations/IDOFCO721HTJGDH7332G/TopProduct";
    assert_eq!(app.get_json(adv_url).await.0, 404);
    assert_eq!(app.get_json(adv_url).await.0, 404);
    assert!(
        app.metric("adrec_read_cache_lookups_total{result=\"hit\"}")
            .await
            >= 1.0
    );

    // The date in a JSON body, with a long poll.
    let r = app
        .client
        .post(format!("{}/jobs/pipeline?wait=100", app.base))
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .body(r#"{"date": "2024-11-25"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let run: Value = json_of(r).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["task"], "pipeline");
    assert_eq!(
        run["links"]["self"],
        format!("/jobs/runs/{}", run["id"].as_str().unwrap())
    );
    assert_eq!(run["rows_out"], 800, "20 advertisers x 2 models x 20");
    // 2,611 active ad events + 2,667 active views that day (checked with awk on the files).
    assert_eq!(run["details"]["filter_data"]["rows_out"], 2611 + 2667);

    // Expected values computed independently (Python's csv module) from the raw files.
    let (status, body) = app
        .get_json("/recommendations/IDOFCO721HTJGDH7332G/TopProduct")
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["date"], "2024-11-25");
    let recs = body["recommendations"].as_array().unwrap();
    assert_eq!(recs.len(), 20);
    let top: Vec<(&str, i64)> = recs[..5]
        .iter()
        .map(|r| {
            (
                r["product_id"].as_str().unwrap(),
                r["views"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        top,
        [
            ("20peku", 5),
            ("uz6mwe", 5),
            ("6r9sgw", 4),
            ("gnglwo", 4),
            ("o6d759", 4)
        ]
    );
    assert_eq!(
        (
            recs[19]["product_id"].as_str().unwrap(),
            recs[19]["score"].as_f64().unwrap()
        ),
        ("9gh88y", 2.0)
    );

    let (_, body) = app
        .get_json("/recommendations/IDOFCO721HTJGDH7332G/TopCTR")
        .await;
    let recs = body["recommendations"].as_array().unwrap();
    let top: Vec<(&str, i64, i64)> = recs[..4]
        .iter()
        .map(|r| {
            (
                r["product_id"].as_str().unwrap(),
                r["clicks"].as_i64().unwrap(),
                r["impressions"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        top,
        [
            ("3ql6y1", 1, 3),
            ("9c6zy4", 1, 4),
            ("015ly6", 0, 1),
            ("09aor9", 0, 1)
        ]
    );
    assert_eq!(recs[0]["score"].as_f64().unwrap(), 1.0 / 3.0);
    assert_eq!(recs[19]["product_id"], "f1mbh0");
    // qtegns had a click and no impression: left out of the ranking.
    assert!(recs.iter().all(|r| r["product_id"] != "qtegns"));

    let (status, body) = app
        .get_auth(&format!("/jobs/runs/{}", run["id"].as_str().unwrap()))
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "succeeded");
    let (_, list) = app
        .get_auth("/jobs/runs?task=pipeline&date=2024-11-25&limit=5")
        .await;
    assert_eq!(list["runs"].as_array().unwrap().len(), 1);
    let (_, stats) = app.get_json("/stats").await;
    assert_eq!(stats["advertisers"], 20);
    assert_eq!(stats["last_runs"][0]["task"], "pipeline");
    app.stop().await;
}

#[tokio::test]
async fn a_second_trigger_while_running_is_a_409_naming_the_run() {
    let dirs = tempfile::tempdir().unwrap();
    // Big enough that filter_data is still running when the second request comes.
    adrec::gen_data::generate(&adrec::gen_data::GenOptions {
        dir: dirs.path().to_owned(),
        days: 1,
        views_per_day: 400_000,
        ads_per_day: 400_000,
        seed: 1,
        ..adrec::gen_data::GenOptions::default()
    })
    .unwrap();
    let app = spawn_app_with(Options {
        raw_url: Some(dirs.path().to_str().unwrap().to_owned()),
        ..Options::default()
    })
    .await;

    let (status, first) = app
        .post_job("/jobs/filter_data?date=2024-05-01", Some(TOKEN))
        .await;
    assert_eq!(status, 202, "{first}");
    assert_eq!(first["status"], "running");
    let id = first["id"].as_str().unwrap();
    let blocker = id.parse().unwrap();
    app.assert_conflict(
        reqwest::Method::POST,
        "/jobs/filter_data?date=2024-05-01",
        blocker,
    )
    .await;

    // Long poll until done; a later trigger of the same date is allowed again.
    let (status, done) = app.get_auth(&format!("/jobs/runs/{id}?wait=100")).await;
    assert_eq!(status, 200);
    assert_eq!(done["status"], "succeeded", "{done}");
    let run = app.run_task("filter_data", "2024-05-01").await;
    assert_eq!(run["status"], "succeeded");
    app.stop().await;
}

#[tokio::test]
async fn runs_whose_process_died_are_failed_at_startup_and_live_ones_are_kept() {
    let app = spawn_app().await;
    // A crashed process's run (never beat, or not for two minutes), and a run another live
    // instance is executing (it beat just now).
    let (dead, silent, alive) = (
        uuid::Uuid::new_v4(),
        uuid::Uuid::new_v4(),
        uuid::Uuid::new_v4(),
    );
    for (id, task, beat) in [
        (dead, "top_ctr", "NULL"),
        (silent, "top_product", "now() - interval '2 minutes'"),
        (alive, "filter_data", "now()"),
    ] {
        app.db
            .execute(
                &format!(
                    "INSERT INTO job_runs (id, task, date, status, trigger, started_at, heartbeat_at) \
                     VALUES ($1, '{task}', '2024-05-01', 'running', 'http', now(), {beat})"
                ),
                &[&id],
            )
            .await
            .unwrap();
    }
    let url = app.database_url.clone();
    app.stop().await;

    let app = spawn_app_with(Options {
        database_url: Some(url),
        ..Options::default()
    })
    .await;
    for id in [dead, silent] {
        let (status, run) = app.get_auth(&format!("/jobs/runs/{id}")).await;
        assert_eq!(status, 200);
        assert_eq!(run["status"], "failed", "{run}");
        assert!(run["error"].as_str().unwrap().contains("interrupted"));
    }
    let (_, run) = app.get_auth(&format!("/jobs/runs/{alive}")).await;
    assert_eq!(
        run["status"], "running",
        "another instance's live run is left alone"
    );
    app.stop().await;
}

#[tokio::test]
async fn the_date_is_taken_from_the_query_or_the_body_and_the_body_wins() {
    let app = spawn_app().await;
    let post = async |path: &str, body: Option<&str>| {
        app.send_auth(reqwest::Method::POST, path, body).await
    };
    // Refused, each naming what is wrong.
    for (path, body, code) in [
        ("/jobs/top_ctr", Some("{}"), "invalid_body"),
        ("/jobs/top_ctr", Some(r#"{"date": null}"#), "invalid_body"),
        (
            "/jobs/top_ctr",
            Some(r#"{"date": "2024-05-01", "x": 1}"#),
            "invalid_body",
        ),
        ("/jobs/top_ctr", Some(r#"["2024-05-01"]"#), "invalid_body"),
        (
            "/jobs/top_ctr?date=2024-05-01",
            Some(r#"{"date": "someday"}"#),
            "invalid_date",
        ),
        (
            "/jobs/top_ctr?date=someday",
            Some(r#"{"date": "2024-05-01"}"#),
            "invalid_date",
        ),
        (
            "/jobs/top_ctr?date=2024-05-01&wait=111",
            None,
            "invalid_wait",
        ),
    ] {
        let (status, err) = post(path, body).await;
        assert_eq!(status, 400, "{path} {body:?}: {err}");
        assert_error(&err, code);
    }
    // Accepted: the query, the body, or both, when the body's date is the one (each run fails
    // later: no input).
    for (path, body, date) in [
        ("/jobs/top_ctr?date=2024-05-01", None, "2024-05-01"),
        (
            "/jobs/top_ctr?wait=5",
            Some(r#"{"date": "2024-05-02"}"#),
            "2024-05-02",
        ),
        (
            "/jobs/top_ctr?date=2024-05-03&wait=5",
            Some(r#"{"date": "2024-05-03"}"#),
            "2024-05-03",
        ),
        (
            "/jobs/top_ctr?date=2024-05-01&wait=5",
            Some(r#"{"date": "2024-05-04"}"#),
            "2024-05-04",
        ),
    ] {
        let (status, run) = post(path, body).await;
        assert!(
            status == 200 || status == 202,
            "{path} {body:?}: {status} {run}"
        );
        assert_eq!(run["date"], date);
    }
    app.stop().await;
}

#[tokio::test]
async fn a_token_a_proxy_received_over_plain_http_is_refused() {
    let app = spawn_app().await;
    let call = |proto: &'static str, path: &'static str| {
        app.client
            .get(format!("{}{path}", app.base))
            .bearer_auth(TOKEN)
            .header("x-forwarded-proto", proto)
            .send()
    };

    let refused = call("http", "/jobs/runs").await.unwrap();
    assert_eq!(refused.status().as_u16(), 403);
    assert_error(&json_of(refused).await, "https_required");
    // Over HTTPS, and on the public routes whatever the transport, nothing changes.
    assert_eq!(call("https", "/jobs/runs").await.unwrap().status(), 200);
    assert_eq!(call("http", "/stats").await.unwrap().status(), 200);
    app.stop().await;
}
