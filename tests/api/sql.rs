//! Every Postgres statement in sql/statements/ is prepared against a freshly migrated database, so
//! a migration that breaks a query fails here, not in production (zero2prod's "queries are fresh").
use std::collections::HashSet;

use crate::helpers::spawn_app;

#[tokio::test]
async fn every_statement_prepares_against_the_migrated_schema() {
    let app = spawn_app().await;
    let mut prepared = HashSet::new();
    for sql in adrec::db::reads::ALL_SQL
        .iter()
        .chain(&adrec::db::runs::ALL_SQL)
        .chain(&adrec::db::UNPUBLISH_SQL)
        .chain(&adrec::db::MIGRATE_SQL)
    {
        app.db
            .prepare(sql)
            .await
            .unwrap_or_else(|e| panic!("{e}: {sql}"));
        prepared.insert(sql.trim().to_owned());
    }
    for sql in adrec::db::publish::PUBLISH_SQL {
        app.db
            .prepare(sql)
            .await
            .unwrap_or_else(|e| panic!("{e}: {sql}"));
        prepared.insert(sql.trim().to_owned());
    }

    // And none is left out: every file in sql/statements/ is one of them.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sql/statements");
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            prepared.contains(text.trim()),
            "{} is not covered",
            path.display()
        );
    }
    app.stop().await;
}
