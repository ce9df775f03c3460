//! `adrec gen-data`: deterministic synthetic logs in the course layout, at any scale.
//!
//! Like the course notebook: active and inactive advertisers with 20-character ids, a catalogue of
//! 6-character product ids each, uniform picks (or, with `--zipf S`, products by a Zipf law: the
//! catalogue's k-th product picked in proportion to 1/k^S, as real catalogues skew), `click` vs
//! `impression` by `--click-rate`, rows in date order. The same options and seed always give the
//! same bytes.
mod files;
mod pick;

use std::fs;
use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use chrono::{Days, NaiveDate};
use clap::{Args, ValueEnum};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use files::{Logs, writer};
use pick::Pick;

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum Layout {
    /// One file per log spanning every day: `product_views`, `ads_views` (no extension).
    Single,
    /// One file per day: `product_views/YYYY-MM-DD.csv`.
    Daily,
    /// Hive partitions: `product_views/date=YYYY-MM-DD/part-0.csv`.
    Hive,
}

#[derive(Args, Debug, Clone)]
pub struct GenOptions {
    /// Output directory (created if missing).
    pub dir: PathBuf,
    #[arg(long, default_value_t = 20)]
    pub advertisers: usize,
    /// Advertisers that appear in the logs but not in the active list.
    #[arg(long, default_value_t = 5)]
    pub inactive: usize,
    /// Catalogue size per advertiser.
    #[arg(long, default_value_t = 100)]
    pub products: usize,
    /// Pick products by a Zipf law of this exponent (e.g. 1.1) instead of uniformly.
    #[arg(long)]
    pub zipf: Option<f64>,
    #[arg(long, default_value_t = 7)]
    pub days: u64,
    /// First day, YYYY-MM-DD.
    #[arg(long, default_value = "2024-05-01")]
    pub start: NaiveDate,
    #[arg(long, default_value_t = 3300)]
    pub views_per_day: u64,
    #[arg(long, default_value_t = 3300)]
    pub ads_per_day: u64,
    /// Share of ad events that are clicks.
    #[arg(long, default_value_t = 0.01)]
    pub click_rate: f64,
    /// One day with `--big-day-factor` times the rows (for benchmarks).
    #[arg(long)]
    pub big_day: Option<NaiveDate>,
    #[arg(long, default_value_t = 10)]
    pub big_day_factor: u64,
    /// Malformed rows per day and log (wrong field count, bad date, unknown type, blank line).
    #[arg(long, default_value_t = 0)]
    pub bad_rows_per_day: u64,
    /// Write CRLF line endings, as some course files have.
    #[arg(long)]
    pub crlf: bool,
    #[arg(long, value_enum, default_value_t = Layout::Single)]
    pub layout: Layout,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

impl Default for GenOptions {
    /// The command line's defaults (a test checks they agree), writing to `./adrec-logs`.
    fn default() -> Self {
        Self {
            dir: PathBuf::from("adrec-logs"),
            advertisers: 20,
            inactive: 5,
            products: 100,
            zipf: None,
            days: 7,
            start: NaiveDate::from_ymd_opt(2024, 5, 1).expect("a date"),
            views_per_day: 3300,
            ads_per_day: 3300,
            click_rate: 0.01,
            big_day: None,
            big_day_factor: 10,
            bad_rows_per_day: 0,
            crlf: false,
            layout: Layout::Single,
            seed: 42,
        }
    }
}

pub fn generate(o: &GenOptions) -> anyhow::Result<String> {
    fs::create_dir_all(&o.dir).with_context(|| format!("creating {}", o.dir.display()))?;
    let mut rng = SmallRng::seed_from_u64(o.seed);
    let total = o.advertisers + o.inactive;
    let advertisers: Vec<String> = (0..total)
        .map(|_| id(&mut rng, 20, b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"))
        .collect();
    let catalogue: Vec<Vec<String>> = (0..total)
        .map(|_| {
            (0..o.products)
                .map(|_| id(&mut rng, 6, b"abcdefghijklmnopqrstuvwxyz0123456789"))
                .collect()
        })
        .collect();
    let nl = if o.crlf { "\r\n" } else { "\n" };

    let mut active = writer(&o.dir.join("advertiser_ids"))?;
    write!(active, "advertiser_id{nl}")?;
    for a in &advertisers[..o.advertisers] {
        write!(active, "{a}{nl}")?;
    }
    active.flush()?;

    let pick = Pick::new(o.products, o.zipf)?;
    let (mut views, mut ads) = (0u64, 0u64);
    let mut files = Logs::new(&o.dir, o.layout, nl)?;
    for d in 0..o.days {
        let day = o.start + Days::new(d);
        let scale = if Some(day) == o.big_day {
            o.big_day_factor
        } else {
            1
        };
        let (pv, av) = files.for_day(day)?;
        for _ in 0..o.views_per_day * scale {
            let a = rng.random_range(0..total);
            let p = &catalogue[a][pick.one(&mut rng)];
            write!(pv, "{},{p},{day}{nl}", advertisers[a])?;
        }
        for _ in 0..o.ads_per_day * scale {
            let a = rng.random_range(0..total);
            let p = &catalogue[a][pick.one(&mut rng)];
            let kind = if rng.random_bool(o.click_rate) {
                "click"
            } else {
                "impression"
            };
            write!(av, "{},{p},{kind},{day}{nl}", advertisers[a])?;
        }
        for i in 0..o.bad_rows_per_day {
            let a = &advertisers[(i as usize) % o.advertisers.max(1)];
            match i % 4 {
                0 => write!(pv, "{a},extra,field,{day}{nl}")?,
                1 => write!(pv, "{a},abc123,{}-13-45{nl}", day.format("%Y"))?,
                2 => write!(av, "{a},abc123,view,{day}{nl}")?,
                _ => write!(av, "{a},abc123{nl}{nl}")?,
            }
        }
        views += o.views_per_day * scale;
        ads += o.ads_per_day * scale;
    }
    files.finish()?;
    Ok(format!(
        "wrote {} active + {} inactive advertisers, {views} product views and {ads} ad events over {} day(s) from {} to {} ({:?} layout)",
        o.advertisers,
        o.inactive,
        o.days,
        o.start,
        o.dir.display(),
        o.layout
    ))
}

fn id(rng: &mut SmallRng, len: usize, alphabet: &[u8]) -> String {
    (0..len)
        .map(|_| alphabet[rng.random_range(0..alphabet.len())] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn options(dir: &Path, layout: Layout) -> GenOptions {
        GenOptions {
            dir: dir.to_owned(),
            advertisers: 3,
            inactive: 1,
            products: 5,
            days: 2,
            views_per_day: 50,
            ads_per_day: 80,
            click_rate: 0.1,
            layout,
            seed: 3,
            ..GenOptions::default()
        }
    }

    fn read_all(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
        let mut out = Vec::new();
        let mut stack = vec![dir.to_owned()];
        while let Some(d) = stack.pop() {
            for e in fs::read_dir(d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    out.push((
                        p.strip_prefix(dir).unwrap().to_owned(),
                        fs::read(&p).unwrap(),
                    ));
                }
            }
        }
        out.sort();
        out
    }

    #[test]
    fn default_matches_the_command_line() {
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            gen_options: GenOptions,
        }
        let parsed = <Cli as clap::Parser>::parse_from(["gen-data", "adrec-logs"]).gen_options;
        assert_eq!(
            format!("{parsed:?}"),
            format!("{:?}", GenOptions::default())
        );
    }

    #[test]
    fn the_same_options_give_the_same_bytes() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        generate(&options(a.path(), Layout::Single)).unwrap();
        generate(&options(b.path(), Layout::Single)).unwrap();
        assert_eq!(read_all(a.path()), read_all(b.path()));
        let ads = fs::read_to_string(a.path().join("ads_views")).unwrap();
        assert_eq!(ads.lines().count(), 1 + 2 * 80);
        assert!(ads.starts_with("advertiser_id,product_id,type,date\n"));
        let active = fs::read_to_string(a.path().join("advertiser_ids")).unwrap();
        assert_eq!(
            active.lines().count(),
            1 + 3,
            "inactive advertisers are not listed"
        );
    }

    #[test]
    fn zipf_picks_favour_the_first_products() {
        let pick = Pick::new(1000, Some(1.1)).unwrap();
        let mut rng = SmallRng::seed_from_u64(1);
        let mut hits = vec![0u32; 1000];
        for _ in 0..100_000 {
            hits[pick.one(&mut rng)] += 1;
        }
        // P(k) ~ 1/k^1.1: the first product about twice the second, far above the tenth.
        assert!(
            hits[0] > hits[1] * 3 / 2 && hits[1] > hits[9] * 5,
            "{:?}",
            &hits[..10]
        );
        assert!(hits.iter().filter(|&&h| h > 0).count() > 500);
        assert!(Pick::new(10, Some(0.0)).is_err());
    }

    #[test]
    fn layouts_split_files_by_day() {
        let dir = tempfile::tempdir().unwrap();
        generate(&options(dir.path(), Layout::Hive)).unwrap();
        assert!(
            dir.path()
                .join("product_views/date=2024-05-02/part-0.csv")
                .exists()
        );
        let dir = tempfile::tempdir().unwrap();
        generate(&options(dir.path(), Layout::Daily)).unwrap();
        let day = fs::read_to_string(dir.path().join("ads_views/2024-05-01.csv")).unwrap();
        assert_eq!(day.lines().count(), 1 + 80);
        assert!(day.lines().skip(1).all(|l| l.ends_with(",2024-05-01")));
    }
}
