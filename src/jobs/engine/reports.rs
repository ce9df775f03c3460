//! What each written partition reports (`write::PartWriteExec`), and how a stage turns the
//! reports of one query into its result: exactly one report per scan partition, every
//! partition reported, and the rows adding up, or an error. Files of attempts not chosen (a
//! retried task's, a task that died mid-write, a lost job's) are deleted.
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use anyhow::{Context, bail};
use datafusion::physical_plan::ExecutionPlan;
use serde::{Deserialize, Serialize};

use super::part_files::PartFile;
use super::scan::{LineCounts, SlicedScanExec};
use super::write::WriteSpec;
use crate::domain::{Outcome, OutcomeCounts};
use crate::jobs::store::{Location, ManifestFile};

/// One written partition.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PartReport {
    pub table: String,
    /// `<run id>-<attempt>`: names the files and the report.
    pub attempt: String,
    /// The files, one per bucket written to (or one); none if nothing was kept.
    pub files: Vec<PartFile>,
    /// Rows in the files.
    pub rows: u64,
    /// Events they stand for (the sum of `n`).
    pub events: u64,
    /// Every input row's events by outcome.
    pub outcomes: OutcomeCounts,
    /// The scan partitions that fed it.
    pub scans: Vec<ScanReport>,
}

/// One scan partition: which of how many, and its lines.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScanReport {
    pub partition: usize,
    pub of: usize,
    pub counts: LineCounts,
}

/// A query's written output, reports checked.
#[derive(Debug, Default)]
pub struct Written {
    pub files: Vec<ManifestFile>,
    /// Events by outcome, the scans' bad lines included.
    pub outcomes: OutcomeCounts,
    /// The scans' line counts, summed.
    pub scan: LineCounts,
    /// How many partitions the scan was cut into (on a cluster, its tasks).
    pub scan_partitions: usize,
}

/// Reads the reports of `spec` under `work`, keeps one per scan partition, checks them, and
/// deletes the reports and every file of an attempt not kept.
pub async fn collect(work: &Location, date_dir: &str, spec: &WriteSpec) -> anyhow::Result<Written> {
    let reports_dir = format!("{date_dir}{}", spec.reports());
    let entries = work
        .list(&reports_dir)
        .await
        .context("listing the written partitions")?;
    // Only this attempt's: a job the cluster lost may have left reports of its own.
    let mine = spec.attempt_prefix();
    let mut reports = Vec::new();
    for e in entries
        .iter()
        .filter(|e| e.rel.ends_with(".json") && file_name(&e.rel).starts_with(&mine))
    {
        let bytes = work
            .get(&e.rel)
            .await?
            .with_context(|| format!("report {} vanished", e.rel))?;
        let r: PartReport = serde_json::from_slice(&bytes)
            .with_context(|| format!("report {} is unreadable", e.rel))?;
        reports.push(r);
    }
    // Deterministic: attempts in name order; the first to cover a scan partition wins.
    reports.sort_by(|a, b| a.attempt.cmp(&b.attempt));
    let (mut chosen, mut covered, mut expected) = (Vec::new(), BTreeSet::new(), None);
    for r in reports {
        // A partition with no scan below it was fed by an exchange: its rows cannot be told
        // from another attempt's, so the plan is not one this check can vouch for.
        if r.scans.is_empty() {
            bail!(
                "a written partition of {} ({}) had no log scan below it: the plan moved rows \
                 between partitions",
                spec.table,
                r.attempt
            );
        }
        let parts: Vec<usize> = r.scans.iter().map(|s| s.partition).collect();
        if parts.iter().all(|p| !covered.contains(p)) {
            covered.extend(parts);
            expected = r.scans.first().map(|s| s.of);
            chosen.push(r);
        }
    }
    let n = expected.unwrap_or(0);
    if n == 0 || covered.len() != n || covered.iter().any(|&p| p >= n) {
        bail!(
            "the write of {} reported {} of {} scan partitions under {}: the counts would be \
             incomplete",
            spec.table,
            covered.len(),
            if n == 0 { "?".into() } else { n.to_string() },
            work.url_of(&reports_dir)
        );
    }
    let mut written = Written {
        scan_partitions: n,
        ..Written::default()
    };
    for r in &chosen {
        written.outcomes.merge(&r.outcomes);
        for s in &r.scans {
            written.scan.add(&s.counts);
        }
        for f in &r.files {
            written.files.push(ManifestFile {
                table: spec.table.clone(),
                path: f.path.clone(),
                rows: f.rows,
                events: Some(f.events),
                bucket: f.bucket,
            });
        }
    }
    // Every row the scans produced has exactly one outcome.
    let produced = written.scan.rows;
    let judged: u64 = [Outcome::Kept, Outcome::Inactive, Outcome::BadType]
        .iter()
        .map(|o| written.outcomes.get(*o))
        .sum();
    if produced != judged {
        bail!(
            "the write of {} does not add up: the scans read {produced} rows of the day, the \
             written partitions account for {judged}",
            spec.table
        );
    }
    written.outcomes.merge(&written.scan.outcomes());
    sweep_unchosen(work, date_dir, spec, &chosen, &entries).await;
    Ok(written)
}

/// Deletes every report and file `spec`'s run wrote for its table so far: an attempt whose job
/// the cluster lost, before the next one runs.
pub async fn discard(work: &Location, date_dir: &str, spec: &WriteSpec) -> anyhow::Result<()> {
    let reports = work
        .list(&format!("{date_dir}{}", spec.reports()))
        .await
        .context("listing the lost attempt's partitions")?;
    sweep_unchosen(work, date_dir, spec, &[], &reports).await;
    Ok(())
}

fn file_name(rel: &str) -> &str {
    rel.rsplit('/').next().unwrap_or(rel)
}

/// Deletes the reports, and the data files of attempts that were not chosen.
async fn sweep_unchosen(
    work: &Location,
    date_dir: &str,
    spec: &WriteSpec,
    chosen: &[PartReport],
    reports: &[crate::jobs::store::Entry],
) {
    let keep: BTreeMap<&str, ()> = chosen
        .iter()
        .flat_map(|r| r.files.iter().map(|f| (f.path.as_str(), ())))
        .collect();
    let table_dir = format!("{date_dir}{}/", spec.table);
    let mut gone: Vec<String> = reports.iter().map(|e| e.rel.clone()).collect();
    match work.list(&table_dir).await {
        Ok(files) => gone.extend(
            files
                .into_iter()
                .filter(|e| {
                    let rel = &e.rel[date_dir.len()..];
                    rel.contains(&spec.run_id.to_string()) && !keep.contains_key(rel)
                })
                .map(|e| e.rel),
        ),
        Err(e) => tracing::warn!(error = %format!("{e:#}"), "could not list the written files"),
    }
    if let Err(e) = work.delete(&gone).await {
        tracing::warn!(error = %format!("{e:#}"), "could not delete unchosen write attempts");
    }
}

/// The scan partitions that fed output partition `i` of `plan`, with their line counts.
pub(super) fn scans_of(plan: &Arc<dyn ExecutionPlan>, i: usize) -> Vec<ScanReport> {
    let mut out = Vec::new();
    let mut stack = vec![plan.clone()];
    while let Some(p) = stack.pop() {
        if let Some(s) = p.downcast_ref::<SlicedScanExec>() {
            for (partition, counts) in s.ran(i) {
                out.push(ScanReport {
                    partition,
                    of: s.scan_partitions(),
                    counts,
                });
            }
        }
        stack.extend(p.children().into_iter().cloned());
    }
    out
}

#[cfg(test)]
mod tests {
    use object_store::memory::InMemory;
    use uuid::Uuid;

    use super::*;

    fn location() -> Location {
        let url = url::Url::parse("memory:///work/").expect("url");
        let store_url = url::Url::parse("memory://").expect("url");
        Location::new(url, store_url, Arc::new(InMemory::new()), None)
    }

    /// Writes what a partition's task leaves: its file and, after it, its report.
    async fn task(work: &Location, spec: &WriteSpec, name: &str, rows: u64) {
        let attempt = format!("{}{name}", spec.attempt_prefix());
        let file = format!("{}/part-{attempt}.parquet", spec.table);
        work.put(&format!("d/{file}"), "rows".into())
            .await
            .expect("put");
        let mut outcomes = OutcomeCounts::default();
        outcomes.add(Outcome::Kept, rows);
        let counts = LineCounts {
            rows,
            ..LineCounts::default()
        };
        let report = PartReport {
            table: spec.table.clone(),
            attempt: attempt.clone(),
            files: vec![PartFile {
                path: file,
                rows,
                events: rows,
                bucket: None,
            }],
            rows,
            events: rows,
            outcomes,
            scans: vec![ScanReport {
                partition: 0,
                of: 1,
                counts,
            }],
        };
        let body = serde_json::to_vec(&report).expect("json");
        let key = format!("d/{}{attempt}.json", spec.reports());
        work.put(&key, body.into()).await.expect("put");
    }

    async fn files(work: &Location) -> Vec<String> {
        let mut rels: Vec<_> = work.list("d/").await.expect("list");
        rels.sort_by(|a, b| a.rel.cmp(&b.rel));
        rels.into_iter().map(|e| e.rel).collect()
    }

    #[tokio::test]
    async fn a_lost_attempt_is_discarded_and_never_mixed_into_the_next() {
        // Arrange: attempt 1 wrote its partition, then its job was lost.
        let work = location();
        let first = WriteSpec {
            store_url: "memory://".into(),
            dir: "work/d/".into(),
            table: "ads_views".into(),
            run_id: Uuid::new_v4(),
            attempt: 1,
            intermediate: true,
            bucket_by: None,
            buckets: 0,
        };
        task(&work, &first, "x", 7).await;
        let second = WriteSpec {
            attempt: 2,
            ..first.clone()
        };

        // Act: the lost attempt is discarded; a zombie task of it reports late; the retry runs.
        discard(&work, "d/", &first).await.expect("discard");
        let left = files(&work).await;
        task(&work, &first, "zombie", 99).await;
        task(&work, &second, "y", 5).await;
        let written = collect(&work, "d/", &second).await.expect("collect");

        // Assert: only the retry's file is published and counted, and only it is left.
        assert!(left.is_empty(), "{left:?}");
        let kept: Vec<_> = written.files.iter().map(|f| f.path.as_str()).collect();
        let name = format!("ads_views/part-{}y.parquet", second.attempt_prefix());
        assert_eq!(kept, [name.as_str()]);
        assert_eq!(written.outcomes.get(Outcome::Kept), 5);
        assert_eq!(files(&work).await, [format!("d/{name}")]);
    }
}
