//! Configuration, read once from the environment at startup (see `.env.example`).
//!
//! Each command reads only the parts it needs: `migrate` needs the database, `run` the database and
//! storage, `serve` everything. A missing required variable fails startup naming the variable.
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use secrecy::SecretString;
use url::Url;

/// `DATABASE_URL`, `DB_POOL_SIZE`, `PGSSLROOTCERT`, `DB_POOL_TIMEOUT_SECS`, `DB_STATEMENT_TIMEOUT_SECS`.
#[derive(Clone, Debug)]
pub struct DbConfig {
    /// libpq-style URL; `sslmode=require|verify-ca|verify-full` turns TLS on (certificates are always verified).
    pub url: SecretString,
    pub pool_size: usize,
    /// Extra CA roots (PEM bundle), e.g. the Amazon RDS bundle; the Mozilla roots are always trusted.
    pub ca_file: Option<PathBuf>,
    /// The longest wait for a pooled connection, opening one included.
    pub pool_timeout: Duration,
    /// The longest a request's database work may take once it has a connection (also Postgres's
    /// `statement_timeout` on the serving connections).
    pub statement_timeout: Duration,
}

/// `RAW_URL`, `WORK_URL`, `RETENTION_DAYS`, `RETENTION_MAX_PRUNE_DATES`, `PUBLISH_MAX_GAP_DAYS`.
#[derive(Clone, Debug)]
pub struct StorageConfig {
    /// Where the raw logs live: `s3://bucket/prefix/`, `file:///abs/dir/` or `memory:///`.
    pub raw_url: Url,
    /// Where intermediate, date-keyed outputs are written.
    pub work_url: Url,
    /// Dates more than this many days before the one published are pruned.
    pub retention_days: u32,
    /// A publication prunes at most this many dates (unless forced).
    pub max_prune_dates: u32,
    /// A date more than this many days after the latest published one needs `force`.
    pub max_gap_days: u32,
}

/// `JOB_MEMORY_LIMIT`, `JOB_THREADS`, `JOB_SPILL_DIR`, `ENGINE_URL`, `ENGINE_JOB_TIMEOUT_SECS`: the query engine (see
/// `jobs::engine`).
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// Bytes all running queries may hold together; spilling operators spill past it.
    pub memory_limit: u64,
    pub threads: usize,
    /// Where spill files go (default: the OS temp directory).
    pub spill_dir: Option<PathBuf>,
    /// `df://host:port`: run the jobs' queries on that Ballista scheduler's cluster; unset, in
    /// this process.
    pub engine_url: Option<Url>,
    /// `ENGINE_JOB_TIMEOUT_SECS`: the longest one query may take on the cluster. Ballista can
    /// lose a job when an executor dies mid-stage (it then never finishes); past this the
    /// stage fails with an error saying so, instead of waiting for the run's hour.
    pub cluster_job_timeout: Duration,
}

/// `JOBS_TOKENS`: bearer tokens accepted on `/jobs`, comma-separated so they can be rotated;
/// `JOBS_ALLOW_PLAIN_HTTP`.
#[derive(Clone, Debug)]
pub struct AuthConfig {
    pub tokens: Vec<SecretString>,
    /// Accept `/jobs` calls a proxy received over plain HTTP (`X-Forwarded-Proto: http`): only
    /// for a deployment made without a certificate on purpose. Default false.
    pub allow_plain_http: bool,
}

/// `HOST`, `PORT`, `SHUTDOWN_GRACE_SECS`, `READ_CACHE`.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    pub host: IpAddr,
    pub port: u16,
    /// Cache `/recommendations` answers until the next publication (see `db::cache`).
    pub read_cache: bool,
    /// How long in-flight requests (long polls included) may take to finish after SIGTERM.
    pub shutdown_grace: Duration,
}

/// Everything `adrec serve` needs.
#[derive(Clone, Debug)]
pub struct Config {
    pub db: DbConfig,
    pub storage: StorageConfig,
    pub engine: EngineConfig,
    pub auth: AuthConfig,
    pub server: ServerConfig,
}

impl Config {
    pub fn from_env() -> anyhow::Result<Self> {
        Ok(Self {
            db: DbConfig::from_env()?,
            storage: StorageConfig::from_env()?,
            engine: EngineConfig::from_env()?,
            auth: AuthConfig::from_env()?,
            server: ServerConfig::from_env()?,
        })
    }
}

impl DbConfig {
    pub fn from_env() -> anyhow::Result<Self> {
        Ok(Self {
            url: SecretString::from(required("DATABASE_URL")?),
            pool_size: parsed("DB_POOL_SIZE", 16)?,
            ca_file: optional("PGSSLROOTCERT").map(PathBuf::from),
            pool_timeout: secs("DB_POOL_TIMEOUT_SECS", 2)?,
            statement_timeout: secs("DB_STATEMENT_TIMEOUT_SECS", 5)?,
        })
    }
}

impl StorageConfig {
    pub fn from_env() -> anyhow::Result<Self> {
        Ok(Self {
            raw_url: dir_url("RAW_URL")?,
            work_url: dir_url("WORK_URL")?,
            retention_days: parsed("RETENTION_DAYS", 30)?,
            max_prune_dates: parsed("RETENTION_MAX_PRUNE_DATES", 3)?,
            max_gap_days: parsed("PUBLISH_MAX_GAP_DAYS", 7)?,
        })
    }
}

impl EngineConfig {
    /// Half the memory the host gives the process (its cgroup limit, else the machine's RAM)
    /// unless `JOB_MEMORY_LIMIT` says otherwise: the rest is for serving, the scan's buffers and
    /// what DataFusion does not account for.
    pub fn from_env() -> anyhow::Result<Self> {
        let available = crate::system::available_memory();
        let memory_limit = match optional("JOB_MEMORY_LIMIT") {
            None => available / 2,
            Some(v) => parse_bytes(&v, available).map_err(|e| {
                anyhow::anyhow!("environment variable JOB_MEMORY_LIMIT={v:?} is invalid: {e}")
            })?,
        };
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let threads: usize = parsed("JOB_THREADS", cores)?;
        if threads == 0 {
            bail!("environment variable JOB_THREADS must be at least 1");
        }
        Ok(Self {
            memory_limit,
            threads,
            spill_dir: optional("JOB_SPILL_DIR").map(PathBuf::from),
            engine_url: engine_url()?,
            cluster_job_timeout: secs("ENGINE_JOB_TIMEOUT_SECS", 900)?,
        })
    }
}

/// `1073741824`, `512MiB`, `512M`, `2GiB`, `2G`, `64KiB` (binary units, any case), or a share of
/// `available` such as `60%`.
pub fn parse_bytes(raw: &str, available: u64) -> Result<u64, String> {
    let s = raw.trim();
    if let Some(pct) = s.strip_suffix('%') {
        let p: f64 = pct
            .trim()
            .parse()
            .map_err(|_| "expected a percentage like 60%".to_owned())?;
        if !(p > 0.0 && p <= 100.0) {
            return Err("a percentage must be in (0, 100]".into());
        }
        return Ok((available as f64 * p / 100.0) as u64);
    }
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| "expected bytes, e.g. 1073741824, 512MiB, 2GiB or 60%".to_owned())?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kib" | "kb" => 10,
        "m" | "mib" | "mb" => 20,
        "g" | "gib" | "gb" => 30,
        other => return Err(format!("unknown unit {other:?} (expected KiB, MiB or GiB)")),
    };
    n.checked_shl(shift)
        .filter(|v| v >> shift == n && *v > 0)
        .ok_or_else(|| "out of range".to_owned())
}

impl AuthConfig {
    pub fn from_env() -> anyhow::Result<Self> {
        let tokens: Vec<SecretString> = required("JOBS_TOKENS")?
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(SecretString::from)
            .collect();
        if tokens.is_empty() {
            bail!("JOBS_TOKENS holds no token (expected one or more, comma-separated)");
        }
        Ok(Self {
            tokens,
            allow_plain_http: parsed("JOBS_ALLOW_PLAIN_HTTP", false)?,
        })
    }
}

impl ServerConfig {
    pub fn from_env() -> anyhow::Result<Self> {
        Ok(Self {
            host: parsed("HOST", IpAddr::from([0, 0, 0, 0]))?,
            port: parsed("PORT", 8080)?,
            read_cache: parsed("READ_CACHE", true)?,
            shutdown_grace: Duration::from_secs(parsed("SHUTDOWN_GRACE_SECS", 30)?),
        })
    }
}

/// `ENGINE_URL`: unset, or `df://host[:port]` (port 50050 by default).
fn engine_url() -> anyhow::Result<Option<Url>> {
    let Some(raw) = optional("ENGINE_URL") else {
        return Ok(None);
    };
    let url = Url::parse(raw.trim())
        .ok()
        .filter(|u| u.scheme() == "df" && u.host_str().is_some_and(|h| !h.is_empty()))
        .with_context(|| {
            format!("environment variable ENGINE_URL={raw:?} is invalid: expected df://host:port")
        })?;
    Ok(Some(url))
}

fn optional(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn required(name: &str) -> anyhow::Result<String> {
    optional(name)
        .with_context(|| format!("missing required environment variable {name} (see .env.example)"))
}

fn parsed<T: std::str::FromStr>(name: &str, default: T) -> anyhow::Result<T>
where
    T::Err: std::fmt::Display,
{
    match optional(name) {
        None => Ok(default),
        Some(v) => v
            .trim()
            .parse()
            .map_err(|e| anyhow::anyhow!("environment variable {name}={v:?} is invalid: {e}")),
    }
}

/// Whole seconds, at least 1.
fn secs(name: &str, default: u64) -> anyhow::Result<Duration> {
    let n: u64 = parsed(name, default)?;
    if n == 0 {
        bail!("environment variable {name} must be at least 1");
    }
    Ok(Duration::from_secs(n))
}

/// A directory URL: always ends with `/` so that joining a relative path stays inside it.
fn dir_url(name: &str) -> anyhow::Result<Url> {
    let raw = required(name)?;
    parse_dir_url(&raw).with_context(|| format!("environment variable {name}={raw:?} is invalid"))
}

/// Parses `s3://b/p`, `file:///abs/p`, `memory:///p` or a bare absolute path into a directory URL.
pub fn parse_dir_url(raw: &str) -> anyhow::Result<Url> {
    let mut url = if raw.starts_with('/') {
        Url::from_directory_path(raw).map_err(|()| anyhow::anyhow!("not an absolute path"))?
    } else {
        Url::parse(raw).context("expected s3://bucket/prefix/, file:///abs/path/ or memory:///")?
    };
    match url.scheme() {
        "s3" | "file" | "memory" => {}
        other => bail!("unsupported scheme {other:?} (expected s3, file or memory)"),
    }
    if url.scheme() == "s3" && url.host_str().is_none_or(str::is_empty) {
        bail!("s3 URL needs a bucket: s3://bucket/prefix/");
    }
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::{parse_bytes, parse_dir_url};

    #[test]
    fn byte_sizes_take_binary_units_and_shares() {
        assert_eq!(parse_bytes("1048576", 0).unwrap(), 1 << 20);
        assert_eq!(parse_bytes("512MiB", 0).unwrap(), 512 << 20);
        assert_eq!(parse_bytes("2g", 0).unwrap(), 2 << 30);
        assert_eq!(parse_bytes("64 KiB", 0).unwrap(), 64 << 10);
        assert_eq!(parse_bytes("50%", 4 << 30).unwrap(), 2 << 30);
        for bad in ["", "lots", "12XB", "0", "150%", "-1G"] {
            assert!(parse_bytes(bad, 1 << 30).is_err(), "{bad}");
        }
    }

    #[test]
    fn dir_urls_always_end_with_a_slash() {
        assert_eq!(parse_dir_url("s3://b/raw").unwrap().as_str(), "s3://b/raw/");
        assert_eq!(parse_dir_url("/tmp/x").unwrap().as_str(), "file:///tmp/x/");
        assert_eq!(
            parse_dir_url("file:///tmp/x/").unwrap().as_str(),
            "file:///tmp/x/"
        );
        assert_eq!(parse_dir_url("memory:///").unwrap().as_str(), "memory:///");
    }

    #[test]
    fn bad_dir_urls_are_refused() {
        assert!(parse_dir_url("http://x/").is_err());
        assert!(parse_dir_url("s3:///nobucket").is_err());
        assert!(parse_dir_url("relative/path").is_err());
    }
}
