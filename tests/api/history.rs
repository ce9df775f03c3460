use serde_json::Value;

use crate::helpers::{assert_error, spawn_app};

fn dates(body: &Value) -> Vec<String> {
    body["days"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["date"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn covers_exactly_the_seven_days_ending_at_the_latest_date_with_gaps() {
    let app = spawn_app().await;
    // Data on the 1st (outside the window), 5th, 8th and 10th (latest); other days are gaps.
    app.seed("2024-05-01", "ADV1", "top_ctr", 2).await;
    app.seed("2024-05-05", "ADV1", "top_ctr", 2).await;
    app.seed("2024-05-05", "ADV1", "top_product", 3).await;
    app.seed("2024-05-08", "ADV1", "top_product", 1).await;
    app.seed("2024-05-10", "OTHER", "top_ctr", 1).await;

    let (status, body) = app.get_json("/history/ADV1").await;

    assert_eq!(status, 200, "{body}");
    assert_eq!(body["from"], "2024-05-04");
    assert_eq!(body["to"], "2024-05-10");
    assert_eq!(
        dates(&body),
        [
            "2024-05-10",
            "2024-05-09",
            "2024-05-08",
            "2024-05-07",
            "2024-05-06",
            "2024-05-05",
            "2024-05-04"
        ]
    );
    let day = |date: &str| {
        body["days"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["date"] == date)
            .unwrap()
            .clone()
    };
    assert_eq!(
        day("2024-05-05")["models"]["top_ctr"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        day("2024-05-05")["models"]["top_product"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    assert_eq!(day("2024-05-08")["models"]["top_product"][0]["rank"], 1);
    assert_eq!(
        day("2024-05-10")["models"]["top_ctr"],
        serde_json::json!([])
    );
    app.stop().await;
}

#[tokio::test]
async fn days_selects_the_window_and_is_validated() {
    let app = spawn_app().await;
    app.seed("2024-05-01", "ADV1", "top_ctr", 1).await;
    app.seed("2024-05-10", "ADV1", "top_ctr", 1).await;

    let (status, body) = app.get_json("/history/ADV1?days=1").await;
    assert_eq!(status, 200);
    assert_eq!(dates(&body), ["2024-05-10"]);

    let (status, body) = app.get_json("/history/ADV1/?days=30").await;
    assert_eq!(status, 200);
    assert_eq!(dates(&body).len(), 30);
    assert_eq!(body["from"], "2024-04-11");

    for bad in ["0", "31", "x"] {
        let (status, body) = app.get_json(&format!("/history/ADV1?days={bad}")).await;
        assert_eq!(status, 400, "{bad}");
        assert_error(&body, "invalid_days");
    }
    app.stop().await;
}

#[tokio::test]
async fn nothing_in_the_window_is_a_404() {
    let app = spawn_app().await;
    let (status, body) = app.get_json("/history/ADV1").await;
    assert_eq!(status, 404, "empty database: {body}");

    app.seed("2024-05-01", "OLD", "top_ctr", 1).await;
    app.seed("2024-05-20", "NEW", "top_ctr", 1).await;
    let (status, body) = app.get_json("/history/OLD").await;
    assert_eq!(status, 404);
    assert_error(&body, "not_found");
    app.stop().await;
}
