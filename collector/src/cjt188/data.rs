//! The payload of DI 901FH answers: BCD values with their unit codes, the meter's clock and its
//! status word. Values stay exact decimals (mantissa and decimal places) with the unit the meter
//! chose; converting into the canonical unit is the caller's job (see [`Amount::in_readings_unit`]).

use std::fmt;

use chrono::{NaiveDate, NaiveDateTime};
use readings::{Dimension, Unit, POW10};

use super::codec::{Answer, DecodeError, Di, Dialect};

/// Bytes after `DI SER` in a water or gas meter's 901FH answer: current and settlement-day
/// volume (4 + 1 each), real time (7), status (2). L = 16H.
pub const FLOW_PAYLOAD_LEN: usize = 19;
/// Bytes after `DI SER` in a heat meter's 901FH answer: five values of 4 + 1 bytes, two
/// temperatures of 3, working hours of 3, real time (7), status (2). L = 2EH.
pub const HEAT_PAYLOAD_LEN: usize = 43;

/// An exact decimal: `mantissa / 10^decimals`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Decimal {
    /// The digits, without the point.
    pub mantissa: u64,
    /// How many of them follow the point.
    pub decimals: u8,
}

impl Decimal {
    /// `mantissa / 10^decimals`.
    pub fn new(mantissa: u64, decimals: u8) -> Decimal {
        Decimal { mantissa, decimals }
    }

    /// The nearest double: one division by an exact power of ten, so 556677.00 is the double a
    /// reader expects (see `readings::apply_scale`).
    pub fn to_f64(self) -> f64 {
        let m = self.mantissa as f64;
        match POW10.get(usize::from(self.decimals)) {
            Some(p) => m / p,
            None => m / 10f64.powi(i32::from(self.decimals)),
        }
    }

    /// The same value times `10^exp`, exactly; `None` if the mantissa would overflow.
    pub fn scaled(self, exp: i8) -> Option<Decimal> {
        let shift = exp.unsigned_abs();
        if exp >= 0 {
            // Drop decimal places first; multiply the mantissa only for what is left.
            let drop = shift.min(self.decimals);
            let factor = 10u64.checked_pow(u32::from(shift - drop))?;
            Some(Decimal { mantissa: self.mantissa.checked_mul(factor)?, decimals: self.decimals - drop })
        } else {
            Some(Decimal { mantissa: self.mantissa, decimals: self.decimals.checked_add(shift)? })
        }
    }
}

impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let digits = self.mantissa.to_string();
        let d = usize::from(self.decimals);
        if d == 0 {
            return f.write_str(&digits);
        }
        let padded = format!("{digits:0>width$}", width = d + 1);
        let (int, frac) = padded.split_at(padded.len() - d);
        write!(f, "{int}.{frac}")
    }
}

/// A unit code that follows (or, in some dialects, precedes) each value.
///
/// The 16 codes are the ones two independent implementations list alike: a water meter's
/// firmware (KingDa, `CJT-188-2004.h`) and a collector's report code (`ParseUnitByValue`). One
/// 2018 driver lists more (the ×10 steps, J/h..GJ/h), but its 36H (m³/h×10) is a meter firmware's
/// 36H (V, battery voltage), so codes outside this table are refused rather than guessed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UnitCode {
    /// 01H J.
    J,
    /// 02H Wh.
    Wh,
    /// 05H kWh.
    KWh,
    /// 08H MWh.
    MWh,
    /// 0AH MWh×100.
    MWhX100,
    /// 0BH kJ.
    KJ,
    /// 0EH MJ.
    MJ,
    /// 11H GJ.
    GJ,
    /// 13H GJ×100.
    GJX100,
    /// 14H W.
    W,
    /// 17H kW.
    KW,
    /// 1AH MW.
    MW,
    /// 29H L.
    L,
    /// 2CH m³.
    M3,
    /// 32H L/h.
    LPerH,
    /// 35H m³/h.
    M3PerH,
}

impl UnitCode {
    /// Every code, in code order.
    pub const ALL: &'static [UnitCode] = &[
        UnitCode::J,
        UnitCode::Wh,
        UnitCode::KWh,
        UnitCode::MWh,
        UnitCode::MWhX100,
        UnitCode::KJ,
        UnitCode::MJ,
        UnitCode::GJ,
        UnitCode::GJX100,
        UnitCode::W,
        UnitCode::KW,
        UnitCode::MW,
        UnitCode::L,
        UnitCode::M3,
        UnitCode::LPerH,
        UnitCode::M3PerH,
    ];

    /// The code byte.
    pub fn code(self) -> u8 {
        match self {
            UnitCode::J => 0x01,
            UnitCode::Wh => 0x02,
            UnitCode::KWh => 0x05,
            UnitCode::MWh => 0x08,
            UnitCode::MWhX100 => 0x0A,
            UnitCode::KJ => 0x0B,
            UnitCode::MJ => 0x0E,
            UnitCode::GJ => 0x11,
            UnitCode::GJX100 => 0x13,
            UnitCode::W => 0x14,
            UnitCode::KW => 0x17,
            UnitCode::MW => 0x1A,
            UnitCode::L => 0x29,
            UnitCode::M3 => 0x2C,
            UnitCode::LPerH => 0x32,
            UnitCode::M3PerH => 0x35,
        }
    }

    /// The unit of a code byte, if it is in the table.
    pub fn from_code(code: u8) -> Option<UnitCode> {
        UnitCode::ALL.iter().copied().find(|u| u.code() == code)
    }

    /// The unit as a symbol ("MWh×100").
    pub fn symbol(self) -> &'static str {
        match self {
            UnitCode::J => "J",
            UnitCode::Wh => "Wh",
            UnitCode::KWh => "kWh",
            UnitCode::MWh => "MWh",
            UnitCode::MWhX100 => "MWh×100",
            UnitCode::KJ => "kJ",
            UnitCode::MJ => "MJ",
            UnitCode::GJ => "GJ",
            UnitCode::GJX100 => "GJ×100",
            UnitCode::W => "W",
            UnitCode::KW => "kW",
            UnitCode::MW => "MW",
            UnitCode::L => "L",
            UnitCode::M3 => "m3",
            UnitCode::LPerH => "L/h",
            UnitCode::M3PerH => "m3/h",
        }
    }

    /// The readings unit and the power of ten that take a value in this code into it: a value
    /// `v` here is `v × 10^exp` in the unit. Every code has one (J as kJ × 10^-3, since readings
    /// has no J; the ×100 codes as MWh or GJ × 10^2).
    pub fn readings_unit(self) -> (Unit, i8) {
        match self {
            UnitCode::J => (Unit::KJ, -3),
            UnitCode::Wh => (Unit::Wh, 0),
            UnitCode::KWh => (Unit::KWh, 0),
            UnitCode::MWh => (Unit::MWh, 0),
            UnitCode::MWhX100 => (Unit::MWh, 2),
            UnitCode::KJ => (Unit::KJ, 0),
            UnitCode::MJ => (Unit::MJ, 0),
            UnitCode::GJ => (Unit::GJ, 0),
            UnitCode::GJX100 => (Unit::GJ, 2),
            UnitCode::W => (Unit::W, 0),
            UnitCode::KW => (Unit::KW, 0),
            UnitCode::MW => (Unit::MW, 0),
            UnitCode::L => (Unit::L, 0),
            UnitCode::M3 => (Unit::M3, 0),
            UnitCode::LPerH => (Unit::LPerH, 0),
            UnitCode::M3PerH => (Unit::M3PerH, 0),
        }
    }

    /// What the unit measures.
    pub fn dimension(self) -> Dimension {
        self.readings_unit().0.dimension()
    }
}

impl fmt::Display for UnitCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.symbol())
    }
}

/// A value with the unit the meter sent it in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Amount {
    /// The value in `unit`.
    pub value: Decimal,
    /// The unit code.
    pub unit: UnitCode,
}

impl Amount {
    /// The value in a readings unit, still exact (`None` only if a ×100 step overflows, which a
    /// 4-byte BCD value cannot make it do).
    pub fn in_readings_unit(self) -> Option<(Decimal, Unit)> {
        let (unit, exp) = self.unit.readings_unit();
        Some((self.value.scaled(exp)?, unit))
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.value, self.unit)
    }
}

/// The valve state in the status word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Valve {
    /// 00: open (also what meters without a valve report).
    Open,
    /// 01: closed.
    Closed,
    /// 11: abnormal (stuck, not where it was told to go).
    Abnormal,
    /// 10: not defined.
    Undefined,
}

/// The 2-byte status word ST, in wire order. The first byte is the standard's: D0–D1 the valve
/// (00 open, 01 closed, 11 abnormal), D2 the battery (1: low); the second is the manufacturer's.
/// (A meter firmware's bit-field, laid out by its big-endian MCU, puts valve and battery in the
/// first wire byte, and the valve answer of one vendor's example says "0000 open, 0001 closed,
/// 0011 abnormal". Two masters read the bits from the other end of the byte, so the raw bytes
/// are kept.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Status(pub [u8; 2]);

impl Status {
    /// The valve state, from D0–D1 of the first byte.
    pub fn valve(self) -> Valve {
        match self.0[0] & 0x03 {
            0b00 => Valve::Open,
            0b01 => Valve::Closed,
            0b11 => Valve::Abnormal,
            _ => Valve::Undefined,
        }
    }

    /// Whether the battery is low, from D2 of the first byte.
    pub fn battery_low(self) -> bool {
        self.0[0] & 0x04 != 0
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02X} {:02X} (valve {:?}, battery {})", self.0[0], self.0[1], self.valve(), if self.battery_low() { "low" } else { "ok" })
    }
}

/// The byte order of the 7-byte real time YYYYMMDDhhmmss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TimeOrder {
    /// Seconds first, century last: `31 01 22 11 05 15 20` is 2015-05-11 22:01:31 (vendor
    /// examples, a meter firmware's time struct, a 2018 driver).
    #[default]
    LowFirst,
    /// Century first, as written: `20 14 03 18 12 56 59` is 2014-03-18 12:56:59 (one published
    /// heat meter example).
    HighFirst,
}

/// Where the unit code sits relative to its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum UnitPosition {
    /// After the value: `00 77 66 55 2C` is 556677.00 m³.
    #[default]
    AfterValue,
    /// Before it: `2C 34 10 00 00` is 10.34 m³ (one heat meter vendor's deviation).
    BeforeValue,
}

/// A water or gas meter's 901FH answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowData {
    /// Current cumulative volume (XXXXXX.XX): `Measure::Volume`, a counter.
    pub current: Amount,
    /// Cumulative volume on the last settlement day (XXXXXX.XX): a past value, not a reading
    /// of now.
    pub settlement: Amount,
    /// The meter's clock, local time; `None` when the field is not a date of 2000–2099 (meters
    /// without a clock send zeros; a wrong [`TimeOrder`] gives nonsense years).
    pub time: Option<NaiveDateTime>,
    /// The clock's bytes as sent.
    pub time_raw: [u8; 7],
    /// The status word.
    pub status: Status,
}

/// A heat (or cooling) meter's 901FH answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeatData {
    /// Heat on the last settlement day (XXXXXX.XX): a past value.
    pub settlement_heat: Amount,
    /// Current cumulative heat (XXXXXX.XX): `Measure::HeatEnergy`, a counter.
    pub current_heat: Amount,
    /// Heat power (XXXXXX.XX): `Measure::HeatPower`, a gauge.
    pub heat_power: Amount,
    /// Flow rate (XXXX.XXXX): `Measure::VolumeFlow`, a gauge.
    pub flow_rate: Amount,
    /// Cumulative volume (XXXXXX.XX): `Measure::Volume`, a counter.
    pub cumulative_flow: Amount,
    /// Supply (flow) water temperature in °C (XXXX.XX).
    pub supply_temperature: Decimal,
    /// Return water temperature in °C (XXXX.XX).
    pub return_temperature: Decimal,
    /// Cumulative working hours (XXXXXX h).
    pub working_hours: u32,
    /// The meter's clock, local time; `None` as for [`FlowData::time`].
    pub time: Option<NaiveDateTime>,
    /// The clock's bytes as sent.
    pub time_raw: [u8; 7],
    /// The status word.
    pub status: Status,
}

/// A decoded 901FH answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MeterData {
    /// From a water or gas meter.
    Flow(FlowData),
    /// From a heat meter.
    Heat(HeatData),
}

/// Decodes the 901FH answer `answer` in `dialect`'s layout, chosen by the type of the meter that
/// answered. The payload must have exactly the layout's length: a different length means a layout
/// this codec does not know, and reading one as another gives wrong numbers.
pub fn decode_meter_data(answer: &Answer, dialect: &Dialect) -> Result<MeterData, DecodeError> {
    if answer.di != Di::READ_DATA {
        return Err(DecodeError::UnsupportedLayout { meter_type: answer.meter_type, di: answer.di });
    }
    let p = &answer.payload;
    let mut r = Reader { bytes: p, at: 0, dialect };
    if answer.meter_type.is_volume_meter() {
        check_len("water/gas 901FH data", FLOW_PAYLOAD_LEN, p.len())?;
        let current = r.amount("current volume", 2, Dimension::Volume)?;
        let settlement = r.amount("settlement-day volume", 2, Dimension::Volume)?;
        let time_raw = r.take()?;
        let status = Status(r.take()?);
        Ok(MeterData::Flow(FlowData { current, settlement, time: decode_time(time_raw, dialect.time_order), time_raw, status }))
    } else if answer.meter_type.is_heat_meter() {
        check_len("heat 901FH data", HEAT_PAYLOAD_LEN, p.len())?;
        // Field initialisers run in order, which is the order on the wire.
        let data = HeatData {
            settlement_heat: r.amount("settlement-day heat", 2, Dimension::Energy)?,
            current_heat: r.amount("current heat", 2, Dimension::Energy)?,
            heat_power: r.amount("heat power", 2, Dimension::Power)?,
            flow_rate: r.amount("flow rate", 4, Dimension::VolumeFlow)?,
            cumulative_flow: r.amount("cumulative volume", 2, Dimension::Volume)?,
            supply_temperature: Decimal::new(r.bcd::<3>("supply temperature")?, 2),
            return_temperature: Decimal::new(r.bcd::<3>("return temperature")?, 2),
            // Three BCD bytes hold at most 999999, which fits.
            working_hours: u32::try_from(r.bcd::<3>("working hours")?).unwrap_or(u32::MAX),
            time_raw: r.take()?,
            time: None,
            status: Status(r.take()?),
        };
        Ok(MeterData::Heat(HeatData { time: decode_time(data.time_raw, dialect.time_order), ..data }))
    } else {
        Err(DecodeError::UnsupportedLayout { meter_type: answer.meter_type, di: answer.di })
    }
}

fn check_len(what: &'static str, expected: usize, got: usize) -> Result<(), DecodeError> {
    if got == expected {
        Ok(())
    } else {
        Err(DecodeError::DataLength { what, expected, got })
    }
}

/// Reads the payload's fields in order.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
    dialect: &'a Dialect,
}

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let end = self.at + N;
        let slice = self.bytes.get(self.at..end).ok_or(DecodeError::DataLength { what: "901FH data", expected: end, got: self.bytes.len() })?;
        let mut out = [0u8; N];
        out.copy_from_slice(slice);
        self.at = end;
        Ok(out)
    }

    fn bcd<const N: usize>(&mut self, field: &'static str) -> Result<u64, DecodeError> {
        let bytes = self.take::<N>()?;
        bcd_low_first(&bytes, field)
    }

    fn amount(&mut self, field: &'static str, decimals: u8, dimension: Dimension) -> Result<Amount, DecodeError> {
        let (value, code) = match self.dialect.unit_position {
            UnitPosition::AfterValue => {
                let v = self.bcd::<4>(field)?;
                (v, self.take::<1>()?[0])
            }
            UnitPosition::BeforeValue => {
                let c = self.take::<1>()?[0];
                (self.bcd::<4>(field)?, c)
            }
        };
        let unit = UnitCode::from_code(code).ok_or(DecodeError::UnknownUnit { field, code })?;
        if unit.dimension() != dimension {
            return Err(DecodeError::UnitMismatch { field, code, unit: unit.symbol(), expected: dimension });
        }
        Ok(Amount { value: Decimal::new(value, decimals), unit })
    }
}

/// A BCD number sent low byte first: `00 77 66 55` is 55667700.
pub fn bcd_low_first(bytes: &[u8], field: &'static str) -> Result<u64, DecodeError> {
    bytes.iter().rev().try_fold(0u64, |acc, &byte| {
        let (hi, lo) = (byte >> 4, byte & 0x0F);
        if hi > 9 || lo > 9 {
            return Err(DecodeError::BadBcd { field, byte });
        }
        Ok(acc * 100 + u64::from(hi) * 10 + u64::from(lo))
    })
}

/// The meter's clock, if `raw` holds a valid BCD date and time in 2000–2099.
pub fn decode_time(raw: [u8; 7], order: TimeOrder) -> Option<NaiveDateTime> {
    // As written: century, year, month, day, hour, minute, second.
    let mut written = raw;
    if order == TimeOrder::LowFirst {
        written.reverse();
    }
    let mut v = [0u32; 7];
    for (slot, &b) in v.iter_mut().zip(written.iter()) {
        let (hi, lo) = (b >> 4, b & 0x0F);
        if hi > 9 || lo > 9 {
            return None;
        }
        *slot = u32::from(hi) * 10 + u32::from(lo);
    }
    let [century, year, month, day, hour, minute, second] = v;
    // Meters in service keep 20xx; anything else is an unset clock or the wrong byte order.
    if century != 20 {
        return None;
    }
    NaiveDate::from_ymd_opt(2000 + year as i32, month, day)?.and_hms_opt(hour, minute, second)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_print_and_scale_exactly() {
        assert_eq!(Decimal::new(55667700, 2).to_string(), "556677.00");
        assert_eq!(Decimal::new(2, 2).to_string(), "0.02");
        assert_eq!(Decimal::new(12345678, 4).to_string(), "1234.5678");
        assert_eq!(Decimal::new(7, 0).to_string(), "7");
        assert_eq!(Decimal::new(55667700, 2).to_f64(), 556677.0);
        assert_eq!(Decimal::new(35, 2).to_f64(), 0.35);
        assert_eq!(Decimal::new(12345, 2).scaled(2), Some(Decimal::new(12345, 0)));
        assert_eq!(Decimal::new(12345, 1).scaled(2), Some(Decimal::new(123450, 0)));
        assert_eq!(Decimal::new(12345, 2).scaled(-3), Some(Decimal::new(12345, 5)));
        assert_eq!(Decimal::new(u64::MAX, 0).scaled(1), None);
    }

    #[test]
    fn every_unit_code_has_a_readings_unit_of_its_dimension() {
        for u in UnitCode::ALL {
            assert_eq!(UnitCode::from_code(u.code()), Some(*u));
            let (unit, _) = u.readings_unit();
            assert_eq!(unit.dimension(), u.dimension());
        }
        assert_eq!(UnitCode::from_code(0x36), None);
        // MWh×100: 12.34 means 1234 MWh.
        let a = Amount { value: Decimal::new(1234, 2), unit: UnitCode::MWhX100 };
        assert_eq!(a.in_readings_unit(), Some((Decimal::new(1234, 0), Unit::MWh)));
        // J as kJ: 1500.00 J is 1.5 kJ.
        let j = Amount { value: Decimal::new(150000, 2), unit: UnitCode::J };
        let (v, u) = j.in_readings_unit().unwrap();
        assert_eq!((v.to_f64(), u), (1.5, Unit::KJ));
        // The project stores heat in GJ: a kWh or MWh value converts through readings.
        assert_eq!(readings::Measure::HeatEnergy.canonical_unit(), Unit::GJ);
        assert!((Unit::MWh.convert(1.0, Unit::GJ).unwrap() - 3.6).abs() < 1e-12);
    }

    #[test]
    fn bcd_is_read_low_byte_first() {
        assert_eq!(bcd_low_first(&[0x00, 0x77, 0x66, 0x55], "v"), Ok(55667700));
        assert_eq!(bcd_low_first(&[0x35, 0x25, 0x00], "v"), Ok(2535));
        assert_eq!(bcd_low_first(&[0x12, 0x3A], "v"), Err(DecodeError::BadBcd { field: "v", byte: 0x3A }));
    }

    #[test]
    fn times_in_both_orders_and_unset_clocks() {
        let t = |y, mo, d, h, mi, s| NaiveDate::from_ymd_opt(y, mo, d).unwrap().and_hms_opt(h, mi, s).unwrap();
        assert_eq!(decode_time([0x31, 0x01, 0x22, 0x11, 0x05, 0x15, 0x20], TimeOrder::LowFirst), Some(t(2015, 5, 11, 22, 1, 31)));
        assert_eq!(decode_time([0x20, 0x14, 0x03, 0x18, 0x12, 0x56, 0x59], TimeOrder::HighFirst), Some(t(2014, 3, 18, 12, 56, 59)));
        // The wrong order: century 59, refused rather than read as the year 5956.
        assert_eq!(decode_time([0x20, 0x14, 0x03, 0x18, 0x12, 0x56, 0x59], TimeOrder::LowFirst), None);
        assert_eq!(decode_time([0; 7], TimeOrder::LowFirst), None);
        assert_eq!(decode_time([0x00, 0x00, 0x00, 0x31, 0x02, 0x24, 0x20], TimeOrder::LowFirst), None, "31 February");
        assert_eq!(decode_time([0xFF; 7], TimeOrder::LowFirst), None);
    }

    #[test]
    fn status_bits() {
        assert_eq!(Status([0x00, 0xFF]).valve(), Valve::Open);
        assert_eq!(Status([0x01, 0x00]).valve(), Valve::Closed);
        assert_eq!(Status([0x03, 0x00]).valve(), Valve::Abnormal);
        assert_eq!(Status([0x02, 0x00]).valve(), Valve::Undefined);
        assert!(Status([0x04, 0x00]).battery_low());
        assert!(!Status([0x00, 0x04]).battery_low());
        assert_eq!(Status([0x21, 0x84]).to_string(), "21 84 (valve Closed, battery ok)");
    }
}
