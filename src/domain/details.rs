//! A run's `details` (`job_runs.details`, `GET /jobs/runs/{id}`), typed once for the stages that
//! write them and the pages that read them.
use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;
use uuid::Uuid;

use super::{Model, OutcomeCounts, Task};

/// A run's `details`: what its task did, the engine that ran it, and the files swept after a
/// failure. Serialized as one flat object (the task's fields, then `engine`, `swept_files`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RunDetails {
    pub task: Option<TaskDetails>,
    /// `in-process` or the `ENGINE_URL` that ran the run.
    pub engine: Option<String>,
    /// Files of a failed run deleted after it (`jobs::store::sweeper`).
    pub swept_files: Option<u64>,
}

/// The task-specific part of `details`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum TaskDetails {
    Filter(FilterDetails),
    Model(ModelDetails),
    Publish(PublishDetails),
    Unpublish(UnpublishDetails),
    /// Each stage's report, as soon as the stage is over.
    Pipeline(BTreeMap<Task, StageReport>),
}

/// filter_data: the inputs read and every input row's outcome.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FilterDetails {
    pub inputs: FilterInputs,
    pub advertiser_ids: LogReport,
    pub product_views: LogReport,
    pub ads_views: LogReport,
    /// The run whose output the manifest publishes (this one).
    pub manifest_run_id: Uuid,
}

impl FilterDetails {
    /// The two filtered logs' reports, by log name.
    pub fn logs(&self) -> [(&'static str, &LogReport); 2] {
        [
            ("product_views", &self.product_views),
            ("ads_views", &self.ads_views),
        ]
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FilterInputs {
    pub advertiser_ids: Vec<String>,
}

/// One raw log: its files and layout, and its rows by outcome.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LogReport {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layout: Option<String>,
    /// The partitions the scan was cut into: the tasks that read the log in parallel (threads
    /// in this process, task slots on a cluster).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partitions: Option<u32>,
    pub rows: OutcomeCounts,
}

/// top_ctr and top_product: the rows ranked, from which filtered output.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelDetails {
    /// top_ctr only: products with clicks but no impression, left out of the ranking.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub excluded_no_impressions: Option<Excluded>,
    pub rows: u64,
    pub input_run_id: Uuid,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Excluded {
    pub pairs: i64,
    pub clicks: i64,
}

/// db_writing: what the publication replaced, inserted and pruned.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PublishDetails {
    /// Each model output published: its run and rows.
    pub inputs: BTreeMap<Model, InputRef>,
    pub copied: u64,
    pub replaced_rows: u64,
    pub inserted_rows: u64,
    pub previous_latest: Option<NaiveDate>,
    pub forced: bool,
    pub pruned_rows: i64,
    pub pruned_dates: Vec<NaiveDate>,
    pub prune_pending_dates: i64,
    pub retention_days: u32,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct InputRef {
    pub run_id: Uuid,
    pub rows: u64,
}

/// unpublish: what the deletion removed, and the latest date before and after.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct UnpublishDetails {
    pub deleted_rows: i64,
    pub advertisers: i64,
    pub by_model: BTreeMap<Model, i64>,
    pub latest_before: Option<NaiveDate>,
    pub latest_after: Option<NaiveDate>,
}

/// One stage of a pipeline: its counts and details, or its error; how long it took.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct StageReport {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rows_in: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rows_out: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bad_rows: Option<i64>,
    pub seconds: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<TaskDetails>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl RunDetails {
    /// Reads a stored `details` object of a run of `task`. Parts that do not parse (a failed
    /// stage's are empty) are left out.
    pub fn from_value(task: Task, v: &Value) -> Self {
        Self {
            task: TaskDetails::parse(task, v),
            engine: v["engine"].as_str().map(str::to_owned),
            swept_files: v["swept_files"].as_u64(),
        }
    }

    /// The filter's report, of a filter_data run or of a pipeline's first stage.
    pub fn filter(&self) -> Option<&FilterDetails> {
        match &self.task {
            Some(TaskDetails::Filter(f)) => Some(f),
            Some(TaskDetails::Pipeline(stages)) => match &stages.get(&Task::FilterData)?.details {
                Some(TaskDetails::Filter(f)) => Some(f),
                _ => None,
            },
            _ => None,
        }
    }

    /// The stages of a pipeline run, as far as they got.
    pub fn stages(&self) -> Option<&BTreeMap<Task, StageReport>> {
        match &self.task {
            Some(TaskDetails::Pipeline(s)) => Some(s),
            _ => None,
        }
    }
}

impl TaskDetails {
    fn parse(task: Task, v: &Value) -> Option<Self> {
        let v = v.clone();
        Some(match task {
            Task::FilterData => TaskDetails::Filter(serde_json::from_value(v).ok()?),
            Task::TopCtr | Task::TopProduct => TaskDetails::Model(serde_json::from_value(v).ok()?),
            Task::DbWriting => TaskDetails::Publish(serde_json::from_value(v).ok()?),
            Task::Unpublish => TaskDetails::Unpublish(serde_json::from_value(v).ok()?),
            Task::Pipeline => TaskDetails::Pipeline(
                Task::STAGES
                    .iter()
                    .filter_map(|&stage| {
                        Some((stage, StageReport::parse(stage, &v[stage.as_str()])?))
                    })
                    .collect(),
            ),
        })
    }
}

impl StageReport {
    fn parse(stage: Task, v: &Value) -> Option<Self> {
        Some(Self {
            rows_in: v["rows_in"].as_i64(),
            rows_out: v["rows_out"].as_i64(),
            bad_rows: v["bad_rows"].as_i64(),
            seconds: v.get("seconds")?.as_f64()?,
            details: v.get("details").and_then(|d| TaskDetails::parse(stage, d)),
            error: v["error"].as_str().map(str::to_owned),
        })
    }
}

impl Serialize for RunDetails {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let task = match &self.task {
            Some(t) => serde_json::to_value(t).map_err(serde::ser::Error::custom)?,
            None => Value::Object(Default::default()),
        };
        let fields = task.as_object().into_iter().flatten();
        let mut map = s.serialize_map(None)?;
        for (k, v) in fields {
            map.serialize_entry(k, v)?;
        }
        if let Some(e) = &self.engine {
            map.serialize_entry("engine", e)?;
        }
        if let Some(n) = self.swept_files {
            map.serialize_entry("swept_files", &n)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn details_round_trip_through_their_stored_form() {
        let stored = json!({
            "filter_data": {"rows_in": 5, "rows_out": 3, "bad_rows": 1, "seconds": 0.5, "details": {
                "inputs": {"advertiser_ids": ["advertiser_ids"]},
                "advertiser_ids": {"rows": {}},
                "product_views": {"files": ["pv"], "layout": "single file", "rows": {"kept": 3}},
                "ads_views": {"files": ["av"], "layout": "single file", "rows": {"malformed": 1}},
                "manifest_run_id": Uuid::nil(),
            }},
            "top_ctr": {"seconds": 0.1, "error": "boom"},
            "engine": "in-process",
        });
        let d = RunDetails::from_value(Task::Pipeline, &stored);
        assert_eq!(serde_json::to_value(&d).unwrap(), stored);
        assert_eq!(
            d.filter()
                .unwrap()
                .product_views
                .rows
                .get(crate::domain::Outcome::Kept),
            3
        );
        assert_eq!(
            d.stages().unwrap()[&Task::TopCtr].error.as_deref(),
            Some("boom")
        );
        // A failed stage's details are empty: nothing task-specific, the rest kept.
        let failed = RunDetails::from_value(Task::TopCtr, &json!({"swept_files": 2}));
        assert_eq!((failed.task, failed.swept_files), (None, Some(2)));
    }
}
