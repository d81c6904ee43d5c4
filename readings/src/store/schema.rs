//! The Parquet schema of a stored reading, and how its columns are encoded.

use std::sync::Arc;

use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties, WriterVersion};
use parquet::schema::parser::parse_message_type;
use parquet::schema::types::{ColumnPath, Type};

use crate::units::POW10;

/// Column names in file order; the reader and the writer both index by this order. Files
/// written before `value_mantissa` and `value_scale` existed have only the first ten.
pub const COLUMNS: [&str; 12] = [
    "time", "enterprise", "site", "meter", "medium", "quantity", "kind", "unit", "value", "quality", "value_mantissa", "value_scale",
];

/// The most decimal digits a value is stored with as a mantissa; beyond, it stays a double.
pub const MAX_SCALE: u32 = POW10.len() as u32 - 1;

/// `mantissa / 10^scale`, the one way both the writer's check and every reader compute a
/// stored decimal, so the value read is bit for bit the value written.
pub fn decimal_value(mantissa: i64, scale: u32) -> f64 {
    mantissa as f64 / POW10[scale.min(MAX_SCALE) as usize]
}

/// The mantissa of `v` with `scale` decimal digits, if that gives `v` back exactly.
pub fn mantissa(v: f64, scale: u32) -> Option<i64> {
    // Past 2^53 an integer no longer converts to a double exactly.
    const EXACT: f64 = 9_007_199_254_740_992.0;
    let m = (v * POW10[scale.min(MAX_SCALE) as usize]).round();
    if !m.is_finite() || m.abs() >= EXACT {
        return None;
    }
    let m = m as i64;
    (decimal_value(m, scale).to_bits() == v.to_bits()).then_some(m)
}

/// The fewest decimal digits with which every value of a series is stored exactly, if any.
pub fn series_scale(values: impl Iterator<Item = f64> + Clone) -> Option<u32> {
    (0..=MAX_SCALE).find(|&k| values.clone().all(|v| mantissa(v, k).is_some()))
}

/// The columns every store file has had, in order.
macro_rules! first_columns {
    () => {
        "REQUIRED INT64 time (TIMESTAMP(MILLIS,true));
  REQUIRED BYTE_ARRAY enterprise (STRING);
  REQUIRED BYTE_ARRAY site (STRING);
  REQUIRED BYTE_ARRAY meter (STRING);
  REQUIRED BYTE_ARRAY medium (STRING);
  REQUIRED BYTE_ARRAY quantity (STRING);
  REQUIRED BYTE_ARRAY kind (STRING);
  REQUIRED BYTE_ARRAY unit (STRING);
  OPTIONAL DOUBLE value;
  REQUIRED BYTE_ARRAY quality (STRING);"
    };
}

const MESSAGE: &str = concat!("message reading {", first_columns!(), "OPTIONAL INT64 value_mantissa; OPTIONAL INT32 value_scale; }");

/// The layout before the decimal value columns (every value a double).
const MESSAGE_WITHOUT_DECIMALS: &str = concat!("message reading {", first_columns!(), "}");

/// The schema every store file is written with.
pub fn schema() -> Arc<Type> {
    // The message is a constant of this crate; a parse failure is a bug caught by every test.
    Arc::new(parse_message_type(MESSAGE).expect("the reading schema is valid"))
}

/// The schema of files written before the decimal value columns.
pub fn schema_without_decimals() -> Arc<Type> {
    Arc::new(parse_message_type(MESSAGE_WITHOUT_DECIMALS).expect("the old reading schema is valid"))
}

/// Writer settings: rows are grouped by series (in the order of their first value) and sorted
/// by time within each, so time deltas are small and constant
/// (delta encoding) and the string columns are long runs of one dictionary entry. A value with
/// a short exact decimal form (a register times 0.01, a meter's resolution) is stored as its
/// mantissa, whose deltas along a counter are small (delta encoding again); any other value
/// (a float register widened to a double) is stored as a double split into byte streams, where
/// the bytes that barely change along a series compress away.
pub fn properties() -> Arc<WriterProperties> {
    let column = |c: &str| ColumnPath::from(c);
    Arc::new(
        WriterProperties::builder()
            .set_writer_version(WriterVersion::PARQUET_1_0)
            .set_compression(Compression::ZSTD(ZstdLevel::default()))
            .set_statistics_enabled(EnabledStatistics::Chunk)
            .set_column_dictionary_enabled(column("time"), false)
            .set_column_encoding(column("time"), Encoding::DELTA_BINARY_PACKED)
            .set_column_dictionary_enabled(column("value_mantissa"), false)
            .set_column_encoding(column("value_mantissa"), Encoding::DELTA_BINARY_PACKED)
            .set_column_dictionary_enabled(column("value"), false)
            .set_column_encoding(column("value"), Encoding::BYTE_STREAM_SPLIT)
            .set_created_by(format!("readings {}", env!("CARGO_PKG_VERSION")))
            .build(),
    )
}
