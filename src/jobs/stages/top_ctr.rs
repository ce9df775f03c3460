//! top_ctr: per advertiser, the 20 products with the best click-through rate on the day.
use datafusion::arrow::array::{Array, Int64Array};

use super::JobEnv;
use super::{RunCtx, StageResult, model};
use crate::domain::{Excluded, Output};
use crate::jobs::engine::session::query;

const COUNTS: &str = include_str!("../../../queries/top_ctr_counts.sql");
const TOP_CTR: &str = include_str!("../../../queries/top_ctr.sql");
const EXCLUDED: &str = include_str!("../../../queries/top_ctr_excluded.sql");

pub async fn run(env: &JobEnv, run: &RunCtx<'_>) -> anyhow::Result<StageResult> {
    let stage = model::open(env, run, "ads_views").await?;
    // Clicks and impressions per product, for the ranking and the exclusions: computed once
    // in-process, a view each query computes on a cluster (`materialize`).
    stage.materialize("ctr_counts", COUNTS).await?;
    // Counted beside the ranking (publish runs them side by side), from the same counts; like
    // the ranking, run once more if a cluster loses the job.
    let excluded = async {
        let batches = env
            .engine
            .retry_lost("top_ctr_excluded", |_| async {
                let df = query(&stage.ctx, "top_ctr_excluded", EXCLUDED, &[]).await?;
                stage.collect(df).await
            })
            .await?;
        let col = |i: usize| {
            let b = batches.first()?;
            let a = b.column(i).as_any().downcast_ref::<Int64Array>()?;
            (!a.is_empty()).then(|| a.value(0))
        };
        let (pairs, clicks) = (col(0).unwrap_or(0), col(1).unwrap_or(0));
        Ok(Some(Excluded { pairs, clicks }))
    };
    stage.publish(Output::TopCtr, TOP_CTR, excluded).await
}
