//! Writing a query's output by partition ([`Engine::write`]): the query inserted into a
//! [`PartSink`], run, and the partitions' reports collected; on a cluster that lost the job, one
//! more attempt after the lost one's files are deleted.
use std::sync::Arc;

use anyhow::Context;
use datafusion::datasource::provider_as_source;
use datafusion::logical_expr::LogicalPlanBuilder;
use datafusion::logical_expr::dml::InsertOp;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::display::DisplayableExecutionPlan;
use datafusion::prelude::{DataFrame, SessionContext};

use super::{Engine, PartSink, WriteSpec, Written, reports};
use crate::jobs::store::Location;

impl Engine {
    /// Runs `df` as an insert into a [`PartSink`] of `spec`: each partition of its plan writes
    /// its own file where it runs (this process or an executor). `watch` sees the plan before
    /// it runs (progress). Returns what the partitions reported, checked (`reports::collect`);
    /// `date_dir` is the output's date directory relative to `work`.
    ///
    /// On a cluster that loses the job (an executor died holding work Ballista cannot redo, or
    /// the scheduler's watchdog cancelled it), the lost attempt's files are deleted and the
    /// query runs once more as attempt 2 (`spec.attempt` is set here).
    pub async fn write(
        &self,
        ctx: &SessionContext,
        df: DataFrame,
        spec: WriteSpec,
        (work, date_dir): (&Location, &str),
        watch: impl Fn(Arc<dyn ExecutionPlan>),
    ) -> anyhow::Result<Written> {
        let (spec, df, watch) = (&spec, &df, &watch);
        self.retry_lost(&spec.table, |attempt| async move {
            if attempt > 1 {
                // Every file and report of the run's table so far: the lost attempt's.
                reports::discard(work, date_dir, spec).await?;
            }
            let spec = WriteSpec {
                attempt,
                ..spec.clone()
            };
            self.write_once(ctx, df.clone(), &spec, watch).await?;
            reports::collect(work, date_dir, &spec).await
        })
        .await
    }

    async fn write_once(
        &self,
        ctx: &SessionContext,
        df: DataFrame,
        spec: &WriteSpec,
        watch: &impl Fn(Arc<dyn ExecutionPlan>),
    ) -> anyhow::Result<()> {
        let name = format!("{}_written", spec.table);
        let sink = Arc::new(PartSink {
            spec: spec.clone(),
            schema: df.schema().inner().clone(),
        });
        ctx.register_table(name.as_str(), sink.clone())?;
        let insert = LogicalPlanBuilder::insert_into(
            df.into_unoptimized_plan(),
            name.as_str(),
            provider_as_source(sink),
            InsertOp::Append,
        )?
        .build()?;
        let plan = ctx
            .execute_logical_plan(insert)
            .await?
            .create_physical_plan()
            .await?;
        watch(plan.clone());
        let task = ctx.task_ctx();
        let written = plan.clone();
        let ran = self
            .run(async move {
                datafusion::physical_plan::collect(written, task).await?;
                Ok(())
            })
            .await
            .with_context(|| format!("writing {}", spec.table));
        ctx.deregister_table(name.as_str())?;
        ran?;
        // What each operator took, for whoever asks (RUST_LOG=adrec::jobs=debug).
        tracing::debug!(table = spec.table, plan = %DisplayableExecutionPlan::with_metrics(plan.as_ref()).indent(true),
            "write plan, with its metrics");
        Ok(())
    }
}
