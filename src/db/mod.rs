//! Postgres: every statement adrec runs (files in `sql/statements/`) and its Rust wrapper, the
//! connection pools (TLS when the URL asks for it), the deadlines on the request path, the
//! schema migrations (`sql/migrations/`) and the read cache.
//!
//! * `reads`: what the API serves; `cache`: `/recommendations` answers held until the next
//!   publication;
//! * `runs`: the `job_runs` records; `publish` and `unpublish`: the served table's writes;
//! * `migrate`, `tls`.
//!
//! Nothing here knows HTTP: failures are a `DbError`, which `routes::error::AppError` maps at the
//! edge (unavailable or late: 503; anything else: 500).
pub mod cache;
mod migrate;
pub mod publish;
pub mod reads;
pub mod runs;
mod tls;
mod unpublish;

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use deadpool_postgres::{Client, Manager, ManagerConfig, Pool, RecyclingMethod, Runtime, Timeouts};
use secrecy::ExposeSecret;
use tokio_postgres::config::SslMode;
use tokio_postgres::error::SqlState;

use crate::config::DbConfig;

pub use migrate::{MIGRATE_SQL, MIGRATIONS, Migration, migrate, migrate_with};
pub use runs::{Run, RunningRun};
pub use unpublish::{UNPUBLISH_SQL, Unpublished, unpublish};

/// Why a database call failed.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// No connection could be had, or it broke: retrying later may work.
    #[error("the database is unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The database did not answer within the deadline (it may be hung or overloaded).
    #[error("the database did not answer within {0:?}")]
    Timeout(Duration),
    #[error("database query failed")]
    Query(#[source] tokio_postgres::Error),
}

impl DbError {
    /// Unavailable or late, as opposed to a failing statement.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, DbError::Unavailable(_) | DbError::Timeout(_))
    }
}

impl From<tokio_postgres::Error> for DbError {
    fn from(e: tokio_postgres::Error) -> Self {
        if e.code() == Some(&SqlState::QUERY_CANCELED) {
            // statement_timeout: the server gave up on the statement.
            DbError::Timeout(Duration::ZERO)
        } else if is_connection_error(&e) {
            DbError::Unavailable(Box::new(e))
        } else {
            DbError::Query(e)
        }
    }
}

impl From<deadpool_postgres::PoolError> for DbError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        DbError::Unavailable(Box::new(e))
    }
}

/// A broken or refused connection, or a server shutting down or starting up, as opposed to an
/// error about the statement itself.
pub fn is_connection_error(e: &tokio_postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    match e.code() {
        // Class 08 (connection exception) and 57P01-57P03 (shutdown, crash, starting up).
        Some(code) => {
            code.code().starts_with("08")
                || [
                    SqlState::ADMIN_SHUTDOWN,
                    SqlState::CRASH_SHUTDOWN,
                    SqlState::CANNOT_CONNECT_NOW,
                ]
                .contains(code)
        }
        // No SQLSTATE: an I/O error, a timeout or a closed connection.
        None => e.as_db_error().is_none(),
    }
}

/// The serving pool with its deadlines: every call on the request path goes through `run`.
#[derive(Clone)]
pub struct Db {
    pool: Pool,
    statement_timeout: Duration,
    pool_timeout: Duration,
}

impl Db {
    pub fn new(pool: Pool, cfg: &DbConfig) -> Self {
        Self {
            pool,
            statement_timeout: cfg.statement_timeout,
            pool_timeout: cfg.pool_timeout,
        }
    }

    /// Runs `work` on a pooled connection: at most `pool_timeout` to get one, then at most
    /// `statement_timeout` for the work. A connection that overran is dropped, not reused.
    pub async fn run<T>(
        &self,
        work: impl AsyncFnOnce(&Client) -> Result<T, tokio_postgres::Error>,
    ) -> Result<T, DbError> {
        let client = self.pool.get().await?;
        let result = tokio::time::timeout(self.statement_timeout, work(&client)).await;
        match result {
            Ok(r) => r.map_err(DbError::from),
            Err(_) => {
                drop(deadpool_postgres::Object::take(client));
                Err(DbError::Timeout(self.statement_timeout))
            }
        }
    }

    /// The longest any request-path database call may take: the pool wait plus the statement.
    pub fn deadline(&self) -> Duration {
        self.pool_timeout + self.statement_timeout
    }

    pub fn status(&self) -> deadpool_postgres::Status {
        self.pool.status()
    }

    /// The pool itself, for callers that bound their own calls (the metrics refresh).
    pub fn pool(&self) -> &Pool {
        &self.pool
    }
}

/// How to open a connection: the parsed URL and the TLS connector.
#[derive(Clone)]
pub struct Connector {
    pub config: tokio_postgres::Config,
    pub tls: tokio_postgres_rustls::MakeRustlsConnect,
}

pub fn connector(cfg: &DbConfig) -> anyhow::Result<Connector> {
    let (mut config, tls_wanted) = parse_url(cfg.url.expose_secret())?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(cfg.pool_timeout);
    }
    config.application_name("adrec");
    let tls = tls::connector(tls_wanted, cfg.ca_file.as_deref())?;
    Ok(Connector { config, tls })
}

/// Builds the pool the jobs use (their statements may run long). No connection is opened here:
/// the first query (migrations, at startup) does.
pub fn pool(cfg: &DbConfig) -> anyhow::Result<Pool> {
    build_pool(connector(cfg)?, cfg)
}

/// Builds the pool that serves requests: its connections carry Postgres's `statement_timeout`,
/// so a statement the client gave up on does not keep running on the server either.
pub fn serving_pool(cfg: &DbConfig) -> anyhow::Result<Pool> {
    let mut connector = connector(cfg)?;
    let ms = cfg.statement_timeout.as_millis();
    let options = match connector.config.get_options() {
        Some(o) => format!("{o} -c statement_timeout={ms}"),
        None => format!("-c statement_timeout={ms}"),
    };
    connector.config.options(options);
    build_pool(connector, cfg)
}

fn build_pool(Connector { config, tls }: Connector, cfg: &DbConfig) -> anyhow::Result<Pool> {
    let manager = Manager::from_config(
        config,
        tls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(cfg.pool_size)
        .runtime(Runtime::Tokio1)
        .timeouts(Timeouts {
            wait: Some(cfg.pool_timeout),
            create: Some(cfg.pool_timeout),
            recycle: Some(cfg.pool_timeout),
        })
        .build()
        .context("building the database pool")
}

/// Parses a libpq-style URL. `sslmode=verify-ca|verify-full` are accepted as `require` (we always
/// verify the server certificate); with no `sslmode`, TLS is off, as for a local Postgres.
fn parse_url(url: &str) -> anyhow::Result<(tokio_postgres::Config, bool)> {
    let normalized = url
        .replace("sslmode=verify-full", "sslmode=require")
        .replace("sslmode=verify-ca", "sslmode=require");
    // Never echo the URL itself: it may hold a password.
    let mut pg = tokio_postgres::Config::from_str(&normalized)
        .map_err(|e| anyhow::anyhow!("DATABASE_URL is not a valid Postgres URL: {e}"))?;
    let asked = normalized.contains("sslmode=");
    if !asked {
        pg.ssl_mode(SslMode::Disable);
    }
    let tls_wanted = pg.get_ssl_mode() != SslMode::Disable;
    Ok((pg, tls_wanted))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_follows_the_url() {
        let (pg, tls) = parse_url("postgres://u:p@h:5432/d").unwrap();
        assert!(!tls);
        assert_eq!(pg.get_ssl_mode(), SslMode::Disable);
        let (pg, tls) = parse_url("postgres://u:p@h/d?sslmode=verify-full").unwrap();
        assert!(tls);
        assert_eq!(pg.get_ssl_mode(), SslMode::Require);
    }

    #[test]
    fn url_errors_do_not_echo_the_password() {
        let err = parse_url("postgres://u:hunter2@h/d?sslmode=bogus").unwrap_err();
        assert!(!format!("{err:#}").contains("hunter2"));
    }
}
