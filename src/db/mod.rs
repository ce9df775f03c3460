//! Postgres: the connection pool (TLS when the URL asks for it) and the schema migrations.
pub mod cache;
mod migrate;
pub mod reads;
mod tls;

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use secrecy::ExposeSecret;
use tokio_postgres::config::SslMode;

use crate::config::DbConfig;

pub use migrate::{MIGRATIONS, migrate};

/// How to open a connection: the parsed URL and the TLS connector.
#[derive(Clone)]
pub struct Connector {
    pub config: tokio_postgres::Config,
    pub tls: tokio_postgres_rustls::MakeRustlsConnect,
}

pub fn connector(cfg: &DbConfig) -> anyhow::Result<Connector> {
    let (mut config, tls_wanted) = parse_url(cfg.url.expose_secret())?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(Duration::from_secs(5));
    }
    config.application_name("adrec");
    let tls = tls::connector(tls_wanted, cfg.ca_file.as_deref())?;
    Ok(Connector { config, tls })
}

/// Builds the pool. No connection is opened here: the first query (migrations, at startup) does.
pub fn pool(cfg: &DbConfig) -> anyhow::Result<Pool> {
    let Connector { config, tls } = connector(cfg)?;
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
        .wait_timeout(Some(Duration::from_secs(10)))
        .create_timeout(Some(Duration::from_secs(10)))
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
