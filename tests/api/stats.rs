use crate::helpers::spawn_app;

#[tokio::test]
async fn reports_dates_agreement_changes_and_runs() {
    let app = spawn_app().await;
    let (status, body) = app.get_json("/stats").await;
    assert_eq!(status, 200, "empty database still answers: {body}");
    assert_eq!(body["latest_date"], serde_json::Value::Null);

    // Day 1: A's two models share p01..p03. Day 2: A changes its top_ctr completely.
    app.seed("2024-05-01", "A", "top_ctr", 3).await;
    app.seed("2024-05-01", "A", "top_product", 3).await;
    app.seed("2024-05-02", "A", "top_product", 4).await;
    app.seed("2024-05-02", "B", "top_ctr", 2).await;
    app.seed("2024-05-02", "B", "top_product", 4).await;
    app.db
        .execute(
            "INSERT INTO recommendations VALUES ('2024-05-02', 'A', 'top_ctr', 1, 'zz', 0.5, 1, 2, NULL)",
            &[],
        )
        .await
        .unwrap();

    let (status, body) = app.get_json("/stats/").await;

    assert_eq!(status, 200, "{body}");
    assert_eq!(body["latest_date"], "2024-05-02");
    assert_eq!(body["previous_date"], "2024-05-01");
    assert_eq!(body["advertisers"], 2);
    let dates: Vec<&str> = body["dates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["date"].as_str().unwrap())
        .collect();
    assert_eq!(dates, ["2024-05-02", "2024-05-01"]);
    // A on day 2: top_ctr {zz}, top_product {p01..p04}: overlap 0, jaccard 0.
    // B on day 2: top_ctr {p01,p02}, top_product {p01..p04}: overlap 2, jaccard 2/4.
    let agreement = &body["model_agreement"];
    assert_eq!(agreement["date"], "2024-05-02");
    let per: Vec<(String, i64, f64)> = agreement["advertisers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["advertiser_id"].as_str().unwrap().to_owned(),
                a["overlap"].as_i64().unwrap(),
                a["jaccard"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(per, [("A".into(), 0, 0.0), ("B".into(), 2, 0.5)]);
    assert_eq!(agreement["mean_overlap"], 1.0);
    assert_eq!(agreement["mean_jaccard"], 0.25);
    // Changes: B is all new (6 added); A: top_ctr p01..p03 -> zz (1 added, 3 removed), top_product +p04.
    let changed = body["most_changed"].as_array().unwrap();
    assert_eq!(changed[0]["advertiser_id"], "B");
    assert_eq!(changed[0]["added"], 6);
    assert_eq!(changed[1]["advertiser_id"], "A");
    assert_eq!(changed[1]["added"], 2);
    assert_eq!(changed[1]["removed"], 3);
    assert_eq!(changed[1]["jaccard"], 3.0 / 8.0);
    assert!(body["last_runs"].as_array().unwrap().is_empty());
    app.stop().await;
}
