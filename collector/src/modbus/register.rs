//! How a value is laid out in Modbus registers: which table, which type, which word and byte order.

use std::fmt;

use serde::Deserialize;

/// The register table a point is read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegisterFunction {
    /// Function code 03, read holding registers.
    Holding,
    /// Function code 04, read input registers.
    Input,
}

impl RegisterFunction {
    /// The Modbus function code that reads this table.
    pub fn code(self) -> u8 {
        match self {
            RegisterFunction::Holding => 3,
            RegisterFunction::Input => 4,
        }
    }
}

impl fmt::Display for RegisterFunction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RegisterFunction::Holding => "holding",
            RegisterFunction::Input => "input",
        })
    }
}

/// The numeric type a point is encoded as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DataType {
    U16,
    I16,
    U32,
    I32,
    U64,
    I64,
    F32,
    F64,
}

impl DataType {
    /// Every data type.
    pub const ALL: [DataType; 8] =
        [DataType::U16, DataType::I16, DataType::U32, DataType::I32, DataType::U64, DataType::I64, DataType::F32, DataType::F64];

    /// How many 16-bit registers the type spans.
    pub fn words(self) -> u16 {
        match self {
            DataType::U16 | DataType::I16 => 1,
            DataType::U32 | DataType::I32 | DataType::F32 => 2,
            DataType::U64 | DataType::I64 | DataType::F64 => 4,
        }
    }

    /// True for the integer types (the only ones a scale register may have).
    pub fn is_integer(self) -> bool {
        !matches!(self, DataType::F32 | DataType::F64)
    }

    /// The register value at which an unsigned counter of this type wraps to zero, if it does.
    pub fn wrap_value(self) -> Option<f64> {
        match self {
            DataType::U16 => Some(65_536.0),
            DataType::U32 => Some(4_294_967_296.0),
            DataType::U64 => Some(18_446_744_073_709_551_616.0),
            _ => None,
        }
    }
}

impl fmt::Display for DataType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = format!("{self:?}").to_lowercase();
        f.write_str(&s)
    }
}

/// Word and byte order of a multi-register value, named by where the bytes of the big-endian
/// value `A B C D` (A most significant) end up in the registers as sent on the wire.
///
/// For the 32-bit value 0x11223344:
/// - `ABCD`: registers 0x1122, 0x3344 (big-endian; Modbus' own order)
/// - `CDAB`: registers 0x3344, 0x1122 (low word first; "word swap")
/// - `BADC`: registers 0x2211, 0x4433 (bytes swapped in each word)
/// - `DCBA`: registers 0x4433, 0x2211 (fully little-endian)
///
/// 64-bit values extend the same rule to four words; 16-bit values only see the byte swap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize)]
pub enum WordOrder {
    #[default]
    ABCD,
    CDAB,
    BADC,
    DCBA,
}

impl WordOrder {
    /// Every order.
    pub const ALL: [WordOrder; 4] = [WordOrder::ABCD, WordOrder::CDAB, WordOrder::BADC, WordOrder::DCBA];

    /// Whether the words come least significant first.
    pub fn words_swapped(self) -> bool {
        matches!(self, WordOrder::CDAB | WordOrder::DCBA)
    }

    /// Whether the two bytes inside each word are swapped.
    pub fn bytes_swapped(self) -> bool {
        matches!(self, WordOrder::BADC | WordOrder::DCBA)
    }
}

impl fmt::Display for WordOrder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self:?}")
    }
}
