//! Database outages: answers already given survive them, a hung database costs a request no more
//! than its deadline, and everything is exact again afterwards.
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::helpers::{
    Options, TOKEN, TestApp, admin_url, assert_error, create_database, create_database_on, seed,
    spawn_app_with,
};
use crate::pg::{Cluster, Proxy, eventually};

/// Lets the app hear the NOTIFY of a seed before it reads (else the notification, arriving after,
/// empties what the read stored).
async fn settle() {
    tokio::time::sleep(Duration::from_millis(300)).await;
}

async fn get(app: &TestApp, path: &str) -> (u16, reqwest::header::HeaderMap, Value) {
    let r = app.request(reqwest::Method::GET, path, None, None).await;
    (r.status, r.headers, r.body)
}

/// The app on a fresh database of `cluster`, its read cache live.
async fn app_on(cluster: &Cluster) -> TestApp {
    let (_, url) = create_database_on(&cluster.url()).await;
    let app = spawn_app_with(Options {
        database_url: Some(url),
        ..Options::default()
    })
    .await;
    app.wait_for_read_cache().await;
    app
}

/// Waits (up to 15 s) until `probe` answers 200 again after an outage.
async fn recovered(app: &TestApp, probe: &str) {
    let back = eventually(Duration::from_secs(15), async || {
        get(app, probe).await.0 == 200
    })
    .await;
    assert!(back.is_some(), "never recovered");
}

#[tokio::test]
async fn held_answers_survive_an_outage_and_a_publication_missed_meanwhile_is_served_after() {
    // Arrange: the app reaches Postgres only through a proxy the test can cut.
    let (name, _) = create_database().await;
    let admin = url::Url::parse(&admin_url()).unwrap();
    let proxy = Proxy::start(format!(
        "{}:{}",
        admin.host_str().unwrap(),
        admin.port().unwrap_or(5432)
    ))
    .await;
    let app = spawn_app_with(Options {
        database_url: Some(format!(
            "postgres://{}@127.0.0.1:{}/{name}",
            admin.username(),
            proxy.port
        )),
        ..Options::default()
    })
    .await;
    app.wait_for_read_cache().await;
    // The test's own connection goes straight to Postgres, so it can publish during the cut.
    let (direct, conn) =
        tokio_postgres::connect(&format!("{}/{name}", admin_url()), tokio_postgres::NoTls)
            .await
            .unwrap();
    tokio::spawn(conn);
    seed(&direct, "2024-05-01", "ADV1", "top_ctr", 3).await;
    settle().await;
    let (status, headers, before) = get(&app, "/recommendations/ADV1/TopCTR").await;
    assert_eq!(status, 200, "{before}");
    assert!(headers.get("age").is_none(), "a fresh answer has no Age");
    assert_eq!(get(&app, "/recommendations/NOBODY/TopCTR").await.0, 404);

    // Act 1: the database goes away.
    proxy.set_up(false);
    tokio::time::sleep(Duration::from_millis(200)).await;

    // Assert 1: what was answered is answered again, saying how old it is; the rest is 503.
    for _ in 0..3 {
        let (status, headers, body) = get(&app, "/recommendations/ADV1/TopCTR").await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body, before);
        let age: u64 = headers["age"].to_str().unwrap().parse().unwrap();
        assert!(age < 60, "{age}");
        assert!(
            headers["cache-status"]
                .to_str()
                .unwrap()
                .contains("database-unavailable")
        );
    }
    let (status, headers, _) = get(&app, "/recommendations/NOBODY/TopCTR").await;
    assert_eq!(status, 404, "a held 404 is a held answer too");
    assert!(headers.get("age").is_some());
    let (status, _, body) = get(&app, "/recommendations/NEVER/TopCTR").await;
    assert_eq!(status, 503, "{body}");
    assert_error(&body, "unavailable");
    assert_eq!(get(&app, "/history/ADV1").await.0, 503);
    assert!(app.metric("adrec_read_cache_stale_answers_total").await >= 4.0);
    assert_eq!(app.metric("adrec_read_cache_live").await, 0.0);

    // Act 2: a publication this instance cannot hear about (its LISTEN link is down).
    seed(&direct, "2024-05-02", "ADV1", "top_ctr", 5).await;
    proxy.set_up(true);

    // Assert 2: once the database is back, the new date is served (within about a second: held
    // answers, marked with Age, until a read succeeds), then from the cache too.
    let recovered = eventually(Duration::from_secs(10), async || {
        let (_, headers, body) = get(&app, "/recommendations/ADV1/TopCTR").await;
        body["date"] == "2024-05-02" && headers.get("age").is_none()
    })
    .await;
    let recovered = recovered.expect("the new date is never served");
    assert!(recovered < Duration::from_secs(4), "{recovered:?}");
    app.wait_for_read_cache().await;
    for _ in 0..2 {
        let (_, headers, body) = get(&app, "/recommendations/ADV1/TopCTR").await;
        assert_eq!(body["date"], "2024-05-02", "{body}");
        assert_eq!(body["recommendations"].as_array().unwrap().len(), 5);
        assert!(headers.get("age").is_none());
    }
    assert_eq!(
        app.metric("adrec_read_cache_database_unavailable").await,
        0.0
    );
    app.stop().await;
}

#[tokio::test]
async fn a_frozen_database_costs_each_request_its_deadline_and_then_recovers_by_itself() {
    // Arrange: a cluster of the test's own, with short deadlines (1 s + 2 s).
    let mut cluster = Cluster::start();
    let (_, url) = create_database_on(&cluster.url()).await;
    let app = spawn_app_with(Options {
        database_url: Some(url),
        pool_timeout: Duration::from_secs(1),
        statement_timeout: Duration::from_secs(2),
        ..Options::default()
    })
    .await;
    app.wait_for_read_cache().await;
    app.seed("2024-05-01", "ADV1", "top_ctr", 3).await;
    settle().await;
    assert_eq!(get(&app, "/recommendations/ADV1/TopCTR").await.0, 200);
    // Warm a few pooled connections, so both ways of hanging are tried: a query on an open
    // connection, and opening a new one.
    for _ in 0..3 {
        assert_eq!(get(&app, "/history/ADV1").await.0, 200);
    }

    // Act: freeze the postmaster and every backend.
    cluster.freeze();

    // Assert: every read and job call answers 503 within the deadline (3 s, plus slack).
    let limit = Duration::from_secs(3) + Duration::from_millis(1500);
    let run = uuid::Uuid::new_v4();
    let calls = [
        ("GET", "/recommendations/NEVER/TopCTR".to_owned()),
        ("GET", "/history/ADV1".to_owned()),
        ("GET", "/stats".to_owned()),
        ("GET", "/readyz".to_owned()),
        ("POST", "/jobs/filter_data?date=2024-05-01".to_owned()),
        ("GET", "/jobs/runs".to_owned()),
        ("GET", format!("/jobs/runs/{run}")),
    ];
    for round in 0..2 {
        for (method, path) in &calls {
            let started = Instant::now();
            let r = app
                .request(method.parse().unwrap(), path, Some(TOKEN), None)
                .await;
            let took = started.elapsed();
            assert_eq!(r.status, 503, "round {round}: {method} {path}: {}", r.body);
            assert_error(&r.body, "unavailable");
            assert!(took < limit, "round {round}: {method} {path} took {took:?}");
        }
    }
    // What this instance had answered is still answered.
    let (status, _, body) = get(&app, "/recommendations/ADV1/TopCTR").await;
    assert_eq!(status, 200, "{body}");

    // Act 2: the database resumes.
    cluster.thaw();

    // Assert 2: the process recovers on its own.
    recovered(&app, "/history/ADV1").await;
    assert_eq!(get(&app, "/readyz").await.0, 200);
    assert_eq!(get(&app, "/recommendations/NEVER/TopCTR").await.0, 404);
    assert_eq!(get(&app, "/stats").await.0, 200);
    let (status, _) = app.get_auth("/jobs/runs").await;
    assert_eq!(status, 200);
    app.stop().await;
    drop(cluster);
}

#[tokio::test]
async fn a_database_restart_is_bridged_by_held_answers() {
    // Arrange
    let cluster = Cluster::start();
    let app = app_on(&cluster).await;
    app.seed("2024-05-01", "ADV1", "top_product", 4).await;
    settle().await;
    let (_, _, before) = get(&app, "/recommendations/ADV1/TopProduct").await;

    // Act: a fast shutdown closes every connection with "terminating connection due to
    // administrator command".
    cluster.stop();

    // Assert: held answers come from the cache, at once; the rest is 503, never 500.
    let started = Instant::now();
    let (status, headers, body) = get(&app, "/recommendations/ADV1/TopProduct").await;
    assert_eq!((status, &body), (200, &before));
    assert!(headers.get("age").is_some());
    assert!(started.elapsed() < Duration::from_secs(3));
    for path in ["/recommendations/NEVER/TopCTR", "/history/ADV1", "/stats"] {
        let (status, _, body) = get(&app, path).await;
        assert_eq!(status, 503, "{path}: {body}");
    }

    cluster.start_again();
    recovered(&app, "/readyz").await;
    app.wait_for_read_cache().await;
    let (status, headers, body) = get(&app, "/recommendations/ADV1/TopProduct").await;
    assert_eq!((status, &body), (200, &before));
    assert!(headers.get("age").is_none());
    assert_eq!(get(&app, "/history/ADV1").await.0, 200);
    app.stop().await;
}

/// Not part of the suite: measures a database outage of a few minutes and prints its timeline.
/// `ADREC_OUTAGE_SECS` (default 120) and `ADREC_OUTAGE_MODE` (`restart`: pg_ctl stop, then start;
/// `freeze`: SIGSTOP, then SIGCONT). Run:
/// `scripts/with-pg.sh cargo test --test api -- --ignored --nocapture outage_timeline`
#[tokio::test]
#[ignore]
async fn outage_timeline() {
    let secs: u64 = std::env::var("ADREC_OUTAGE_SECS").map_or(120, |v| v.parse().unwrap());
    let freeze = std::env::var("ADREC_OUTAGE_MODE").is_ok_and(|m| m == "freeze");
    let mut cluster = Cluster::start();
    // The defaults of .env.example: 2 s for a connection, 5 s for the queries.
    let app = app_on(&cluster).await;
    let advertisers: Vec<String> = (0..20).map(|i| format!("ADV{i:02}")).collect();
    for adv in &advertisers {
        app.seed("2024-05-01", adv, "top_ctr", 20).await;
    }
    settle().await;
    for adv in &advertisers {
        assert_eq!(
            get(&app, &format!("/recommendations/{adv}/TopCTR")).await.0,
            200
        );
    }

    #[derive(Default)]
    struct Tally {
        n: u32,
        by_status: std::collections::BTreeMap<u16, u32>,
        max: Duration,
        total: Duration,
    }
    impl Tally {
        fn add(&mut self, status: u16, took: Duration) {
            self.n += 1;
            *self.by_status.entry(status).or_default() += 1;
            self.max = self.max.max(took);
            self.total += took;
        }
        fn line(&self, what: &str) -> String {
            let mean = self.total.checked_div(self.n).unwrap_or_default();
            format!(
                "{what}: {} requests, statuses {:?}, mean {:.1} ms, max {:.1} ms",
                self.n,
                self.by_status,
                mean.as_secs_f64() * 1e3,
                self.max.as_secs_f64() * 1e3
            )
        }
    }
    let timed = async |path: String| {
        let started = Instant::now();
        let (status, headers, _) = get(&app, &path).await;
        (status, headers.contains_key("age"), started.elapsed())
    };

    let mode = if freeze { "freeze" } else { "restart" };
    println!("outage_timeline: {mode} for {secs} s, 20 advertisers answered before");
    let down_at = Instant::now();
    if freeze {
        cluster.freeze();
    } else {
        cluster.stop();
    }
    let (mut held, mut unseen, mut history) =
        (Tally::default(), Tally::default(), Tally::default());
    let (mut i, mut with_age) = (0usize, 0u32);
    while down_at.elapsed() < Duration::from_secs(secs) {
        let (s, aged, took) =
            timed(format!("/recommendations/{}/TopCTR", advertisers[i % 20])).await;
        held.add(s, took);
        if aged {
            with_age += 1;
        }
        let (s, _, took) = timed(format!("/recommendations/NEW{i}/TopCTR")).await;
        unseen.add(s, took);
        if i % 10 == 0 {
            let (s, _, took) = timed("/history/ADV00".to_owned()).await;
            history.add(s, took);
        }
        i += 1;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!(
        "  during: {} ({with_age} with Age, the rest live cache hits)",
        held.line("held /recommendations")
    );
    println!(
        "  during: {}",
        unseen.line("never-answered /recommendations")
    );
    println!("  during: {}", history.line("/history"));

    let up_at = Instant::now();
    if freeze {
        cluster.thaw();
    } else {
        cluster.start_again();
    }
    println!(
        "  pg_ctl start / SIGCONT took {:.1} s",
        up_at.elapsed().as_secs_f64()
    );
    let (mut ready, mut exact, mut live) = (None, None, None);
    while up_at.elapsed() < Duration::from_secs(30)
        && (ready.is_none() || exact.is_none() || live.is_none())
    {
        if ready.is_none() && get(&app, "/readyz").await.0 == 200 {
            ready = Some(up_at.elapsed());
        }
        if exact.is_none() {
            let (s, aged, _) = timed(format!(
                "/recommendations/LATE{}/TopCTR",
                up_at.elapsed().as_millis()
            ))
            .await;
            let (h, held_aged, _) = timed("/recommendations/ADV00/TopCTR".to_owned()).await;
            if s == 404 && !aged && h == 200 && !held_aged {
                exact = Some(up_at.elapsed());
            }
        }
        if live.is_none() && app.metric("adrec_read_cache_live").await == 1.0 {
            live = Some(up_at.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let s = |d: Option<Duration>| {
        d.map_or("never (30 s)".to_owned(), |d| {
            format!("{:.2} s", d.as_secs_f64())
        })
    };
    println!(
        "  after: /readyz 200 in {}, reads from the database (no Age) in {}, cache live in {}",
        s(ready),
        s(exact),
        s(live)
    );
    println!(
        "  metrics: stale answers {}, entries {}",
        app.metric("adrec_read_cache_stale_answers_total").await,
        app.metric("adrec_read_cache_entries").await
    );
    app.stop().await;
}
