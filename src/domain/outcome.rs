//! What became of a raw log row in filter_data: kept, left out by the filter, or skipped as bad.
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A row's outcome. The filter queries give the first three (`outcome` column); the log scan
/// counts the bad lines it skips (the last three), which never reach a query.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Kept,
    /// Not an active advertiser's row.
    Inactive,
    /// An ad event whose `type` is neither `impression` nor `click`.
    BadType,
    /// Invalid UTF-8 or a NUL byte in the line.
    BadEncoding,
    /// The wrong field count, or an empty id.
    Malformed,
    /// A date that is not a calendar `YYYY-MM-DD`.
    BadDate,
}

impl Outcome {
    pub const ALL: [Outcome; 6] = [
        Outcome::Kept,
        Outcome::Inactive,
        Outcome::BadType,
        Outcome::BadEncoding,
        Outcome::Malformed,
        Outcome::BadDate,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Kept => "kept",
            Outcome::Inactive => "inactive",
            Outcome::BadType => "bad_type",
            Outcome::BadEncoding => "bad_encoding",
            Outcome::Malformed => "malformed",
            Outcome::BadDate => "bad_date",
        }
    }

    /// A bad row: skipped and counted in the run's `bad_rows`.
    pub fn is_bad(self) -> bool {
        !matches!(self, Outcome::Kept | Outcome::Inactive)
    }

    /// Rows that surely belong to the day (a bad line may name no day).
    pub fn of_day(self) -> bool {
        matches!(self, Outcome::Kept | Outcome::Inactive | Outcome::BadType)
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("unknown row outcome {0:?}")]
pub struct UnknownOutcome(pub String);

impl FromStr for Outcome {
    type Err = UnknownOutcome;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Outcome::ALL
            .into_iter()
            .find(|o| o.as_str() == s)
            .ok_or_else(|| UnknownOutcome(s.to_owned()))
    }
}

/// Rows by outcome; serialized as `{"kept": n, "malformed": n, …}`, zero counts left out.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct OutcomeCounts(BTreeMap<Outcome, u64>);

impl OutcomeCounts {
    pub fn add(&mut self, outcome: Outcome, n: u64) {
        if n > 0 {
            *self.0.entry(outcome).or_default() += n;
        }
    }

    pub fn merge(&mut self, other: &OutcomeCounts) {
        for (o, n) in other.iter() {
            self.add(o, n);
        }
    }

    pub fn get(&self, outcome: Outcome) -> u64 {
        self.0.get(&outcome).copied().unwrap_or(0)
    }

    pub fn iter(&self) -> impl Iterator<Item = (Outcome, u64)> + '_ {
        self.0.iter().map(|(o, n)| (*o, *n))
    }

    pub fn total(&self) -> u64 {
        self.0.values().sum()
    }

    pub fn bad(&self) -> u64 {
        self.iter()
            .filter(|(o, _)| o.is_bad())
            .map(|(_, n)| n)
            .sum()
    }

    pub fn of_day(&self) -> u64 {
        self.iter()
            .filter(|(o, _)| o.of_day())
            .map(|(_, n)| n)
            .sum()
    }
}

impl FromIterator<(Outcome, u64)> for OutcomeCounts {
    fn from_iter<I: IntoIterator<Item = (Outcome, u64)>>(iter: I) -> Self {
        let mut c = OutcomeCounts::default();
        for (o, n) in iter {
            c.add(o, n);
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_serialize_by_name_without_zeros() {
        let c: OutcomeCounts = [
            (Outcome::Kept, 3),
            (Outcome::Malformed, 1),
            (Outcome::Inactive, 0),
        ]
        .into_iter()
        .collect();
        assert_eq!(
            serde_json::to_value(&c).unwrap(),
            serde_json::json!({"kept": 3, "malformed": 1})
        );
        assert_eq!((c.total(), c.bad(), c.of_day()), (4, 1, 3));
        for o in Outcome::ALL {
            assert_eq!(o.as_str().parse::<Outcome>().unwrap(), o);
        }
    }
}
