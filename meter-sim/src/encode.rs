//! Numbers into registers: the inverse of the collector's decoder, written independently so the
//! end-to-end tests check one against the other.

use collector::modbus::register::{DataType, WordOrder};

/// Encodes `raw` (already rounded for integer types) as `data_type` in `order`.
pub fn encode(raw: f64, data_type: DataType, order: WordOrder) -> Vec<u16> {
    let be: Vec<u8> = match data_type {
        DataType::U16 => (raw as u16).to_be_bytes().to_vec(),
        DataType::I16 => (raw as i16).to_be_bytes().to_vec(),
        DataType::U32 => (raw as u32).to_be_bytes().to_vec(),
        DataType::I32 => (raw as i32).to_be_bytes().to_vec(),
        DataType::U64 => (raw as u64).to_be_bytes().to_vec(),
        DataType::I64 => (raw as i64).to_be_bytes().to_vec(),
        DataType::F32 => (raw as f32).to_be_bytes().to_vec(),
        DataType::F64 => raw.to_be_bytes().to_vec(),
    };
    let mut words: Vec<u16> = be
        .chunks(2)
        .map(|pair| {
            let (hi, lo) = (pair[0], pair[1]);
            if order.bytes_swapped() {
                u16::from_be_bytes([lo, hi])
            } else {
                u16::from_be_bytes([hi, lo])
            }
        })
        .collect();
    if order.words_swapped() {
        words.reverse();
    }
    words
}

/// What a register of `data_type` can hold of `value`: integers rounded, counters wrapped the way
/// a meter's register wraps, floats to their precision. Returns the raw register value.
pub fn quantise(value: f64, data_type: DataType) -> f64 {
    let wrap = |v: f64, modulus: f64| v.rem_euclid(modulus);
    match data_type {
        DataType::U16 => wrap(value.round(), 65_536.0),
        DataType::I16 => wrap(value.round(), 32_768.0),
        DataType::U32 => wrap(value.round(), 4_294_967_296.0),
        DataType::I32 => wrap(value.round(), 2_147_483_648.0),
        DataType::U64 | DataType::I64 => value.round().max(0.0),
        DataType::F32 => f64::from(value as f32),
        DataType::F64 => value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use collector::modbus::decode::decode;

    #[test]
    fn round_trips_through_the_collectors_decoder() {
        for data_type in DataType::ALL {
            for order in WordOrder::ALL {
                let raw = quantise(12_345.678, data_type);
                let regs = encode(raw, data_type, order);
                assert_eq!(regs.len(), usize::from(data_type.words()));
                assert_eq!(decode(&regs, data_type, order), raw, "{data_type} {order}");
            }
        }
    }

    #[test]
    fn counters_wrap_like_registers() {
        assert_eq!(quantise(65_537.0, DataType::U16), 1.0);
        assert_eq!(quantise(2_147_483_650.0, DataType::I32), 2.0);
    }
}
