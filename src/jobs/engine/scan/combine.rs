//! The scan's combiner: a partition's identical rows output once, with their count `n`.
//!
//! When a query reads the table's `n` column, the scan collapses the rows of each partition that
//! agree on every other column it outputs into one row counting them, as a MapReduce combiner
//! does. The logs repeat themselves heavily (a day's 8M ad events are ~500k (advertiser,
//! product, type) groups), and DataFusion's hash aggregate spent half of filter_data's CPU
//! interning every event: one random access per key column per row, then one per aggregate.
//! Here a row's key is its projected fields' bytes (each after its length, one byte below 128),
//! one hash, and usually one probe whose entry holds the count beside the key.
//!
//! The combiner is bounded: once it holds `CAP_BYTES` (or the memory pool refuses it more) it
//! emits its rows and starts again, so a key may appear more than once in a partition's output,
//! and a reader sums `n`. The filter's queries take its rows as they are, with no aggregate of
//! their own (the multiset they write allows repeats): a second hash aggregate over the combined
//! rows merged only what a full table had emitted twice, and cost more than it saved. Its
//! emitted text columns are views into the combiner's own key buffer, so no read buffer stays
//! pinned behind them.
use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, Date32Array, Int32Array, Int64Array, RecordBatch, RecordBatchOptions, StringViewArray,
};
use datafusion::arrow::buffer::{Buffer, ScalarBuffer};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::Result;

use super::batch::{CodeColumn, view};
use super::codes::{Codes, hash, same};
use super::delims::prefetch;
use super::format::{Column, ColumnKind, TableColumn};

/// What a combiner holds at most (entries and table) before it emits its rows. An ad event's
/// entry is ~44 bytes: the bench day's ~300k groups per partition take ~21 MiB with their slots,
/// its Zipf-shaped twin's ~1M about 60 MiB.
const CAP_BYTES: usize = 64 << 20;

/// The entries' buffer is allocated this large at once (the pages are only touched as it
/// fills), so that it never grows by copying: doubling it as it filled moved tens of MiB and
/// faulted in fresh pages each time, a third more system time on the Zipf-shaped day.
const ARENA_BYTES: usize = CAP_BYTES + (8 << 20);

/// One output column, as it is kept in a key.
#[derive(Debug, Clone, Copy)]
enum Part {
    /// Field `i`'s bytes: their length (a varint), then the bytes.
    Text(usize),
    /// The row's day (i32).
    Date,
    /// The code of field `i`, kept as the id's bytes (like `Text`) and looked up once per key
    /// when emitted: looked up per row, it was 11 % of the scan's time, more than the smaller
    /// keys saved. Ids without a code stay apart here (all of them are NULL once emitted).
    Code(usize),
    /// Not in the key: the scan partition (one per combiner), or the count itself.
    Partition,
    Count,
}

/// The distinct rows of one scan partition seen since it last emitted, with their counts.
pub(super) struct Combiner {
    parts: Vec<Part>,
    codes: Option<Arc<Codes>>,
    schema: SchemaRef,
    part: i32,
    batch_rows: usize,
    /// The last `DEPTH` rows added, each key with its hash, by row number modulo `DEPTH`: each
    /// is counted `DEPTH` rows after it came.
    queue: Vec<(Vec<u8>, u64)>,
    /// Rows added since the last emit (a count is a u32: see `full`).
    added: usize,
    /// The entries, one after the other: the count (u32), the key's length (a varint), the key.
    arena: Vec<u8>,
    entries: usize,
    /// Open addressing, at most half full: the hash's high half << 32 | the entry's offset + 1;
    /// 0 is an empty slot.
    slots: Vec<u64>,
}

/// An entry's count, before its key's length.
const COUNT_BYTES: usize = 4;
/// How many rows after its arrival a row is counted. A lookup is two cache misses in a row (the
/// table outgrows the caches): the slot, then the entry it points at. Counted at once, each row
/// waited on both (70 % of the scan's time); now its slot is prefetched as it arrives, its entry
/// `DEPTH / 2` rows later, and it is counted once both are in cache, while the parser works on.
/// (32 measured no better.)
const DEPTH: usize = 16;

impl Combiner {
    pub(super) fn new(
        outputs: &[TableColumn],
        columns: &[Column],
        codes: Option<Arc<Codes>>,
        schema: SchemaRef,
        part: i32,
        batch_rows: usize,
    ) -> Self {
        let parts = outputs
            .iter()
            .map(|o| match *o {
                TableColumn::Field(i) if columns[i].kind == ColumnKind::Text => Part::Text(i),
                TableColumn::Field(_) => Part::Date,
                TableColumn::Code(i) => Part::Code(i),
                TableColumn::Part => Part::Partition,
                TableColumn::Count => Part::Count,
            })
            .collect();
        Self {
            parts,
            codes,
            schema,
            part,
            batch_rows: batch_rows.max(1),
            queue: vec![(Vec::new(), 0); DEPTH],
            added: 0,
            arena: Vec::with_capacity(ARENA_BYTES),
            entries: 0,
            slots: empty_slots(1 << 12),
        }
    }

    /// Bytes held (the entries' buffer as filled: the rest of it is not touched).
    pub(super) fn bytes(&self) -> usize {
        self.arena.len() + self.slots.len() * 8
    }

    /// Whether it must emit before it takes more rows: it holds `CAP_BYTES`, or a count could
    /// overflow within the next range (a range has far fewer than 2^31 lines).
    pub(super) fn full(&self) -> bool {
        self.bytes() > CAP_BYTES || self.added >= 1 << 31
    }

    /// Counts a kept row: its fields' bounds in `bytes`, its day (`DEPTH` rows later).
    #[inline]
    pub(super) fn add(&mut self, bytes: &[u8], fields: &[(u32, u32)], date: i32) {
        let at = self.added % DEPTH;
        let mut key = std::mem::take(&mut self.queue[at].0);
        if self.added >= DEPTH {
            self.count(&key, self.queue[at].1);
        }
        key.clear();
        for p in &self.parts {
            match *p {
                Part::Text(i) | Part::Code(i) => {
                    let (a, b) = (fields[i].0 as usize, fields[i].1 as usize);
                    put_len(&mut key, b - a);
                    push_field(&mut key, bytes, a, b);
                }
                Part::Date => key.extend_from_slice(&date.to_le_bytes()),
                Part::Partition | Part::Count => {}
            }
        }
        let h = hash(&key);
        let mask = self.slots.len() - 1;
        prefetch(&self.slots, h as usize & mask);
        self.queue[at] = (key, h);
        // The row half the queue back: its slot has arrived by now; ask for its entry, both
        // ends of it (an entry may straddle two cache lines). Its slot is nearly always among the
        // first few from its own (the table is at most half full), in the same cache line.
        if self.added >= DEPTH / 2 {
            let (ref back, h) = self.queue[(self.added - DEPTH / 2) % DEPTH];
            let last = COUNT_BYTES + back.len();
            let mut i = h as usize & mask;
            for _ in 0..4 {
                let slot = self.slots[i];
                if slot == 0 {
                    break;
                }
                if slot >> 32 == h >> 32 {
                    let at = (slot as u32 - 1) as usize;
                    prefetch(&self.arena, at);
                    prefetch(&self.arena, at + last);
                    break;
                }
                i = (i + 1) & mask;
            }
        }
        self.added += 1;
    }

    /// Counts the rows still queued.
    fn drain(&mut self) {
        for r in self.added.saturating_sub(DEPTH)..self.added {
            let (key, h) = std::mem::take(&mut self.queue[r % DEPTH]);
            self.count(&key, h);
            self.queue[r % DEPTH].0 = key;
        }
        self.added = 0;
    }

    /// Counts one row of key `key` and hash `h`.
    fn count(&mut self, key: &[u8], h: u64) {
        let mask = self.slots.len() - 1;
        let mut i = h as usize & mask;
        loop {
            let slot = self.slots[i];
            if slot == 0 {
                break;
            }
            if slot >> 32 == h >> 32 {
                let at = (slot as u32 - 1) as usize;
                let (len, pos) = get_len(&self.arena, at + COUNT_BYTES);
                if same(&self.arena[pos..pos + len], key) {
                    let n = u32::from_le_bytes(word4(&self.arena, at)) + 1;
                    self.arena[at..at + COUNT_BYTES].copy_from_slice(&n.to_le_bytes());
                    return;
                }
            }
            i = (i + 1) & mask;
        }
        let at = self.arena.len();
        self.arena.extend_from_slice(&1u32.to_le_bytes());
        put_len(&mut self.arena, key.len());
        self.arena.extend_from_slice(key);
        self.slots[i] = (h & !0xffff_ffff) | (at as u64 + 1);
        self.entries += 1;
        if self.entries * 2 > self.slots.len() {
            self.grow();
        }
    }

    /// Twice the slots, every entry placed again.
    fn grow(&mut self) {
        let mut slots = empty_slots(self.slots.len() * 2);
        let mask = slots.len() - 1;
        let mut at = 0;
        while at < self.arena.len() {
            let (len, pos) = get_len(&self.arena, at + COUNT_BYTES);
            let h = hash(&self.arena[pos..pos + len]);
            let mut i = h as usize & mask;
            while slots[i] != 0 {
                i = (i + 1) & mask;
            }
            slots[i] = (h & !0xffff_ffff) | (at as u64 + 1);
            at = pos + len;
        }
        self.slots = slots;
    }

    /// The rows held, as batches of at most `batch_rows` rows, into `out`; then empty.
    pub(super) fn emit(&mut self, out: &mut Vec<RecordBatch>) -> Result<()> {
        self.drain();
        if self.entries == 0 {
            return Ok(());
        }
        let mut arena = std::mem::replace(&mut self.arena, Vec::with_capacity(ARENA_BYTES));
        // Every emitted batch shares this buffer and reports its capacity as its size: give the
        // untouched rest back (for an allocation this large, glibc remaps rather than copies).
        arena.shrink_to_fit();
        let data = Buffer::from_vec(arena);
        let bytes: &[u8] = &data;
        let mut at = 0;
        while at < bytes.len() {
            let mut cols: Vec<Col> = self
                .parts
                .iter()
                .map(|p| Col::new(*p, &self.codes, self.batch_rows))
                .collect();
            let mut rows = 0;
            while at < bytes.len() && rows < self.batch_rows {
                let n = i64::from(u32::from_le_bytes(word4(bytes, at)));
                let (len, mut pos) = get_len(bytes, at + COUNT_BYTES);
                let end = pos + len;
                for c in &mut cols {
                    pos = c.push(bytes, pos, n);
                }
                debug_assert_eq!(pos, end);
                at = end;
                rows += 1;
            }
            let columns: Vec<ArrayRef> = cols
                .into_iter()
                .map(|c| c.finish(&data, self.part, rows))
                .collect();
            let options = RecordBatchOptions::new().with_row_count(Some(rows));
            out.push(RecordBatch::try_new_with_options(
                self.schema.clone(),
                columns,
                &options,
            )?);
        }
        self.entries = 0;
        self.slots.fill(0);
        Ok(())
    }
}

/// One output column being decoded from the keys.
enum Col {
    Text(Vec<u128>),
    Date(Vec<i32>),
    Code(Option<Arc<Codes>>, CodeColumn),
    Partition,
    Count(Vec<i64>),
}

impl Col {
    fn new(p: Part, codes: &Option<Arc<Codes>>, cap: usize) -> Self {
        match p {
            Part::Text(_) => Col::Text(Vec::with_capacity(cap)),
            Part::Date => Col::Date(Vec::with_capacity(cap)),
            Part::Code(_) => Col::Code(codes.clone(), CodeColumn::new(cap)),
            Part::Partition => Col::Partition,
            Part::Count => Col::Count(Vec::with_capacity(cap)),
        }
    }

    /// Takes this column's value of the key at `pos` (of an entry counting `n`); returns the
    /// position of the next.
    fn push(&mut self, bytes: &[u8], pos: usize, n: i64) -> usize {
        match self {
            Col::Text(views) => {
                let (len, pos) = get_len(bytes, pos);
                views.push(view(bytes, pos, pos + len));
                pos + len
            }
            Col::Date(days) => {
                days.push(i32::from_le_bytes(word4(bytes, pos)));
                pos + 4
            }
            Col::Code(lookup, codes) => {
                let (len, pos) = get_len(bytes, pos);
                codes.push(
                    lookup
                        .as_deref()
                        .and_then(|c| c.get(&bytes[pos..pos + len])),
                );
                pos + len
            }
            Col::Partition => pos,
            Col::Count(counts) => {
                counts.push(n);
                pos
            }
        }
    }

    fn finish(self, data: &Buffer, part: i32, rows: usize) -> ArrayRef {
        match self {
            // SAFETY: every view was made by `view` from a field's bytes in `data` (buffer 0),
            // copied there from a line that was checked to be UTF-8.
            Col::Text(views) => Arc::new(unsafe {
                StringViewArray::new_unchecked(ScalarBuffer::from(views), vec![data.clone()], None)
            }),
            Col::Date(days) => Arc::new(Date32Array::from(days)),
            Col::Code(_, codes) => codes.finish(),
            Col::Partition => Arc::new(Int32Array::from_value(part, rows)),
            Col::Count(counts) => Arc::new(Int64Array::from(counts)),
        }
    }
}

#[inline]
fn word4(b: &[u8], at: usize) -> [u8; 4] {
    b[at..at + 4].try_into().expect("4 bytes")
}

/// `n` empty slots, each page written once before use. A zeroed allocation maps the shared zero
/// page, which the first probe reads and the first insert then replaces: a TLB flush on every
/// core per page, 10 % of the Zipf-shaped day's scan in interrupts between the two cores.
fn empty_slots(n: usize) -> Vec<u64> {
    let mut slots = vec![0u64; n];
    for i in (0..n).step_by(4096 / 8) {
        // SAFETY: `i < n`, inside the allocation; a volatile write is not optimised away, so the
        // page is faulted in writable now.
        unsafe { std::ptr::write_volatile(slots.as_mut_ptr().add(i), 0) };
    }
    slots
}

/// Appends `bytes[a..b]`. Fields are short: a fixed 16-byte copy cut back to length is one
/// vector move, where a copy by length was a `memcpy` call per field (3 % of the scan's time).
#[inline(always)]
fn push_field(key: &mut Vec<u8>, bytes: &[u8], a: usize, b: usize) {
    let at = key.len();
    match bytes.get(a..a + 16) {
        Some(sixteen) if b - a <= 16 => {
            let sixteen: &[u8; 16] = sixteen.try_into().expect("16 bytes");
            key.extend_from_slice(sixteen);
            key.truncate(at + (b - a));
        }
        _ => key.extend_from_slice(&bytes[a..b]),
    }
}

/// Appends `n` as a LEB128 varint: one byte below 128, as field lengths nearly always are.
#[inline]
fn put_len(out: &mut Vec<u8>, mut n: usize) {
    while n >= 0x80 {
        out.push(n as u8 | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// The varint at `at`, and the position after it.
#[inline]
fn get_len(b: &[u8], mut at: usize) -> (usize, usize) {
    let (mut n, mut shift) = (0usize, 0);
    loop {
        let x = b[at];
        at += 1;
        n |= usize::from(x & 0x7f) << shift;
        if x < 0x80 {
            return (n, at);
        }
        shift += 7;
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use datafusion::arrow::array::{Array, AsArray};
    use datafusion::arrow::datatypes::{Date32Type, Int32Type, Int64Type};

    use super::*;
    use crate::jobs::engine::scan::LogFormat;

    type Row = (String, String, String, i32, i32, Option<i32>);

    /// Every table column of `ads_views` with codes, so each kind of key part is exercised.
    fn combiner(codes: &Arc<Codes>, batch_rows: usize) -> Combiner {
        let format = LogFormat::ads_views();
        let outputs: Vec<TableColumn> = format
            .table_columns(true)
            .into_iter()
            .map(|(_, c)| c)
            .collect();
        let schema = format.table_schema(true);
        Combiner::new(
            &outputs,
            format.columns(),
            Some(codes.clone()),
            schema,
            7,
            batch_rows,
        )
    }

    fn add(c: &mut Combiner, line: &str, date: i32) {
        let mut fields = Vec::new();
        let mut start = 0u32;
        for f in line.split(',') {
            fields.push((start, start + f.len() as u32));
            start += f.len() as u32 + 1;
        }
        c.add(line.as_bytes(), &fields, date);
    }

    /// The rows emitted, each with its count summed over repeats.
    fn totals(batches: &[RecordBatch]) -> (BTreeMap<Row, i64>, usize) {
        let mut rows = BTreeMap::new();
        let mut emitted = 0;
        for b in batches {
            let text = |i: usize| b.column(i).as_string_view().clone();
            let (adv, product, kind) = (text(0), text(1), text(2));
            let date = b.column(3).as_primitive::<Date32Type>();
            let part = b.column(4).as_primitive::<Int32Type>();
            let n = b.column(5).as_primitive::<Int64Type>();
            let code = b.column(6).as_primitive::<Int32Type>();
            for i in 0..b.num_rows() {
                let key = (
                    adv.value(i).to_owned(),
                    product.value(i).to_owned(),
                    kind.value(i).to_owned(),
                    date.value(i),
                    part.value(i),
                    code.is_valid(i).then(|| code.value(i)),
                );
                *rows.entry(key).or_insert(0) += n.value(i);
                emitted += 1;
            }
        }
        (rows, emitted)
    }

    #[test]
    fn identical_rows_become_one_counting_them_and_sums_survive_emits() {
        let codes = Arc::new(Codes::new(vec!["A".into(), "B".into()]));
        let mut c = combiner(&codes, 1000);
        let mut expected: BTreeMap<Row, i64> = BTreeMap::new();
        let mut out = Vec::new();
        // 5,000 distinct keys (the table grows past its first 4,096 slots), each seen i % 3 + 1
        // times; long product ids (not inline in a view, and longer than a one-byte length), an
        // id without a code, two days.
        for round in 0..3 {
            for i in 0..5_000 {
                if i % 3 < round {
                    continue;
                }
                let adv = ["A", "B", "ZZ"][i % 3];
                let product = match i % 4 {
                    0 | 2 => format!("p{i}"),
                    1 => format!("a-product-id-longer-than-twelve-{i}"),
                    // Longer than a one-byte length.
                    _ => format!("{}-{i}", "x".repeat(200)),
                };
                let kind = ["impression", "click", ""][i % 3];
                let date = 20_000 + (i % 2) as i32;
                add(&mut c, &format!("{adv},{product},{kind}"), date);
                let code = codes.get(adv.as_bytes());
                let key = (adv.into(), product, kind.into(), date, 7, code);
                *expected.entry(key).or_insert(0) += 1;
            }
            // Emitting mid-way (as a full combiner does) repeats keys: their counts still sum.
            if round == 1 {
                c.emit(&mut out).unwrap();
            }
        }
        c.emit(&mut out).unwrap();
        assert!(out.iter().all(|b| b.num_rows() <= 1000));
        let (got, emitted) = totals(&out);
        assert_eq!(got, expected);
        // Before the emit, every key; after, those of the last round (i % 3 == 2).
        assert_eq!(emitted, 5_000 + 1_666, "one row per key per emit");
        // Emptied: nothing more to emit, and it starts again from nothing.
        let mut again = Vec::new();
        c.emit(&mut again).unwrap();
        assert!(again.is_empty());
        add(&mut c, "A,p1,click", 1);
        c.emit(&mut again).unwrap();
        assert_eq!(totals(&again).0.into_values().collect::<Vec<_>>(), [1]);
    }
}
