//! The journal's record format.
//!
//! A record is `len: u32 LE | crc: u32 LE | seq: u64 LE | payload`, where `len` counts the seq and
//! the payload and `crc` is CRC-32 (IEEE) of the same bytes. Sequence numbers are consecutive, so
//! a gap after recovery says exactly how many records a corruption cost.
//!
//! The payload is one reading, its vocabulary written as text (so adding a medium or a unit never
//! changes what old records mean): `time_ms: i64 | enterprise | site | meter | medium | quantity |
//! kind | unit | quality` (each a u8 length and UTF-8 bytes) `| has_value: u8 | value: f64`.

use chrono::DateTime;
use readings::Reading;

/// Bytes before the payload.
pub const HEADER: usize = 4 + 4 + 8;
/// Largest record accepted; anything longer is corruption.
pub const MAX_RECORD: usize = 64 * 1024;

/// Why bytes are not a record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("truncated")]
    Truncated,
    #[error("length {0} is impossible")]
    BadLength(usize),
    #[error("checksum mismatch")]
    Checksum,
    #[error("payload: {0}")]
    Payload(String),
}

/// Appends the record of `reading` with sequence number `seq` to `out`.
pub fn encode(seq: u64, reading: &Reading, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&[0; 8]); // len and crc, filled in below
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(&reading.time.timestamp_millis().to_le_bytes());
    let text = |out: &mut Vec<u8>, s: &str| {
        // Ids are at most 64 bytes and vocabulary words shorter.
        out.push(s.len() as u8);
        out.extend_from_slice(s.as_bytes());
    };
    text(out, reading.enterprise.as_str());
    text(out, reading.site.as_str());
    text(out, reading.meter.as_str());
    text(out, reading.medium.as_str());
    text(out, &reading.quantity.to_string());
    text(out, reading.kind.as_str());
    text(out, reading.unit.symbol());
    text(out, reading.quality.as_str());
    match reading.value {
        Some(v) => {
            out.push(1);
            out.extend_from_slice(&v.to_le_bytes());
        }
        None => out.push(0),
    }
    let len = (out.len() - start - 8) as u32;
    let crc = crc32fast::hash(&out[start + 8..]);
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

/// Decodes the record at the start of `bytes`: its sequence number, reading and total length.
pub fn decode(bytes: &[u8]) -> Result<(u64, Reading, usize), DecodeError> {
    if bytes.len() < HEADER {
        return Err(DecodeError::Truncated);
    }
    let len = u32::from_le_bytes(bytes[0..4].try_into().unwrap_or_default()) as usize;
    if !(8..=MAX_RECORD).contains(&len) {
        return Err(DecodeError::BadLength(len));
    }
    if bytes.len() < 8 + len {
        return Err(DecodeError::Truncated);
    }
    let crc = u32::from_le_bytes(bytes[4..8].try_into().unwrap_or_default());
    let body = &bytes[8..8 + len];
    if crc32fast::hash(body) != crc {
        return Err(DecodeError::Checksum);
    }
    let seq = u64::from_le_bytes(body[0..8].try_into().unwrap_or_default());
    let reading = payload(&body[8..]).map_err(DecodeError::Payload)?;
    Ok((seq, reading, 8 + len))
}

fn payload(mut b: &[u8]) -> Result<Reading, String> {
    fn take<'a>(b: &mut &'a [u8], n: usize) -> Result<&'a [u8], String> {
        if b.len() < n {
            return Err("short payload".into());
        }
        let (head, rest) = b.split_at(n);
        *b = rest;
        Ok(head)
    }
    fn text<'a>(b: &mut &'a [u8]) -> Result<&'a str, String> {
        let n = take(b, 1)?[0] as usize;
        std::str::from_utf8(take(b, n)?).map_err(|e| e.to_string())
    }
    fn parsed<T: std::str::FromStr>(b: &mut &[u8], what: &str) -> Result<T, String>
    where
        T::Err: std::fmt::Display,
    {
        let s = text(b)?;
        s.parse().map_err(|e| format!("{what}: {e}"))
    }
    let ms = i64::from_le_bytes(take(&mut b, 8)?.try_into().map_err(|_| "time")?);
    let time = DateTime::from_timestamp_millis(ms).ok_or("time out of range")?;
    let enterprise = parsed(&mut b, "enterprise")?;
    let site = parsed(&mut b, "site")?;
    let meter = parsed(&mut b, "meter")?;
    let medium = parsed(&mut b, "medium")?;
    let quantity = parsed(&mut b, "quantity")?;
    let kind = parsed(&mut b, "kind")?;
    let unit = parsed(&mut b, "unit")?;
    let quality = parsed(&mut b, "quality")?;
    let value = match take(&mut b, 1)?[0] {
        0 => None,
        1 => Some(f64::from_le_bytes(take(&mut b, 8)?.try_into().map_err(|_| "value")?)),
        other => return Err(format!("value flag {other}")),
    };
    if !b.is_empty() {
        return Err(format!("{} trailing bytes", b.len()));
    }
    Ok(Reading { time, enterprise, site, meter, medium, quantity, kind, unit, value, quality })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use readings::{Kind, Measure, Medium, Quality, Quantity, Unit};

    pub(crate) fn reading(ms: i64, value: Option<f64>) -> Reading {
        Reading {
            time: DateTime::from_timestamp_millis(ms).unwrap(),
            enterprise: "91350100M000100Y43".parse().unwrap(),
            site: "plant-1".parse().unwrap(),
            meter: "incomer".parse().unwrap(),
            medium: Medium::Electricity,
            quantity: Quantity::total(Measure::ActiveEnergyImport),
            kind: Kind::Counter,
            unit: Unit::KWh,
            value,
            quality: if value.is_some() { Quality::Good } else { Quality::Timeout },
        }
    }

    #[test]
    fn round_trip_and_corruption() {
        let mut buf = Vec::new();
        encode(7, &reading(1_700_000_000_000, Some(12.5)), &mut buf);
        encode(8, &reading(1_700_000_001_000, None), &mut buf);
        let (seq, r, n) = decode(&buf).unwrap();
        assert_eq!((seq, r.value), (7, Some(12.5)));
        let (seq, r, m) = decode(&buf[n..]).unwrap();
        assert_eq!((seq, r.value, r.quality), (8, None, Quality::Timeout));
        assert_eq!(n + m, buf.len());

        assert_eq!(decode(&buf[..n - 1]).unwrap_err(), DecodeError::Truncated);
        let mut flipped = buf.clone();
        flipped[HEADER + 3] ^= 0x40;
        assert_eq!(decode(&flipped).unwrap_err(), DecodeError::Checksum);
        let zeros = [0u8; 32];
        assert_eq!(decode(&zeros).unwrap_err(), DecodeError::BadLength(0));
    }
}
