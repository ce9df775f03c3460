//! The tokenizer: complete lines of a log, as bytes, straight into Arrow arrays.
//!
//! Text fields become `Utf8View` views into the very buffer that was read (no copy; values of up
//! to 12 bytes are stored inline in the view), dates become `Date32`. Every line is classified
//! as it is split, with the rules the filter always had:
//!
//! 1. a blank line (nothing but spaces) is ignored, uncounted;
//! 2. a line with invalid UTF-8 or a NUL byte is `bad_encoding`;
//! 3. a wrong field count, or an empty required field (ids), is `malformed`;
//! 4. a date that is not a zero-padded calendar `YYYY-MM-DD` is `bad_date`;
//! 5. with a day to keep, a well-formed row of another day is dropped uncounted (`other_day`).
//!
//! Fields are trimmed of spaces, a trailing `\r` (CRLF files) is dropped, and hive partitions
//! (a known date per file) may leave the trailing date field out.
use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::buffer::Buffer;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::Result;

use super::batch::BatchBuilder;
use super::codes::Codes;
use super::combine::Combiner;
use super::counts::LineCounts;
use super::delims::Delims;
use super::format::{ColumnKind, LogFormat, TableColumn};

/// What one scan of one table parses: the format, the columns it outputs, the day it keeps.
#[derive(Debug, Clone)]
pub struct Parser {
    format: Arc<LogFormat>,
    /// The table's columns it outputs, in output order.
    outputs: Vec<TableColumn>,
    /// The advertiser codes, for an `advertiser_code` column.
    codes: Option<Arc<Codes>>,
    schema: SchemaRef,
    /// Keep only rows of this day (days since 1970-01-01), with its text for a fast compare.
    day: Option<(i32, [u8; 10])>,
    batch_rows: usize,
}

/// At most this many fields are looked at; more means the row is malformed anyway.
const MAX_FIELDS: usize = 16;

impl Parser {
    pub fn new(
        format: Arc<LogFormat>,
        codes: Option<Arc<Codes>>,
        outputs: Vec<TableColumn>,
        schema: SchemaRef,
        day: Option<i32>,
        batch_rows: usize,
    ) -> Self {
        assert!(format.columns().len() < MAX_FIELDS, "too many columns");
        Self {
            format,
            outputs,
            codes,
            schema,
            day: day.map(|d| (d, format_day(d))),
            batch_rows: batch_rows.max(1),
        }
    }

    /// The combiner of partition `part`'s rows, if the scan outputs `n` (`combine`).
    pub fn combiner(&self, part: i32) -> Option<Combiner> {
        self.outputs.contains(&TableColumn::Count).then(|| {
            Combiner::new(
                &self.outputs,
                self.format.columns(),
                self.codes.clone(),
                self.schema.clone(),
                part,
                self.batch_rows,
            )
        })
    }

    /// Parses `buf`, which holds whole lines only (each ended by `\n`, but for a file's last),
    /// into batches of at most `batch_rows` rows, or with a `combiner` into it (its rows are
    /// emitted by the caller). `partition_date` is the file's hive partition date, if any (rows
    /// may then leave the date out); `part` the scan partition reading it.
    pub fn parse(
        &self,
        buf: &bytes::Bytes,
        partition_date: Option<i32>,
        part: i32,
        out: &mut Vec<RecordBatch>,
        counts: &mut LineCounts,
        mut combiner: Option<&mut Combiner>,
    ) -> Result<()> {
        let columns = self.format.columns();
        let n_cols = columns.len();
        let date_col = columns.iter().position(|c| c.kind == ColumnKind::Date);
        // Hive partitions may leave out the date, which is then the last column.
        let short_ok = partition_date.is_some() && date_col == Some(n_cols - 1);
        // Positions of invalid UTF-8 and NULs, found once a block showed a suspect byte.
        let mut faults: Option<Vec<usize>> = None;
        let mut fault = 0;
        let data = Buffer::from(buf.clone());
        let bytes: &[u8] = buf;

        let codes = self.codes.as_deref();
        let cap = if combiner.is_some() {
            0
        } else {
            self.batch_rows
        };
        let mut batch = BatchBuilder::new(&self.outputs, columns, codes, cap);
        // Field bounds of the current line; only the first `n_cols` are kept.
        let mut fields = [(0u32, 0u32); MAX_FIELDS];
        let (mut commas, mut line_start, mut field_start) = (0usize, 0usize, 0usize);
        // The last well-formed date of another day seen, so that it is validated once.
        let mut other_day: Option<[u8; 10]> = None;
        // Every comma and line end, found 64 bytes at a time rather than by a search per field.
        let mut delims = Delims::new(bytes);
        loop {
            let p = match delims.next() {
                Some(p) if bytes[p] == b',' => {
                    if commas < n_cols - 1 {
                        fields[commas] = (field_start as u32, p as u32);
                    }
                    commas += 1;
                    field_start = p + 1;
                    continue;
                }
                Some(p) => p,
                None if line_start < bytes.len() => bytes.len(), // the file's last line
                None => break,
            };
            let (start, fields_given) = (line_start, (commas + 1).min(n_cols));
            let too_many = commas >= n_cols;
            line_start = p + 1;
            commas = 0;
            let mut stop = p;
            if stop > start && bytes[stop - 1] == b'\r' {
                stop -= 1;
            }
            if !too_many {
                fields[fields_given - 1] = (field_start as u32, stop as u32);
            }
            field_start = p + 1;
            if bytes[start..stop].iter().all(|&b| b == b' ') {
                counts.blank += 1;
                continue;
            }
            // Every block up to this line's end has been classified: if none held a suspect
            // byte, the line is valid UTF-8. Faults are sorted: skip those before this line, see
            // whether one falls inside it.
            if delims.suspect() {
                let faults = faults.get_or_insert_with(|| encoding_faults(bytes));
                while faults.get(fault).is_some_and(|&f| f < start) {
                    fault += 1;
                }
                if faults.get(fault).is_some_and(|&f| f < p) {
                    counts.bad_encoding += 1;
                    continue;
                }
            }
            let date_given = fields_given == n_cols;
            if too_many || !(date_given || (short_ok && fields_given == n_cols - 1)) {
                counts.malformed += 1;
                continue;
            }
            let mut empty = false;
            for (c, f) in columns[..fields_given].iter().zip(&mut fields) {
                let (a, b) = (f.0 as usize, f.1 as usize);
                // Fields rarely have spaces: look at both ends before trimming.
                if a < b && (bytes[a] == b' ' || bytes[b - 1] == b' ') {
                    let (a, b) = trim(bytes, a, b);
                    *f = (a as u32, b as u32);
                }
                empty |= c.required && f.0 == f.1;
            }
            if empty {
                counts.malformed += 1;
                continue;
            }
            let date = match date_col {
                None => 0,
                Some(_) if !date_given => partition_date.unwrap_or_default(),
                Some(i) => {
                    let (a, b) = fields[i];
                    let text = &bytes[a as usize..b as usize];
                    let exact = <&[u8; 10]>::try_from(text).ok();
                    match (self.day, exact) {
                        (Some((day, day_text)), Some(t)) if *t == day_text => day,
                        (Some(_), Some(t)) if other_day == Some(*t) => {
                            counts.other_day += 1;
                            continue;
                        }
                        _ => match parse_ymd(text) {
                            Some(d) => {
                                other_day = exact.copied();
                                d
                            }
                            None => {
                                counts.bad_date += 1;
                                continue;
                            }
                        },
                    }
                }
            };
            if self.day.is_some_and(|(day, _)| date != day) {
                counts.other_day += 1;
                continue;
            }
            counts.rows += 1;
            if let Some(c) = combiner.as_deref_mut() {
                c.add(bytes, &fields, date);
                continue;
            }
            batch.push(bytes, &fields, date);
            if batch.len() == self.batch_rows {
                out.push(batch.finish(&self.schema, &data, part)?);
            }
        }
        if batch.len() > 0 {
            out.push(batch.finish(&self.schema, &data, part)?);
        }
        Ok(())
    }
}

/// `[a, b)` without leading and trailing spaces.
#[inline]
fn trim(bytes: &[u8], mut a: usize, mut b: usize) -> (usize, usize) {
    while a < b && bytes[a] == b' ' {
        a += 1;
    }
    while b > a && bytes[b - 1] == b' ' {
        b -= 1;
    }
    (a, b)
}

/// Sorted positions of NUL bytes and of invalid UTF-8 sequences in `buf`.
fn encoding_faults(buf: &[u8]) -> Vec<usize> {
    let mut faults: Vec<usize> = memchr::memchr_iter(0, buf).collect();
    let mut pos = 0;
    let mut invalid = false;
    while pos < buf.len() {
        match std::str::from_utf8(&buf[pos..]) {
            Ok(_) => break,
            Err(e) => {
                let at = pos + e.valid_up_to();
                faults.push(at);
                invalid = true;
                pos = at + e.error_len().unwrap_or(buf.len() - at).max(1);
            }
        }
    }
    if invalid {
        faults.sort_unstable();
    }
    faults
}

/// Days since 1970-01-01 of a strict, zero-padded `YYYY-MM-DD` calendar date.
pub fn parse_ymd(t: &[u8]) -> Option<i32> {
    if t.len() != 10 || t[4] != b'-' || t[7] != b'-' {
        return None;
    }
    let num = |s: &[u8]| -> Option<i32> {
        s.iter().try_fold(0i32, |acc, &c| {
            c.is_ascii_digit().then(|| acc * 10 + i32::from(c - b'0'))
        })
    };
    let (y, m, d) = (num(&t[..4])?, num(&t[5..7])?, num(&t[8..])?);
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days_in_month = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if !(1..=12).contains(&m) || d < 1 || d > days_in_month[(m - 1) as usize] {
        return None;
    }
    Some(days_from_civil(y, m, d))
}

/// Howard Hinnant's `days_from_civil`: proleptic Gregorian date to days since 1970-01-01.
fn days_from_civil(y: i32, m: i32, d: i32) -> i32 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Days since 1970-01-01, as `Date32` counts them.
pub fn epoch_days(d: chrono::NaiveDate) -> i32 {
    use chrono::Datelike;
    d.num_days_from_ce() - 719_163
}

/// The `YYYY-MM-DD` text of a day (days since 1970-01-01).
pub fn day_text(days: i32) -> String {
    String::from_utf8_lossy(&format_day(days)).into_owned()
}

fn format_day(days: i32) -> [u8; 10] {
    let date = chrono::NaiveDate::from_num_days_from_ce_opt(days + 719_163)
        .unwrap_or_default()
        .format("%Y-%m-%d")
        .to_string();
    let mut out = [b'0'; 10];
    out.copy_from_slice(&date.as_bytes()[..10]);
    out
}
