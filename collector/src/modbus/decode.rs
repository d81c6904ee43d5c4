//! Turning registers into numbers.

use super::register::{DataType, WordOrder};

/// Decodes `regs` (exactly `data_type.words()` registers, as received) into a number.
///
/// 64-bit integers beyond 2^53 lose precision in `f64`; energy registers never get there.
pub fn decode(regs: &[u16], data_type: DataType, order: WordOrder) -> f64 {
    debug_assert_eq!(regs.len(), usize::from(data_type.words()));
    let mut be = [0u8; 8];
    let n = regs.len();
    for (i, word) in regs.iter().enumerate() {
        // Position of this word in the big-endian value.
        let slot = if order.words_swapped() { n - 1 - i } else { i };
        let [hi, lo] = word.to_be_bytes();
        let (a, b) = if order.bytes_swapped() { (lo, hi) } else { (hi, lo) };
        be[slot * 2] = a;
        be[slot * 2 + 1] = b;
    }
    match data_type {
        DataType::U16 => f64::from(u16::from_be_bytes([be[0], be[1]])),
        DataType::I16 => f64::from(i16::from_be_bytes([be[0], be[1]])),
        DataType::U32 => f64::from(u32::from_be_bytes([be[0], be[1], be[2], be[3]])),
        DataType::I32 => f64::from(i32::from_be_bytes([be[0], be[1], be[2], be[3]])),
        DataType::F32 => f64::from(f32::from_be_bytes([be[0], be[1], be[2], be[3]])),
        DataType::U64 => u64::from_be_bytes(be) as f64,
        DataType::I64 => i64::from_be_bytes(be) as f64,
        DataType::F64 => f64::from_be_bytes(be),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use DataType::*;
    use WordOrder::*;

    // Every expected register layout below was written out by hand from the value's big-endian
    // bytes, following the table in `WordOrder`'s docs; none is produced by an encoder.
    #[test]
    fn sixteen_bit_types() {
        assert_eq!(decode(&[0x1234], U16, ABCD), 4660.0);
        assert_eq!(decode(&[0x1234], U16, CDAB), 4660.0);
        assert_eq!(decode(&[0x3412], U16, BADC), 4660.0);
        assert_eq!(decode(&[0x3412], U16, DCBA), 4660.0);
        // -2 = 0xFFFE
        assert_eq!(decode(&[0xFFFE], I16, ABCD), -2.0);
        assert_eq!(decode(&[0xFFFE], I16, CDAB), -2.0);
        assert_eq!(decode(&[0xFEFF], I16, BADC), -2.0);
        assert_eq!(decode(&[0xFEFF], I16, DCBA), -2.0);
    }

    #[test]
    fn thirty_two_bit_integers() {
        // 0x11223344 = 287454020
        assert_eq!(decode(&[0x1122, 0x3344], U32, ABCD), 287_454_020.0);
        assert_eq!(decode(&[0x3344, 0x1122], U32, CDAB), 287_454_020.0);
        assert_eq!(decode(&[0x2211, 0x4433], U32, BADC), 287_454_020.0);
        assert_eq!(decode(&[0x4433, 0x2211], U32, DCBA), 287_454_020.0);
        // -123456789 = 0xF8A432EB
        assert_eq!(decode(&[0xF8A4, 0x32EB], I32, ABCD), -123_456_789.0);
        assert_eq!(decode(&[0x32EB, 0xF8A4], I32, CDAB), -123_456_789.0);
        assert_eq!(decode(&[0xA4F8, 0xEB32], I32, BADC), -123_456_789.0);
        assert_eq!(decode(&[0xEB32, 0xA4F8], I32, DCBA), -123_456_789.0);
        // Largest unsigned value: no sign confusion.
        assert_eq!(decode(&[0xFFFF, 0xFFFF], U32, ABCD), 4_294_967_295.0);
    }

    #[test]
    fn thirty_two_bit_float() {
        // 123.456f32 = 0x42F6E979
        let v = f64::from(123.456f32);
        assert_eq!(decode(&[0x42F6, 0xE979], F32, ABCD), v);
        assert_eq!(decode(&[0xE979, 0x42F6], F32, CDAB), v);
        assert_eq!(decode(&[0xF642, 0x79E9], F32, BADC), v);
        assert_eq!(decode(&[0x79E9, 0xF642], F32, DCBA), v);
        // -1.5f32 = 0xBFC00000
        assert_eq!(decode(&[0xBFC0, 0x0000], F32, ABCD), -1.5);
        assert!(decode(&[0x7FC0, 0x0000], F32, ABCD).is_nan());
    }

    #[test]
    fn sixty_four_bit_integers() {
        // 0x0102030405060708 = 72623859790382856
        let v = 72_623_859_790_382_856u64 as f64;
        assert_eq!(decode(&[0x0102, 0x0304, 0x0506, 0x0708], U64, ABCD), v);
        assert_eq!(decode(&[0x0708, 0x0506, 0x0304, 0x0102], U64, CDAB), v);
        assert_eq!(decode(&[0x0201, 0x0403, 0x0605, 0x0807], U64, BADC), v);
        assert_eq!(decode(&[0x0807, 0x0605, 0x0403, 0x0201], U64, DCBA), v);
        // -2 = 0xFFFFFFFFFFFFFFFE
        assert_eq!(decode(&[0xFFFF, 0xFFFF, 0xFFFF, 0xFFFE], I64, ABCD), -2.0);
        assert_eq!(decode(&[0xFFFE, 0xFFFF, 0xFFFF, 0xFFFF], I64, CDAB), -2.0);
        assert_eq!(decode(&[0xFFFF, 0xFFFF, 0xFFFF, 0xFEFF], I64, BADC), -2.0);
        assert_eq!(decode(&[0xFEFF, 0xFFFF, 0xFFFF, 0xFFFF], I64, DCBA), -2.0);
        // An energy register in Wh: 12,345,678,901 Wh = 0x00000002DFDC1C35
        assert_eq!(decode(&[0x0000, 0x0002, 0xDFDC, 0x1C35], I64, ABCD), 12_345_678_901.0);
    }

    #[test]
    fn sixty_four_bit_float() {
        // 1234567.891 = 0x4132D687E4189375
        let v = 1_234_567.891f64;
        assert_eq!(decode(&[0x4132, 0xD687, 0xE418, 0x9375], F64, ABCD), v);
        assert_eq!(decode(&[0x9375, 0xE418, 0xD687, 0x4132], F64, CDAB), v);
        assert_eq!(decode(&[0x3241, 0x87D6, 0x18E4, 0x7593], F64, BADC), v);
        assert_eq!(decode(&[0x7593, 0x18E4, 0x87D6, 0x3241], F64, DCBA), v);
    }
}
