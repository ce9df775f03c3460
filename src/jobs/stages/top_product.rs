//! top_product: per advertiser, the 20 most viewed products on the day.
use super::JobEnv;
use super::{RunCtx, StageResult, model};
use crate::domain::Output;

const TOP_PRODUCT: &str = include_str!("../../../queries/top_product.sql");

pub async fn run(env: &JobEnv, run: &RunCtx<'_>) -> anyhow::Result<StageResult> {
    let stage = model::open(env, run, "product_views").await?;
    stage
        .publish(Output::TopProduct, TOP_PRODUCT, async { Ok(None) })
        .await
}
