//! Past readings without a live meter: the counters a plant's meters would have stored, one
//! reading per counter per step, following the same load shape as the simulated meters. The demo
//! backfills a year with it and the benchmarks fill the store with tens of millions of readings.

use chrono::{DateTime, Duration, Utc};
use readings::{EnterpriseId, Kind, Medium, MeterId, Quality, Quantity, Reading, SiteId, Unit};

use crate::model::load_hours;

/// One counter of a simulated history.
#[derive(Debug, Clone)]
pub struct HistoryCounter {
    pub enterprise: EnterpriseId,
    pub site: SiteId,
    pub meter: MeterId,
    pub medium: Medium,
    /// A counter quantity (energy, volume, mass, heat); `unit` is its canonical unit.
    pub quantity: Quantity,
    /// Growth per hour at load shape 1.0, in the canonical unit.
    pub rated: f64,
    /// The counter's value at the history's start.
    pub start_value: f64,
    /// Decimal digits the meter's register shows (2 for a resolution of 0.01).
    pub decimals: i32,
}

impl HistoryCounter {
    /// The counter's value at `t` for a history that starts at `origin`, as the register shows
    /// it: rounded to its resolution, the nearest double to that decimal.
    pub fn value_at(&self, origin: DateTime<Utc>, t: DateTime<Utc>) -> f64 {
        let exact = self.start_value + self.rated * load_hours(origin, t);
        let step = 10f64.powi(self.decimals);
        (exact * step).round() / step
    }
}

/// Generates the readings of `counters` every `step` over `[from, to)`, one UTC day at a time
/// (so a day's readings land in one file of the store), handing each day's batch to `write`;
/// returns how many readings were generated. Memory is one day's batch, whatever the span.
pub fn generate<E>(
    counters: &[HistoryCounter],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    step: Duration,
    mut write: impl FnMut(&[Reading]) -> Result<(), E>,
) -> Result<u64, E> {
    assert!(step > Duration::zero(), "a history needs a positive step");
    let mut total = 0u64;
    let mut day_start = from;
    let mut batch = Vec::new();
    while day_start < to {
        let next_midnight = (day_start.date_naive() + Duration::days(1)).and_hms_opt(0, 0, 0).map_or(to, |t| t.and_utc());
        let day_end = next_midnight.min(to);
        batch.clear();
        for c in counters {
            let unit: Unit = c.quantity.canonical_unit();
            let mut t = day_start;
            while t < day_end {
                batch.push(Reading {
                    time: t,
                    enterprise: c.enterprise.clone(),
                    site: c.site.clone(),
                    meter: c.meter.clone(),
                    medium: c.medium,
                    quantity: c.quantity,
                    kind: Kind::Counter,
                    unit,
                    value: Some(c.value_at(from, t)),
                    quality: Quality::Good,
                });
                t += step;
            }
        }
        write(&batch)?;
        total += batch.len() as u64;
        // The next day starts at the first step at or after midnight, keeping the step grid.
        let steps = ((day_end - from).num_milliseconds() + step.num_milliseconds() - 1) / step.num_milliseconds();
        day_start = from + step * steps as i32;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use readings::Measure;

    fn counter(rated: f64) -> HistoryCounter {
        HistoryCounter {
            enterprise: "91350100M000100Y43".parse().unwrap(),
            site: "plant".parse().unwrap(),
            meter: "incomer".parse().unwrap(),
            medium: Medium::Electricity,
            quantity: Quantity::total(Measure::ActiveEnergyImport),
            rated,
            start_value: 1000.0,
            decimals: 2,
        }
    }

    #[test]
    fn days_are_whole_batches_on_the_step_grid_and_counters_grow_by_the_load() {
        let from: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().unwrap();
        let to: DateTime<Utc> = "2026-01-08T00:00:00Z".parse().unwrap();
        let c = counter(100.0);
        let mut days = Vec::new();
        let n = generate(std::slice::from_ref(&c), from, to, Duration::minutes(15), |batch| {
            days.push(batch.to_vec());
            Ok::<_, ()>(())
        })
        .unwrap();
        assert_eq!(n, 7 * 96);
        assert_eq!(days.len(), 7);
        for day in &days {
            assert_eq!(day.len(), 96);
            assert!(day.iter().all(|r| r.time.date_naive() == day[0].time.date_naive()));
            assert!(day.windows(2).all(|w| w[1].value > w[0].value), "the counter only grows");
        }
        let last = days[6].last().unwrap();
        assert_eq!(last.time, to - Duration::minutes(15));
        // A week (the weekly swing integrates to zero) less 15 minutes at a mean load of 0.55 of
        // 100 per hour, within what the last quarter hour could have added.
        let grown = last.value.unwrap() - 1000.0;
        assert!((grown - 0.55 * 100.0 * 168.0).abs() < 100.0 * 0.25, "{grown}");
        assert!((grown - 100.0 * load_hours(from, last.time)).abs() <= 0.005, "rounded to the register's 0.01");
        assert_eq!(last.value, Some((last.value.unwrap() * 100.0).round() / 100.0));
    }

    #[test]
    fn a_step_that_does_not_divide_a_day_keeps_its_grid_across_midnight() {
        let from: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().unwrap();
        let to: DateTime<Utc> = "2026-01-03T00:00:00Z".parse().unwrap();
        let mut times = Vec::new();
        generate(&[counter(1.0)], from, to, Duration::minutes(7), |batch| {
            times.extend(batch.iter().map(|r| r.time));
            Ok::<_, ()>(())
        })
        .unwrap();
        assert!(times.windows(2).all(|w| w[1] - w[0] == Duration::minutes(7)));
        assert_eq!(times.len(), (2 * 24 * 60_usize).div_ceil(7));
    }
}
