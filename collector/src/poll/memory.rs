//! Values read from a meter's own memory (settlement-day totals): when a meter settles, and how
//! far the collector has stored them, kept in a small state file per meter so that each is
//! stored once across restarts. The file is written only after the values are durable in the
//! journal: a crash stores them again at worst, never loses them.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, Utc};
use tracing::warn;

/// The newest settlement instant stored for one meter.
pub struct StoredUpTo {
    path: PathBuf,
}

impl StoredUpTo {
    /// The state of `meter` (of protocol `protocol`) under `dir`.
    pub fn new(dir: &Path, protocol: &str, meter: &str) -> Self {
        Self { path: dir.join(format!("{protocol}-{meter}")) }
    }

    /// The newest instant stored, if any.
    pub fn load(&self) -> Option<DateTime<Utc>> {
        let text = std::fs::read_to_string(&self.path).ok()?;
        DateTime::from_timestamp_millis(text.trim().parse().ok()?)
    }

    /// Records `newest` (call once the values are durable).
    pub fn save(&self, newest: DateTime<Utc>) {
        let tmp = self.path.with_extension("tmp");
        let written = self.path.parent().map_or(Ok(()), std::fs::create_dir_all).and_then(|()| {
            std::fs::write(&tmp, format!("{}\n", newest.timestamp_millis()))?;
            std::fs::File::open(&tmp)?.sync_all()?;
            std::fs::rename(&tmp, &self.path)
        });
        if let Err(e) = written {
            // The values are journalled; without the state they are read and stored again once.
            warn!(file = %self.path.display(), error = %e, "could not record how far the meter's memory was stored");
        }
    }
}

/// The `n`th last settlement before `now` (1 = the latest), on day `day` at `hour` of each month
/// (a day past a month's end settles on its last day), in the meter's local time.
pub fn settlement(now: NaiveDateTime, day: u8, hour: u8, n: u8) -> Option<NaiveDateTime> {
    let at = |year: i32, month: u32| -> Option<NaiveDateTime> {
        let last = (28..=31).rev().find(|d| NaiveDate::from_ymd_opt(year, month, *d).is_some())?;
        NaiveDate::from_ymd_opt(year, month, u32::from(day).min(last))?.and_hms_opt(u32::from(hour), 0, 0)
    };
    let mut months = now.year() * 12 + now.month0() as i32;
    if at(now.year(), now.month()).is_none_or(|t| t > now) {
        months -= 1;
    }
    months -= i32::from(n) - 1;
    at(months.div_euclid(12), months.rem_euclid(12) as u32 + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap()
    }

    #[test]
    fn settlements_count_back_from_the_meters_now() {
        let now = t("2026-12-01 10:30");
        assert_eq!(settlement(now, 1, 0, 1), Some(t("2026-12-01 00:00")));
        assert_eq!(settlement(now, 1, 0, 2), Some(t("2026-11-01 00:00")));
        assert_eq!(settlement(now, 1, 0, 12), Some(t("2026-01-01 00:00")));
        // Not yet reached this month: the latest is last month's.
        assert_eq!(settlement(now, 25, 12, 1), Some(t("2026-11-25 12:00")));
        assert_eq!(settlement(now, 25, 12, 12), Some(t("2025-12-25 12:00")));
        // Day 31 in a 30-day month settles on its last day.
        assert_eq!(settlement(t("2026-05-01 00:00"), 31, 0, 1), Some(t("2026-04-30 00:00")));
        assert_eq!(settlement(t("2026-03-15 00:00"), 31, 0, 1), Some(t("2026-02-28 00:00")));
    }

    #[test]
    fn the_state_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let s = StoredUpTo::new(&dir.path().join("backfill"), "cjt188", "water-main");
        assert_eq!(s.load(), None);
        let t = DateTime::from_timestamp_millis(1_795_000_000_000).unwrap();
        s.save(t);
        assert_eq!(s.load(), Some(t));
    }
}
