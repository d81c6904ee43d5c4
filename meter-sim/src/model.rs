//! The signal a simulated meter shows: a daily and weekly load shape with noise for gauges, and
//! its exact integral for counters, so counters only grow and agree with the power they show.

use std::f64::consts::TAU;

use chrono::{DateTime, Utc};
use collector::modbus::profile::{Point, Profile, ScaleMode};
use collector::modbus::register::RegisterFunction;
use collector::normalise::point_value;
use readings::{Measure, Medium, Phase, Quality};

use crate::encode::{encode, quantise};

const DAY: f64 = 86_400.0;
const WEEK: f64 = 7.0 * DAY;
// Load shape: mean, daily and weekly swing. The minimum (0.15) stays above zero, so counters
// strictly grow. The daily peak falls at 06:00 UTC (14:00 in China), the weekly one on Wednesday.
const MEAN: f64 = 0.55;
const DAILY: f64 = 0.30;
const WEEKLY: f64 = 0.10;
const WEEKLY_PHASE: f64 = -3.25 * DAY;
pub(crate) const POWER_FACTOR: f64 = 0.92;
pub(crate) const PHASE_VOLTAGE: f64 = 230.0;
pub(crate) const LINE_VOLTAGE: f64 = 400.0;
/// Enthalpy of saturated steam at about 0.8 MPa, GJ per tonne, for a steam meter's heat counter.
const STEAM_GJ_PER_T: f64 = 2.75;

/// The load shape at `t` seconds since the epoch (dimensionless, mean 0.55).
pub(crate) fn shape(t: f64) -> f64 {
    MEAN + DAILY * (TAU * t / DAY).sin() + WEEKLY * (TAU * (t - WEEKLY_PHASE) / WEEK).sin()
}

/// The integral of [`shape`] from 0 to `t`, in hours.
pub(crate) fn shape_hours(t: f64) -> f64 {
    (MEAN * t - DAILY * DAY / TAU * (TAU * t / DAY).cos() - WEEKLY * WEEK / TAU * (TAU * (t - WEEKLY_PHASE) / WEEK).cos()) / 3600.0
}

/// Hours of rated load between `from` and `to` under the load shape: a counter of a meter rated
/// at R per hour grows by `R * load_hours(from, to)`.
pub fn load_hours(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    let s = |t: DateTime<Utc>| t.timestamp_millis() as f64 / 1000.0;
    shape_hours(s(to)) - shape_hours(s(from))
}

/// Deterministic noise in [-1, 1] for a meter, a point and a whole second.
pub fn noise(seed: u64, point: usize, t: f64) -> f64 {
    let mut z = seed ^ ((point as u64) << 40) ^ (t.floor() as i64 as u64);
    // splitmix64
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
}

/// A register the sim was asked for that no point covers, with `holes` on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hole(pub u16);

/// One simulated meter: a profile, a size and a counter start.
#[derive(Debug, Clone)]
pub struct Meter {
    pub unit: u8,
    pub profile: Profile,
    seed: u64,
    /// Mean rate at shape 1.0: kW, m3/h or t/h by medium.
    rated: f64,
    start_s: f64,
    /// Counter value (in the counter's canonical unit per unit of `rated`-hours) at `start_s`.
    counter_start: f64,
    /// Answer exception 02 for registers no point covers, instead of zeros.
    pub holes: bool,
}

impl Meter {
    /// A meter that starts counting at `start`; `rollover` puts integer counters a minute short of
    /// their register's wrap (for floats, which do not wrap, it has no effect).
    pub fn new(unit: u8, profile: Profile, seed: u64, start: DateTime<Utc>, rated: Option<f64>, rollover: bool, holes: bool) -> Self {
        let seed = seed ^ (u64::from(unit) << 56) ^ profile.meta.name.bytes().fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
        let pick = |lo: f64, hi: f64| lo + (noise(seed, 999, 0.0) + 1.0) / 2.0 * (hi - lo);
        let start_s = start.timestamp_millis() as f64 / 1000.0;
        let rated = rated.unwrap_or_else(|| match profile.meta.medium {
            Medium::Electricity => pick(50.0, 250.0).round(),
            Medium::Water => pick(5.0, 30.0).round(),
            _ => pick(1.0, 6.0).round(),
        });
        let mut counter_start = 10_000.0 + pick(0.0, 40_000.0).round();
        if rollover {
            // The smallest wrap among integer counters, in canonical units, less a minute of use.
            let wrap = profile
                .map
                .points
                .iter()
                .filter(|p| p.kind == readings::Kind::Counter)
                .filter_map(|p| {
                    let raw_wrap = match p.location.data_type {
                        collector::modbus::register::DataType::I32 => Some(2_147_483_648.0),
                        collector::modbus::register::DataType::I16 => Some(32_768.0),
                        t => t.wrap_value(),
                    }?;
                    let in_unit = raw_wrap * p.scale * Self::register_multiplier_of(&profile, p);
                    p.unit.convert(in_unit, p.quantity.canonical_unit()).ok().map(|w| w / counter_factor(p))
                })
                .fold(f64::INFINITY, f64::min);
            if wrap.is_finite() {
                counter_start = wrap - rated * shape(start_s) / 60.0;
            }
        }
        Self { unit, profile, seed, rated, start_s, counter_start, holes }
    }

    fn register_multiplier_of(profile: &Profile, p: &Point) -> f64 {
        match p.scale_from {
            None => 1.0,
            Some((s, mode, off)) => {
                let r = Self::scale_register_value(profile, s);
                match mode {
                    ScaleMode::Pow10 => 10f64.powf(r + f64::from(off)),
                    ScaleMode::Multiply => r,
                }
            }
        }
    }

    /// The value a scale register holds: a resolution of 0.1 for pow10, a ratio of 1 otherwise.
    fn scale_register_value(profile: &Profile, s: usize) -> f64 {
        let user = profile.map.points.iter().find_map(|p| p.scale_from.filter(|(i, _, _)| *i == s));
        match user {
            Some((_, ScaleMode::Pow10, off)) => f64::from(-off - 1),
            _ => 1.0,
        }
    }

    /// The true value of point `i` at `t`, in its canonical unit.
    pub fn canonical_value(&self, i: usize, t: DateTime<Utc>) -> f64 {
        let p = &self.profile.map.points[i];
        let ts = t.timestamp_millis() as f64 / 1000.0;
        let s = shape(ts);
        let n = noise(self.seed, i, ts);
        let per_phase = if p.quantity.phase.is_some() { 3.0 } else { 1.0 };
        let rate = self.rated * s * (1.0 + 0.02 * n);
        match p.quantity.measure {
            Measure::ActivePower => rate / per_phase,
            Measure::ReactivePower => 0.4 * rate / per_phase,
            Measure::ApparentPower => rate / POWER_FACTOR / per_phase,
            Measure::Current => rate * 1000.0 / (3.0 * PHASE_VOLTAGE * POWER_FACTOR),
            Measure::Voltage => match p.quantity.phase {
                Some(Phase::L12 | Phase::L23 | Phase::L31) | None => LINE_VOLTAGE * (1.0 + 0.005 * n),
                Some(_) => PHASE_VOLTAGE * (1.0 + 0.005 * n),
            },
            Measure::PowerFactor => POWER_FACTOR + 0.01 * n,
            Measure::Frequency => 50.0 + 0.02 * n,
            Measure::VolumeFlow | Measure::MassFlow => rate,
            Measure::HeatPower => rate * STEAM_GJ_PER_T * 1e6 / 3600.0,
            Measure::Temperature => if p.medium == Medium::Steam { 180.0 + n } else { 20.0 + n },
            Measure::SupplyTemperature => 70.0 + n,
            Measure::ReturnTemperature => 50.0 + n,
            // Hours in operation since the simulator started, from the counter's base.
            Measure::OperatingTime => self.counter_start + (ts - self.start_s) / 3600.0,
            Measure::Pressure => 0.8 + 0.01 * n,
            Measure::ActiveEnergyImport
            | Measure::ActiveEnergyExport
            | Measure::ReactiveEnergyImport
            | Measure::ReactiveEnergyExport
            | Measure::Volume
            | Measure::Mass
            | Measure::HeatEnergy => {
                counter_factor(p) * (self.counter_start + self.rated * (shape_hours(ts) - shape_hours(self.start_s)))
            }
        }
    }

    /// The raw register value of point `i` at `t`, as the meter would hold it.
    pub fn raw_point(&self, i: usize, t: DateTime<Utc>) -> f64 {
        let p = &self.profile.map.points[i];
        let v = p.quantity.canonical_unit().convert(self.canonical_value(i, t), p.unit).unwrap_or(f64::NAN);
        quantise((v - p.offset) / p.scale / Self::register_multiplier_of(&self.profile, p), p.location.data_type)
    }

    /// What a correct collector stores for point `i` read at `t`.
    pub fn expected(&self, i: usize, t: DateTime<Utc>) -> (Option<f64>, Quality) {
        let p = &self.profile.map.points[i];
        let scale = p.scale_from.map(|(s, _, _)| Self::scale_register_value(&self.profile, s));
        point_value(p, self.raw_point(i, t), scale)
    }

    /// Registers `start..start+count` of `function` at `t`.
    pub fn registers(&self, function: RegisterFunction, start: u16, count: u16, t: DateTime<Utc>) -> Result<Vec<u16>, Hole> {
        let end = u32::from(start) + u32::from(count);
        let mut regs = vec![None; usize::from(count)];
        let mut put = |address: u16, words: Vec<u16>| {
            for (k, w) in words.into_iter().enumerate() {
                let a = u32::from(address) + k as u32;
                if a >= u32::from(start) && a < end {
                    regs[(a - u32::from(start)) as usize] = Some(w);
                }
            }
        };
        for (i, p) in self.profile.map.points.iter().enumerate() {
            let l = p.location;
            if l.function == function && u32::from(l.address) < end && l.end() > u32::from(start) {
                put(l.address, encode(self.raw_point(i, t), l.data_type, l.order));
            }
        }
        for (s, r) in self.profile.map.scale_registers.iter().enumerate() {
            let l = r.location;
            if l.function == function && u32::from(l.address) < end && l.end() > u32::from(start) {
                put(l.address, encode(Self::scale_register_value(&self.profile, s), l.data_type, l.order));
            }
        }
        regs.iter()
            .enumerate()
            .map(|(k, r)| match r {
                Some(w) => Ok(*w),
                None if self.holes => Err(Hole(start + k as u16)),
                None => Ok(0),
            })
            .collect()
    }
}

/// How a counter relates to the meter's rate: export and reactive registers grow slower, a steam
/// meter's heat counter in GJ per tonne.
fn counter_factor(p: &Point) -> f64 {
    match p.quantity.measure {
        Measure::ActiveEnergyExport => 0.01,
        Measure::ReactiveEnergyImport => 0.4,
        Measure::ReactiveEnergyExport => 0.05,
        Measure::HeatEnergy if p.medium == Medium::Steam => STEAM_GJ_PER_T,
        _ => 1.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meter(name: &str, rollover: bool) -> Meter {
        let profile = Profile::builtin(name).unwrap().unwrap();
        Meter::new(1, profile, 7, DateTime::from_timestamp(1_790_000_000, 0).unwrap(), None, rollover, false)
    }

    #[test]
    fn counters_only_grow_and_match_the_mean_power() {
        let m = meter("eastron_sdm630", false);
        let i = m.profile.map.points.iter().position(|p| p.name == "active_energy_import").unwrap();
        let t0 = DateTime::from_timestamp(1_790_000_000, 0).unwrap();
        let mut last = m.canonical_value(i, t0);
        for h in 1..=24 * 7 {
            let v = m.canonical_value(i, t0 + chrono::Duration::hours(h));
            assert!(v > last);
            last = v;
        }
        // Over a whole week the daily and weekly terms integrate to zero.
        let week = last - m.canonical_value(i, t0);
        assert!((week - m.rated * MEAN * 168.0).abs() < 1e-6 * week, "{week}");
    }

    #[test]
    fn rollover_wraps_an_integer_counter_within_minutes() {
        let m = meter("acrel_adw300", true);
        let t0 = DateTime::from_timestamp(1_790_000_000, 0).unwrap();
        let before = m.raw_point(0, t0);
        let after = m.raw_point(0, t0 + chrono::Duration::minutes(2));
        assert!(before > 2.0e9 && after < before, "{before} -> {after}");
    }
}
