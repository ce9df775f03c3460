//! top_product: per advertiser, the 20 most viewed products on the day.
use serde_json::json;

use super::tasks::RunCtx;
use super::{JobEnv, StageResult, model_stage};

const TOP_PRODUCT: &str = include_str!("../../queries/top_product.sql");

pub async fn run(env: &JobEnv, run: &RunCtx<'_>) -> anyhow::Result<StageResult> {
    let stage = model_stage::open(env, run, "product_views").await?;
    stage.publish("top_product", TOP_PRODUCT, json!({})).await
}
