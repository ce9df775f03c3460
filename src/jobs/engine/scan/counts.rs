//! What a scan counts: rows kept, and lines skipped by reason ([`Skip`], the rules of `parse`).
use serde::{Deserialize, Serialize};

use crate::domain::{Outcome, OutcomeCounts};

/// Why the scan skipped a line; each is also the name of its metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    Blank,
    BadEncoding,
    Malformed,
    BadDate,
    OtherDay,
}

impl Skip {
    pub const ALL: [Skip; 5] = [
        Skip::Blank,
        Skip::BadEncoding,
        Skip::Malformed,
        Skip::BadDate,
        Skip::OtherDay,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Skip::Blank => "blank",
            Skip::BadEncoding => "bad_encoding",
            Skip::Malformed => "malformed",
            Skip::BadDate => "bad_date",
            Skip::OtherDay => "other_day",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Skip::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// A bad row's outcome; blank lines and other days' rows are no row of the day at all.
    pub fn outcome(self) -> Option<Outcome> {
        match self {
            Skip::BadEncoding => Some(Outcome::BadEncoding),
            Skip::Malformed => Some(Outcome::Malformed),
            Skip::BadDate => Some(Outcome::BadDate),
            Skip::Blank | Skip::OtherDay => None,
        }
    }
}

/// Lines by outcome, for one piece of a log: rows kept, and lines skipped by reason.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineCounts {
    pub rows: u64,
    pub blank: u64,
    pub bad_encoding: u64,
    pub malformed: u64,
    pub bad_date: u64,
    pub other_day: u64,
}

impl LineCounts {
    pub fn add(&mut self, o: &LineCounts) {
        self.rows += o.rows;
        for k in Skip::ALL {
            *self.skipped_mut(k) += o.skipped(k);
        }
    }

    pub fn skipped(&self, k: Skip) -> u64 {
        match k {
            Skip::Blank => self.blank,
            Skip::BadEncoding => self.bad_encoding,
            Skip::Malformed => self.malformed,
            Skip::BadDate => self.bad_date,
            Skip::OtherDay => self.other_day,
        }
    }

    pub fn skipped_mut(&mut self, k: Skip) -> &mut u64 {
        match k {
            Skip::Blank => &mut self.blank,
            Skip::BadEncoding => &mut self.bad_encoding,
            Skip::Malformed => &mut self.malformed,
            Skip::BadDate => &mut self.bad_date,
            Skip::OtherDay => &mut self.other_day,
        }
    }

    /// The bad rows among the skipped lines, as outcomes.
    pub fn outcomes(&self) -> OutcomeCounts {
        Skip::ALL
            .into_iter()
            .filter_map(|k| Some((k.outcome()?, self.skipped(k))))
            .collect()
    }
}
