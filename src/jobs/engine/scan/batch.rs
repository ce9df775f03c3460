//! The batch the tokenizer fills: the projected columns of the rows kept so far, as `Utf8View`
//! views into the buffer that was read, `Date32` days, advertiser codes and the partition.
use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, BooleanBufferBuilder, Date32Array, Int32Array, Int64Array, RecordBatch,
    RecordBatchOptions, StringViewArray,
};
use datafusion::arrow::buffer::{Buffer, NullBuffer, ScalarBuffer};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::Result;

use super::codes::Codes;
use super::format::{Column, ColumnKind, TableColumn};

/// One projected column being built.
enum Builder {
    Text {
        field: usize,
        views: Vec<u128>,
    },
    Date(Vec<i32>),
    Code {
        field: usize,
        codes: CodeColumn,
    },
    Part,
    /// `n` of a row that is one line.
    One,
}

/// The projected columns of the batch being built.
pub(super) struct BatchBuilder<'a> {
    outputs: &'a [TableColumn],
    kinds: Vec<Option<ColumnKind>>,
    codes: Option<&'a Codes>,
    builders: Vec<Builder>,
    rows: usize,
    cap: usize,
}

impl<'a> BatchBuilder<'a> {
    pub(super) fn new(
        outputs: &'a [TableColumn],
        columns: &[Column],
        codes: Option<&'a Codes>,
        cap: usize,
    ) -> Self {
        let kinds = outputs
            .iter()
            .map(|o| match o {
                TableColumn::Field(i) => Some(columns[*i].kind),
                _ => None,
            })
            .collect();
        let mut b = Self {
            outputs,
            kinds,
            codes,
            builders: Vec::new(),
            rows: 0,
            cap,
        };
        b.reset();
        b
    }

    fn reset(&mut self) {
        let cap = self.cap;
        self.builders = self
            .outputs
            .iter()
            .zip(&self.kinds)
            .map(|(o, kind)| match (o, kind) {
                (TableColumn::Field(i), Some(ColumnKind::Text)) => Builder::Text {
                    field: *i,
                    views: Vec::with_capacity(cap),
                },
                (TableColumn::Field(_), _) => Builder::Date(Vec::with_capacity(cap)),
                (TableColumn::Code(i), _) => Builder::Code {
                    field: *i,
                    codes: CodeColumn::new(cap),
                },
                (TableColumn::Part, _) => Builder::Part,
                (TableColumn::Count, _) => Builder::One,
            })
            .collect();
        self.rows = 0;
    }

    pub(super) fn len(&self) -> usize {
        self.rows
    }

    #[inline]
    pub(super) fn push(&mut self, bytes: &[u8], fields: &[(u32, u32)], date: i32) {
        for b in &mut self.builders {
            match b {
                Builder::Text { field, views } => {
                    let (a, e) = fields[*field];
                    views.push(view(bytes, a as usize, e as usize));
                }
                Builder::Date(days) => days.push(date),
                Builder::Code { field, codes } => {
                    let (a, e) = fields[*field];
                    codes.push(
                        self.codes
                            .and_then(|c| c.get(&bytes[a as usize..e as usize])),
                    );
                }
                Builder::Part | Builder::One => {}
            }
        }
        self.rows += 1;
    }

    /// The batch of the rows pushed since the last one; `part` is the scan partition.
    pub(super) fn finish(
        &mut self,
        schema: &SchemaRef,
        data: &Buffer,
        part: i32,
    ) -> Result<RecordBatch> {
        let rows = self.rows;
        let columns: Vec<ArrayRef> = std::mem::take(&mut self.builders)
            .into_iter()
            .map(|b| -> ArrayRef {
                match b {
                    Builder::Text { views, .. } => {
                        let v = ScalarBuffer::from(views);
                        // SAFETY: every view was made by `view` from a slice of `data`
                        // (buffer 0) that lies inside one line, which was checked to be UTF-8.
                        Arc::new(unsafe {
                            StringViewArray::new_unchecked(v, vec![data.clone()], None)
                        })
                    }
                    Builder::Date(days) => Arc::new(Date32Array::from(days)),
                    Builder::Code { codes, .. } => codes.finish(),
                    Builder::Part => Arc::new(Int32Array::from_value(part, rows)),
                    Builder::One => Arc::new(Int64Array::from_value(1, rows)),
                }
            })
            .collect();
        self.reset();
        let options = RecordBatchOptions::new().with_row_count(Some(rows));
        Ok(RecordBatch::try_new_with_options(
            schema.clone(),
            columns,
            &options,
        )?)
    }
}

/// An `advertiser_code` column being built: a code, or NULL for an id without one.
pub(super) struct CodeColumn {
    codes: Vec<i32>,
    valid: BooleanBufferBuilder,
    nulls: usize,
}

impl CodeColumn {
    pub(super) fn new(cap: usize) -> Self {
        Self {
            codes: Vec::with_capacity(cap),
            valid: BooleanBufferBuilder::new(cap),
            nulls: 0,
        }
    }

    #[inline]
    pub(super) fn push(&mut self, code: Option<i32>) {
        self.codes.push(code.unwrap_or(0));
        self.valid.append(code.is_some());
        self.nulls += usize::from(code.is_none());
    }

    /// The column, with a null buffer only if some code is NULL.
    pub(super) fn finish(mut self) -> ArrayRef {
        let nulls = (self.nulls > 0).then(|| NullBuffer::new(self.valid.finish()));
        Arc::new(Int32Array::new(ScalarBuffer::from(self.codes), nulls))
    }
}

/// The `Utf8View` view of `bytes[a..e]` in buffer 0: inline up to 12 bytes, else its length,
/// 4-byte prefix, buffer and offset (arrow's `make_view`). An inline value is read as 12 fixed
/// bytes and masked, not copied by length: a variable-length copy here was a `memcpy` call per
/// field, 10 % of the tokenizer's time.
#[inline(always)]
pub(super) fn view(bytes: &[u8], a: usize, e: usize) -> u128 {
    let len = e - a;
    if len <= 12 {
        let mut word = [0u8; 16];
        match bytes.get(a..a + 12) {
            Some(twelve) => word[4..].copy_from_slice(twelve),
            None => word[4..4 + len].copy_from_slice(&bytes[a..e]), // the buffer's last bytes
        }
        let keep = if len == 12 {
            u128::MAX
        } else {
            (1u128 << (32 + 8 * len)) - 1
        };
        (u128::from_le_bytes(word) & keep) | len as u128
    } else {
        let prefix = u32::from_le_bytes([bytes[a], bytes[a + 1], bytes[a + 2], bytes[a + 3]]);
        len as u128 | (u128::from(prefix) << 32) | ((a as u128) << 96)
    }
}
