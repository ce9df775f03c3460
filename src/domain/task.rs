//! The tasks a run performs, and the stage outputs each task writes.
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// What a run does: one pipeline stage, `pipeline` (the four stages in order), or `unpublish`
/// (an admin deleting a published date, `DELETE /jobs/dates/{date}`). The `job_runs.task` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    FilterData,
    TopCtr,
    TopProduct,
    DbWriting,
    Pipeline,
    Unpublish,
}

impl Task {
    pub const ALL: [Task; 6] = [
        Task::FilterData,
        Task::TopCtr,
        Task::TopProduct,
        Task::DbWriting,
        Task::Pipeline,
        Task::Unpublish,
    ];

    /// The tasks `POST /jobs/{task}` and `adrec run` start: all but `unpublish`.
    pub const TRIGGERED: [Task; 5] = [
        Task::FilterData,
        Task::TopCtr,
        Task::TopProduct,
        Task::DbWriting,
        Task::Pipeline,
    ];

    /// The stages of `pipeline`, in order.
    pub const STAGES: [Task; 4] = [
        Task::FilterData,
        Task::TopCtr,
        Task::TopProduct,
        Task::DbWriting,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Task::FilterData => "filter_data",
            Task::TopCtr => "top_ctr",
            Task::TopProduct => "top_product",
            Task::DbWriting => "db_writing",
            Task::Pipeline => "pipeline",
            Task::Unpublish => "unpublish",
        }
    }

    /// Whether `POST /jobs/{task}` and `adrec run` start it (unpublish has its own route).
    pub fn is_triggered(self) -> bool {
        Task::TRIGGERED.contains(&self)
    }

    /// The stages this task runs: itself, or the four of `pipeline`; none for `unpublish`.
    pub fn stages(self) -> &'static [Task] {
        match self {
            Task::Pipeline => &Task::STAGES,
            Task::FilterData => &[Task::FilterData],
            Task::TopCtr => &[Task::TopCtr],
            Task::TopProduct => &[Task::TopProduct],
            Task::DbWriting => &[Task::DbWriting],
            Task::Unpublish => &[],
        }
    }

    /// The date-keyed outputs under `WORK_URL` this task writes (db_writing writes Postgres).
    pub fn outputs(self) -> Vec<Output> {
        self.stages().iter().filter_map(|s| s.output()).collect()
    }

    /// The output this stage writes, if it writes one under `WORK_URL`.
    fn output(self) -> Option<Output> {
        match self {
            Task::FilterData => Some(Output::Filtered),
            Task::TopCtr => Some(Output::TopCtr),
            Task::TopProduct => Some(Output::TopProduct),
            _ => None,
        }
    }
}

impl fmt::Display for Task {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A task name that is not one; says which names the context accepts.
#[derive(Debug, thiserror::Error)]
#[error("unknown task {name:?}: expected {expected}")]
pub struct UnknownTask {
    pub name: String,
    pub expected: &'static str,
}

impl FromStr for Task {
    type Err = UnknownTask;
    /// Every task, `unpublish` included (it names runs); see [`Triggered`] for the ones a
    /// caller may start.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Task::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| UnknownTask {
                name: s.to_owned(),
                expected: "filter_data, top_ctr, top_product, db_writing, pipeline or unpublish",
            })
    }
}

/// A task a caller may start (`POST /jobs/{task}`, `adrec run`): any but `unpublish`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Triggered(pub Task);

impl FromStr for Triggered {
    type Err = UnknownTask;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.parse::<Task>() {
            Ok(t) if t.is_triggered() => Ok(Triggered(t)),
            _ => Err(UnknownTask {
                name: s.to_owned(),
                expected: "filter_data, top_ctr, top_product, db_writing or pipeline",
            }),
        }
    }
}

/// A stage's date-keyed output directory, `WORK_URL/<name>/date=D/`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Output {
    /// filter_data's: the day's kept rows.
    Filtered,
    TopCtr,
    TopProduct,
}

impl Output {
    pub fn as_str(self) -> &'static str {
        match self {
            Output::Filtered => "filtered",
            Output::TopCtr => "top_ctr",
            Output::TopProduct => "top_product",
        }
    }

    /// The task that writes it (named when a downstream stage finds it missing).
    pub fn producer(self) -> Task {
        match self {
            Output::Filtered => Task::FilterData,
            Output::TopCtr => Task::TopCtr,
            Output::TopProduct => Task::TopProduct,
        }
    }
}

impl fmt::Display for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tasks_round_trip() {
        for t in Task::ALL {
            assert_eq!(t.as_str().parse::<Task>().unwrap(), t);
        }
        assert!("nope".parse::<Task>().is_err());
        assert_eq!(
            "pipeline".parse::<Triggered>().unwrap(),
            Triggered(Task::Pipeline)
        );
        let e = "unpublish".parse::<Triggered>().unwrap_err().to_string();
        assert!(e.ends_with("db_writing or pipeline"), "{e}");
        let e = "nope".parse::<Task>().unwrap_err().to_string();
        assert!(e.ends_with("pipeline or unpublish"), "{e}");
    }

    #[test]
    fn outputs_follow_the_stages() {
        assert_eq!(Task::FilterData.outputs(), [Output::Filtered]);
        assert_eq!(
            Task::Pipeline.outputs(),
            [Output::Filtered, Output::TopCtr, Output::TopProduct]
        );
        assert!(Task::DbWriting.outputs().is_empty());
        assert!(Task::Unpublish.outputs().is_empty());
        for o in Task::Pipeline.outputs() {
            assert_eq!(o.producer().outputs(), [o]);
        }
    }
}
