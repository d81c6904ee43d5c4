//! Simulated DL/T 645-2007 meters: the items of a collector DL/T 645 profile, the meter's clock
//! (UTC+8), its settlement day (the 1st at 00:00) and the energy totals at its last 12
//! settlements and, when the profile says the meter keeps them, at its daily freezes (each day
//! at 00:00), all from the same load shape as the Modbus meters ([`crate::model`]).
//!
//! Counters are a function of absolute time (grown from a fixed origin, not from when the
//! simulator started), so a settlement total the meter reports is exactly what its live counter
//! showed at that instant, and a test can compute both without knowing when meter-sim started.

use chrono::{DateTime, Datelike as _, FixedOffset, NaiveDate, Offset as _, Timelike as _, Utc};
use collector::dlt645::codec::{encode_frame, DataId, Edition, MeterAddress};
use collector::dlt645::profile::{Item, Profile};
use collector::dlt645::value::Format;
use readings::{Measure, Phase};

use crate::model::{noise, shape, shape_hours, LINE_VOLTAGE, PHASE_VOLTAGE, POWER_FACTOR};

/// The instant every protocol meter's counters grow from (2020-01-01 00:00 UTC).
pub const ORIGIN_S: f64 = 1_577_836_800.0;
/// The meters' local time: China Standard Time.
pub const UTC_OFFSET_S: i32 = 8 * 3600;

/// Control byte of a normal answer to read data (11H | 80H).
const ANSWER: u8 = 0x91;
/// Control byte of an exception answer to read data (11H | C0H).
const EXCEPTION: u8 = 0xD1;
/// Error word bit 1: no data requested (the meter lacks the item).
pub const NO_DATA: u8 = 0x02;
/// Error word bit 0: other error (what an injected fault answers).
pub const OTHER_ERROR: u8 = 0x01;

/// The meters' UTC+8 offset.
pub fn local_offset() -> FixedOffset {
    // 8 h is within a day, so the offset exists; UTC is only a formal fallback.
    FixedOffset::east_opt(UTC_OFFSET_S).unwrap_or(Utc.fix())
}

/// The `n`th last monthly settlement (the 1st at 00:00 local time) at or before `now`, 1 being
/// the latest: the same count the collector's backfill makes.
pub fn settlement_instant(now: DateTime<Utc>, n: u8) -> Option<DateTime<Utc>> {
    let local = now.with_timezone(&local_offset()).naive_local();
    // Months since year 0 of the latest 1st at or before now; the 1st at 00:00 itself counts.
    let months = local.year() * 12 + local.month0() as i32 - (i32::from(n) - 1);
    let first = NaiveDate::from_ymd_opt(months.div_euclid(12), months.rem_euclid(12) as u32 + 1, 1)?.and_hms_opt(0, 0, 0)?;
    first.and_local_timezone(local_offset()).single().map(|t| t.with_timezone(&Utc))
}

/// The `n`th last daily freeze (00:00 local time) at or before `now`, 1 being the latest.
pub fn daily_freeze_instant(now: DateTime<Utc>, n: u8) -> Option<DateTime<Utc>> {
    let today = now.with_timezone(&local_offset()).date_naive();
    let day = today.checked_sub_days(chrono::Days::new(u64::from(n.checked_sub(1)?)))?;
    day.and_hms_opt(0, 0, 0)?.and_local_timezone(local_offset()).single().map(|t| t.with_timezone(&Utc))
}

/// Shares of a day's energy on the four tariffs (sharp, peak, flat, valley) a frozen block
/// carries after its total; the collector reads the total only.
const TARIFF_SHARES: [f64; 4] = [0.1, 0.3, 0.4, 0.2];

/// BCD digits of `value` in `format`, low byte first, wrapping like the meter's register when it
/// has more digits than the format holds; a sign bit in the top byte for negative signed values.
pub fn encode_bcd(value: f64, format: Format) -> Vec<u8> {
    bcd(value, format.bytes(), format.decimals(), format.signed())
}

/// `value` as `bytes` BCD bytes with `decimals` decimals, low byte first (the layout of both
/// DL/T 645 and CJ/T 188): wrapped to the digits there are, the top bit the sign if `signed`.
pub fn bcd(value: f64, bytes: usize, decimals: u32, signed: bool) -> Vec<u8> {
    let digits = 2 * bytes as u32;
    let modulus = 10u64.checked_pow(digits).unwrap_or(u64::MAX);
    // A signed format's top digit shares its byte with the sign bit: keep it below 8.
    let modulus = if signed { modulus / 10 * 8 } else { modulus };
    let scaled = (value.abs() * 10f64.powi(decimals as i32)).round();
    let mut m = if scaled.is_finite() { (scaled as u64) % modulus.max(1) } else { 0 };
    let mut out = Vec::with_capacity(bytes);
    for _ in 0..bytes {
        let pair = (m % 100) as u8;
        out.push((pair / 10) << 4 | (pair % 10));
        m /= 100;
    }
    if signed && value < 0.0 {
        if let Some(top) = out.last_mut() {
            *top |= 0x80;
        }
    }
    out
}

/// One BCD byte of `v` (0..=99).
pub(crate) fn bcd2(v: u32) -> u8 {
    let v = (v % 100) as u8;
    (v / 10) << 4 | (v % 10)
}

/// One simulated DL/T 645-2007 meter.
#[derive(Debug, Clone)]
pub struct Dlt645Meter {
    pub address: MeterAddress,
    pub profile: Profile,
    seed: u64,
    /// Mean load at shape 1.0, kW.
    rated: f64,
    /// The import counter at [`ORIGIN_S`], kWh.
    base: f64,
}

impl Dlt645Meter {
    /// A meter at `address` answering `profile`'s items; `rated` (kW) is chosen from the seed
    /// when absent, small enough that its power fits `XX.XXXX` kW.
    pub fn new(address: MeterAddress, profile: Profile, seed: u64, rated: Option<f64>) -> Result<Self, String> {
        if profile.items.iter().any(|i| i.edition != Edition::V2007) {
            return Err(format!("{address}: profile {} is not a DL/T 645-2007 profile; only 2007 meters are simulated", profile.meta.name));
        }
        let seed = seed ^ address.wire().iter().fold(0x645u64, |h, b| h.wrapping_mul(131).wrapping_add(u64::from(*b)));
        let pick = |lo: f64, hi: f64| lo + (noise(seed, 999, 0.0) + 1.0) / 2.0 * (hi - lo);
        let rated = rated.unwrap_or_else(|| pick(2.0, 10.0).round());
        let base = 1_000.0 + pick(0.0, 20_000.0).round();
        Ok(Self { address, profile, seed, rated, base })
    }

    /// The import energy counter at `t`, kWh (exact, before the register's rounding).
    pub fn import_kwh(&self, t: DateTime<Utc>) -> f64 {
        self.base + self.rated * (shape_hours(secs(t)) - shape_hours(ORIGIN_S))
    }

    /// The true value of an item's quantity at `t`, in the quantity's canonical unit; `None`
    /// for quantities the model does not simulate.
    pub fn canonical_value(&self, item: &Item, t: DateTime<Utc>) -> Option<f64> {
        let ts = secs(t);
        let idx = (item.di as usize) & 0xFF_FFFF;
        let n = noise(self.seed, idx, ts);
        let rate = self.rated * shape(ts) * (1.0 + 0.02 * n);
        let per_phase = if item.quantity.phase.is_some() { 3.0 } else { 1.0 };
        Some(match item.quantity.measure {
            Measure::ActiveEnergyImport => self.import_kwh(t),
            // Export and reactive counters grow slower, as for the Modbus meters.
            Measure::ActiveEnergyExport => 0.01 * self.import_kwh(t),
            Measure::ReactiveEnergyImport => 0.4 * self.import_kwh(t),
            Measure::ReactiveEnergyExport => 0.05 * self.import_kwh(t),
            Measure::ActivePower => rate / per_phase,
            Measure::ReactivePower => 0.4 * rate / per_phase,
            Measure::ApparentPower => rate / POWER_FACTOR / per_phase,
            Measure::Current => rate * 1000.0 / (3.0 * PHASE_VOLTAGE * POWER_FACTOR),
            Measure::Voltage => match item.quantity.phase {
                Some(Phase::L12 | Phase::L23 | Phase::L31) | None => LINE_VOLTAGE * (1.0 + 0.005 * n),
                Some(_) => PHASE_VOLTAGE * (1.0 + 0.005 * n),
            },
            Measure::PowerFactor => POWER_FACTOR + 0.01 * n,
            Measure::Frequency => 50.0 + 0.02 * n,
            _ => return None,
        })
    }

    /// The item's value at `t` as the meter shows it: in the item's unit, rounded to its format.
    pub fn shown(&self, item: &Item, t: DateTime<Utc>) -> Option<f64> {
        let v = self.canonical_value(item, t)?;
        let v = item.quantity.canonical_unit().convert(v, item.unit).ok()?;
        let step = 10f64.powi(item.format.decimals() as i32);
        Some((v * step).round() / step)
    }

    /// The value the collector stores for item `di` (DI0 = 0 now, 1..=12 at a settlement) when
    /// the meter is asked at `now`: the shown value in the item's unit.
    pub fn expected(&self, di: DataId, now: DateTime<Utc>) -> Option<f64> {
        let (item, at) = self.resolve(di, now)?;
        self.shown(item, at)
    }

    /// The profile item behind `di` and the instant its value is of.
    fn resolve(&self, di: DataId, now: DateTime<Utc>) -> Option<(&Item, DateTime<Utc>)> {
        if let Some(item) = self.profile.items.iter().find(|i| i.di == di.0) {
            return Some((item, now));
        }
        // A daily frozen total (05 06 kk n) of an energy item 00 kk 00 00 the profile reads.
        if di.0 >> 16 == 0x0506 && di.0 & 0xFF00 != 0 {
            let n = (di.0 & 0xFF) as u8;
            if n == 0 || n > self.profile.meta.daily_freezes {
                return None;
            }
            let energy = (di.0 >> 8 & 0xFF) << 16;
            let item = self.profile.items.iter().find(|i| i.di == energy && DataId(i.di).at_daily_freeze(n) == Some(di) && i.quantity.measure.is_cumulative())?;
            return Some((item, daily_freeze_instant(now, n)?));
        }
        // A settlement total (DI3 = 00, DI0 = 01..0C) of an energy item the profile reads now.
        let n = (di.0 & 0xFF) as u8;
        if di.0 >> 24 != 0 || !(1..=12).contains(&n) {
            return None;
        }
        let item = self.profile.items.iter().find(|i| i.di == di.0 & 0xFFFF_FF00 && i.quantity.measure.is_cumulative())?;
        Some((item, settlement_instant(now, n)?))
    }

    /// The data of an answer to read `di` at `now` (without the DI), or the error word.
    pub fn read(&self, di: DataId, now: DateTime<Utc>) -> Result<Vec<u8>, u8> {
        let local = now.with_timezone(&local_offset());
        match di {
            DataId::DATE_WEEK => {
                let week = local.weekday().num_days_from_sunday();
                Ok(vec![bcd2(week), bcd2(local.day()), bcd2(local.month()), bcd2(local.year().rem_euclid(100) as u32)])
            }
            DataId::TIME => Ok(vec![bcd2(local.second()), bcd2(local.minute()), bcd2(local.hour())]),
            // The 1st at 00:00: hh then DD, low byte first.
            DataId::SETTLEMENT_DAY_1 => Ok(vec![0x00, 0x01]),
            // A daily freeze's time, YYMMDDhhmm, low byte first.
            DataId(id) if id >> 8 == 0x0506_00 => {
                let n = (id & 0xFF) as u8;
                if n > self.profile.meta.daily_freezes {
                    return Err(NO_DATA);
                }
                let at = daily_freeze_instant(now, n).ok_or(NO_DATA)?.with_timezone(&local_offset());
                Ok(vec![bcd2(at.minute()), bcd2(at.hour()), bcd2(at.day()), bcd2(at.month()), bcd2(at.year().rem_euclid(100) as u32)])
            }
            _ => {
                let (item, at) = self.resolve(di, now).ok_or(NO_DATA)?;
                let v = self.shown(item, at).ok_or(NO_DATA)?;
                let mut data = encode_bcd(v, item.format);
                if di.0 >> 16 == 0x0506 {
                    for share in TARIFF_SHARES {
                        data.extend(encode_bcd(v * share, item.format));
                    }
                }
                Ok(data)
            }
        }
    }

    /// The answer frame (with four FEH wake-up bytes) to a read of `di` at `now`; `fault` turns
    /// it into an exception answer with "other error".
    pub fn answer(&self, di: DataId, now: DateTime<Utc>, fault: bool) -> Vec<u8> {
        let result = if fault { Err(OTHER_ERROR) } else { self.read(di, now) };
        let frame = match result {
            Ok(data) => {
                let mut all = di.wire().to_vec();
                all.extend(data);
                encode_frame(self.address.wire(), ANSWER, &all, 4)
            }
            Err(word) => encode_frame(self.address.wire(), EXCEPTION, &[word], 4),
        };
        // Both fit a frame (at most 4 + 20 data bytes, a frozen block): encoding cannot fail.
        frame.unwrap_or_default()
    }
}

fn secs(t: DateTime<Utc>) -> f64 {
    t.timestamp_millis() as f64 / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use collector::dlt645::codec::parse_frame;

    fn meter() -> Dlt645Meter {
        let profile = Profile::builtin("dlt645_generic_3phase").unwrap().unwrap();
        Dlt645Meter::new("000012345678".parse().unwrap(), profile, 1, None).unwrap()
    }

    #[test]
    fn bcd_round_trips_through_the_collectors_decoder() {
        for (v, f) in [(12345.67, Format::ENERGY), (-1.234, Format::CURRENT), (230.4, Format::VOLTAGE), (-0.5, Format::POWER), (0.921, Format::POWER_FACTOR)] {
            let d = f.decode(&encode_bcd(v, f)).unwrap();
            assert_eq!(d.to_f64(), v, "{v} {f}");
        }
        // A counter beyond XXXXXX.XX wraps as the register does.
        assert_eq!(Format::ENERGY.decode(&encode_bcd(1_000_012.5, Format::ENERGY)).unwrap().to_f64(), 12.5);
    }

    #[test]
    fn settlement_totals_are_the_counter_at_each_first_of_the_month() {
        let m = meter();
        let now: DateTime<Utc> = "2026-12-01T10:30:00Z".parse().unwrap();
        // 2026-12-01 00:00 UTC+8 is 2026-11-30 16:00 UTC.
        assert_eq!(settlement_instant(now, 1), Some("2026-11-30T16:00:00Z".parse().unwrap()));
        assert_eq!(settlement_instant(now, 12), Some("2025-12-31T16:00:00Z".parse().unwrap()));
        let mut last = f64::INFINITY;
        for n in 1..=12u8 {
            let id = DataId::FORWARD_ACTIVE_ENERGY.at_settlement(n).unwrap();
            let data = m.read(id, now).unwrap();
            let v = Format::ENERGY.decode(&data).unwrap().to_f64();
            let at = settlement_instant(now, n).unwrap();
            assert_eq!(v, (m.import_kwh(at) * 100.0).round() / 100.0);
            assert!(v < last);
            last = v;
        }
        assert_eq!(m.read(DataId(0x0001_000D), now), Err(NO_DATA));
        assert_eq!(m.read(DataId(0x0003_0000), now), Err(NO_DATA));
    }

    #[test]
    fn daily_freezes_are_the_counter_at_each_midnight() {
        let mut m = meter();
        let now: DateTime<Utc> = "2026-12-01T10:30:00Z".parse().unwrap();
        let time = DataId::daily_freeze_time(2).unwrap();
        m.profile.meta.daily_freezes = 0;
        assert_eq!(m.read(time, now), Err(NO_DATA), "a profile without daily freezes keeps none");
        m.profile.meta.daily_freezes = 62;
        // 18:30 local on 2026-12-01: the second last freeze is 2026-11-30 00:00 local.
        assert_eq!(m.read(time, now), Ok(vec![0x00, 0x00, 0x30, 0x11, 0x26]));
        assert_eq!(daily_freeze_instant(now, 2), Some("2026-11-29T16:00:00Z".parse().unwrap()));
        let block = m.read(DataId::FORWARD_ACTIVE_ENERGY.at_daily_freeze(2).unwrap(), now).unwrap();
        assert_eq!(block.len(), 20, "total and four tariffs");
        let total = Format::ENERGY.decode(&block[..4]).unwrap().to_f64();
        assert_eq!(total, (m.import_kwh(daily_freeze_instant(now, 2).unwrap()) * 100.0).round() / 100.0);
        assert_eq!(m.read(DataId::FORWARD_ACTIVE_ENERGY.at_daily_freeze(62).unwrap(), now).map(|b| b.len()), Ok(20));
        assert_eq!(m.read(DataId(0x0506_003F), now), Err(NO_DATA));
    }

    #[test]
    fn answers_parse_and_the_clock_is_china_time() {
        let m = meter();
        let now: DateTime<Utc> = "2026-12-01T20:30:15Z".parse().unwrap();
        let f = parse_frame(&m.answer(DataId::TIME, now, false)).unwrap().frame;
        assert_eq!((f.control.0, &f.data[..]), (0x91, &[0x02, 0x01, 0x00, 0x04, 0x15, 0x30, 0x04][..]));
        let f = parse_frame(&m.answer(DataId::DATE_WEEK, now, false)).unwrap().frame;
        // 2026-12-02 is a Wednesday (3).
        assert_eq!(&f.data[4..], &[0x03, 0x02, 0x12, 0x26]);
        let f = parse_frame(&m.answer(DataId::VOLTAGE_A, now, true)).unwrap().frame;
        assert_eq!((f.control.0, &f.data[..]), (0xD1, &[OTHER_ERROR][..]));
    }
}
