use crate::helpers::{assert_error, json_of, spawn_app};

#[tokio::test]
async fn serves_the_latest_published_date_ordered_by_rank() {
    let app = spawn_app().await;
    app.seed("2024-05-01", "ADV1", "top_ctr", 20).await;
    app.seed("2024-05-02", "ADV1", "top_ctr", 20).await;

    let (status, body) = app.get_json("/recommendations/ADV1/TopCTR").await;

    assert_eq!(status, 200, "{body}");
    assert_eq!(body["advertiser_id"], "ADV1");
    assert_eq!(body["model"], "top_ctr");
    assert_eq!(body["date"], "2024-05-02");
    let recs = body["recommendations"].as_array().unwrap();
    assert_eq!(recs.len(), 20);
    let ranks: Vec<i64> = recs.iter().map(|r| r["rank"].as_i64().unwrap()).collect();
    assert_eq!(ranks, (1..=20).collect::<Vec<_>>());
    assert_eq!(recs[0]["product_id"], "p01");
    assert_eq!(recs[0]["score"], 1.0);
    assert_eq!(recs[0]["clicks"], 20);
    assert_eq!(recs[0]["impressions"], 100);
    assert!(
        recs[0].get("views").is_none(),
        "no views on top_ctr: {}",
        recs[0]
    );
    app.stop().await;
}

#[tokio::test]
async fn an_explicit_date_is_served_and_a_bad_one_is_a_400() {
    let app = spawn_app().await;
    app.seed("2024-05-01", "ADV1", "top_product", 3).await;
    app.seed("2024-05-02", "ADV1", "top_product", 5).await;

    let (status, body) = app
        .get_json("/recommendations/ADV1/top_product?date=2024-05-01")
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["date"], "2024-05-01");
    assert_eq!(body["recommendations"].as_array().unwrap().len(), 3);
    assert_eq!(body["recommendations"][0]["views"], 99);
    assert!(body["recommendations"][0].get("clicks").is_none());

    for bad in ["2024-5-1", "2024-02-30", "yesterday", ""] {
        let (status, body) = app
            .get_json(&format!("/recommendations/ADV1/top_product?date={bad}"))
            .await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert_error(&body, "invalid_date");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("YYYY-MM-DD"),
            "{body}"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn model_names_are_case_insensitive_aliases() {
    let app = spawn_app().await;
    app.seed("2024-05-01", "ADV1", "top_ctr", 2).await;
    app.seed("2024-05-01", "ADV1", "top_product", 2).await;
    for (alias, model) in [
        ("TopCTR", "top_ctr"),
        ("topctr", "top_ctr"),
        ("TOPCTR", "top_ctr"),
        ("top_ctr", "top_ctr"),
        ("TopProduct", "top_product"),
        ("topproduct", "top_product"),
        ("top_product", "top_product"),
    ] {
        let (status, body) = app
            .get_json(&format!("/recommendations/ADV1/{alias}"))
            .await;
        assert_eq!(status, 200, "{alias}");
        assert_eq!(body["model"], model, "{alias}");
    }
    app.stop().await;
}

#[tokio::test]
async fn an_unknown_model_is_a_400_listing_the_valid_ones() {
    let app = spawn_app().await;
    app.seed("2024-05-01", "ADV1", "top_ctr", 2).await;

    let (status, body) = app.get_json("/recommendations/ADV1/TopViews").await;

    assert_eq!(status, 400);
    assert_error(&body, "unknown_model");
    let msg = body["error"]["message"].as_str().unwrap();
    for valid in ["TopCTR", "TopProduct"] {
        assert!(msg.contains(valid), "{msg}");
    }
    app.stop().await;
}

#[tokio::test]
async fn no_data_is_a_404_including_stale_advertisers() {
    let app = spawn_app().await;
    // STALE only has data before the latest published date.
    app.seed("2024-05-01", "STALE", "top_ctr", 5).await;
    app.seed("2024-05-02", "FRESH", "top_ctr", 5).await;

    let (status, body) = app.get_json("/recommendations/STALE/TopCTR").await;
    assert_eq!(status, 404, "{body}");
    assert_error(&body, "not_found");

    let (status, _) = app.get_json("/recommendations/NOBODY/TopCTR").await;
    assert_eq!(status, 404);
    // FRESH has top_ctr only.
    let (status, _) = app.get_json("/recommendations/FRESH/TopProduct").await;
    assert_eq!(status, 404);
    // The stale one's old day is still there when asked for by date.
    let (status, _) = app
        .get_json("/recommendations/STALE/TopCTR?date=2024-05-01")
        .await;
    assert_eq!(status, 200);
    app.stop().await;
}

#[tokio::test]
async fn fewer_than_twenty_rows_are_served_as_they_are() {
    let app = spawn_app().await;
    app.seed("2024-05-01", "SMALL", "top_product", 3).await;

    let (status, body) = app.get_json("/recommendations/SMALL/TopProduct").await;

    assert_eq!(status, 200);
    assert_eq!(body["recommendations"].as_array().unwrap().len(), 3);
    app.stop().await;
}

#[tokio::test]
async fn trailing_slashes_and_encoded_ids_are_accepted() {
    let app = spawn_app().await;
    app.seed("2024-05-01", "ADV 1", "top_ctr", 2).await;

    let (status, body) = app.get_json("/recommendations/ADV%201/TopCTR/").await;

    assert_eq!(status, 200, "{body}");
    assert_eq!(body["advertiser_id"], "ADV 1");
    app.stop().await;
}

#[tokio::test]
async fn unknown_paths_and_methods_get_the_json_error_shape() {
    let app = spawn_app().await;

    let (status, body) = app.get_json("/nope").await;
    assert_eq!(status, 404);
    assert_error(&body, "not_found");

    let r = app
        .client
        .delete(format!("{}/recommendations/A/TopCTR", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 405);
    assert_error(&json_of(r).await, "method_not_allowed");
    app.stop().await;
}
