use std::path::{Path, PathBuf};
use std::sync::Once;
use std::time::Duration;

use adrec::config::{
    AuthConfig, Config, DbConfig, EngineConfig, ServerConfig, StorageConfig, parse_dir_url,
};
use adrec::startup::Application;
use chrono::NaiveDate;
use secrecy::SecretString;
use serde_json::Value;
use tokio_postgres::NoTls;
use uuid::Uuid;

/// A response's JSON body, `Null` if it has none. Parsed here rather than with reqwest's `json`
/// feature: that feature changes reqwest's build, and object_store, hence all of DataFusion,
/// would then be compiled twice, once for `cargo build` and once for the tests.
pub async fn json_of(r: reqwest::Response) -> Value {
    r.bytes()
        .await
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(Value::Null)
}

pub const TOKEN: &str = "test-token-0123456789";

static TRACING: Once = Once::new();

pub fn admin_url() -> String {
    std::env::var("ADREC_TEST_PG").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

/// A throwaway database, created and then migrated by the app's own startup.
pub async fn create_database() -> (String, String) {
    create_database_on(&admin_url()).await
}

/// The same on the server at `base` (`postgres://user@host:port`).
pub async fn create_database_on(base: &str) -> (String, String) {
    let name = format!("adrec_test_{}", Uuid::new_v4().simple());
    let (client, conn) = tokio_postgres::connect(&format!("{base}/postgres"), NoTls)
        .await
        .expect("Postgres at ADREC_TEST_PG (start one with `make db-up`)");
    tokio::spawn(conn);
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    (name.clone(), format!("{base}/{name}"))
}

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub db: tokio_postgres::Client,
    pub database_url: String,
    pub raw: PathBuf,
    pub work: PathBuf,
    _dirs: tempfile::TempDir,
    pub stop: Option<tokio::sync::oneshot::Sender<()>>,
    pub handle: Option<tokio::task::JoinHandle<()>>,
}

pub struct Options {
    pub database_url: Option<String>,
    /// PGSSLROOTCERT for the app.
    pub ca_file: Option<PathBuf>,
    pub raw_url: Option<String>,
    pub work_url: Option<String>,
    pub retention_days: u32,
    /// JOB_MEMORY_LIMIT for the app.
    pub memory_limit: u64,
    /// DB_POOL_TIMEOUT_SECS and DB_STATEMENT_TIMEOUT_SECS for the app.
    pub pool_timeout: Duration,
    pub statement_timeout: Duration,
    /// ENGINE_URL for the app (a Ballista scheduler), else jobs run in-process.
    pub engine_url: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            database_url: None,
            ca_file: None,
            raw_url: None,
            work_url: None,
            retention_days: 30,
            memory_limit: 512 << 20,
            pool_timeout: Duration::from_secs(2),
            statement_timeout: Duration::from_secs(5),
            engine_url: None,
        }
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(Options::default()).await
}

pub async fn spawn_app_with(opts: Options) -> TestApp {
    TRACING.call_once(|| {
        if std::env::var("TEST_LOG").is_ok() {
            adrec::telemetry::init();
        }
    });
    let dirs = tempfile::tempdir().unwrap();
    let raw = dirs.path().join("raw");
    let work = dirs.path().join("work");
    std::fs::create_dir_all(&raw).unwrap();
    std::fs::create_dir_all(&work).unwrap();
    let database_url = match opts.database_url {
        Some(u) => u,
        None => create_database().await.1,
    };
    let mut config = config(
        &database_url,
        opts.raw_url.as_deref().unwrap_or(raw.to_str().unwrap()),
        opts.work_url.as_deref().unwrap_or(work.to_str().unwrap()),
        opts.retention_days,
    );
    config.db.ca_file = opts.ca_file;
    config.engine.memory_limit = opts.memory_limit;
    config.db.pool_timeout = opts.pool_timeout;
    config.db.statement_timeout = opts.statement_timeout;
    config.engine.engine_url = opts.engine_url.map(|u| u.parse().expect("an ENGINE_URL"));
    let app = Application::build(config).await.expect("the app builds");
    let base = format!("http://{}", app.addr());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let handle = tokio::spawn(app.run_until_stopped(async {
        let _ = rx.await;
    }));
    let plain_url = database_url.split('?').next().unwrap();
    let (db, conn) = tokio_postgres::connect(plain_url, NoTls).await.unwrap();
    tokio::spawn(conn);
    TestApp {
        base,
        client: reqwest::Client::new(),
        db,
        database_url,
        raw,
        work,
        _dirs: dirs,
        stop: Some(tx),
        handle: Some(handle),
    }
}

pub fn config(database_url: &str, raw: &str, work: &str, retention_days: u32) -> Config {
    Config {
        db: DbConfig {
            url: SecretString::from(database_url.to_owned()),
            pool_size: 8,
            ca_file: None,
            pool_timeout: Duration::from_secs(2),
            statement_timeout: Duration::from_secs(5),
        },
        storage: StorageConfig {
            raw_url: parse_dir_url(raw).unwrap(),
            work_url: parse_dir_url(work).unwrap(),
            retention_days,
            max_prune_dates: 3,
            max_gap_days: 7,
        },
        engine: EngineConfig {
            memory_limit: 512 << 20,
            threads: 2,
            spill_dir: None,
            engine_url: None,
            cluster_job_timeout: Duration::from_secs(60),
        },
        auth: AuthConfig {
            tokens: vec![SecretString::from("old-token"), SecretString::from(TOKEN)],
            allow_plain_http: false,
        },
        server: ServerConfig {
            host: [127, 0, 0, 1].into(),
            port: 0,
            read_cache: true,
            shutdown_grace: Duration::from_secs(2),
        },
    }
}

/// A response, read: its status, headers and JSON body (`Null` if it has none).
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl TestApp {
    /// The one request helper: `method path`, with a bearer `token` and a JSON `body` if given.
    pub async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<&str>,
    ) -> Reply {
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req
                .header("content-type", "application/json")
                .body(b.to_owned());
        }
        let r = req.send().await.unwrap();
        Reply {
            status: r.status().as_u16(),
            headers: r.headers().clone(),
            body: json_of(r).await,
        }
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap()
    }

    pub async fn get_json(&self, path: &str) -> (u16, Value) {
        let r = self.request(reqwest::Method::GET, path, None, None).await;
        (r.status, r.body)
    }

    /// A 200 of `content_type` (a prefix), as text.
    pub async fn page(&self, path: &str, content_type: &str) -> String {
        let r = self.get(path).await;
        assert_eq!(r.status().as_u16(), 200, "{path}");
        let got = r.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(got.starts_with(content_type), "{path}: {got}");
        r.text().await.unwrap()
    }

    pub async fn post_job(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        let r = self.request(reqwest::Method::POST, path, token, None).await;
        (r.status, r.body)
    }

    pub async fn get_auth(&self, path: &str) -> (u16, Value) {
        self.send_auth(reqwest::Method::GET, path, None).await
    }

    /// A request with the bearer token; the status and the JSON body.
    pub async fn send_auth(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&str>,
    ) -> (u16, Value) {
        let r = self.request(method, path, Some(TOKEN), body).await;
        (r.status, r.body)
    }

    /// `method path` (with the token) is refused with a 409 naming, and pointing at, `blocker`.
    pub async fn assert_conflict(&self, method: reqwest::Method, path: &str, blocker: Uuid) {
        let r = self.request(method, path, Some(TOKEN), None).await;
        assert_eq!(r.status, 409, "{path}: {}", r.body);
        assert_eq!(r.headers["location"], format!("/jobs/runs/{blocker}"));
        assert_error(&r.body, "conflict");
        let message = r.body["error"]["message"].as_str().unwrap();
        assert!(message.contains(&blocker.to_string()), "{message}");
    }

    /// One number from the test database, e.g. `SELECT count(*) FROM recommendations`.
    pub async fn count(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> i64 {
        self.db.query_one(sql, params).await.unwrap().get(0)
    }

    /// Runs a task over HTTP, long-polling until it finishes; returns the finished run.
    pub async fn run_task(&self, task: &str, date: &str) -> Value {
        let (status, mut run) = self
            .post_job(&format!("/jobs/{task}?date={date}&wait=60"), Some(TOKEN))
            .await;
        assert!(
            status == 200 || status == 202,
            "{task} {date}: {status} {run}"
        );
        while run["status"] == "running" {
            let (_, r) = self
                .get_auth(&format!(
                    "/jobs/runs/{}?wait=30",
                    run["id"].as_str().unwrap()
                ))
                .await;
            run = r;
        }
        run
    }

    /// Inserts `n` ranked rows for (date, advertiser, model).
    pub async fn seed(&self, date: &str, adv: &str, model: &str, n: i16) {
        seed(&self.db, date, adv, model, n).await;
    }

    /// The value of one metric line of `/metrics`.
    pub async fn metric(&self, series: &str) -> f64 {
        let text = self.get("/metrics").await.text().await.unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix(series).map(|v| v.trim().parse().unwrap()))
            .unwrap_or_else(|| panic!("no {series} in /metrics"))
    }

    /// The read cache turns on once its LISTEN connection is up, shortly after startup.
    pub async fn wait_for_read_cache(&self) {
        for _ in 0..100 {
            if self.metric("adrec_read_cache_live").await == 1.0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("the read cache never turned on");
    }

    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.handle.take() {
            let _ = h.await;
        }
    }
}

/// Inserts `n` ranked rows for (date, advertiser, model) and notifies, as db_writing does.
pub async fn seed(db: &tokio_postgres::Client, date: &str, adv: &str, model: &str, n: i16) {
    let date: NaiveDate = date.parse().unwrap();

    for rank in 1..=n {
        let (score, clicks, imps, views): (f64, Option<i64>, Option<i64>, Option<i64>) =
            if model == "top_ctr" {
                (
                    1.0 / f64::from(rank),
                    Some(i64::from(21 - rank)),
                    Some(100),
                    None,
                )
            } else {
                (
                    f64::from(100 - rank),
                    None,
                    None,
                    Some(i64::from(100 - rank)),
                )
            };
        db
                .execute(
                    "INSERT INTO recommendations VALUES ($1, $2, $3::text::rec_model, $4, $5, $6, $7, $8, $9)",
                    &[&date, &adv, &model, &rank, &format!("p{rank:02}"), &score, &clicks, &imps, &views],
                )
                .await
                .unwrap();
    }
    // As db_writing does: instances drop their read caches.
    db.execute("SELECT pg_notify($1, '')", &[&adrec::db::cache::CHANNEL])
        .await
        .unwrap();
}

/// Writes `content` to `dir/rel`, creating folders.
pub fn write(dir: &Path, rel: &str, content: &str) {
    let path = dir.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
}

/// The course's sample logs, shipped in the repository (`data/sample/`, 2024-11-23..25).
pub fn course_data() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/sample");
    assert!(p.exists(), "course sample data missing at {}", p.display());
    p.canonicalize().unwrap()
}

/// A response in the one error shape with this status and code.
pub fn assert_error_reply((status, body): &(u16, Value), expected: u16, code: &str) {
    assert_eq!(*status, expected, "{body}");
    assert_error(body, code);
}

pub fn assert_error(body: &Value, code: &str) {
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert_eq!(
        body.as_object().unwrap().len(),
        1,
        "only the error key: {body}"
    );
}

/// Every file under `dir`, relative to it, sorted (none if `dir` does not exist).
pub fn files_under(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                out.push(p.strip_prefix(root).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// A day (2024-05-01) of small synthetic logs in `dir`: 4 active advertisers and 1 inactive,
/// 20 products each, 300 views and 400 ad events; `seed` picks the rows.
pub fn small_logs(dir: &std::path::Path, seed: u64) {
    adrec::gen_data::generate(&adrec::gen_data::GenOptions {
        dir: dir.to_owned(),
        advertisers: 4,
        inactive: 1,
        products: 20,
        days: 1,
        views_per_day: 300,
        ads_per_day: 400,
        click_rate: 0.05,
        seed,
        ..adrec::gen_data::GenOptions::default()
    })
    .unwrap();
}
