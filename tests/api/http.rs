//! HTTP hygiene: client mistakes are 400s in the one error shape, never 500s; RFC 9110 details
//! (the auth scheme's case, HEAD, Allow).
use crate::helpers::{TOKEN, assert_error, spawn_app};

#[tokio::test]
async fn nul_bytes_and_bad_utf8_anywhere_in_the_url_are_400s() {
    let app = spawn_app().await;
    app.seed("2024-05-01", "ADV1", "top_ctr", 2).await;
    let cases = [
        ("/recommendations/A%00B/TopCTR", "invalid_path"),
        ("/recommendations/%00/TopCTR", "invalid_path"),
        ("/recommendations/A%FFB/TopCTR", "invalid_path"),
        ("/recommendations/ADV1/Top%00CTR", "invalid_path"),
        ("/history/A%00", "invalid_path"),
        ("/history/%C3%28", "invalid_path"),
        ("/recommendations/ADV1/TopCTR?date=%00", "invalid_query"),
        (
            "/recommendations/ADV1/TopCTR?date=2024-05-01%00",
            "invalid_query",
        ),
        ("/recommendations/ADV1/TopCTR?date=%FF", "invalid_query"),
        ("/recommendations/ADV1/TopCTR?x=%00", "invalid_query"),
        ("/recommendations/ADV1/TopCTR?%FF=1", "invalid_query"),
        ("/history/ADV1?days=%00", "invalid_query"),
        ("/history/ADV1?days=7&days=8", "invalid_query"),
    ];
    for (path, code) in cases {
        let (status, body) = app.get_json(path).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert_error(&body, code);
    }
    for path in [
        "/jobs/runs?task=%00",
        "/jobs/runs?date=%FF",
        "/jobs/runs/%00",
        "/jobs/runs/00000000-0000-0000-0000-000000000000?wait=%00",
    ] {
        let (status, body) = app.get_auth(path).await;
        assert_eq!(status, 400, "{path}: {body}");
    }
    for path in [
        "/jobs/top_ctr?date=%00",
        "/jobs/top_ctr?date=2024-05-01&wait=%FF",
    ] {
        let (status, body) = app.post_job(path, Some(TOKEN)).await;
        assert_eq!(status, 400, "{path}: {body}");
    }
    // And the service is fine afterwards.
    assert_eq!(app.get_json("/recommendations/ADV1/TopCTR").await.0, 200);
    app.stop().await;
}

#[tokio::test]
async fn the_bearer_scheme_is_case_insensitive() {
    let app = spawn_app().await;
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        let r = app
            .client
            .get(format!("{}/jobs/runs", app.base))
            .header("authorization", format!("{scheme} {TOKEN}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200, "{scheme}");
    }
    let r = app
        .client
        .get(format!("{}/jobs/runs", app.base))
        .header("authorization", b"Bearer \xff".as_slice())
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status().as_u16(),
        401,
        "a header that is not UTF-8 is just wrong"
    );
    app.stop().await;
}

#[tokio::test]
async fn head_is_answered_wherever_get_is() {
    let app = spawn_app().await;
    app.seed("2024-05-01", "ADV1", "top_ctr", 2).await;
    for (path, auth, want) in [
        ("/recommendations/ADV1/TopCTR", false, 200),
        ("/recommendations/NOBODY/TopCTR/", false, 404),
        ("/history/ADV1", false, 200),
        ("/stats", false, 200),
        ("/healthz", false, 200),
        ("/readyz", false, 200),
        ("/openapi.json", false, 200),
        ("/docs", false, 200),
        ("/jobs/runs", true, 200),
        ("/jobs/runs", false, 401),
    ] {
        let mut req = app.client.head(format!("{}{path}", app.base));
        if auth {
            req = req.bearer_auth(TOKEN);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status().as_u16(), want, "HEAD {path}");
        assert!(r.headers().contains_key("content-type"), "HEAD {path}");
        assert!(
            r.bytes().await.unwrap().is_empty(),
            "HEAD {path} has no body"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn a_405_says_which_methods_are_allowed_and_options_answers_them() {
    let app = spawn_app().await;
    for (method, path, allow) in [
        ("DELETE", "/recommendations/A/TopCTR", "GET, HEAD"),
        ("POST", "/stats/", "GET, HEAD"),
        ("PUT", "/history/A", "GET, HEAD"),
        ("PATCH", "/openapi.json", "GET, HEAD"),
        ("GET", "/jobs/top_ctr", "POST"),
        ("DELETE", "/jobs/runs", "GET, HEAD"),
    ] {
        let r = app.request(method.parse().unwrap(), path, None, None).await;
        assert_eq!(r.status, 405, "{method} {path}");
        assert_eq!(r.headers["allow"], allow, "{method} {path}");
        assert_error(&r.body, "method_not_allowed");
    }
    let r = app
        .request(
            reqwest::Method::OPTIONS,
            "/recommendations/A/TopCTR",
            None,
            None,
        )
        .await;
    assert_eq!(r.status, 204);
    assert_eq!(r.headers["allow"], "GET, HEAD");
    // An unknown path stays a 404 whatever the method.
    let r = app
        .request(reqwest::Method::DELETE, "/nope", None, None)
        .await;
    assert_eq!(r.status, 404);
    app.stop().await;
}
