//! `DELETE /jobs/dates/{date}`: an admin undoes a wrong publication.
use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use crate::helpers::{assert_error, json_of, spawn_app};

#[tokio::test]
async fn deleting_a_date_stops_serving_it_at_once_and_is_recorded() {
    // Arrange: two dates published; the latest one's answer is in the read cache.
    let app = spawn_app().await;
    app.wait_for_read_cache().await;
    for date in ["2024-05-02", "2024-05-03"] {
        app.seed(date, "A", "top_ctr", 3).await;
        app.seed(date, "A", "top_product", 2).await;
    }
    app.seed("2024-05-03", "B", "top_ctr", 1).await;
    for _ in 0..2 {
        let (status, body) = app.get_json("/recommendations/A/TopCTR").await;
        assert_eq!((status, body["date"].clone()), (200, json!("2024-05-03")));
    }

    // Act
    let (status, _) = app
        .client
        .delete(format!("{}/jobs/dates/2024-05-03", app.base))
        .send()
        .await
        .map(|r| (r.status().as_u16(), ()))
        .unwrap();
    assert_eq!(status, 401, "the token is required");
    let (status, run) = app
        .send_auth(Method::DELETE, "/jobs/dates/2024-05-03", None)
        .await;

    // Assert: what was deleted, recorded as a run.
    assert_eq!(status, 200, "{run}");
    assert_eq!(run["task"], "unpublish");
    assert_eq!(run["date"], "2024-05-03");
    assert_eq!(run["status"], "succeeded");
    let d = &run["details"];
    assert_eq!(d["deleted_rows"], 6, "{run}");
    assert_eq!(d["advertisers"], 2);
    assert_eq!(d["by_model"], json!({"top_ctr": 4, "top_product": 2}));
    assert_eq!(d["latest_before"], "2024-05-03");
    assert_eq!(d["latest_after"], "2024-05-02");
    let (_, runs) = app.get_auth("/jobs/runs?date=2024-05-03").await;
    assert_eq!(runs["runs"][0]["id"], run["id"]);
    let (status, runs) = app.get_auth("/jobs/runs?task=unpublish").await;
    assert_eq!(status, 200, "{runs}");
    assert_eq!(runs["runs"].as_array().unwrap().len(), 1, "{runs}");
    assert_eq!(runs["runs"][0]["id"], run["id"]);
    // The read path no longer serves it: the NOTIFY emptied the cache (whose entries would
    // otherwise be live hits for 30 s).
    let mut served = json!(null);
    for _ in 0..50 {
        let (status, body) = app.get_json("/recommendations/A/TopCTR").await;
        assert_eq!(status, 200, "{body}");
        served = body["date"].clone();
        if served == "2024-05-02" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(served, "2024-05-02", "the deleted date is still served");
    let (status, _) = app
        .get_json("/recommendations/A/TopCTR?date=2024-05-03")
        .await;
    assert_eq!(status, 404);
    let (status, _) = app.get_json("/recommendations/B/TopCTR").await;
    assert_eq!(status, 404, "B had rows on the deleted date only");
    let (_, stats) = app.get_json("/stats").await;
    assert_eq!(stats["latest_date"], "2024-05-02", "{stats}");
    let left = app.count("SELECT count(*) FROM recommendations", &[]).await;
    assert_eq!(left, 5, "2024-05-02 is untouched");

    // Not published (any more), or not a date.
    let (status, err) = app
        .send_auth(Method::DELETE, "/jobs/dates/2024-05-03", None)
        .await;
    assert_eq!(status, 404);
    assert_error(&err, "not_found");
    let (status, err) = app
        .send_auth(Method::DELETE, "/jobs/dates/2024-5-3", None)
        .await;
    assert_eq!(status, 400);
    assert_error(&err, "invalid_date");
    let (status, err) = app
        .send_auth(Method::DELETE, "/jobs/dates/2024-05-0%00", None)
        .await;
    assert_eq!(status, 400);
    assert_error(&err, "invalid_path");
    app.stop().await;
}

#[tokio::test]
async fn a_date_being_published_is_not_deleted() {
    let app = spawn_app().await;
    app.seed("2024-05-02", "A", "top_ctr", 3).await;
    let running = uuid::Uuid::new_v4();
    let date: chrono::NaiveDate = "2024-05-02".parse().unwrap();
    app.db
        .execute(
            "INSERT INTO job_runs (id, task, date, status, trigger, started_at, heartbeat_at) \
             VALUES ($1, 'db_writing', $2, 'running', 'http', now(), now())",
            &[&running, &date],
        )
        .await
        .unwrap();

    let r = app
        .client
        .delete(format!("{}/jobs/dates/2024-05-02", app.base))
        .bearer_auth(crate::helpers::TOKEN)
        .send()
        .await
        .unwrap();

    assert_eq!(r.status().as_u16(), 409);
    assert_eq!(
        r.headers()["location"].to_str().unwrap(),
        format!("/jobs/runs/{running}")
    );
    assert_error(&json_of(r).await, "conflict");
    let left = app.count("SELECT count(*) FROM recommendations", &[]).await;
    assert_eq!(left, 3);
    app.stop().await;
}
