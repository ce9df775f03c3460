//! Schema migrations: an applied migration that was edited afterwards is refused by name, and a
//! database migrated by an adrec from before checksums keeps working.
use adrec::db::{MIGRATIONS, Migration, migrate, migrate_with};
use tokio_postgres::NoTls;

use crate::helpers::{config, create_database};

async fn pool(url: &str) -> deadpool_postgres::Pool {
    adrec::db::pool(&config(url, "/tmp", "/tmp", 30).db).unwrap()
}

#[tokio::test]
async fn an_applied_migration_that_was_edited_is_refused_naming_it() {
    // Arrange: a database at the current schema.
    let (_, url) = create_database().await;
    let pool = pool(&url).await;
    let all: Vec<i32> = MIGRATIONS.iter().map(|m| m.version).collect();
    assert_eq!(migrate(&pool).await.unwrap(), all);

    // Act: the same migrations, V2 with a changed comment.
    let mut edited = MIGRATIONS.to_vec();
    edited[1] = Migration {
        sql: Box::leak(format!("-- edited\n{}", edited[1].sql).into_boxed_str()),
        ..edited[1]
    };
    let err = migrate_with(&pool, &edited).await.unwrap_err();

    // Assert: refused, naming the migration; the files as they are still pass.
    let message = format!("{err:#}");
    assert!(
        message.contains("migration V2__run_heartbeats was edited after it was applied"),
        "{message}"
    );
    assert_eq!(migrate(&pool).await.unwrap(), Vec::<i32>::new());
}

#[tokio::test]
async fn a_database_migrated_before_checksums_gets_them_and_the_new_migrations() {
    // Arrange: a database as an adrec without checksums left it, at V3.
    let (_, url) = create_database().await;
    let (db, conn) = tokio_postgres::connect(&url, NoTls).await.unwrap();
    tokio::spawn(conn);
    db.batch_execute(
        "CREATE TABLE schema_migrations (
             version    integer PRIMARY KEY,
             name       text NOT NULL,
             applied_at timestamptz NOT NULL DEFAULT now())",
    )
    .await
    .unwrap();
    for m in &MIGRATIONS[..3] {
        db.batch_execute(m.sql).await.unwrap();
        db.execute(
            "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
            &[&m.version, &m.name],
        )
        .await
        .unwrap();
    }

    // Act
    let applied = migrate(&pool(&url).await).await.unwrap();

    // Assert: only the newer migrations ran, and every one has its checksum recorded.
    let newer: Vec<i32> = MIGRATIONS[3..].iter().map(|m| m.version).collect();
    assert_eq!(applied, newer);
    let rows = db
        .query(
            "SELECT version, checksum FROM schema_migrations ORDER BY version",
            &[],
        )
        .await
        .unwrap();
    let recorded: Vec<(i32, Option<String>)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    let expected: Vec<(i32, Option<String>)> = MIGRATIONS
        .iter()
        .map(|m| (m.version, Some(m.checksum())))
        .collect();
    assert_eq!(recorded, expected);
}
