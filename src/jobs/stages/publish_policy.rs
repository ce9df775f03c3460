//! Which dates `db_writing` may publish without `force`, and how much one publication may prune
//! (`RETENTION_DAYS`, `RETENTION_MAX_PRUNE_DATES`, `PUBLISH_MAX_GAP_DAYS`).
use anyhow::bail;
use chrono::NaiveDate;

/// Which dates may be published, and how much one publication may prune.
#[derive(Clone, Debug)]
pub struct PublishPolicy {
    /// `RETENTION_DAYS`: dates more than this many days before the published one are pruned.
    pub retention_days: u32,
    /// `RETENTION_MAX_PRUNE_DATES`: at most this many dates pruned per run (unless forced).
    pub max_prune_dates: u32,
    /// `PUBLISH_MAX_GAP_DAYS`: a date further than this past the latest needs `force`.
    pub max_gap_days: u32,
}

impl PublishPolicy {
    /// Refuses a date that is not genuinely the next data: in the future, too far past the
    /// latest published date, or already past retention.
    pub fn check(
        &self,
        date: NaiveDate,
        latest: Option<NaiveDate>,
        today: NaiveDate,
    ) -> anyhow::Result<()> {
        let force = "re-run with force=true if it is intended";
        if date > today {
            bail!(
                "refusing to publish {date}: it is in the future (today is {today} UTC); {force}"
            );
        }
        let Some(latest) = latest else { return Ok(()) };
        let gap = (date - latest).num_days();
        if gap > i64::from(self.max_gap_days) {
            bail!(
                "refusing to publish {date}: it is {gap} days after the latest published date \
                 {latest}, more than PUBLISH_MAX_GAP_DAYS={} (publishing it would make it the \
                 latest date and prune the history before it); {force}",
                self.max_gap_days
            );
        }
        if -gap > i64::from(self.retention_days) {
            bail!(
                "refusing to publish {date}: it is {} days before the latest published date \
                 {latest}, past RETENTION_DAYS={}, so the next publication would prune it; {force}",
                -gap,
                self.retention_days
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn only_dates_near_the_latest_are_published_without_force() {
        let p = PublishPolicy {
            retention_days: 30,
            max_prune_dates: 3,
            max_gap_days: 7,
        };
        let today = d("2024-06-20");
        assert!(
            p.check(d("2024-05-04"), Some(d("2024-05-03")), today)
                .is_ok()
        );
        assert!(
            p.check(d("2024-05-01"), None, today).is_ok(),
            "the first date"
        );
        assert!(
            p.check(d("2024-05-02"), Some(d("2024-05-03")), today)
                .is_ok(),
            "a backfill"
        );
        let e = p
            .check(d("2024-06-15"), Some(d("2024-05-03")), today)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("43 days after") && e.contains("PUBLISH_MAX_GAP_DAYS=7"),
            "{e}"
        );
        let e = p
            .check(d("2024-06-21"), Some(d("2024-06-20")), today)
            .unwrap_err()
            .to_string();
        assert!(e.contains("in the future"), "{e}");
        let e = p
            .check(d("2024-03-01"), Some(d("2024-05-03")), today)
            .unwrap_err()
            .to_string();
        assert!(e.contains("past RETENTION_DAYS=30"), "{e}");
    }
}
