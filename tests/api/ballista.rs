//! The same pipeline on a Ballista cluster of adrec's own scheduler and two executors, each a
//! separate `adrec` process on ephemeral ports: exactly the in-process answer (rows, bad-row
//! counts), and an executor killed mid-stage costs a retry, not the run.
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use adrec::gen_data::{GenOptions, Layout, generate};
use serde_json::Value;

use crate::helpers::{Options, TOKEN, TestApp, spawn_app, spawn_app_with};

const DAY: &str = "2024-05-02";

/// A scheduler and executors, killed when dropped. Executors inherit the test process's
/// environment, so they reach an S3 server through the same AWS variables as the app.
pub(crate) struct Cluster {
    scheduler: u16,
    executors: Vec<Child>,
    others: Vec<Child>,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn adrec(args: &[&str]) -> Child {
    let quiet = std::env::var_os("TEST_LOG").is_none();
    let out = || {
        if quiet {
            Stdio::null()
        } else {
            Stdio::inherit()
        }
    };
    Command::new(env!("CARGO_BIN_EXE_adrec"))
        .args(args)
        .env(
            "RUST_LOG",
            std::env::var("TEST_CLUSTER_LOG").unwrap_or("warn".into()),
        )
        .stdout(out())
        .stderr(out())
        .spawn()
        .expect("starting adrec")
}

fn wait_for_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on {port}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

impl Cluster {
    pub(crate) fn start(executors: usize) -> Self {
        let scheduler = free_port();
        let bind = format!("127.0.0.1:{scheduler}");
        let others = vec![adrec(&[
            "scheduler",
            "--bind",
            &bind,
            "--executor-timeout-secs",
            "10",
        ])];
        wait_for_port(scheduler);
        let executors = (0..executors)
            .map(|_| {
                let (port, grpc) = (free_port(), free_port());
                let child = adrec(&[
                    "executor",
                    "--scheduler",
                    &bind,
                    "--bind",
                    &format!("127.0.0.1:{port}"),
                    "--grpc-port",
                    &grpc.to_string(),
                    // One task slot each: a stage's partitions go to tasks of one partition,
                    // which must each scan only their own (two slots may take both at once).
                    "--concurrency",
                    "1",
                ]);
                wait_for_port(port);
                wait_for_port(grpc);
                child
            })
            .collect();
        // Executors register as they start, and the scheduler counts their task slots (what it
        // plans partitions for) each second.
        std::thread::sleep(Duration::from_millis(1500));
        Self {
            scheduler,
            executors,
            others,
        }
    }

    pub(crate) fn engine_url(&self) -> String {
        format!("df://127.0.0.1:{}", self.scheduler)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for c in self.executors.iter_mut().chain(self.others.iter_mut()) {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn gen_logs(dir: &std::path::Path, views: u64, ads: u64) {
    generate(&GenOptions {
        dir: dir.to_owned(),
        advertisers: 6,
        inactive: 2,
        products: 40,
        days: 3,
        views_per_day: views,
        ads_per_day: ads,
        click_rate: 0.05,
        bad_rows_per_day: 8,
        layout: Layout::Single,
        seed: 11,
        ..GenOptions::default()
    })
    .unwrap();
}

pub(crate) type Row = (
    String,
    String,
    i16,
    String,
    f64,
    Option<i64>,
    Option<i64>,
    Option<i64>,
);

pub(crate) async fn published(app: &TestApp) -> Vec<Row> {
    app.db
        .query(
            "SELECT advertiser_id, model::text, rank, product_id, score, clicks, impressions, views \
             FROM recommendations ORDER BY 1, 2, 3",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| {
            (
                r.get(0),
                r.get(1),
                r.get(2),
                r.get(3),
                r.get(4),
                r.get(5),
                r.get(6),
                r.get(7),
            )
        })
        .collect()
}

/// What a pipeline run says it counted: totals and filter_data's rows by outcome.
pub(crate) fn counted(run: &Value) -> (Value, Value, Value) {
    let f = &run["details"]["filter_data"];
    (
        run["rows_in"].clone(),
        run["bad_rows"].clone(),
        f["details"]
            .as_object()
            .map(|d| {
                ["advertiser_ids", "product_views", "ads_views"]
                    .iter()
                    .map(|t| (t.to_string(), d[*t]["rows"].clone()))
                    .collect::<serde_json::Map<_, _>>()
                    .into()
            })
            .unwrap_or(Value::Null),
    )
}

async fn in_process_answer(views: u64, ads: u64) -> (Vec<Row>, (Value, Value, Value)) {
    let app = spawn_app().await;
    gen_logs(&app.raw, views, ads);
    let run = app.run_task("pipeline", DAY).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["details"]["engine"], "in-process", "{run}");
    let answer = (published(&app).await, counted(&run));
    app.stop().await;
    answer
}

#[tokio::test]
async fn a_cluster_gives_exactly_the_in_process_answer() {
    // Arrange: an ads log of four 8 MiB ranges, so its scan can have a partition per task slot
    // of three executors (in this process: one per query thread, two).
    let (views, ads) = (100_000, 200_000);
    let (rows, counts) = in_process_answer(views, ads).await;
    let cluster = Cluster::start(3);
    let app = spawn_app_with(Options {
        engine_url: Some(cluster.engine_url()),
        ..Options::default()
    })
    .await;
    gen_logs(&app.raw, views, ads);

    // Act
    let run = app.run_task("pipeline", DAY).await;

    // Assert
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["details"]["engine"], cluster.engine_url().as_str());
    assert_eq!(counted(&run), counts, "rows and bad rows by reason");
    assert_eq!(published(&app).await, rows);
    assert!(!rows.is_empty());
    // The scheduler planned the scan for its slots, not for the service's threads.
    let ads_views = &run["details"]["filter_data"]["details"]["ads_views"];
    assert_eq!(ads_views["partitions"], 3, "{ads_views}");
    // Nothing of the run is left outside its published outputs (reports, skipped rows).
    let stray: Vec<_> = walk(&app.work)
        .into_iter()
        .filter(|p| {
            let s = p.to_string_lossy();
            s.contains("_scan-") || s.contains("outcome=inactive")
        })
        .collect();
    assert!(stray.is_empty(), "{stray:?}");
    app.stop().await;
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// One executor dies while filter_data runs: the run completes on the other with exactly the
/// in-process answer. The scheduler's watchdog notices the death within seconds and gives the
/// dead executor's tasks to the survivor; had Ballista lost the job, the service would have run
/// the stage's query again. Nothing of a lost task or attempt is left beside the outputs. (How
/// long the kill costs is measured by `make bench-scale`, not asserted here.)
#[tokio::test]
async fn an_executor_killed_mid_filter_data_costs_a_retry_not_the_run() {
    // Arrange: a day large enough that filter_data takes a few seconds on the cluster.
    let (views, ads) = (400_000, 600_000);
    let (rows, counts) = in_process_answer(views, ads).await;
    let mut cluster = Cluster::start(2);
    let app = spawn_app_with(Options {
        engine_url: Some(cluster.engine_url()),
        ..Options::default()
    })
    .await;
    gen_logs(&app.raw, views, ads);

    // Act: start the pipeline, kill an executor once filter_data is under way.
    let (status, run) = app
        .post_job(&format!("/jobs/pipeline?date={DAY}"), Some(TOKEN))
        .await;
    assert_eq!(status, 202, "{run}");
    let id = run["id"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let run = app.get_auth(&format!("/jobs/runs/{id}")).await.1;
        if run["progress"]["stage"] == "filter_data" {
            break;
        }
        assert_eq!(run["status"], "running", "filter_data never started: {run}");
        assert!(
            Instant::now() < deadline,
            "filter_data never started: {run}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let victim = &mut cluster.executors[0];
    victim.kill().unwrap();
    victim.wait().unwrap();
    let mut run = app.get_auth(&format!("/jobs/runs/{id}")).await.1;
    let deadline = Instant::now() + Duration::from_secs(240);
    while run["status"] == "running" || run["status"] == "queued" {
        assert!(Instant::now() < deadline, "the run never finished: {run}");
        run = app.get_auth(&format!("/jobs/runs/{id}?wait=30")).await.1;
    }

    // Assert
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(counted(&run), counts, "rows and bad rows by reason");
    assert_eq!(published(&app).await, rows);
    let parts: Vec<_> = walk(&app.work)
        .into_iter()
        .filter(|p| p.to_string_lossy().contains("_parts"))
        .collect();
    assert!(parts.is_empty(), "reports left behind: {parts:?}");
    app.stop().await;
}
