//! The load margin counts from the local period start (issue 12, item 16).
//!
//! February 2026 in China Standard Time starts at 2026-01-31T16:00Z. With the default 60-minute
//! gap threshold the margin is 4 x 1 h + 24 h = 28 h, so a reading 26 h before the start
//! (2026-01-30T14:00Z) must be loaded. It used to be counted from UTC midnight of 2026-02-01,
//! 8 h later: the reading was skipped and the month's first hours were uncovered.



use analytics::frame::numbers;
use analytics::jobs::{Job, Source};
use analytics::period::PeriodKind;
use chrono::NaiveDate;
use crate::common::{electricity, hourly, store, t, write_reference, ENTERPRISE};
use readings::Unit;

#[test]
fn a_reading_26_h_before_a_local_month_start_is_used() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_reference(dir.path(), &[&format!("grid,{ENTERPRISE},plant,electricity,boundary,0.5,2030-01-01,150,0.01")]);
    // 1000 kWh at -26 h; then, from 2 h after the start, 100 kWh an hour from 3000 on.
    let mut points = vec![(t("2026-01-30T14:00"), 1_000.0)];
    points.extend(hourly(t("2026-01-31T18:00"), t("2026-03-02T00:00"), 3_000.0, 100.0));
    let root = store(dir.path(), "readings", &electricity("plant", "grid", Unit::KWh, &points));
    let (from, to) = (NaiveDate::from_ymd_opt(2026, 2, 1).unwrap(), NaiveDate::from_ymd_opt(2026, 3, 1).unwrap());
    let (job, _) = Job::prepare(&config, Source::Parquet(Some(root)), from, to, PeriodKind::Month, None, &[]).unwrap();
    let meters = job.tables(PeriodKind::Month).unwrap().meters;
    let value = |c: &str| numbers(&meters, c).unwrap()[0].unwrap();
    println!("{meters}");
    // The start lies 26 h into the 28 h interval 1000 -> 3000: 1000 + 2000 x 26/28. The end
    // (2026-02-28T16:00Z) lies on a reading: 3000 + 100 x 670.
    let at_start = 1_000.0 + 2_000.0 * 26.0 / 28.0;
    let want = 3_000.0 + 100.0 * 670.0 - at_start;
    assert!((value("consumption") - want).abs() < 1e-6, "consumption {} != {want}", value("consumption"));
    assert_eq!(value("uncovered_h"), 0.0, "no hour of the month is uncovered");
    assert_eq!((value("gap_h"), value("covered_h")), (2.0, 670.0));
}
