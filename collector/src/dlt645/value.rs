//! DL/T 645 data values: BCD numbers with a fixed decimal point (`XXXXXX.XX` and the like), the
//! meter's date and time formats, and block reads of equal items.
//!
//! Every function here takes the data bytes of one item as the frame carries them after 33H has
//! been taken off: low byte first. A number's most significant byte is the last one; in a signed
//! format its top bit is the sign (sign and magnitude, not two's complement). A meter that has
//! no value for an item answers FFH bytes, which is not BCD: that and any other non-BCD nibble
//! (0xAA, 0x1A, ...) is an error, never a number.

use std::fmt;

use chrono::{NaiveDate, NaiveDateTime, NaiveTime, Weekday};
use thiserror::Error;

/// Why an item's bytes are not a value.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ValueError {
    /// The item has a fixed length and the answer carries another.
    #[error("the item has {expected} data bytes, the answer carries {got}")]
    Length { expected: usize, got: usize },
    /// A block read whose length is not a whole number of items.
    #[error("a block of {item}-byte items cannot be {got} bytes long")]
    BlockLength { item: usize, got: usize },
    /// Every byte is FFH: the meter's way of saying it has no value for the item.
    #[error("the meter has no value for this item (all {bytes} bytes are FFH)")]
    NoValue { bytes: usize },
    /// A nibble above 9.
    #[error("data byte {position} (low byte first) is {byte:02X}H, not BCD")]
    NotBcd { position: usize, byte: u8 },
    /// A date or time field outside its range (month 13, hour 24, weekday 7).
    #[error("{field} {value} is out of range")]
    OutOfRange { field: &'static str, value: u8 },
    /// Fields each in range that make no date (30 February).
    #[error("20{year:02}-{month:02}-{day:02} is not a date")]
    NoSuchDate { year: u8, month: u8, day: u8 },
}

/// Why a number pattern such as `XXXXXX.XX` was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FormatError {
    #[error("{pattern:?} is not a number pattern: use X for each digit and at most one '.', e.g. XXXXXX.XX")]
    Pattern { pattern: String },
    #[error("{pattern:?} has {digits} digits; an i64 holds at most 18 (9 bytes)")]
    TooLong { pattern: String, digits: usize },
    #[error("{pattern:?} has {decimals} decimals; at most 9 are supported")]
    TooManyDecimals { pattern: String, decimals: usize },
}

/// An exact decimal read from a meter: `mantissa / 10^decimals`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Decimal {
    /// The digits as an integer, negative for a negative value.
    pub mantissa: i64,
    /// Digits after the decimal point (0..=9).
    pub decimals: u32,
}

impl Decimal {
    /// The double nearest to the decimal: the mantissa divided by `readings::POW10[decimals]`,
    /// one correctly rounded division, the way the store turns its decimals back into doubles
    /// (so 1234 with 2 decimals is exactly the double 12.34, which `1234.0 * 0.01` is not).
    pub fn to_f64(self) -> f64 {
        match readings::POW10.get(self.decimals as usize) {
            Some(p) => self.mantissa as f64 / p,
            // Not from a Format (which allows at most 9 decimals): no exact power at hand.
            None => self.mantissa as f64 / 10f64.powi(self.decimals.min(400) as i32),
        }
    }
}

impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.mantissa < 0 { "-" } else { "" };
        let places = self.decimals as usize;
        if places == 0 {
            return write!(f, "{sign}{}", self.mantissa.unsigned_abs());
        }
        // Leading zeros so that there is a digit before the point: 26 with 2 decimals is 0.26.
        let digits = format!("{:0width$}", self.mantissa.unsigned_abs(), width = places + 1);
        let (int, frac) = digits.split_at(digits.len() - places);
        write!(f, "{sign}{int}.{frac}")
    }
}

/// A BCD number layout: how many bytes, how many of its digits are decimals, and whether the top
/// bit of the most significant byte is a sign.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Format {
    bytes: u8,
    decimals: u8,
    signed: bool,
}

impl Format {
    /// `XXXXXX.XX` kWh (or kvarh), 4 bytes, unsigned: forward and reverse active energy, which
    /// cannot be negative (a signed reading would turn 800000.00 kWh into a negative number).
    pub const ENERGY: Format = Format::of(4, 2, false);
    /// `XXXXXX.XX`, 4 bytes, signed: combined energies (组合有功/无功), which may be negative.
    pub const ENERGY_SIGNED: Format = Format::of(4, 2, true);
    /// `XXX.X` V, 2 bytes, unsigned: phase voltages (02 01 0x 00).
    pub const VOLTAGE: Format = Format::of(2, 1, false);
    /// `XXX.XXX` A, 3 bytes, signed: phase currents (02 02 0x 00).
    pub const CURRENT: Format = Format::of(3, 3, true);
    /// `XX.XXXX` kW, kvar or kVA, 3 bytes, signed: instantaneous powers (02 03..05 0x 00).
    pub const POWER: Format = Format::of(3, 4, true);
    /// `X.XXX`, 2 bytes, signed: power factors (02 06 0x 00).
    pub const POWER_FACTOR: Format = Format::of(2, 3, true);
    /// `XX.XX` Hz, 2 bytes, unsigned: grid frequency (02 80 00 02).
    pub const FREQUENCY: Format = Format::of(2, 2, false);

    const fn of(bytes: u8, decimals: u8, signed: bool) -> Format {
        Format { bytes, decimals, signed }
    }

    /// The layout of a pattern as the standard prints it (`XXX.XXX`), signed or not (the
    /// pattern does not say; the item's definition does). An odd digit count takes a whole
    /// byte for its leading digit (1997 voltages: `XXX` in 2 bytes).
    pub fn parse(pattern: &str, signed: bool) -> Result<Format, FormatError> {
        let bad = || FormatError::Pattern { pattern: pattern.to_owned() };
        let (int, frac) = match pattern.split_once('.') {
            Some((i, f)) => (i, f),
            None => (pattern, ""),
        };
        if int.is_empty() || frac.contains('.') || pattern.ends_with('.') {
            return Err(bad());
        }
        if !int.chars().chain(frac.chars()).all(|c| c == 'X') {
            return Err(bad());
        }
        let digits = int.len() + frac.len();
        if digits > 18 {
            return Err(FormatError::TooLong { pattern: pattern.to_owned(), digits });
        }
        if frac.len() > 9 {
            return Err(FormatError::TooManyDecimals { pattern: pattern.to_owned(), decimals: frac.len() });
        }
        // Both bounds checked above: at most 9 bytes and 9 decimals.
        Ok(Format::of(digits.div_ceil(2) as u8, frac.len() as u8, signed))
    }

    /// Data bytes of one item in this format.
    pub fn bytes(self) -> usize {
        usize::from(self.bytes)
    }

    /// Digits after the decimal point.
    pub fn decimals(self) -> u32 {
        u32::from(self.decimals)
    }

    /// Whether the top bit of the most significant byte is a sign.
    pub fn signed(self) -> bool {
        self.signed
    }

    /// The value of one item's data bytes (low byte first, 33H already removed).
    pub fn decode(self, data: &[u8]) -> Result<Decimal, ValueError> {
        if data.len() != self.bytes() {
            return Err(ValueError::Length { expected: self.bytes(), got: data.len() });
        }
        no_value(data)?;
        let mut mantissa: i64 = 0;
        let mut negative = false;
        for (position, &raw) in data.iter().enumerate().rev() {
            let mut byte = raw;
            if self.signed && position + 1 == data.len() {
                negative = byte & 0x80 != 0;
                byte &= 0x7F;
            }
            let (hi, lo) = (byte >> 4, byte & 0x0F);
            if hi > 9 || lo > 9 {
                return Err(ValueError::NotBcd { position, byte: raw });
            }
            // At most 18 digits (Format::parse and the constants): no overflow.
            mantissa = mantissa * 100 + i64::from(hi * 10 + lo);
        }
        Ok(Decimal { mantissa: if negative { -mantissa } else { mantissa }, decimals: self.decimals() })
    }
}

/// The pattern, `±` in front when signed: what [`Format::from_str`] reads back.
impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let digits = self.bytes() * 2;
        let int = digits - self.decimals as usize;
        if self.signed {
            f.write_str("±")?;
        }
        write!(f, "{}", "X".repeat(int))?;
        if self.decimals > 0 {
            write!(f, ".{}", "X".repeat(self.decimals as usize))?;
        }
        Ok(())
    }
}

/// A pattern as a config writes it: `XXX.XXX` unsigned, `±XXX.XXX` (or `-XXX.XXX`) signed. The
/// standard's pattern alone does not say whether an item is signed, so a config must: currents,
/// powers and power factors are; energies, voltages and frequency are not ([`super::items`]).
impl std::str::FromStr for Format {
    type Err = FormatError;
    fn from_str(s: &str) -> Result<Format, FormatError> {
        let s = s.trim();
        match s.strip_prefix('±').or_else(|| s.strip_prefix('-')) {
            Some(rest) => Format::parse(rest, true),
            None => Format::parse(s, false),
        }
    }
}

/// The values of a block read (DI with FF in one byte, e.g. 00 01 FF 00: total then tariffs 1..n):
/// equal items one after the other. Each item is decoded on its own, so one tariff the meter
/// has no value for (FFH) does not hide the others.
pub fn decode_block(format: Format, data: &[u8]) -> Result<Vec<Result<Decimal, ValueError>>, ValueError> {
    let n = format.bytes();
    if data.is_empty() || !data.len().is_multiple_of(n) {
        return Err(ValueError::BlockLength { item: n, got: data.len() });
    }
    Ok(data.chunks_exact(n).map(|item| format.decode(item)).collect())
}

fn no_value(data: &[u8]) -> Result<(), ValueError> {
    if !data.is_empty() && data.iter().all(|&b| b == 0xFF) {
        return Err(ValueError::NoValue { bytes: data.len() });
    }
    Ok(())
}

fn fixed<const N: usize>(data: &[u8]) -> Result<[u8; N], ValueError> {
    let bytes: [u8; N] = data.try_into().map_err(|_| ValueError::Length { expected: N, got: data.len() })?;
    no_value(&bytes)?;
    Ok(bytes)
}

/// One BCD byte as 0..=99.
fn bcd(position: usize, byte: u8) -> Result<u8, ValueError> {
    let (hi, lo) = (byte >> 4, byte & 0x0F);
    if hi > 9 || lo > 9 {
        return Err(ValueError::NotBcd { position, byte });
    }
    Ok(hi * 10 + lo)
}

/// A BCD field checked against its range.
fn field(data: &[u8], position: usize, name: &'static str, range: std::ops::RangeInclusive<u8>) -> Result<u8, ValueError> {
    let v = bcd(position, data[position])?;
    if !range.contains(&v) {
        return Err(ValueError::OutOfRange { field: name, value: v });
    }
    Ok(v)
}

fn date(year: u8, month: u8, day: u8) -> Result<NaiveDate, ValueError> {
    // Two-digit years are 2000..2099: the meter clock keeps no century.
    NaiveDate::from_ymd_opt(2000 + i32::from(year), u32::from(month), u32::from(day))
        .ok_or(ValueError::NoSuchDate { year, month, day })
}

fn time(hour: u8, minute: u8, second: u8) -> NaiveTime {
    // Each field was range-checked by `field`, so the time exists; midnight is never reached.
    NaiveTime::from_hms_opt(u32::from(hour), u32::from(minute), u32::from(second)).unwrap_or(NaiveTime::MIN)
}

/// `YYMMDDWW`, 4 bytes (04 00 01 01, the meter's date and weekday): the date and the weekday
/// the meter keeps, 0 meaning Sunday. The weekday is returned as sent, not checked against the
/// date: a meter whose weekday is wrong still has a right date.
pub fn decode_date_week(data: &[u8]) -> Result<(NaiveDate, Weekday), ValueError> {
    let d: [u8; 4] = fixed(data)?;
    let week = field(&d, 0, "weekday", 0..=6)?;
    let day = field(&d, 1, "day", 1..=31)?;
    let month = field(&d, 2, "month", 1..=12)?;
    let year = field(&d, 3, "year", 0..=99)?;
    let weekday = match week {
        0 => Weekday::Sun,
        1 => Weekday::Mon,
        2 => Weekday::Tue,
        3 => Weekday::Wed,
        4 => Weekday::Thu,
        5 => Weekday::Fri,
        _ => Weekday::Sat,
    };
    Ok((date(year, month, day)?, weekday))
}

/// `hhmmss`, 3 bytes (04 00 01 02, the meter's time of day).
pub fn decode_time(data: &[u8]) -> Result<NaiveTime, ValueError> {
    let d: [u8; 3] = fixed(data)?;
    let second = field(&d, 0, "second", 0..=59)?;
    let minute = field(&d, 1, "minute", 0..=59)?;
    let hour = field(&d, 2, "hour", 0..=23)?;
    Ok(time(hour, minute, second))
}

/// `YYMMDDhhmmss`, 6 bytes (event times, and the broadcast-time command's data).
pub fn decode_date_time(data: &[u8]) -> Result<NaiveDateTime, ValueError> {
    let d: [u8; 6] = fixed(data)?;
    let second = field(&d, 0, "second", 0..=59)?;
    let minute = field(&d, 1, "minute", 0..=59)?;
    let hour = field(&d, 2, "hour", 0..=23)?;
    let day = field(&d, 3, "day", 1..=31)?;
    let month = field(&d, 4, "month", 1..=12)?;
    let year = field(&d, 5, "year", 0..=99)?;
    Ok(date(year, month, day)?.and_time(time(hour, minute, second)))
}

/// `YYMMDDhhmm`, 5 bytes (freeze times such as a daily freeze's time stamp, switch-over times).
pub fn decode_date_time_minutes(data: &[u8]) -> Result<NaiveDateTime, ValueError> {
    let d: [u8; 5] = fixed(data)?;
    let minute = field(&d, 0, "minute", 0..=59)?;
    let hour = field(&d, 1, "hour", 0..=23)?;
    let day = field(&d, 2, "day", 1..=31)?;
    let month = field(&d, 3, "month", 1..=12)?;
    let year = field(&d, 4, "year", 0..=99)?;
    Ok(date(year, month, day)?.and_time(time(hour, minute, 0)))
}

/// `DDhh`, 2 bytes (04 00 0B 01..03, the monthly settlement days): day of month and hour.
pub fn decode_day_hour(data: &[u8]) -> Result<(u8, u8), ValueError> {
    let d: [u8; 2] = fixed(data)?;
    let hour = field(&d, 0, "hour", 0..=23)?;
    let day = field(&d, 1, "day", 1..=31)?;
    Ok((day, hour))
}

/// The 6 data bytes of `YYMMDDhhmmss`, low byte first (ss mm hh DD MM YY), for the broadcast
/// time command; `None` outside 2000..=2099, which two digits cannot carry.
pub fn encode_date_time(t: NaiveDateTime) -> Option<[u8; 6]> {
    use chrono::{Datelike, Timelike};
    let year = t.year().checked_sub(2000).filter(|y| (0..=99).contains(y))?;
    let to_bcd = |v: u32| -> u8 {
        // v < 100 for every field below.
        let v = v as u8;
        (v / 10) << 4 | (v % 10)
    };
    Some([
        to_bcd(t.second().min(59)),
        to_bcd(t.minute()),
        to_bcd(t.hour()),
        to_bcd(t.day()),
        to_bcd(t.month()),
        to_bcd(year as u32),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(mantissa: i64, decimals: u32) -> Decimal {
        Decimal { mantissa, decimals }
    }

    #[test]
    fn numbers_follow_the_published_format_tests() {
        // Source: LaoYutang/go-dlt645, format_test.go (TestBcdBytes2Float64): bytes low first.
        let xx_xx = Format::parse("XX.XX", false).unwrap();
        assert_eq!(xx_xx.decode(&[0x12, 0x94]), Ok(d(9412, 2)));
        let xx_xx_signed = Format::parse("XX.XX", true).unwrap();
        assert_eq!(xx_xx_signed.decode(&[0x12, 0x94]), Ok(d(-1412, 2)));
        assert_eq!(xx_xx_signed.decode(&[0x05, 0x96]), Ok(d(-1605, 2)));
        assert_eq!(Format::parse("XX.XXXX", false).unwrap().decode(&[0x12, 0x34, 0x56]), Ok(d(563412, 4)));
        assert_eq!(Format::ENERGY.decode(&[0x12, 0x34, 0x56, 0x78]), Ok(d(78563412, 2)));
        // The sign bit taken off leaves 21H: -2101.34.
        assert_eq!(Format::parse("XXXX.XX", true).unwrap().decode(&[0x34, 0x01, 0xA1]), Ok(d(-210134, 2)));
        assert_eq!(Format::parse("X.X", false).unwrap().decode(&[0x01]), Ok(d(1, 1)));
        assert_eq!(Format::parse("XX", false).unwrap().decode(&[0x1A]), Err(ValueError::NotBcd { position: 0, byte: 0x1A }));
        assert_eq!(Format::parse("XXXX", false).unwrap().decode(&[0xCD, 0xAB]), Err(ValueError::NotBcd { position: 1, byte: 0xAB }));

        // Source: shixin08052/dtl645, tests/Dlt645.Core.Tests/DataFormatTests.cs.
        assert_eq!(Format::ENERGY.decode(&[0x56, 0x34, 0x12, 0x00]), Ok(d(123456, 2)));
        assert_eq!(Format::ENERGY_SIGNED.decode(&[0x34, 0x12, 0x00, 0x80]), Ok(d(-1234, 2)));
        assert_eq!(Format::VOLTAGE.decode(&[0x01, 0x22]), Ok(d(2201, 1)));
        assert_eq!(Format::CURRENT.decode(&[0x23, 0x51, 0x00]), Ok(d(5123, 3)));
        assert_eq!(Format::CURRENT.decode(&[0x23, 0x51, 0x80]), Ok(d(-5123, 3)));
        assert_eq!(Format::POWER.decode(&[0x45, 0x23, 0x01]), Ok(d(12345, 4)));
        assert_eq!(Format::POWER_FACTOR.decode(&[0x85, 0x09]), Ok(d(985, 3)));
        assert_eq!(Format::POWER_FACTOR.decode(&[0x00, 0x85]), Ok(d(-500, 3)));
        assert_eq!(Format::ENERGY.decode(&[0xFF, 0xFF, 0xFF, 0xFF]), Err(ValueError::NoValue { bytes: 4 }));
        assert_eq!(Format::VOLTAGE.decode(&[0x1A, 0x22]), Err(ValueError::NotBcd { position: 0, byte: 0x1A }));
        assert_eq!(Format::ENERGY.decode(&[0x56, 0x34]), Err(ValueError::Length { expected: 4, got: 2 }));

        // Source: peace0phmind/dlt645, frame_test.go (TestFrame_GetValue).
        assert_eq!(Format::ENERGY.decode(&[0x78, 0x56, 0x34, 0x12]).map(|v| v.to_string()), Ok("123456.78".into()));
        assert_eq!(Format::VOLTAGE.decode(&[0x01, 0x23]).map(|v| v.to_string()), Ok("230.1".into()));
    }

    #[test]
    fn invalid_nibbles_are_errors_not_numbers() {
        // AAH is the wildcard byte of addresses and never a digit; one FF among valid bytes is
        // not "no value" but a broken item.
        assert_eq!(Format::FREQUENCY.decode(&[0xAA, 0x50]), Err(ValueError::NotBcd { position: 0, byte: 0xAA }));
        assert_eq!(Format::ENERGY.decode(&[0x00, 0xFF, 0x00, 0x00]), Err(ValueError::NotBcd { position: 1, byte: 0xFF }));
        // Signed: the sign bit of FFH leaves 7FH, still not BCD, but all-FF reads as no value.
        assert_eq!(Format::CURRENT.decode(&[0xFF, 0xFF, 0xFF]), Err(ValueError::NoValue { bytes: 3 }));
        assert_eq!(Format::CURRENT.decode(&[0x00, 0x00, 0xFF]), Err(ValueError::NotBcd { position: 2, byte: 0xFF }));
    }

    #[test]
    fn doubles_are_the_nearest_to_the_decimal() {
        // 35 x 0.01 is not 0.35; 35 / 100 is (readings::apply_scale's reasoning).
        assert_eq!(d(35, 2).to_f64().to_bits(), 0.35f64.to_bits());
        assert_eq!(d(-5123, 3).to_f64(), -5.123);
        for m in 0..100_000i64 {
            let text = d(m, 2).to_string();
            assert_eq!(d(m, 2).to_f64().to_bits(), text.parse::<f64>().unwrap().to_bits(), "{text}");
        }
        assert_eq!(d(-500, 3).to_string(), "-0.500");
        assert_eq!(d(26, 2).to_string(), "0.26");
        assert_eq!(d(100, 0).to_string(), "100");
        assert_eq!(d(-7, 4).to_string(), "-0.0007");
        assert_eq!(d(1, 12).to_string(), "0.000000000001");
        assert_eq!(d(1, 12).to_f64(), 1e-12);
    }

    #[test]
    fn patterns_are_parsed_and_checked() {
        assert_eq!(Format::parse("XXXXXX.XX", false), Ok(Format::ENERGY));
        assert_eq!(Format::parse("XXX.X", false), Ok(Format::VOLTAGE));
        assert_eq!(Format::parse("XXX.XXX", true), Ok(Format::CURRENT));
        assert_eq!(Format::parse("XX.XXXX", true), Ok(Format::POWER));
        assert_eq!(Format::parse("X.XXX", true), Ok(Format::POWER_FACTOR));
        assert_eq!(Format::parse("XX.XX", false), Ok(Format::FREQUENCY));
        // 1997 voltage B611H is XXX in two bytes.
        let xxx = Format::parse("XXX", false).unwrap();
        assert_eq!((xxx.bytes(), xxx.decimals()), (2, 0));
        for bad in ["", ".XX", "XX.", "XX.XX.X", "9X", "XX,XX"] {
            assert!(matches!(Format::parse(bad, false), Err(FormatError::Pattern { .. })), "{bad}");
        }
        assert!(matches!(Format::parse(&"X".repeat(19), false), Err(FormatError::TooLong { digits: 19, .. })));
        assert!(matches!(Format::parse("X.XXXXXXXXXX", false), Err(FormatError::TooManyDecimals { decimals: 10, .. })));
        assert_eq!(Format::CURRENT.to_string(), "±XXX.XXX");
        assert_eq!(Format::ENERGY.to_string(), "XXXXXX.XX");
        assert_eq!("±XXX.XXX".parse(), Ok(Format::CURRENT));
        assert_eq!("-XX.XXXX".parse(), Ok(Format::POWER));
        assert_eq!(" XXX.X ".parse(), Ok(Format::VOLTAGE));
        assert!(matches!("+XXX.X".parse::<Format>(), Err(FormatError::Pattern { .. })));
        for f in [Format::ENERGY, Format::ENERGY_SIGNED, Format::CURRENT, Format::POWER_FACTOR, Format::FREQUENCY] {
            assert_eq!(f.to_string().parse(), Ok(f));
        }
        // The widest pattern fits an i64.
        let widest = Format::parse(&"X".repeat(18), false).unwrap();
        assert_eq!(widest.decode(&[0x99; 9]).map(|v| v.mantissa), Ok(999_999_999_999_999_999));
    }

    #[test]
    fn blocks_decode_item_by_item() {
        // 00 01 FF 00 on a meter with four tariffs: total, then tariffs 1..4 (layout per
        // 600888/dlt645 python/src/model/data/define/energy_def.py: DI1 = tariff, 0 = total).
        // Tariff 3 has no value. Bytes built here.
        let data = [0x56, 0x34, 0x12, 0x00, 0x00, 0x10, 0x00, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x00, 0x56, 0x24, 0x12, 0x00];
        let values = decode_block(Format::ENERGY, &data).unwrap();
        assert_eq!(values.len(), 5);
        assert_eq!(values[0], Ok(d(123456, 2)));
        assert_eq!(values[1], Ok(d(1000, 2)));
        assert_eq!(values[2], Err(ValueError::NoValue { bytes: 4 }));
        assert_eq!(values[4], Ok(d(122456, 2)));
        assert_eq!(decode_block(Format::ENERGY, &data[..7]), Err(ValueError::BlockLength { item: 4, got: 7 }));
        assert!(decode_block(Format::ENERGY, &[]).is_err());
    }

    #[test]
    fn dates_and_times_follow_the_published_format_tests() {
        // Source: shixin08052/dtl645, tests/Dlt645.Core.Tests/DataFormatTests.cs: 2024-05-20 is
        // a Monday (WW = 01), 08:30:05, 2024-05-20 13:45, settlement day 01 at 00 h.
        let date = NaiveDate::from_ymd_opt(2024, 5, 20).unwrap();
        assert_eq!(decode_date_week(&[0x01, 0x20, 0x05, 0x24]), Ok((date, Weekday::Mon)));
        assert_eq!(decode_time(&[0x05, 0x30, 0x08]), Ok(NaiveTime::from_hms_opt(8, 30, 5).unwrap()));
        assert_eq!(decode_date_time_minutes(&[0x45, 0x13, 0x20, 0x05, 0x24]), Ok(date.and_hms_opt(13, 45, 0).unwrap()));
        assert_eq!(decode_day_hour(&[0x00, 0x01]), Ok((1, 0)));
        // 0 is Sunday: 600888/dlt645 cpp/config/data/parameter_types.json, 04000101
        // "日期及星期(其中0代表星期天)". 2024-05-19 was a Sunday.
        let (sunday, weekday) = decode_date_week(&[0x00, 0x19, 0x05, 0x24]).unwrap();
        assert_eq!((sunday.to_string().as_str(), weekday), ("2024-05-19", Weekday::Sun));
    }

    #[test]
    fn broken_dates_say_what_is_wrong() {
        assert_eq!(decode_time(&[0x60, 0x00, 0x00]), Err(ValueError::OutOfRange { field: "second", value: 60 }));
        assert_eq!(decode_time(&[0x00, 0x00, 0x24]), Err(ValueError::OutOfRange { field: "hour", value: 24 }));
        assert_eq!(decode_date_week(&[0x07, 0x01, 0x01, 0x24]), Err(ValueError::OutOfRange { field: "weekday", value: 7 }));
        assert_eq!(decode_date_week(&[0x01, 0x30, 0x02, 0x24]), Err(ValueError::NoSuchDate { year: 24, month: 2, day: 30 }));
        assert_eq!(decode_date_week(&[0x01, 0x01, 0x13, 0x24]), Err(ValueError::OutOfRange { field: "month", value: 13 }));
        assert_eq!(decode_time(&[0xFF, 0xFF, 0xFF]), Err(ValueError::NoValue { bytes: 3 }));
        assert_eq!(decode_time(&[0x00, 0x0A, 0x00]), Err(ValueError::NotBcd { position: 1, byte: 0x0A }));
        assert_eq!(decode_date_time(&[0; 5]), Err(ValueError::Length { expected: 6, got: 5 }));
        assert_eq!(ValueError::NoSuchDate { year: 24, month: 2, day: 30 }.to_string(), "2024-02-30 is not a date");
    }

    #[test]
    fn date_times_round_trip_low_byte_first() {
        let t = NaiveDate::from_ymd_opt(2017, 6, 5).unwrap().and_hms_opt(10, 22, 51).unwrap();
        let bytes = encode_date_time(t).unwrap();
        assert_eq!(bytes, [0x51, 0x22, 0x10, 0x05, 0x06, 0x17]);
        assert_eq!(decode_date_time(&bytes), Ok(t));
        let too_late = NaiveDate::from_ymd_opt(2100, 1, 1).unwrap().and_hms_opt(0, 0, 0).unwrap();
        assert_eq!(encode_date_time(too_late), None);
    }
}
