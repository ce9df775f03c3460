//! The command line: `serve`, `migrate`, `run`, `gen-data`, and a Ballista cluster's
//! `scheduler` and `executor`.
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDate;
use clap::{Parser, Subcommand};

use crate::config::{Config, DbConfig, EngineConfig, StorageConfig};
use crate::domain::{
    DomainError, ProgressReport, RunStatus, Task, Trigger, Triggered, UnknownTask, parse_date,
};
use crate::gen_data::GenOptions;
use crate::jobs::engine::cluster;
use crate::jobs::{JobEnv, JobRunner};
use crate::startup::{Application, migrate, shutdown_signal};
use crate::{db, gen_data};

/// adrec: product recommendations for advertisers (API + nightly pipeline).
///
/// Configuration comes from environment variables only; see .env.example.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the HTTP API (migrates the database first). Needs DATABASE_URL, RAW_URL, WORK_URL, JOBS_TOKENS.
    Serve,
    /// Apply pending schema migrations. Needs DATABASE_URL.
    Migrate,
    /// Run one pipeline task for one date in this process, recorded like an HTTP-triggered run.
    /// Needs DATABASE_URL, RAW_URL, WORK_URL. Exits non-zero if the run fails.
    Run {
        /// filter_data, top_ctr, top_product, db_writing or pipeline (all four in order).
        #[arg(value_parser = parse_task)]
        task: Task,
        /// The logical date whose logs are processed, YYYY-MM-DD.
        #[arg(long, value_parser = parse_day)]
        date: NaiveDate,
        /// Let db_writing publish a date it would refuse (in the future, more than
        /// PUBLISH_MAX_GAP_DAYS after the latest, or past retention) and prune more than
        /// RETENTION_MAX_PRUNE_DATES dates. Recorded in the run.
        #[arg(long)]
        force: bool,
    },
    /// Write deterministic synthetic logs in the course layout (advertiser_ids, product_views, ads_views).
    GenData(GenOptions),
    /// Run a Ballista scheduler with adrec's codecs, for `ENGINE_URL=df://host:port`.
    Scheduler {
        /// Where the scheduler's gRPC service listens.
        #[arg(long, default_value = "0.0.0.0:50050")]
        bind: std::net::SocketAddr,
        /// The host name executors and the service use for it (default: the bind address).
        #[arg(long, env = "SCHEDULER_EXTERNAL_HOST")]
        external_host: Option<String>,
        /// Seconds without news from an executor before its tasks run elsewhere.
        #[arg(long, default_value_t = 30)]
        executor_timeout_secs: u64,
        /// How tasks reach executors (its executors must say the same).
        #[arg(long, value_enum, default_value_t = cluster::Scheduling::Push)]
        task_scheduling: cluster::Scheduling,
    },
    /// Run a Ballista executor with adrec's codecs; it reads and writes the object stores the
    /// plans name, with the AWS credential chain for S3.
    Executor {
        /// The scheduler's host:port.
        #[arg(long, env = "SCHEDULER")]
        scheduler: String,
        /// Where the executor's Flight service (shuffle reads) listens.
        #[arg(long, default_value = "0.0.0.0:50051")]
        bind: std::net::SocketAddr,
        /// The port of its gRPC service, where the scheduler sends tasks (default: Flight's + 1).
        #[arg(long)]
        grpc_port: Option<u16>,
        /// How tasks reach it (as its scheduler says).
        #[arg(long, value_enum, default_value_t = cluster::Scheduling::Push)]
        task_scheduling: cluster::Scheduling,
        /// The host name others fetch shuffle output from (default: the bind address).
        #[arg(long, env = "EXECUTOR_EXTERNAL_HOST")]
        external_host: Option<String>,
        /// Tasks run at once (default: the cores available).
        #[arg(long)]
        concurrency: Option<usize>,
        /// Shuffle files and spills (default: a new temporary directory).
        #[arg(long)]
        work_dir: Option<String>,
    },
}

fn parse_task(s: &str) -> Result<Task, UnknownTask> {
    s.parse::<Triggered>().map(|t| t.0)
}

fn parse_day(s: &str) -> Result<NaiveDate, DomainError> {
    parse_date("date", s)
}

pub async fn run() -> anyhow::Result<ExitCode> {
    match Cli::parse().command {
        Command::Serve => {
            let config = Config::from_env()?;
            let app = Application::build(config).await?;
            app.run_until_stopped(shutdown_signal()).await;
            Ok(ExitCode::SUCCESS)
        }
        Command::Migrate => {
            let pool = db::pool(&DbConfig::from_env()?)?;
            let applied = db::migrate(&pool).await?;
            println!(
                "applied {} migration(s) {applied:?}; schema is at V{}",
                applied.len(),
                db::MIGRATIONS.last().map_or(0, |m| m.version)
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Run { task, date, force } => run_task(task, date, force).await,
        Command::GenData(opts) => {
            let summary = gen_data::generate(&opts)?;
            println!("{summary}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Scheduler {
            bind,
            external_host,
            executor_timeout_secs,
            task_scheduling,
        } => {
            let opts = cluster::SchedulerOptions {
                bind,
                external_host,
                executor_timeout_secs,
                scheduling: task_scheduling,
            };
            tokio::select! {
                r = cluster::run_scheduler(opts) => r?,
                () = shutdown_signal() => {}
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Executor {
            scheduler,
            bind,
            grpc_port,
            task_scheduling,
            external_host,
            concurrency,
            work_dir,
        } => {
            cluster::run_executor(cluster::ExecutorOptions {
                scheduler,
                bind,
                grpc_port,
                scheduling: task_scheduling,
                external_host,
                concurrency,
                work_dir,
            })
            .await?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn run_task(task: Task, date: NaiveDate, force: bool) -> anyhow::Result<ExitCode> {
    let (db, storage, engine) = (
        DbConfig::from_env()?,
        StorageConfig::from_env()?,
        EngineConfig::from_env()?,
    );
    let pool = db::pool(&db)?;
    migrate(&pool).await?;
    let runner = Arc::new(JobRunner::new(JobEnv::new(pool, &storage, &engine).await?));
    let run = runner.start(task, date, Trigger::Cli, force).await?;
    let mut shown = ProgressLine::new();
    let run = loop {
        match runner.wait(run.id, Duration::from_millis(250)).await? {
            Some(r) if r.is_finished() => break r,
            Some(r) => shown.update(r.progress.as_ref()),
            None => anyhow::bail!("run {} disappeared", run.id),
        }
    };
    shown.finish();
    println!("{}", serde_json::to_string_pretty(&run)?);
    Ok(if run.status == RunStatus::Succeeded {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `adrec run`'s progress on stderr: a bar redrawn in place on a terminal, otherwise a plain
/// line when the stage changes and every 10 s.
struct ProgressLine {
    tty: bool,
    last: Option<(String, std::time::Instant)>,
}

impl ProgressLine {
    fn new() -> Self {
        use std::io::IsTerminal;
        Self {
            tty: std::io::stderr().is_terminal(),
            last: None,
        }
    }

    fn update(&mut self, p: Option<&ProgressReport>) {
        let Some(p) = p else { return };
        let Some(stage) = p.stage else { return };
        let step = match (p.step, p.steps) {
            (Some(i), Some(n)) if n > 1 => format!(" ({i}/{n})"),
            _ => String::new(),
        };
        let (bar, bytes) = match (p.bytes_scanned, p.bytes_total) {
            (Some(done), Some(total)) if total > 0 => {
                let f = (done as f64 / total as f64).min(1.0);
                let filled = (f * 30.0).round() as usize;
                (
                    format!(
                        "[{}{}] {:>3.0}% ",
                        "#".repeat(filled),
                        "-".repeat(30 - filled),
                        f * 100.0
                    ),
                    format!(
                        ": {:.1} of {:.1} MB scanned",
                        done as f64 / 1e6,
                        total as f64 / 1e6
                    ),
                )
            }
            _ => (String::new(), String::new()),
        };
        let rows = p.rows.map(|r| format!(", {r} rows")).unwrap_or_default();
        if self.tty {
            eprint!("\r\x1b[2K{bar}{stage}{step}{bytes}{rows}");
            self.last = Some((stage.to_string(), std::time::Instant::now()));
            return;
        }
        let changed = self.last.as_ref().is_none_or(|(s, at)| {
            *s != stage.to_string() || at.elapsed() >= Duration::from_secs(10)
        });
        if changed {
            eprintln!("progress: {stage}{step}{bytes}{rows}");
            self.last = Some((stage.to_string(), std::time::Instant::now()));
        }
    }

    fn finish(&self) {
        if self.tty && self.last.is_some() {
            eprintln!();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_takes_force() {
        let parse = |args: &[&str]| match Cli::try_parse_from(args).map(|c| c.command) {
            Ok(Command::Run { task, date, force }) => (task, date.to_string(), force),
            _ => panic!("{args:?}"),
        };
        assert_eq!(
            parse(&[
                "adrec",
                "run",
                "db_writing",
                "--date",
                "2024-06-15",
                "--force"
            ]),
            (Task::DbWriting, "2024-06-15".into(), true)
        );
        assert!(!parse(&["adrec", "run", "pipeline", "--date", "2024-06-15"]).2);
        assert!(Cli::try_parse_from(["adrec", "run", "pipeline", "--date", "x"]).is_err());
    }
}
