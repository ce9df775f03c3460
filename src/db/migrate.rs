//! Schema migrations from `sql/migrations/`, embedded in the binary and applied in order, each in
//! its own transaction under an advisory lock, so concurrent starts (several instances) are safe.
//!
//! Each applied migration's checksum (sha256 of its file) is recorded in `schema_migrations`, and
//! every start compares it with the embedded file: a migration edited after it was applied fails
//! startup with an error naming it, instead of leaving databases that differ by where they were
//! created. Migrations applied by an adrec from before checksums get their file's current
//! checksum recorded on the first start (the bootstrap adds the column).
//!
//! Hand-written, not `refinery`: refinery would bring the checksums, but it takes no lock
//! (instances starting together race to apply the same migration), and it keeps its history in a
//! table of its own, so every existing database would need that table forged from
//! `schema_migrations` with refinery's checksum to keep working. What refinery would add over
//! this file (about 120 lines) is what this file does.
use anyhow::{Context, bail};
use deadpool_postgres::Pool;
use sha2::{Digest, Sha256};

/// One migration: `sql/migrations/V{version}__{name}.sql`.
#[derive(Clone, Copy, Debug)]
pub struct Migration {
    pub version: i32,
    pub name: &'static str,
    pub sql: &'static str,
}

impl Migration {
    /// sha256 of the file, hex, with CRLF read as LF (a Windows checkout is the same file).
    pub fn checksum(&self) -> String {
        let digest = Sha256::digest(self.sql.replace("\r\n", "\n").as_bytes());
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }
}

macro_rules! migration {
    ($version:literal, $name:literal) => {
        Migration {
            version: $version,
            name: $name,
            sql: include_str!(concat!(
                "../../sql/migrations/V",
                $version,
                "__",
                $name,
                ".sql"
            )),
        }
    };
}

/// In order. Append only: never edit a migration that has shipped (startup refuses it).
pub const MIGRATIONS: &[Migration] = &[
    migration!(1, "init"),
    migration!(2, "run_heartbeats"),
    migration!(3, "run_progress"),
    migration!(4, "run_date_exclusive"),
    migration!(5, "run_force"),
    migration!(6, "run_conflict_unique_violation"),
];

const LOCK: &str = include_str!("../../sql/statements/migrations_lock.sql");
const CREATE: &str = include_str!("../../sql/statements/migrations_create.sql");
const ADD_CHECKSUM: &str = include_str!("../../sql/statements/migrations_add_checksum.sql");
const APPLIED: &str = include_str!("../../sql/statements/migrations_applied.sql");
const RECORD: &str = include_str!("../../sql/statements/migrations_record.sql");
const BACKFILL: &str = include_str!("../../sql/statements/migrations_backfill.sql");

/// Every statement above, for the test that prepares them all against a migrated database.
pub const MIGRATE_SQL: [&str; 6] = [LOCK, CREATE, ADD_CHECKSUM, APPLIED, RECORD, BACKFILL];

/// An arbitrary constant naming adrec's migration lock.
const LOCK_KEY: i64 = 0x00AD_4EC0_0001;

/// Applies the pending `MIGRATIONS`; returns the versions applied.
pub async fn migrate(pool: &Pool) -> anyhow::Result<Vec<i32>> {
    migrate_with(pool, MIGRATIONS).await
}

/// `migrate` over the given migrations (tests pass edited ones).
pub async fn migrate_with(pool: &Pool, migrations: &[Migration]) -> anyhow::Result<Vec<i32>> {
    let mut client = pool.get().await.context("connecting to the database")?;
    let tx = client.transaction().await?;
    tx.execute(LOCK, &[&LOCK_KEY]).await?;
    tx.batch_execute(CREATE)
        .await
        .context("creating schema_migrations")?;
    tx.batch_execute(ADD_CHECKSUM)
        .await
        .context("adding schema_migrations.checksum")?;
    tx.commit().await?;

    let mut applied = Vec::new();
    for m in migrations {
        let tx = client.transaction().await?;
        tx.execute(LOCK, &[&LOCK_KEY]).await?;
        let (version, name, checksum) = (m.version, m.name, m.checksum());
        let recorded: Option<Option<String>> =
            tx.query_opt(APPLIED, &[&version]).await?.map(|r| r.get(0));
        match recorded {
            None => {
                tx.batch_execute(m.sql)
                    .await
                    .with_context(|| format!("applying migration V{version}__{name}"))?;
                tx.execute(RECORD, &[&version, &name, &checksum]).await?;
                applied.push(version);
            }
            Some(None) => {
                tx.execute(BACKFILL, &[&version, &checksum]).await?;
            }
            Some(Some(recorded)) if recorded == checksum => {}
            Some(Some(recorded)) => bail!(
                "migration V{version}__{name} was edited after it was applied: \
                 sql/migrations/V{version}__{name}.sql has checksum {checksum}, the database \
                 recorded {recorded}. Restore the file as it was applied and put the change in \
                 a new migration"
            ),
        }
        tx.commit().await?;
    }
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_numbered_in_order_and_checksummed() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version as usize, i + 1, "{}", m.name);
            assert_eq!(m.checksum().len(), 64);
        }
        let m = MIGRATIONS[0];
        let crlf = Migration {
            sql: Box::leak(m.sql.replace('\n', "\r\n").into_boxed_str()),
            ..m
        };
        assert_eq!(crlf.checksum(), m.checksum(), "line endings do not count");
        let edited = Migration {
            sql: Box::leak(format!("{} ", m.sql).into_boxed_str()),
            ..m
        };
        assert_ne!(edited.checksum(), m.checksum());
    }
}
