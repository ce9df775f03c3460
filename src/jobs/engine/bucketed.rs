//! A table of Parquet files bucketed by a column (`write::WriteSpec::bucket_by`), read as `B`
//! partitions, partition `b` holding the files of bucket `b`, and declared hash partitioned on
//! that column (`Partitioning::Hash([column], B)`).
//!
//! The declaration is true: the writer bucketed every row by DataFusion's own hash repartition
//! function and modulo (`part_files`), so the planner may treat the files as if an exchange had
//! just moved them. A `GROUP BY advertiser, product_id` or a window `PARTITION BY advertiser`
//! over such a table then needs no exchange: in this process no repartition between threads,
//! on a cluster no shuffle between executors, each bucket is aggregated and ranked where it is
//! read. Without the declaration the filtered rows of every scan partition would be shuffled
//! to be combined, once per query that reads them.
use std::sync::Arc;

use anyhow::{Context, bail};
use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::Session;
use datafusion::common::Result;
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder};
use datafusion::datasource::table_schema::TableSchema;
use datafusion::datasource::{TableProvider, TableType};
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::logical_expr::Expr;
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_plan::{ExecutionPlan, Partitioning};
use datafusion::prelude::SessionContext;
use futures::{StreamExt, TryStreamExt};
use object_store::ObjectStoreExt;
use object_store::path::Path as ObjPath;
use serde::{Deserialize, Serialize};

/// Which files make the table; travels in plans (`cluster::codec`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BucketedSpec {
    /// The object store's URL (`file://`, `s3://bucket`).
    pub store_url: String,
    pub column: String,
    pub buckets: u32,
    /// `(key, size in bytes, bucket)`.
    pub files: Vec<(String, u64, u32)>,
}

#[derive(Debug)]
pub struct BucketedTable {
    spec: BucketedSpec,
    schema: SchemaRef,
}

impl BucketedTable {
    pub fn new(spec: BucketedSpec, schema: SchemaRef) -> Self {
        Self { spec, schema }
    }

    pub fn spec(&self) -> &BucketedSpec {
        &self.spec
    }
}

/// Registers `files` (`(key under the store, bucket, buckets)`) as `table`, bucketed by
/// `column`: sizes and the schema are read from the store here, once.
pub async fn register(
    ctx: &SessionContext,
    table: &str,
    store_url: &str,
    column: &str,
    files: Vec<(String, u32, u32)>,
) -> anyhow::Result<()> {
    let Some(&(_, _, buckets)) = files.first() else {
        bail!("the {table} table has no files");
    };
    if files.iter().any(|(_, b, of)| *of != buckets || b >= of) {
        bail!("the {table} table's files disagree on its {buckets} buckets");
    }
    let state = ctx.state();
    let store = state
        .runtime_env()
        .object_store(ObjectStoreUrl::parse(store_url)?)?;
    // Owned paths: a stream borrowing `files` would make the stage's future not `Send`.
    let paths: Vec<ObjPath> = files
        .iter()
        .map(|(k, _, _)| ObjPath::from(k.as_str()))
        .collect();
    let heads = futures::stream::iter(paths).map(|path| {
        let store = store.clone();
        async move { store.head(&path).await }
    });
    let metas: Vec<_> = heads
        .buffered(16)
        .try_collect()
        .await
        .with_context(|| format!("opening the {table} table"))?;
    let format = ParquetFormat::default().with_options(state.table_options().parquet.clone());
    let schema = format
        .infer_schema(&state, &store, &metas[..1])
        .await
        .with_context(|| format!("reading the {table} table's schema"))?;
    schema.index_of(column)?;
    let spec = BucketedSpec {
        store_url: store_url.to_owned(),
        column: column.to_owned(),
        buckets,
        files: files
            .into_iter()
            .zip(&metas)
            .map(|((key, bucket, _), meta)| (key, meta.size, bucket))
            .collect(),
    };
    ctx.register_table(table, Arc::new(BucketedTable::new(spec, schema)))?;
    Ok(())
}

#[async_trait]
impl TableProvider for BucketedTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _: &[Expr],
        _: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let spec = &self.spec;
        let mut groups = vec![Vec::new(); spec.buckets as usize];
        for (key, size, bucket) in &spec.files {
            groups[*bucket as usize].push(PartitionedFile::new(key.clone(), *size));
        }
        let column = Column::new(&spec.column, self.schema.index_of(&spec.column)?);
        let partitioning = Partitioning::Hash(vec![Arc::new(column)], groups.len());
        let format = ParquetFormat::default().with_options(state.table_options().parquet.clone());
        let source = format.file_source(TableSchema::from(self.schema.clone()));
        let config = FileScanConfigBuilder::new(ObjectStoreUrl::parse(&spec.store_url)?, source)
            .with_file_groups(groups.into_iter().map(FileGroup::new).collect())
            .with_projection_indices(projection.cloned())?
            .with_output_partitioning(Some(partitioning))
            .build();
        format.create_physical_plan(state, config).await
    }
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{Int32Array, Int64Array, RecordBatch, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::datasource::MemTable;
    use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
    use datafusion::prelude::SessionConfig;
    use object_store::memory::InMemory;
    use uuid::Uuid;

    use super::*;
    use crate::jobs::engine::WriteSpec;

    /// `(advertiser, product_id, n)` rows as a written partition sees them, all `kept`.
    fn rows(range: std::ops::Range<i32>) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("advertiser", DataType::Int32, true),
            Field::new("product_id", DataType::Utf8, false),
            Field::new("n", DataType::Int64, false),
            Field::new("outcome", DataType::Utf8, false),
        ]));
        let advertiser = Int32Array::from_iter_values(range.clone().map(|i| i % 50));
        let product = StringArray::from_iter_values(range.clone().map(|i| format!("p{}", i % 13)));
        let n = Int64Array::from_iter_values(range.clone().map(|i| i64::from(1 + i % 5)));
        let outcome = StringArray::from_iter_values(range.map(|_| "kept"));
        let columns: Vec<datafusion::arrow::array::ArrayRef> = vec![
            Arc::new(advertiser),
            Arc::new(product),
            Arc::new(n),
            Arc::new(outcome),
        ];
        RecordBatch::try_new(schema, columns).expect("batch")
    }

    const RANKED: &str = "
        WITH views AS (
            SELECT advertiser, product_id, sum(n) AS views FROM t GROUP BY advertiser, product_id
        ),
        ranked AS (
            SELECT advertiser, product_id, views, row_number() OVER (
                PARTITION BY advertiser ORDER BY views DESC, product_id) AS rank
            FROM views
        )
        SELECT a.name, r.product_id, r.rank, r.views
        FROM ranked r JOIN names a ON a.code = r.advertiser
        WHERE r.rank <= 3
        ORDER BY a.name, r.rank";

    /// Bucketed files read back are aggregated and ranked with no exchange, and give the
    /// answer of the same rows read plainly, even through a partitioned hash join (the other
    /// side repartitioned by DataFusion to meet the declared buckets) and with more threads
    /// than buckets.
    #[tokio::test]
    async fn bucketed_files_need_no_exchange_and_agree_with_a_plain_read() {
        // Arrange: two written partitions, three buckets.
        let store: Arc<InMemory> = Arc::new(InMemory::new());
        let spec = WriteSpec {
            store_url: "memory://".into(),
            dir: "d/".into(),
            table: "t".into(),
            run_id: Uuid::new_v4(),
            attempt: 1,
            intermediate: true,
            bucket_by: Some("advertiser".into()),
            buckets: 3,
        };
        let mut files = Vec::new();
        for part in [0..700, 700..1500] {
            let batch = rows(part);
            let stream =
                RecordBatchStreamAdapter::new(batch.schema(), futures::stream::iter([Ok(batch)]));
            let report =
                super::super::part_files::write_partition(Box::pin(stream), store.clone(), &spec)
                    .await
                    .expect("write");
            for f in report.files {
                let (b, of) = f.bucket.expect("bucketed");
                files.push((format!("d/{}", f.path), b, of));
            }
        }
        assert_eq!(files.len(), 6, "{files:?}");
        let names = Arc::new(Schema::new(vec![
            Field::new("code", DataType::Int32, false),
            Field::new("name", DataType::Utf8, false),
        ]));
        let names = RecordBatch::try_new(
            names.clone(),
            vec![
                Arc::new(Int32Array::from_iter_values(0..50)),
                Arc::new(StringArray::from_iter_values(
                    (0..50).map(|i| format!("adv{i}")),
                )),
            ],
        )
        .expect("names");
        let plain = SessionContext::new();
        let table = |b: &RecordBatch| MemTable::try_new(b.schema(), vec![vec![b.clone()]]);
        plain
            .register_table("names", Arc::new(table(&names).expect("names")))
            .expect("names");
        plain
            .register_table("t", Arc::new(table(&rows(0..1500)).expect("t")))
            .expect("t");
        let want = plain
            .sql(RANKED)
            .await
            .expect("plan")
            .collect()
            .await
            .expect("run");
        let text = |b: &[RecordBatch]| {
            datafusion::arrow::util::pretty::pretty_format_batches(b)
                .expect("format")
                .to_string()
        };
        assert_eq!(want.iter().map(|b| b.num_rows()).sum::<usize>(), 150);

        // As many threads as buckets, then more.
        for threads in [3, 4] {
            // As `Engine::new` sets them; and a partitioned join, to check the buckets against
            // DataFusion's own repartitioning of the other side.
            let mut config = SessionConfig::new().with_target_partitions(threads);
            let optimizer = &mut config.options_mut().optimizer;
            optimizer.subset_repartition_threshold = 1;
            optimizer.enable_round_robin_repartition = false;
            optimizer.hash_join_single_partition_threshold = 0;
            optimizer.hash_join_single_partition_threshold_rows = 0;
            let ctx = SessionContext::new_with_config(config);
            ctx.register_object_store(&url::Url::parse("memory://").expect("url"), store.clone());
            ctx.register_table("names", Arc::new(table(&names).expect("names")))
                .expect("names");

            // Act
            register(&ctx, "t", "memory://", "advertiser", files.clone())
                .await
                .expect("register");
            let df = ctx.sql(RANKED).await.expect("plan");
            let plan = df.create_physical_plan().await.expect("physical plan");
            let shown = datafusion::physical_plan::displayable(plan.as_ref())
                .indent(true)
                .to_string();
            let got = datafusion::physical_plan::collect(plan, ctx.task_ctx())
                .await
                .expect("run");

            // Assert: one aggregation per bucket and the ranking on it, no exchange below them
            // (with as many threads as buckets, the join moves only the other side); the same
            // rows as the plain read.
            assert!(shown.contains("mode=SinglePartitioned"), "{shown}");
            assert!(!shown.contains("mode=Partial"), "{shown}");
            assert!(
                shown.contains("mode=Partitioned"),
                "not a partitioned join:\n{shown}"
            );
            let window = shown.find("BoundedWindowAggExec").expect("a window");
            let scan = shown
                .find("output_partitioning=Hash")
                .expect("the bucketed scan");
            assert!(!shown[window..scan].contains("RepartitionExec"), "{shown}");
            if threads == 3 {
                assert_eq!(shown.matches("RepartitionExec").count(), 1, "{shown}");
            }
            assert_eq!(text(&got), text(&want), "{threads} threads");
        }
    }
}
