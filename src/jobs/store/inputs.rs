//! Finding a day's raw input files under `RAW_URL`, whichever layout the logs come in:
//!
//! * one file for many days: `product_views` or `product_views.csv`;
//! * hive partitions: `product_views/date=2026-11-20/part-0.csv` (only that day's are read);
//! * one file per day: `product_views/2026-11-20.csv`, `product_views_2026-11-20.csv`, … (only
//!   files naming the day are read; a folder whose files name no date is read whole).
use anyhow::bail;
use chrono::NaiveDate;

use super::location::Entry;

/// The active-advertiser list's accepted names; 2026 cohorts call it `active_advertisers.csv`.
pub const ACTIVE_NAMES: [&str; 2] = ["advertiser_ids", "active_advertisers"];

#[derive(Debug, PartialEq)]
pub struct Input {
    /// The files, relative to `RAW_URL`, with their sizes.
    pub files: Vec<Entry>,
    /// Set for hive partitions, whose rows may leave the date column out.
    pub partition_date: Option<NaiveDate>,
    pub layout: &'static str,
}

impl Input {
    pub fn names(&self) -> Vec<&str> {
        self.files.iter().map(|f| f.rel.as_str()).collect()
    }

    pub fn bytes(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }
}

/// Resolves one log (any of `names`) for `date` among the entries listed under `RAW_URL`.
pub fn find(entries: &[Entry], names: &[&str], date: NaiveDate) -> anyhow::Result<Input> {
    let day = date.format("%Y-%m-%d").to_string();
    let compact = date.format("%Y%m%d").to_string();
    let data = |e: &&Entry| {
        let file = e.rel.rsplit('/').next().unwrap_or_default();
        e.size > 0 && !file.starts_with('_') && !file.starts_with('.')
    };
    for name in names {
        // One file, spanning one or many days.
        if let Some(e) = entries
            .iter()
            .filter(data)
            .find(|e| e.rel == *name || e.rel == format!("{name}.csv"))
        {
            return Ok(Input {
                files: vec![e.clone()],
                partition_date: None,
                layout: "single file",
            });
        }
        // Hive partitions.
        let hive = format!("{name}/date=");
        if entries.iter().any(|e| e.rel.starts_with(&hive)) {
            let dir = format!("{hive}{day}/");
            let files: Vec<Entry> = entries
                .iter()
                .filter(data)
                .filter(|e| e.rel.starts_with(&dir))
                .cloned()
                .collect();
            if files.is_empty() {
                bail!("raw input {name} has no partition for {day} (expected files under {dir})");
            }
            return Ok(Input {
                files,
                partition_date: Some(date),
                layout: "date partitions",
            });
        }
        // Files per day, in a folder or side by side.
        let candidates: Vec<&Entry> = entries
            .iter()
            .filter(data)
            .filter(|e| {
                e.rel.starts_with(&format!("{name}/"))
                    || (!e.rel.contains('/') && e.rel.starts_with(&format!("{name}_")))
                    || (!e.rel.contains('/') && e.rel.starts_with(&format!("{name}-")))
            })
            .collect();
        if !candidates.is_empty() {
            let names_day = |e: &&&Entry| e.rel.contains(&day) || e.rel.contains(&compact);
            let dated: Vec<Entry> = candidates
                .iter()
                .filter(names_day)
                .map(|e| (*e).clone())
                .collect();
            let any_dated = candidates.iter().any(|e| looks_dated(&e.rel));
            let files = if any_dated {
                dated
            } else {
                candidates.iter().map(|e| (*e).clone()).collect()
            };
            if files.is_empty() {
                bail!("raw input {name} has no file for {day} (its files are named by day)");
            }
            return Ok(Input {
                files,
                partition_date: None,
                layout: "files per day",
            });
        }
    }
    let name = names[0];
    bail!(
        "raw input {name} not found under RAW_URL: expected {name} or {name}.csv, \
         {name}/date=YYYY-MM-DD/ partitions, or per-day files such as {name}/{day}.csv"
    )
}

/// Whether a file name carries a date (YYYY-MM-DD or YYYYMMDD).
fn looks_dated(rel: &str) -> bool {
    let b = rel.as_bytes();
    let dashed = b.windows(10).any(|w| {
        w.iter().enumerate().all(|(i, c)| {
            if i == 4 || i == 7 {
                *c == b'-'
            } else {
                c.is_ascii_digit()
            }
        })
    });
    dashed
        || b.windows(8).any(|w| {
            w.iter().all(u8::is_ascii_digit) && (w.starts_with(b"19") || w.starts_with(b"20"))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(names: &[&str]) -> Vec<Entry> {
        names
            .iter()
            .map(|n| Entry {
                rel: (*n).to_owned(),
                size: 10,
            })
            .collect()
    }

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn single_file_with_or_without_extension() {
        let e = entries(&["product_views", "ads_views.csv", "active_advertisers.csv"]);
        assert_eq!(
            find(&e, &["product_views"], d("2024-05-01"))
                .unwrap()
                .names(),
            ["product_views"]
        );
        assert_eq!(
            find(&e, &["ads_views"], d("2024-05-01")).unwrap().names(),
            ["ads_views.csv"]
        );
        assert_eq!(
            find(&e, &ACTIVE_NAMES, d("2024-05-01")).unwrap().names(),
            ["active_advertisers.csv"]
        );
    }

    #[test]
    fn hive_partitions_read_only_that_day() {
        let e = entries(&[
            "product_views/date=2024-05-01/part-0.csv",
            "product_views/date=2024-05-01/_SUCCESS",
            "product_views/date=2024-05-02/part-0.csv",
        ]);
        let i = find(&e, &["product_views"], d("2024-05-02")).unwrap();
        assert_eq!(i.names(), ["product_views/date=2024-05-02/part-0.csv"]);
        assert_eq!(i.partition_date, Some(d("2024-05-02")));
        assert!(
            find(&e, &["product_views"], d("2024-05-03"))
                .unwrap_err()
                .to_string()
                .contains("no partition")
        );
    }

    #[test]
    fn files_per_day_read_only_that_day() {
        let e = entries(&[
            "ads_views/2024-05-01.csv",
            "ads_views/2024-05-02.csv",
            "ads_views_20240503.csv",
        ]);
        assert_eq!(
            find(&e, &["ads_views"], d("2024-05-02")).unwrap().names(),
            ["ads_views/2024-05-02.csv"]
        );
        let e = entries(&["ads_views_20240503.csv", "ads_views_20240504.csv"]);
        assert_eq!(
            find(&e, &["ads_views"], d("2024-05-03")).unwrap().names(),
            ["ads_views_20240503.csv"]
        );
        let e = entries(&["ads_views/part-0.csv", "ads_views/part-1.csv"]);
        assert_eq!(
            find(&e, &["ads_views"], d("2024-05-03"))
                .unwrap()
                .names()
                .len(),
            2
        );
    }

    #[test]
    fn a_missing_input_is_named() {
        let err = find(&entries(&["other"]), &["ads_views"], d("2024-05-01")).unwrap_err();
        assert!(
            err.to_string().contains("raw input ads_views not found"),
            "{err}"
        );
    }
}
