//! Deleting what failed runs wrote. A stage that fails deletes its own files (`output`'s
//! `abort`); this is the net under it: after any failed run, and for runs left `running` by a
//! process that died (found at startup and by the orphan sweep), every file under the run's
//! stage outputs whose name carries the run's id is deleted, unless a manifest lists it.
//!
//! A manifest's files are never touched: a `pipeline` run's id names the outputs of its stages
//! that succeeded too, and those are published.
use anyhow::Context;
use chrono::NaiveDate;
use uuid::Uuid;

use super::location::Location;
use super::output::{MANIFEST, Manifest, stage_dir};
use crate::domain::Task;

/// Deletes the unmanifested files run `id` of `task` wrote for `date`; returns how many.
pub async fn sweep(
    work: &Location,
    task: Task,
    date: NaiveDate,
    id: Uuid,
) -> anyhow::Result<usize> {
    let id = id.to_string();
    let mut deleted = 0;
    for stage in task.outputs() {
        let dir = stage_dir(stage, date);
        let entries = work
            .list(&dir)
            .await
            .with_context(|| format!("listing {}", work.url_of(&dir)))?;
        let listed: Vec<String> = match work.get(&format!("{dir}{MANIFEST}")).await? {
            None => Vec::new(),
            Some(bytes) => match serde_json::from_slice::<Manifest>(&bytes) {
                Ok(m) => m.files.into_iter().map(|f| f.path).collect(),
                // An unreadable manifest: leave the directory alone rather than guess.
                Err(_) => continue,
            },
        };
        let mine: Vec<String> = entries
            .into_iter()
            .map(|e| e.rel)
            .filter(|rel| {
                let name = &rel[dir.len()..];
                name != MANIFEST && name.contains(&id) && !listed.iter().any(|f| f == name)
            })
            .collect();
        work.delete(&mine).await?;
        deleted += mine.len();
    }
    Ok(deleted)
}
