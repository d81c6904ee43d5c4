//! Reporting periods: calendar months, quarters and years in an enterprise's local time (China
//! Standard Time unless its reference row says otherwise). Readings are stored in UTC; a period
//! is cut at local midnight, so a Chinese month starts at 16:00 UTC on the day before.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, TimeZone, Utc};

/// How long a period is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, clap::ValueEnum)]
pub enum PeriodKind {
    Month,
    Quarter,
    Year,
    /// The whole `--from`..`--to` range as one period (a selection window).
    Window,
}

/// A calendar month, written `2026-03`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Month {
    pub year: i32,
    /// 1 to 12.
    pub month: u32,
}

impl Month {
    /// The month a local date falls in.
    pub fn of(date: NaiveDate) -> Month {
        Month { year: date.year(), month: date.month() }
    }

    /// Its first day.
    pub fn first_day(self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.year, self.month, 1).unwrap_or(NaiveDate::MIN)
    }

    /// The month after it.
    pub fn next(self) -> Month {
        if self.month == 12 {
            Month { year: self.year + 1, month: 1 }
        } else {
            Month { year: self.year, month: self.month + 1 }
        }
    }
}

impl FromStr for Month {
    type Err = &'static str;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = "is not a month written YYYY-MM";
        let (y, m) = s.split_once('-').ok_or(err)?;
        let (year, month): (i32, u32) = (y.parse().map_err(|_| err)?, m.parse().map_err(|_| err)?);
        if y.len() != 4 || m.len() != 2 || !(1..=12).contains(&month) {
            return Err(err);
        }
        Ok(Month { year, month })
    }
}

impl fmt::Display for Month {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

/// One reporting period: local dates `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Period {
    pub kind: PeriodKind,
    pub start: NaiveDate,
    pub end: NaiveDate,
}

impl Period {
    /// The period of `kind` that contains local date `date` (a month for a window).
    pub fn containing(kind: PeriodKind, date: NaiveDate) -> Period {
        let first_month = match kind {
            PeriodKind::Month | PeriodKind::Window => date.month(),
            PeriodKind::Quarter => (date.month() - 1) / 3 * 3 + 1,
            PeriodKind::Year => 1,
        };
        let months = match kind {
            PeriodKind::Month | PeriodKind::Window => 1,
            PeriodKind::Quarter => 3,
            PeriodKind::Year => 12,
        };
        let first = Month { year: date.year(), month: first_month };
        let mut end = first;
        for _ in 0..months {
            end = end.next();
        }
        Period { kind, start: first.first_day(), end: end.first_day() }
    }

    /// Every period of `kind` that overlaps the local dates `[from, to)`, in order.
    pub fn covering(kind: PeriodKind, from: NaiveDate, to: NaiveDate) -> Vec<Period> {
        if kind == PeriodKind::Window {
            return vec![Period { kind, start: from, end: to }];
        }
        let mut out = Vec::new();
        let mut p = Period::containing(kind, from);
        while p.start < to {
            out.push(p);
            p = Period::containing(kind, p.end);
        }
        out
    }

    /// The months it spans.
    pub fn months(&self) -> Vec<Month> {
        let mut out = Vec::new();
        let mut m = Month::of(self.start);
        while m.first_day() < self.end {
            out.push(m);
            m = m.next();
        }
        out
    }

    /// Its start and end as UTC instants, cut at local midnight in `offset`.
    pub fn utc_bounds(&self, offset: FixedOffset) -> (DateTime<Utc>, DateTime<Utc>) {
        let at = |d: NaiveDate| offset.from_local_datetime(&d.and_time(chrono::NaiveTime::MIN)).single().map_or(DateTime::<Utc>::MIN_UTC, |t| t.with_timezone(&Utc));
        (at(self.start), at(self.end))
    }

    /// Its length in hours.
    pub fn hours(&self) -> f64 {
        (self.end - self.start).num_hours() as f64
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            PeriodKind::Month => write!(f, "{}", Month::of(self.start)),
            PeriodKind::Quarter => write!(f, "{}-Q{}", self.start.year(), (self.start.month() - 1) / 3 + 1),
            PeriodKind::Year => write!(f, "{}", self.start.year()),
            PeriodKind::Window => write!(f, "{}..{}", self.start, self.end),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn periods_cut_at_local_midnight() {
        let cst = FixedOffset::east_opt(8 * 3600).unwrap();
        let march = Period::containing(PeriodKind::Month, d(2026, 3, 17));
        assert_eq!(march.to_string(), "2026-03");
        let (from, to) = march.utc_bounds(cst);
        assert_eq!(from.to_rfc3339(), "2026-02-28T16:00:00+00:00");
        assert_eq!(to.to_rfc3339(), "2026-03-31T16:00:00+00:00");
        let q = Period::containing(PeriodKind::Quarter, d(2026, 11, 2));
        assert_eq!((q.to_string(), q.start, q.end), ("2026-Q4".into(), d(2026, 10, 1), d(2027, 1, 1)));
        assert_eq!(q.months().len(), 3);
        let all = Period::covering(PeriodKind::Month, d(2026, 1, 15), d(2026, 4, 1));
        assert_eq!(all.iter().map(|p| p.to_string()).collect::<Vec<_>>(), ["2026-01", "2026-02", "2026-03"]);
        assert_eq!("2026-13".parse::<Month>(), Err("is not a month written YYYY-MM"));
    }
}
