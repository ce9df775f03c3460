//! The log files `gen-data` writes, in each layout.
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use chrono::NaiveDate;

use super::Layout;

pub(super) fn writer(path: &Path) -> anyhow::Result<BufWriter<File>> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)?;
    }
    let f = File::create(path).with_context(|| format!("creating {}", path.display()))?;
    Ok(BufWriter::with_capacity(1 << 20, f))
}

/// The two log files being written, opened per day for the daily and hive layouts.
pub(super) struct Logs<'a> {
    dir: &'a Path,
    layout: Layout,
    nl: &'a str,
    current: Option<(BufWriter<File>, BufWriter<File>)>,
}

impl<'a> Logs<'a> {
    pub(super) fn new(dir: &'a Path, layout: Layout, nl: &'a str) -> anyhow::Result<Self> {
        let mut logs = Self {
            dir,
            layout,
            nl,
            current: None,
        };
        if layout == Layout::Single {
            logs.current = Some(logs.open(Path::new("product_views"), Path::new("ads_views"))?);
        }
        Ok(logs)
    }

    fn open(&self, pv: &Path, av: &Path) -> anyhow::Result<(BufWriter<File>, BufWriter<File>)> {
        let (mut p, mut a) = (writer(&self.dir.join(pv))?, writer(&self.dir.join(av))?);
        write!(p, "advertiser_id,product_id,date{}", self.nl)?;
        write!(a, "advertiser_id,product_id,type,date{}", self.nl)?;
        Ok((p, a))
    }

    pub(super) fn for_day(
        &mut self,
        day: NaiveDate,
    ) -> anyhow::Result<(&mut BufWriter<File>, &mut BufWriter<File>)> {
        let layout = self.layout;
        let rel = |log: &str| match layout {
            Layout::Single => PathBuf::from(log),
            Layout::Daily => PathBuf::from(format!("{log}/{day}.csv")),
            Layout::Hive => PathBuf::from(format!("{log}/date={day}/part-0.csv")),
        };
        if layout != Layout::Single {
            self.finish()?;
            self.current = Some(self.open(&rel("product_views"), &rel("ads_views"))?);
        }
        let (p, a) = self.current.as_mut().expect("opened");
        Ok((p, a))
    }

    pub(super) fn finish(&mut self) -> anyhow::Result<()> {
        if let Some((mut p, mut a)) = self.current.take() {
            p.flush()?;
            a.flush()?;
        }
        Ok(())
    }
}
