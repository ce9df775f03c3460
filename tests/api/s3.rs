//! The pipeline against a real S3 server: s3s-fs, which checks SigV4 signatures.
//! `make test` installs it (`cargo install s3s-fs@0.14.1 --features binary --locked`);
//! set ADREC_S3S_FS to its path if it is not on PATH.
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::helpers::{Options, course_data, spawn_app_with};

struct S3Server {
    child: Child,
    port: u16,
    root: tempfile::TempDir,
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const KEY: &str = "AKIAADRECTEST";
const SECRET: &str = "adrec-test-secret-key";

async fn start_s3s() -> S3Server {
    let bin = std::env::var("ADREC_S3S_FS").unwrap_or_else(|_| "s3s-fs".into());
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(root.path().join("lake")).unwrap();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(&bin)
        .args([
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--access-key",
            KEY,
            "--secret-key",
            SECRET,
        ])
        .arg(root.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot start {bin} ({e}): run `make s3s-fs` or set ADREC_S3S_FS")
        });
    // From here on, Drop kills and waits for the child.
    let server = S3Server { child, port, root };
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return server;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("s3s-fs did not start on port {port}");
}

/// Copies the course's raw files into the bucket folder (s3s-fs serves a folder).
fn upload(root: &std::path::Path, prefix: &str) {
    let src = course_data();
    let dst = root.join("lake").join(prefix);
    std::fs::create_dir_all(&dst).unwrap();
    for f in ["advertiser_ids", "product_views", "ads_views"] {
        std::fs::copy(src.join(f), dst.join(f)).unwrap();
    }
}

/// The service's settings with both RAW_URL and WORK_URL in the bucket `lake`.
fn lake() -> Options {
    Options {
        raw_url: Some("s3://lake/raw/".into()),
        work_url: Some("s3://lake/work/".into()),
        ..Options::default()
    }
}

async fn lake_app() -> crate::helpers::TestApp {
    spawn_app_with(lake()).await
}

/// Both tests set the AWS variables; they run in one test so they never race on the environment.
#[tokio::test]
async fn the_pipeline_runs_against_a_real_s3_server_and_signatures_are_checked() {
    let s3 = start_s3s().await;
    upload(s3.root.path(), "raw");
    // SAFETY: only this test touches these variables, before the app reads them.
    unsafe {
        std::env::set_var("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{}", s3.port));
        std::env::set_var("AWS_REGION", "us-east-1");
        std::env::set_var("AWS_ACCESS_KEY_ID", KEY);
        std::env::set_var("AWS_SECRET_ACCESS_KEY", SECRET);
        std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
    }
    let app = lake_app().await;

    let run = app.run_task("pipeline", "2024-11-25").await;

    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["rows_out"], 800);
    let (status, body) = app
        .get_json("/recommendations/IDOFCO721HTJGDH7332G/TopProduct")
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["recommendations"][0]["product_id"], "20peku");
    // Outputs and manifests landed in the bucket, keyed by date.
    let work = s3.root.path().join("lake/work");
    for stage in ["filtered", "top_ctr", "top_product"] {
        assert!(
            work.join(format!("{stage}/date=2024-11-25/_manifest.json"))
                .exists(),
            "{stage}"
        );
    }
    // A rerun replaces that date's files (stale ones deleted through the S3 API).
    assert_eq!(
        app.run_task("top_ctr", "2024-11-25").await["status"],
        "succeeded"
    );
    let files = std::fs::read_dir(work.join("top_ctr/date=2024-11-25/top_ctr"))
        .unwrap()
        .count();
    assert_eq!(files, 1);
    on_a_cluster_too(&app, &run).await;
    app.stop().await;

    // A wrong secret: s3s-fs refuses the signature and the run fails, saying so without the key.
    unsafe { std::env::set_var("AWS_SECRET_ACCESS_KEY", "not-the-secret") };
    let app = lake_app().await;
    let run = app.run_task("filter_data", "2024-11-26").await;
    assert_eq!(run["status"], "failed", "{run}");
    let err = run["error"].as_str().unwrap();
    assert!(err.contains("s3://lake/raw"), "{err}");
    assert!(
        !err.contains("not-the-secret") && !err.contains(SECRET),
        "{err}"
    );
    app.stop().await;
}

/// The same day on a Ballista cluster (a scheduler and two executor processes) over the same
/// bucket: the executors sign their own requests with the AWS chain they inherit from this
/// process (never credentials inside plans) and give exactly the in-process answer.
async fn on_a_cluster_too(in_process: &crate::helpers::TestApp, run: &serde_json::Value) {
    use crate::ballista::{Cluster, counted, published};
    let cluster = Cluster::start(2);
    let app = spawn_app_with(Options {
        work_url: Some("s3://lake/work-cluster/".into()),
        engine_url: Some(cluster.engine_url()),
        ..lake()
    })
    .await;

    let on_cluster = app.run_task("pipeline", "2024-11-25").await;

    assert_eq!(on_cluster["status"], "succeeded", "{on_cluster}");
    assert_eq!(
        on_cluster["details"]["engine"],
        cluster.engine_url().as_str()
    );
    assert_eq!(
        counted(&on_cluster),
        counted(run),
        "rows and bad rows by reason"
    );
    let rows = published(in_process).await;
    assert!(!rows.is_empty());
    assert_eq!(published(&app).await, rows);
    app.stop().await;
}
