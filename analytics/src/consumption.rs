//! Consumption from one meter's cumulative counter (docs/accounts.md, "Counters").
//!
//! The readings of a counter become intervals between consecutive readings, each with a delta
//! and a status; excluded intervals add nothing. The counter's "clean" cumulative value (the sum
//! of included deltas) is interpolated linearly at each period boundary, so a period's total does
//! not depend on when the polls happened, only on the counter.

/// What an interval between two readings is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IntervalStatus {
    /// The counter went up (or stayed): the delta is consumption.
    Ok,
    /// The counter wrapped at the meter's rollover value: the delta goes through the wrap.
    Rollover,
    /// The counter went back (reset, or a replaced meter): consumption over the interval is
    /// unknown, excluded, and never negative.
    Reset,
    /// The delta implies more than the meter's highest rate: excluded.
    Implausible,
}

impl IntervalStatus {
    /// Whether the interval's delta counts.
    pub fn included(self) -> bool {
        matches!(self, IntervalStatus::Ok | IntervalStatus::Rollover)
    }
}

/// One interval between consecutive accepted readings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    pub from_ms: i64,
    pub to_ms: i64,
    /// Consumption over the interval in the counter's unit; 0 when excluded.
    pub delta: f64,
    pub status: IntervalStatus,
}

/// What a counter can do, from the meter register.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CounterLimits {
    /// The value at which the register wraps to zero.
    pub rollover: Option<f64>,
    /// The highest rate the meter measures, per hour.
    pub max_rate: Option<f64>,
    /// The counter's smallest step: a delta may exceed `max_rate` by one step.
    pub resolution: f64,
}

/// A counter's readings turned into intervals, with the clean cumulative value at each reading.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CounterSeries {
    /// Reading times, ms since the epoch, strictly increasing.
    pub times: Vec<i64>,
    /// Sum of included deltas up to each reading (0 at the first).
    pub cumulative: Vec<f64>,
    /// `intervals[i]` runs from reading `i` to reading `i + 1`.
    pub intervals: Vec<Interval>,
    /// Readings dropped as momentary glitches (a dip the counter came back from at once, or a
    /// spike it fell back from at once).
    pub glitches: Vec<i64>,
}

/// Builds a counter series from readings sorted by time (duplicate times keep the first).
pub fn counter_series(readings: &[(i64, f64)], limits: CounterLimits) -> CounterSeries {
    let mut points: Vec<(i64, f64)> = Vec::with_capacity(readings.len());
    for &(t, v) in readings {
        if points.last().is_some_and(|&(pt, _)| pt == t) || !v.is_finite() {
            continue;
        }
        points.push((t, v));
    }
    // A dip that the next reading climbs back over is a glitch (a momentary zero, a bad read),
    // not a reset: drop that reading. So is a spike, a reading above the counter that the next
    // one falls back from to no less than the one before: kept, it would add its height to the
    // consumption and then reset (unless max_rate caught it).
    let mut glitches = Vec::new();
    let mut kept: Vec<(i64, f64)> = Vec::with_capacity(points.len());
    for (i, &(t, v)) in points.iter().enumerate() {
        if let (Some(&(_, prev)), Some(&(_, next))) = (kept.last(), points.get(i + 1)) {
            let dip = v < prev && next >= prev && !wraps(prev, v, limits);
            // If the reading after next climbs back over v, the next one was the dip, not v a
            // spike.
            let spike = v > prev && next >= prev && next < v && points.get(i + 2).is_none_or(|&(_, after)| after < v);
            if dip || spike {
                glitches.push(t);
                continue;
            }
        }
        kept.push((t, v));
    }

    let mut out = CounterSeries { times: Vec::with_capacity(kept.len()), cumulative: Vec::with_capacity(kept.len()), intervals: Vec::new(), glitches };
    let mut total = 0.0;
    for (i, &(t, v)) in kept.iter().enumerate() {
        if i > 0 {
            let (pt, pv) = kept[i - 1];
            let hours = (t - pt) as f64 / 3_600_000.0;
            let (mut delta, mut status) = if v >= pv {
                (v - pv, IntervalStatus::Ok)
            } else if wraps(pv, v, limits) {
                (limits.rollover.unwrap_or(0.0) - pv + v, IntervalStatus::Rollover)
            } else {
                (0.0, IntervalStatus::Reset)
            };
            if status.included() && limits.max_rate.is_some_and(|max| delta > max * hours + limits.resolution) {
                status = IntervalStatus::Implausible;
            }
            if !status.included() {
                delta = 0.0;
            }
            total += delta;
            out.intervals.push(Interval { from_ms: pt, to_ms: t, delta, status });
        }
        out.times.push(t);
        out.cumulative.push(total);
    }
    out
}

/// Whether a drop from `prev` to `v` is the register wrapping: the meter has a rollover value
/// and going forward through it is less than half its range.
fn wraps(prev: f64, v: f64, limits: CounterLimits) -> bool {
    limits.rollover.is_some_and(|w| v < prev && prev <= w && w - prev + v < w / 2.0)
}

/// One counter's account over one period `[from, to)`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PeriodUse {
    /// Consumption in the counter's unit.
    pub consumption: f64,
    /// Hours of the period covered by included intervals no longer than the gap threshold.
    pub covered_h: f64,
    /// Hours inside intervals longer than the gap threshold (their consumption counts, spread
    /// linearly: an estimate at the period boundary).
    pub gap_h: f64,
    /// Hours inside excluded intervals (reset, implausible).
    pub excluded_h: f64,
    /// Hours before the first or after the last reading.
    pub uncovered_h: f64,
    pub rollovers: u32,
    pub resets: u32,
    pub implausible: u32,
    pub glitches: u32,
    /// Readings inside the period.
    pub readings: u32,
}

impl CounterSeries {
    /// The clean cumulative value at `t`, interpolated; clamped outside the readings.
    pub fn at(&self, t: i64) -> Option<f64> {
        let n = self.times.len();
        if n == 0 {
            return None;
        }
        let k = self.times.partition_point(|&x| x <= t);
        if k == 0 {
            return Some(self.cumulative[0]);
        }
        if k == n {
            return Some(self.cumulative[n - 1]);
        }
        let (t0, t1) = (self.times[k - 1], self.times[k]);
        let (c0, c1) = (self.cumulative[k - 1], self.cumulative[k]);
        Some(c0 + (c1 - c0) * (t - t0) as f64 / (t1 - t0) as f64)
    }

    /// The account of `[from_ms, to_ms)`, with intervals longer than `gap_h` hours counted as gaps.
    pub fn period(&self, from_ms: i64, to_ms: i64, gap_h: f64) -> PeriodUse {
        let mut u = PeriodUse::default();
        let hours = |ms: i64| ms as f64 / 3_600_000.0;
        if let (Some(a), Some(b)) = (self.at(from_ms), self.at(to_ms)) {
            u.consumption = b - a;
        }
        let mut inside = 0.0;
        let start = self.intervals.partition_point(|i| i.to_ms <= from_ms);
        for i in &self.intervals[start..] {
            if i.from_ms >= to_ms {
                break;
            }
            let overlap = hours(i.to_ms.min(to_ms) - i.from_ms.max(from_ms));
            inside += overlap;
            if !i.status.included() {
                u.excluded_h += overlap;
            } else if hours(i.to_ms - i.from_ms) > gap_h {
                u.gap_h += overlap;
            } else {
                u.covered_h += overlap;
            }
            // An interval's event belongs to the period it ends in; one ending exactly on the
            // boundary ends the earlier period (polls land on wall-clock slots, so this is common).
            if i.to_ms > from_ms && i.to_ms <= to_ms {
                match i.status {
                    IntervalStatus::Rollover => u.rollovers += 1,
                    IntervalStatus::Reset => u.resets += 1,
                    IntervalStatus::Implausible => u.implausible += 1,
                    IntervalStatus::Ok => {}
                }
            }
        }
        u.uncovered_h = (hours(to_ms - from_ms) - inside).max(0.0);
        // Both are sorted by time: count by bisection, not by a scan per period.
        let within = |times: &[i64]| (times.partition_point(|&t| t < to_ms) - times.partition_point(|&t| t < from_ms)) as u32;
        u.readings = within(&self.times);
        u.glitches = within(&self.glitches);
        u
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600_000;

    #[test]
    fn a_period_total_is_interpolated_at_its_boundaries() {
        // Readings at 0 h: 100, 10 h: 200, 30 h: 400. Period [5 h, 20 h):
        // at 5 h 100 + 100 * 5/10 = 150 (cumulative 50); at 20 h 200 + 200 * 10/20 = 300
        // (cumulative 200); consumption 150.
        let s = counter_series(&[(0, 100.0), (10 * H, 200.0), (30 * H, 400.0)], CounterLimits::default());
        let u = s.period(5 * H, 20 * H, 24.0);
        assert!((u.consumption - 150.0).abs() < 1e-9, "{u:?}");
        assert_eq!((u.covered_h, u.gap_h, u.uncovered_h, u.readings), (15.0, 0.0, 0.0, 1));
        // With a 12 h gap threshold, the 20 h interval is a gap: 10 of the 15 hours.
        let u = s.period(5 * H, 20 * H, 12.0);
        assert_eq!((u.covered_h, u.gap_h), (5.0, 10.0));
        // Before the first reading nothing is known: uncovered, no consumption.
        let u = s.period(-10 * H, 0, 24.0);
        assert_eq!((u.consumption, u.uncovered_h), (0.0, 10.0));
    }

    #[test]
    fn rollover_reset_glitch_and_implausible_deltas() {
        let limits = CounterLimits { rollover: Some(10_000.0), max_rate: Some(100.0), resolution: 1.0 };
        let s = counter_series(
            &[
                (0, 9_900.0),
                (H, 9_980.0),      // +80
                (2 * H, 30.0),     // wraps: 10000 - 9980 + 30 = 50
                (3 * H, 0.0),      // a momentary zero: dropped
                (4 * H, 120.0),    // +90 over 2 h (from 30)
                (5 * H, 5.0),      // goes back, far from the wrap: reset, excluded
                (6 * H, 60.0),     // +55
                (7 * H, 1_000.0),  // +940 in an hour, over 100/h: implausible, excluded
                (8 * H, 1_070.0),  // +70
            ],
            limits,
        );
        assert_eq!(s.glitches, vec![3 * H]);
        let statuses: Vec<IntervalStatus> = s.intervals.iter().map(|i| i.status).collect();
        use IntervalStatus::*;
        assert_eq!(statuses, [Ok, Rollover, Ok, Reset, Ok, Implausible, Ok]);
        let u = s.period(0, 9 * H, 24.0);
        assert!((u.consumption - (80.0 + 50.0 + 90.0 + 55.0 + 70.0)).abs() < 1e-9, "{u:?}");
        assert_eq!((u.rollovers, u.resets, u.implausible, u.glitches), (1, 1, 1, 1));
        assert_eq!((u.excluded_h, u.covered_h, u.uncovered_h), (2.0, 6.0, 1.0));
    }

    #[test]
    fn an_event_on_a_boundary_is_counted_once() {
        let s = counter_series(&[(0, 10.0), (H, 5.0), (2 * H, 6.0)], CounterLimits::default());
        // The reset interval ends exactly at 1 h: it belongs to [0, 1 h), not to [1 h, 2 h).
        assert_eq!((s.period(0, H, 24.0).resets, s.period(H, 2 * H, 24.0).resets), (1, 0));
    }

    #[test]
    fn an_isolated_spike_is_dropped_without_max_rate() {
        // 110 -> 5000 -> 120: a bad read far above the counter. Kept, it added 4890 and then a
        // reset; dropped, the counter rose 10 + 10 + 10.
        let s = counter_series(&[(0, 100.0), (H, 110.0), (2 * H, 5_000.0), (3 * H, 120.0), (4 * H, 130.0)], CounterLimits::default());
        assert_eq!(s.glitches, vec![2 * H]);
        let u = s.period(0, 4 * H, 24.0);
        assert_eq!((u.consumption, u.resets, u.glitches, u.excluded_h, u.covered_h), (30.0, 0, 1, 0.0, 4.0));
        // The last reading but one, with nothing after to say otherwise.
        let s = counter_series(&[(0, 100.0), (H, 900.0), (2 * H, 101.0)], CounterLimits::default());
        assert_eq!((s.glitches.clone(), s.period(0, 2 * H, 24.0).consumption), (vec![H], 1.0));
        // A dip after a high reading that the counter climbs back over: the dip is the glitch.
        let s = counter_series(&[(0, 100.0), (H, 110.0), (2 * H, 105.0), (3 * H, 120.0)], CounterLimits::default());
        assert_eq!((s.glitches.clone(), s.period(0, 3 * H, 24.0).consumption), (vec![2 * H], 20.0));
        // A fall below the reading before the high one is a reset, not a spike.
        let s = counter_series(&[(0, 100.0), (H, 200.0), (2 * H, 5.0), (3 * H, 15.0)], CounterLimits::default());
        assert_eq!((s.glitches.len(), s.period(0, 3 * H, 24.0).resets), (0, 1));
        // Going through a rollover is not a spike either.
        let wrap = CounterLimits { rollover: Some(100_000.0), ..CounterLimits::default() };
        let s = counter_series(&[(0, 99_000.0), (H, 99_900.0), (2 * H, 500.0), (3 * H, 900.0)], wrap);
        assert_eq!((s.glitches.len(), s.period(0, 3 * H, 24.0).consumption), (0, 1_900.0));
    }

    #[test]
    fn without_a_rollover_value_a_drop_is_a_reset() {
        let s = counter_series(&[(0, 9_990.0), (H, 10.0), (2 * H, 20.0)], CounterLimits::default());
        assert_eq!(s.intervals[0].status, IntervalStatus::Reset);
        assert_eq!(s.period(0, 2 * H, 24.0).consumption, 10.0);
    }
}
