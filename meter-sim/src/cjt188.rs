//! Simulated CJ/T 188 meters: water and gas meters answering DI 901FH with their volume counter,
//! the volume at the last settlement day (the 1st at 00:00 UTC+8), their clock and status; heat
//! meters with heat, heat power, flow rate, volume, supply and return temperature and working
//! hours. Values follow the same load shape as every simulated meter ([`crate::model`]), and
//! counters grow from the same fixed origin as the DL/T 645 meters' ([`crate::dlt645::ORIGIN_S`]),
//! so the settlement-day value is the counter's value at that instant.

use chrono::{DateTime, Datelike as _, Timelike as _, Utc};
use collector::cjt188::codec::{Address, Di, Frame, MeterType, Preamble};
use collector::cjt188::data::UnitCode;

use crate::dlt645::{bcd, bcd2, local_offset, settlement_instant, ORIGIN_S};
use crate::model::{noise, shape, shape_hours};

/// Control byte of the normal answer to read data (01H | 80H).
const ANSWER: u8 = 0x81;
/// Control byte of the abnormal answer to read data (01H | C0H).
const ABNORMAL: u8 = 0xC1;
/// Heat carried by a cubic metre of water per kelvin, kWh.
const KWH_PER_M3_K: f64 = 1.163;
/// Supply and return temperatures, °C.
const SUPPLY_C: f64 = 60.0;
const RETURN_C: f64 = 45.0;

/// The meter types by the names a collector config gives them.
pub fn type_by_name(name: &str) -> Option<MeterType> {
    Some(match name {
        "cold_water" => MeterType::ColdWater,
        "hot_water" => MeterType::HotWater,
        "drinking_water" => MeterType::DrinkingWater,
        "reclaimed_water" => MeterType::ReclaimedWater,
        "heat" => MeterType::Heat,
        "cooling" => MeterType::Cooling,
        "heat_and_cooling" => MeterType::HeatAndCooling,
        "gas" => MeterType::Gas,
        _ => return None,
    })
}

/// One simulated CJ/T 188 meter.
#[derive(Debug, Clone)]
pub struct Cjt188Meter {
    pub meter_type: MeterType,
    pub address: Address,
    seed: u64,
    /// Mean rate at shape 1.0: m3/h for water and gas, kW of heat for heat meters.
    rated: f64,
    /// The main counter (m3, or kWh of heat) at [`ORIGIN_S`].
    base: f64,
}

impl Cjt188Meter {
    /// A meter of `meter_type` at `address`; `rated` (m3/h, or kW for a heat meter) is chosen
    /// from the seed when absent.
    pub fn new(meter_type: MeterType, address: Address, seed: u64, rated: Option<f64>) -> Result<Self, String> {
        if !meter_type.is_volume_meter() && !meter_type.is_heat_meter() {
            return Err(format!("{address}: meter type {meter_type} has no 901FH layout to simulate"));
        }
        let seed = seed ^ address.wire().iter().fold(0x188u64, |h, b| h.wrapping_mul(131).wrapping_add(u64::from(*b)));
        let pick = |lo: f64, hi: f64| lo + (noise(seed, 999, 0.0) + 1.0) / 2.0 * (hi - lo);
        let rated = rated.unwrap_or_else(|| if meter_type.is_heat_meter() { pick(5.0, 20.0).round() } else { pick(1.0, 5.0).round() });
        let base = 100.0 + pick(0.0, 5_000.0).round();
        Ok(Self { meter_type, address, seed, rated, base })
    }

    /// The main counter at `t`: volume in m3 (water, gas) or heat in kWh (heat meters).
    pub fn counter(&self, t: DateTime<Utc>) -> f64 {
        self.base + self.rated * (shape_hours(secs(t)) - shape_hours(ORIGIN_S))
    }

    /// A heat meter's volume counter at `t`, m3: its heat at the design temperature drop.
    pub fn heat_volume(&self, t: DateTime<Utc>) -> f64 {
        self.counter(t) / (KWH_PER_M3_K * (SUPPLY_C - RETURN_C))
    }

    /// The instantaneous rate at `t`: m3/h, or kW of heat.
    pub fn rate(&self, t: DateTime<Utc>) -> f64 {
        let ts = secs(t);
        self.rated * shape(ts) * (1.0 + 0.02 * noise(self.seed, 1, ts))
    }

    /// The 901FH payload (after DI and SER) at `now`, in the standard layout.
    pub fn payload(&self, now: DateTime<Utc>) -> Vec<u8> {
        let amount = |v: f64, bytes: usize, decimals: u32, unit: UnitCode| {
            let mut out = bcd(v, bytes, decimals, false);
            out.push(unit.code());
            out
        };
        let settled = settlement_instant(now, 1).unwrap_or(now);
        let mut out = Vec::with_capacity(43);
        if self.meter_type.is_heat_meter() {
            let ts = secs(now);
            let n = noise(self.seed, 2, ts);
            out.extend(amount(self.counter(settled), 4, 2, UnitCode::KWh));
            out.extend(amount(self.counter(now), 4, 2, UnitCode::KWh));
            out.extend(amount(self.rate(now), 4, 2, UnitCode::KW));
            out.extend(amount(self.rate(now) / (KWH_PER_M3_K * (SUPPLY_C - RETURN_C)), 4, 4, UnitCode::M3PerH));
            out.extend(amount(self.heat_volume(now), 4, 2, UnitCode::M3));
            out.extend(bcd(SUPPLY_C + n, 3, 2, false));
            out.extend(bcd(RETURN_C + 0.5 * n, 3, 2, false));
            out.extend(bcd(((ts - ORIGIN_S) / 3600.0).floor(), 3, 0, false));
        } else {
            out.extend(amount(self.counter(now), 4, 2, UnitCode::M3));
            out.extend(amount(self.counter(settled), 4, 2, UnitCode::M3));
        }
        out.extend(clock(now));
        // Status: valve open, battery fine.
        out.extend([0x00, 0x00]);
        out
    }

    /// The answer frame (four FEH first) to a read request `frame` at `now`, if this meter is
    /// the one asked: 901FH gets the meter data, other identifiers (and a `fault`) an abnormal
    /// answer with SER and the status; other functions no answer.
    pub fn answer(&self, frame: &Frame, now: DateTime<Utc>, fault: bool) -> Option<Vec<u8>> {
        if frame.address != self.address || (frame.meter_type != self.meter_type.code() && frame.meter_type != MeterType::Any.code()) {
            return None;
        }
        let [d0, d1, ser] = frame.data[..] else { return None };
        if frame.control != 0x01 {
            return None;
        }
        let data = if !fault && Di::READ_DATA.order_of([d0, d1]).is_some() {
            let mut data = vec![d0, d1, ser];
            data.extend(self.payload(now));
            (ANSWER, data)
        } else {
            (ABNORMAL, vec![ser, 0x00, 0x00])
        };
        let answer = Frame { meter_type: self.meter_type.code(), address: self.address, control: data.0, data: data.1 };
        answer.encode(Preamble::FULL).ok()
    }
}

/// The 7-byte real time YYYYMMDDhhmmss in UTC+8, seconds first (the standard's examples).
fn clock(now: DateTime<Utc>) -> [u8; 7] {
    let l = now.with_timezone(&local_offset());
    let year = l.year().clamp(2000, 2099) as u32;
    [bcd2(l.second()), bcd2(l.minute()), bcd2(l.hour()), bcd2(l.day()), bcd2(l.month()), bcd2(year % 100), bcd2(year / 100)]
}

fn secs(t: DateTime<Utc>) -> f64 {
    t.timestamp_millis() as f64 / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use collector::cjt188::codec::Request;
    use collector::cjt188::data::{decode_meter_data, MeterData};
    use collector::cjt188::codec::Dialect;

    #[test]
    fn water_and_heat_answers_decode_with_the_collectors_codec() {
        let now: DateTime<Utc> = "2026-12-01T20:30:15Z".parse().unwrap();
        for (t, addr) in [(MeterType::ColdWater, "00000000000001"), (MeterType::Heat, "00000000000002")] {
            let address: Address = addr.parse().unwrap();
            let m = Cjt188Meter::new(t, address, 1, None).unwrap();
            let request = Request::read_data(t, address, Di::READ_DATA, 7);
            let frame = collector::cjt188::codec::decode_frame(&request.encode(Preamble::FULL, Default::default())).unwrap();
            let bytes = m.answer(&frame, now, false).unwrap();
            let answer = request.decode_answer(&bytes).unwrap();
            assert_eq!(answer.ser, 7);
            match decode_meter_data(&answer, &Dialect::STANDARD).unwrap() {
                MeterData::Flow(f) => {
                    assert_eq!(f.current.value.to_f64(), (m.counter(now) * 100.0).round() / 100.0);
                    assert!(f.settlement.value.to_f64() < f.current.value.to_f64());
                    assert_eq!(f.time, Some("2026-12-02T04:30:15".parse().unwrap()));
                }
                MeterData::Heat(h) => {
                    assert_eq!(h.current_heat.value.to_f64(), (m.counter(now) * 100.0).round() / 100.0);
                    assert!(h.flow_rate.value.to_f64() > 0.0 && h.working_hours > 50_000);
                }
            }
            let abnormal = m.answer(&frame, now, true).unwrap();
            assert!(request.decode_answer(&abnormal).is_err());
        }
    }
}
