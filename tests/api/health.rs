use crate::helpers::{
    Options, admin_url, assert_error, create_database, spawn_app, spawn_app_with,
};
use crate::pg::Proxy;

#[tokio::test]
async fn healthz_and_readyz_answer() {
    let app = spawn_app().await;
    assert_eq!(
        app.get_json("/healthz").await,
        (200, serde_json::json!({"status": "ok"}))
    );
    assert_eq!(
        app.get_json("/readyz/").await,
        (200, serde_json::json!({"status": "ready"}))
    );
    app.stop().await;
}

#[tokio::test]
async fn readyz_is_503_while_the_database_is_unreachable_and_recovers_without_restart() {
    let (name, _) = create_database().await;
    let admin = url::Url::parse(&admin_url()).unwrap();
    let target = format!(
        "{}:{}",
        admin.host_str().unwrap(),
        admin.port().unwrap_or(5432)
    );
    let proxy = Proxy::start(target).await;
    let via_proxy = format!(
        "postgres://{}@127.0.0.1:{}/{name}",
        admin.username(),
        proxy.port
    );
    let app = spawn_app_with(Options {
        database_url: Some(via_proxy),
        ..Options::default()
    })
    .await;
    app.seed("2024-05-01", "ADV1", "top_ctr", 1).await;
    assert_eq!(app.get_json("/readyz").await.0, 200);

    proxy.set_up(false);
    let (status, body) = app.get_json("/readyz").await;
    assert_eq!(status, 503, "{body}");
    assert_error(&body, "unavailable");
    let (status, body) = app.get_json("/recommendations/ADV1/TopCTR").await;
    assert_eq!(status, 503, "{body}");
    let msg = body["error"]["message"].as_str().unwrap();
    assert!(
        !msg.contains("127.0.0.1") && !msg.contains("postgres"),
        "no internals: {msg}"
    );
    assert_eq!(
        app.get_json("/healthz").await.0,
        200,
        "the process itself is fine"
    );

    proxy.set_up(true);
    assert_eq!(app.get_json("/readyz").await.0, 200);
    assert_eq!(app.get_json("/recommendations/ADV1/TopCTR").await.0, 200);
    app.stop().await;
}

#[tokio::test]
async fn metrics_count_requests_per_route_in_prometheus_format() {
    let app = spawn_app().await;
    app.get("/recommendations/A/TopCTR").await;
    app.get("/recommendations/B/TopCTR/").await;
    app.get("/healthz").await;

    let text = app.page("/metrics", "text/plain; version=0.0.4").await;
    let route = "route=\"/recommendations/{advertiser_id}/{model}\"";
    assert!(
        text.contains(&format!(
            "adrec_http_requests_total{{{route},status=\"4xx\"}} 2"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "adrec_http_request_duration_seconds_count{{{route}}} 2"
        )),
        "{text}"
    );
    assert!(
        text.contains("adrec_http_requests_total{route=\"/healthz\",status=\"2xx\"} 1"),
        "{text}"
    );
    assert!(text.contains("# TYPE adrec_http_request_duration_seconds histogram"));
    assert!(text.contains("adrec_job_runs_total{task=\"pipeline\",status=\"succeeded\"} 0"));
    assert!(text.contains("adrec_db_pool_connections{state=\"open\"}"));
    app.stop().await;
}

#[tokio::test]
async fn openapi_describes_every_route_and_docs_are_self_contained() {
    let app = spawn_app().await;
    let (status, spec) = app.get_json("/openapi.json").await;
    assert_eq!(status, 200);
    let paths = spec["paths"].as_object().expect("paths");
    // The served spec has every route of the route table (which a unit test holds equal to it).
    for r in adrec::routes::table::ROUTES {
        assert!(
            paths.contains_key(r.template),
            "openapi.json lacks {}",
            r.template
        );
    }
    let html = app.page("/docs", "text/html").await;
    assert!(html.contains("openapi.json"), "the page loads the spec");
    for external in ["http://", "https://", "//cdn"] {
        assert!(
            !html.contains(&format!("src=\"{external}")),
            "no external scripts"
        );
        assert!(
            !html.contains(&format!("href=\"{external}")),
            "no external styles"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn tls_is_used_and_verified_when_the_url_asks_for_it() {
    // The test Postgres serves TLS with a certificate for "localhost" (Debian's snakeoil one, or
    // the self-signed one scripts/with-pg.sh makes); trusting it is what PGSSLROOTCERT is for.
    let (client, conn) =
        tokio_postgres::connect(&format!("{}/postgres", admin_url()), tokio_postgres::NoTls)
            .await
            .unwrap();
    tokio::spawn(conn);
    let row = client.query_one("SELECT current_setting('ssl'), current_setting('ssl_cert_file'), current_setting('data_directory')", &[]).await.unwrap();
    let (ssl, cert, data): (String, String, String) = (row.get(0), row.get(1), row.get(2));
    assert_eq!(
        ssl, "on",
        "this test needs a TLS-enabled Postgres (scripts/with-pg.sh provides one)"
    );
    let cert = std::path::Path::new(&data).join(cert);
    let (name, _) = create_database().await;
    let admin = url::Url::parse(&admin_url()).unwrap();
    let url = format!(
        "postgres://{}@localhost:{}/{name}?sslmode=verify-full",
        admin.username(),
        admin.port().unwrap_or(5432)
    );

    // Without the CA the certificate is refused, and startup says so.
    let config = crate::helpers::config(&url, "/tmp", "/tmp", 30);
    let err = adrec::startup::Application::build(config)
        .await
        .err()
        .expect("an untrusted certificate is refused");
    assert!(format!("{err:#}").contains("certificate"), "{err:#}");

    let app = spawn_app_with(Options {
        database_url: Some(url),
        ca_file: Some(cert),
        ..Options::default()
    })
    .await;
    assert_eq!(app.get_json("/readyz").await.0, 200);
    let encrypted: bool = client
        .query_one("SELECT bool_and(s.ssl) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.application_name = 'adrec' AND a.datname = $1", &[&name])
        .await
        .unwrap()
        .get(0);
    assert!(encrypted, "adrec's connections use TLS");
    app.stop().await;
}
