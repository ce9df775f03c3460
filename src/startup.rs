//! Building and running the service; `main` and the integration tests start it the same way.
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::Config;
use crate::db;
use crate::db::cache::ReadCache;
use crate::jobs::{JobEnv, JobRunner};
use crate::routes::{AppState, routes};

pub struct Application {
    listener: TcpListener,
    addr: SocketAddr,
    state: AppState,
    jobs: Arc<JobRunner>,
    grace: Duration,
}

impl Application {
    /// Migrates the database, starts the jobs' engine, fails runs a crashed process left
    /// running, and binds the port (port 0 picks a free one). Nothing is served until
    /// `run_until_stopped`.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let jobs_pool = db::pool(&config.db)?;
        migrate(&jobs_pool).await?;
        let env = JobEnv::new(jobs_pool, &config.storage, &config.engine).await?;
        let pool = db::Db::new(db::serving_pool(&config.db)?, &config.db);
        let jobs = Arc::new(JobRunner::new(env));
        let orphans = jobs
            .fail_orphans()
            .await
            .context("marking interrupted runs")?;
        let sweeper = jobs.clone();
        tokio::spawn(async move { sweeper.sweep().await });
        if orphans > 0 {
            tracing::warn!(
                runs = orphans,
                "marked runs left running by a previous process as failed"
            );
        }
        let bind = SocketAddr::new(config.server.host, config.server.port);
        let listener = TcpListener::bind(bind)
            .await
            .with_context(|| format!("binding {bind}"))?;
        let addr = listener.local_addr()?;
        let cache = Arc::new(ReadCache::new(config.server.read_cache));
        if config.server.read_cache {
            let listener_cache = cache.clone();
            let connector = db::connector(&config.db)?;
            tokio::spawn(async move { listener_cache.listen(connector).await });
        }
        let state = AppState::new(pool, cache, jobs.clone(), &config.auth);
        Ok(Self {
            listener,
            addr,
            state,
            jobs,
            grace: config.server.shutdown_grace,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves until `shutdown` resolves, then lets in-flight requests finish for the grace
    /// period (warp alone would wait for them forever) and fails runs this process abandons.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()> + Send + 'static) {
        let (stop_tx, stop_rx) = watch::channel(false);
        tokio::spawn(async move {
            shutdown.await;
            let _ = stop_tx.send(true);
        });
        let stopped = |mut rx: watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|s| *s).await;
        };
        tracing::info!(addr = %self.addr, "adrec listening");
        let server = warp::serve(routes(self.state))
            .incoming(self.listener)
            .graceful(stopped(stop_rx.clone()))
            .run();
        let grace = self.grace;
        let deadline = async move {
            stopped(stop_rx).await;
            tracing::info!(grace_secs = grace.as_secs(), "shutting down");
            tokio::time::sleep(grace).await;
        };
        tokio::select! {
            () = server => {}
            () = deadline => tracing::warn!("grace period over; dropping open connections"),
        }
        self.jobs.abandon_in_flight().await;
    }
}

/// Applies pending migrations (`sql/migrations/`): the first thing `serve` and `run` do.
pub async fn migrate(pool: &deadpool_postgres::Pool) -> anyhow::Result<()> {
    let applied = db::migrate(pool).await.context("migrating the database")?;
    if !applied.is_empty() {
        tracing::info!(?applied, "applied migrations");
    }
    Ok(())
}

/// Resolves on SIGTERM (App Runner, ECS, systemd) or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
