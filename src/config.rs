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

/// `DATABASE_URL`, `DB_POOL_SIZE`, `PGSSLROOTCERT`.
#[derive(Clone, Debug)]
pub struct DbConfig {
    /// libpq-style URL; `sslmode=require|verify-ca|verify-full` turns TLS on (certificates are always verified).
    pub url: SecretString,
    pub pool_size: usize,
    /// Extra CA roots (PEM bundle), e.g. the Amazon RDS bundle; the Mozilla roots are always trusted.
    pub ca_file: Option<PathBuf>,
}

/// `RAW_URL`, `WORK_URL`, `RETENTION_DAYS`.
#[derive(Clone, Debug)]
pub struct StorageConfig {
    /// Where the raw logs live: `s3://bucket/prefix/`, `file:///abs/dir/` or `memory:///`.
    pub raw_url: Url,
    /// Where intermediate, date-keyed outputs are written.
    pub work_url: Url,
    pub retention_days: u32,
}

/// `JOBS_TOKENS`: bearer tokens accepted on `/jobs`, comma-separated so they can be rotated.
#[derive(Clone, Debug)]
pub struct AuthConfig {
    pub tokens: Vec<SecretString>,
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
    pub auth: AuthConfig,
    pub server: ServerConfig,
}

impl Config {
    pub fn from_env() -> anyhow::Result<Self> {
        Ok(Self {
            db: DbConfig::from_env()?,
            storage: StorageConfig::from_env()?,
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
        })
    }
}

impl StorageConfig {
    pub fn from_env() -> anyhow::Result<Self> {
        Ok(Self {
            raw_url: dir_url("RAW_URL")?,
            work_url: dir_url("WORK_URL")?,
            retention_days: parsed("RETENTION_DAYS", 30)?,
        })
    }
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
        Ok(Self { tokens })
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
    use super::parse_dir_url;

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
