//! adrec's extension codecs: how the log scan travels in Ballista plans.
//!
//! A plan leaves the service as a logical plan (to the scheduler) and leaves the scheduler as
//! physical stages (to executors). Both carry adrec's own nodes: the `LogTable` (and its
//! reporting wrapper, `report::ReportedLogTable`) in logical plans, the `LogScanExec` (inside
//! `report::ReportScanExec`, which splits it over tasks) in physical ones. Each is written as a
//! tag and the serde JSON of its spec: file keys, ranges, the store's URL, never credentials
//! (executors build their own store from the URL, `registry`). Every other node goes to Ballista's own codecs, which also carry
//! its shuffle nodes and the file formats.
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

use super::report::{ReportScanExec, ReportedLogTable};
use crate::jobs::engine::scan::{LogFormat, LogScanExec, LogScanSpec, LogTable};

/// Marks adrec's nodes; Ballista's are protobuf, which never starts with these bytes.
const TAG: &[u8] = b"\0adrec1";

#[derive(Serialize, Deserialize)]
enum Table {
    Log {
        format: LogFormat,
        store_url: String,
        files: Vec<(String, u64, Option<i32>)>,
        /// Where `ReportedLogTable` scans leave their line counts.
        report: Option<String>,
    },
}

#[derive(Serialize, Deserialize)]
enum Node {
    Scan(LogScanSpec),
    /// A `ReportScanExec`: its scan; its one input lists the partitions it runs.
    Report {
        report: String,
        scan: LogScanSpec,
    },
}

fn write<T: Serialize>(v: &T, buf: &mut Vec<u8>) -> Result<()> {
    buf.extend_from_slice(TAG);
    serde_json::to_writer(buf, v).map_err(|e| DataFusionError::External(Box::new(e)))
}

fn read<T: for<'de> Deserialize<'de>>(buf: &[u8]) -> Option<Result<T>> {
    let body = buf.strip_prefix(TAG)?;
    Some(serde_json::from_slice(body).map_err(|e| DataFusionError::External(Box::new(e))))
}

fn log_table(t: &LogTable, report: Option<String>) -> Table {
    Table::Log {
        format: t.format().clone(),
        store_url: t.store_url().to_owned(),
        files: t.files().to_vec(),
        report,
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
        let Table::Log {
            format,
            store_url,
            files,
            report,
        } = table?;
        let log = LogTable::new(format, store_url, files, None);
        Ok(match report {
            Some(report) => Arc::new(ReportedLogTable::new(log, report)),
            None => Arc::new(log),
        })
    }

    fn try_encode_table_provider(
        &self,
        table_ref: &TableReference,
        node: Arc<dyn TableProvider>,
        buf: &mut Vec<u8>,
    ) -> Result<()> {
        if let Some(t) = node.downcast_ref::<LogTable>() {
            return write(&log_table(t, None), buf);
        }
        if let Some(t) = node.downcast_ref::<ReportedLogTable>() {
            return write(&log_table(t.log(), Some(t.report().to_owned())), buf);
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
            Node::Scan(spec) => Ok(Arc::new(LogScanExec::new(
                spec,
                None,
                ctx.session_config().batch_size(),
            ))),
            Node::Report { report, scan } => {
                let [slices] = inputs else {
                    return Err(DataFusionError::Internal(format!(
                        "ReportScanExec has one input, got {}",
                        inputs.len()
                    )));
                };
                let scan = LogScanExec::new(scan, None, ctx.session_config().batch_size());
                Ok(Arc::new(ReportScanExec::new(
                    Arc::new(scan),
                    slices.clone(),
                    report,
                )))
            }
        }
    }

    fn try_encode(
        &self,
        node: Arc<dyn ExecutionPlan>,
        buf: &mut Vec<u8>,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<()> {
        if let Some(scan) = node.downcast_ref::<LogScanExec>() {
            // Ballista gives each task its slice of a stage by rewriting the leaves it knows;
            // this leaf it would leave whole, and every task would scan every partition. Only
            // a `ReportScanExec` splits a scan over tasks.
            if scan.spec().partitions.len() > 1 {
                return Err(DataFusionError::Internal(format!(
                    "a log scan of {} partitions outside ReportScanExec would run whole in \
                     every task of its stage",
                    scan.spec().partitions.len()
                )));
            }
            return write(&Node::Scan(scan.spec().clone()), buf);
        }
        if let Some(r) = node.downcast_ref::<ReportScanExec>() {
            return write(
                &Node::Report {
                    report: r.report().to_owned(),
                    scan: r.scan().spec().clone(),
                },
                buf,
            );
        }
        self.inner.try_encode(node, buf, proto_converter)
    }
}
