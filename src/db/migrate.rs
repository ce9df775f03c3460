//! Schema migrations from `sql/migrations/`, embedded in the binary and applied in order, each in
//! its own transaction under an advisory lock, so concurrent starts (several instances) are safe.
use anyhow::Context;
use deadpool_postgres::Pool;

/// (version, name, SQL). Append only: never edit a migration that has shipped.
pub const MIGRATIONS: &[(i32, &str, &str)] = &[
    (1, "init", include_str!("../../sql/migrations/V1__init.sql")),
    (
        2,
        "run_heartbeats",
        include_str!("../../sql/migrations/V2__run_heartbeats.sql"),
    ),
    (
        3,
        "run_progress",
        include_str!("../../sql/migrations/V3__run_progress.sql"),
    ),
    (
        4,
        "run_date_exclusive",
        include_str!("../../sql/migrations/V4__run_date_exclusive.sql"),
    ),
];

/// An arbitrary constant naming adrec's migration lock.
const LOCK_KEY: i64 = 0x00AD_4EC0_0001;

pub async fn migrate(pool: &Pool) -> anyhow::Result<Vec<i32>> {
    let mut client = pool.get().await.context("connecting to the database")?;
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                 version    integer PRIMARY KEY,
                 name       text NOT NULL,
                 applied_at timestamptz NOT NULL DEFAULT now())",
        )
        .await
        .context("creating schema_migrations")?;
    let mut applied = Vec::new();
    for &(version, name, sql) in MIGRATIONS {
        let tx = client.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK_KEY])
            .await?;
        let done = tx
            .query_opt(
                "SELECT 1 FROM schema_migrations WHERE version = $1",
                &[&version],
            )
            .await?
            .is_some();
        if !done {
            tx.batch_execute(sql)
                .await
                .with_context(|| format!("applying migration V{version}__{name}"))?;
            tx.execute(
                "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                &[&version, &name],
            )
            .await?;
            applied.push(version);
        }
        tx.commit().await?;
    }
    Ok(applied)
}
