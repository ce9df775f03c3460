//! The batch the tokenizer fills: the projected columns of the rows kept so far, as `Utf8View`
//! views into the buffer that was read and `Date32` days.
use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, Date32Array, RecordBatch, RecordBatchOptions, StringViewArray,
};
use datafusion::arrow::buffer::{Buffer, ScalarBuffer};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::Result;

use super::format::{Column, ColumnKind};

/// The projected columns of the batch being built.
pub(super) struct BatchBuilder<'a> {
    projection: &'a [usize],
    kinds: Vec<ColumnKind>,
    views: Vec<Vec<u128>>,
    dates: Vec<Vec<i32>>,
    rows: usize,
    cap: usize,
}

impl<'a> BatchBuilder<'a> {
    pub(super) fn new(projection: &'a [usize], columns: &[Column], cap: usize) -> Self {
        let kinds: Vec<ColumnKind> = projection.iter().map(|&i| columns[i].kind).collect();
        let mut b = Self {
            projection,
            kinds,
            views: Vec::new(),
            dates: Vec::new(),
            rows: 0,
            cap,
        };
        b.reset();
        b
    }

    fn reset(&mut self) {
        let per = |k: ColumnKind| self.kinds.iter().filter(|&&x| x == k).count();
        self.views = (0..per(ColumnKind::Text))
            .map(|_| Vec::with_capacity(self.cap))
            .collect();
        self.dates = (0..per(ColumnKind::Date))
            .map(|_| Vec::with_capacity(self.cap))
            .collect();
        self.rows = 0;
    }

    pub(super) fn len(&self) -> usize {
        self.rows
    }

    #[inline]
    pub(super) fn push(&mut self, bytes: &[u8], fields: &[(u32, u32)], date: i32) {
        let (mut t, mut d) = (0, 0);
        for (&col, &kind) in self.projection.iter().zip(&self.kinds) {
            match kind {
                ColumnKind::Text => {
                    let (a, b) = fields[col];
                    self.views[t].push(view(&bytes[a as usize..b as usize], a));
                    t += 1;
                }
                ColumnKind::Date => {
                    self.dates[d].push(date);
                    d += 1;
                }
            }
        }
        self.rows += 1;
    }

    pub(super) fn finish(&mut self, schema: &SchemaRef, data: &Buffer) -> Result<RecordBatch> {
        let (mut views, mut dates) = (
            std::mem::take(&mut self.views).into_iter(),
            std::mem::take(&mut self.dates).into_iter(),
        );
        let columns: Vec<ArrayRef> = self
            .kinds
            .iter()
            .map(|k| -> ArrayRef {
                match k {
                    ColumnKind::Text => {
                        let v = ScalarBuffer::from(views.next().unwrap_or_default());
                        // SAFETY: every view was made by `make_view` from a slice of `data`
                        // (buffer 0) that lies inside one line, which was checked to be UTF-8.
                        Arc::new(unsafe {
                            StringViewArray::new_unchecked(v, vec![data.clone()], None)
                        })
                    }
                    ColumnKind::Date => {
                        Arc::new(Date32Array::from(dates.next().unwrap_or_default()))
                    }
                }
            })
            .collect();
        let rows = self.rows;
        self.reset();
        let options = RecordBatchOptions::new().with_row_count(Some(rows));
        Ok(RecordBatch::try_new_with_options(
            schema.clone(),
            columns,
            &options,
        )?)
    }
}

/// The `Utf8View` view of `v`, found at `offset` in buffer 0: inline up to 12 bytes, else its
/// length, 4-byte prefix, buffer and offset (arrow's `make_view`, small enough to inline here).
#[inline(always)]
pub(super) fn view(v: &[u8], offset: u32) -> u128 {
    let len = v.len() as u32;
    if len <= 12 {
        let mut inline = [0u8; 16];
        inline[..4].copy_from_slice(&len.to_le_bytes());
        inline[4..4 + v.len()].copy_from_slice(v);
        u128::from_le_bytes(inline)
    } else {
        let prefix = u32::from_le_bytes([v[0], v[1], v[2], v[3]]);
        u128::from(len) | (u128::from(prefix) << 32) | (u128::from(offset) << 96)
    }
}
