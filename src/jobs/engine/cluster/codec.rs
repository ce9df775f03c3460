//! adrec's extension codecs: how its tables and operators travel in Ballista plans.
//!
//! A plan leaves the service as a logical plan (to the scheduler) and leaves the scheduler as
//! physical stages (to executors). Both carry adrec's own nodes:
//! - logical: the log tables (`LogTable`, with their advertiser codes), the codes table
//!   (`CodesTable`, the `active` list), the bucketed filtered output (`BucketedTable`) and the
//!   write target (`PartSink`);
//! - physical: the log scan (`SlicedScanExec` over a `LogScanExec`) and the partition writer
//!   (`PartWriteExec`).
//!
//! Each is written as a tag and the serde JSON of its spec: file keys, ranges, ids, the store's
//! URL, never credentials (executors build their own store from the URL, `registry`). Every
//! other node goes to Ballista's own codecs, which also carry its shuffle nodes and the file
//! formats.
use std::sync::Arc;

use ballista_core::serde::{BallistaLogicalExtensionCodec, BallistaPhysicalExtensionCodec};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::TableProvider;
use datafusion::common::{DataFusionError, Result, TableReference};
use datafusion::datasource::file_format::FileFormatFactory;
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{Extension, LogicalPlan};
use datafusion::physical_plan::ExecutionPlan;
use datafusion_proto::logical_plan::LogicalExtensionCodec;
use datafusion_proto::physical_plan::{PhysicalExtensionCodec, PhysicalProtoConverterExtension};
use serde::{Deserialize, Serialize};

use crate::jobs::engine::bucketed::{BucketedSpec, BucketedTable};
use crate::jobs::engine::scan::{
    Codes, LogFormat, LogScanExec, LogScanSpec, LogTable, SlicedScanExec,
};
use crate::jobs::engine::session::CodesTable;
use crate::jobs::engine::{PartSink, PartWriteExec, WriteSpec};

/// Marks adrec's nodes; Ballista's are protobuf, which never starts with these bytes.
const TAG: &[u8] = b"\0adrec2";

#[derive(Serialize, Deserialize)]
enum Table {
    Log {
        format: LogFormat,
        codes: Option<Arc<Codes>>,
        store_url: String,
        files: Vec<(String, u64, Option<i32>)>,
    },
    Codes(Arc<Codes>),
    /// A bucketed Parquet table (the filtered output); its schema travels beside it.
    Bucketed(BucketedSpec),
    /// Its schema travels beside it (the codec is given it on decoding).
    Sink(WriteSpec),
}

#[derive(Serialize, Deserialize)]
enum Node {
    /// A `SlicedScanExec`: its scan; its one input lists the partitions it runs.
    Scan(LogScanSpec),
    /// A `PartWriteExec` over its one input.
    Write(WriteSpec),
}

fn write<T: Serialize>(v: &T, buf: &mut Vec<u8>) -> Result<()> {
    buf.extend_from_slice(TAG);
    serde_json::to_writer(buf, v).map_err(|e| DataFusionError::External(Box::new(e)))
}

fn read<T: for<'de> Deserialize<'de>>(buf: &[u8]) -> Option<Result<T>> {
    let body = buf.strip_prefix(TAG)?;
    Some(serde_json::from_slice(body).map_err(|e| DataFusionError::External(Box::new(e))))
}

fn one_input<'a>(
    inputs: &'a [Arc<dyn ExecutionPlan>],
    what: &str,
) -> Result<&'a Arc<dyn ExecutionPlan>> {
    match inputs {
        [one] => Ok(one),
        _ => Err(DataFusionError::Internal(format!(
            "{what} has one input, got {}",
            inputs.len()
        ))),
    }
}

#[derive(Debug, Default)]
pub struct AdrecLogicalCodec {
    inner: BallistaLogicalExtensionCodec,
}

impl LogicalExtensionCodec for AdrecLogicalCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[LogicalPlan],
        ctx: &TaskContext,
    ) -> Result<Extension> {
        self.inner.try_decode(buf, inputs, ctx)
    }

    fn try_encode(&self, node: &Extension, buf: &mut Vec<u8>) -> Result<()> {
        self.inner.try_encode(node, buf)
    }

    fn try_decode_table_provider(
        &self,
        buf: &[u8],
        table_ref: &TableReference,
        schema: SchemaRef,
        ctx: &TaskContext,
    ) -> Result<Arc<dyn TableProvider>> {
        let Some(table) = read::<Table>(buf) else {
            return self
                .inner
                .try_decode_table_provider(buf, table_ref, schema, ctx);
        };
        Ok(match table? {
            // Executors and the scheduler read on the runtime that polls the plan.
            Table::Log {
                format,
                codes,
                store_url,
                files,
            } => Arc::new(LogTable::new(format, codes, store_url, files, None)),
            Table::Codes(codes) => Arc::new(CodesTable::new(codes)),
            Table::Bucketed(spec) => Arc::new(BucketedTable::new(spec, schema)),
            Table::Sink(spec) => Arc::new(PartSink { spec, schema }),
        })
    }

    fn try_encode_table_provider(
        &self,
        table_ref: &TableReference,
        node: Arc<dyn TableProvider>,
        buf: &mut Vec<u8>,
    ) -> Result<()> {
        if let Some(t) = node.downcast_ref::<LogTable>() {
            let table = Table::Log {
                format: t.format().clone(),
                codes: t.codes().cloned(),
                store_url: t.store_url().to_owned(),
                files: t.files().to_vec(),
            };
            return write(&table, buf);
        }
        if let Some(t) = node.downcast_ref::<CodesTable>() {
            return write(&Table::Codes(t.codes().clone()), buf);
        }
        if let Some(t) = node.downcast_ref::<BucketedTable>() {
            return write(&Table::Bucketed(t.spec().clone()), buf);
        }
        if let Some(t) = node.downcast_ref::<PartSink>() {
            return write(&Table::Sink(t.spec.clone()), buf);
        }
        self.inner.try_encode_table_provider(table_ref, node, buf)
    }

    fn try_decode_file_format(
        &self,
        buf: &[u8],
        ctx: &TaskContext,
    ) -> Result<Arc<dyn FileFormatFactory>> {
        self.inner.try_decode_file_format(buf, ctx)
    }

    fn try_encode_file_format(
        &self,
        buf: &mut Vec<u8>,
        node: Arc<dyn FileFormatFactory>,
    ) -> Result<()> {
        self.inner.try_encode_file_format(buf, node)
    }
}

#[derive(Debug, Default)]
pub struct AdrecPhysicalCodec {
    inner: BallistaPhysicalExtensionCodec,
}

impl PhysicalExtensionCodec for AdrecPhysicalCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[Arc<dyn ExecutionPlan>],
        ctx: &TaskContext,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let Some(node) = read::<Node>(buf) else {
            return self.inner.try_decode(buf, inputs, ctx, proto_converter);
        };
        match node? {
            // Executors read on the runtime that polls the plan.
            Node::Scan(spec) => {
                let slices = one_input(inputs, "SlicedScanExec")?;
                let scan = LogScanExec::new(spec, None, ctx.session_config().batch_size());
                Ok(Arc::new(SlicedScanExec::new(
                    Arc::new(scan),
                    slices.clone(),
                )))
            }
            Node::Write(spec) => {
                let input = one_input(inputs, "PartWriteExec")?;
                Ok(Arc::new(PartWriteExec::new(input.clone(), spec)?))
            }
        }
    }

    fn try_encode(
        &self,
        node: Arc<dyn ExecutionPlan>,
        buf: &mut Vec<u8>,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<()> {
        if node.downcast_ref::<LogScanExec>().is_some() {
            // Ballista gives each task its slice of a stage by rewriting the leaves it knows;
            // this leaf it would leave whole, and every task would scan every partition.
            return Err(DataFusionError::Internal(
                "a log scan travels only inside a SlicedScanExec".into(),
            ));
        }
        if let Some(s) = node.downcast_ref::<SlicedScanExec>() {
            return write(&Node::Scan(s.scan().spec().clone()), buf);
        }
        if let Some(w) = node.downcast_ref::<PartWriteExec>() {
            return write(&Node::Write(w.spec().clone()), buf);
        }
        self.inner.try_encode(node, buf, proto_converter)
    }
}
