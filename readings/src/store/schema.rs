//! The Parquet schema of a stored reading, and how its columns are encoded.

use std::sync::Arc;

use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties, WriterVersion};
use parquet::schema::parser::parse_message_type;
use parquet::schema::types::{ColumnPath, Type};

/// Column names in file order; the reader and the writer both index by this order.
pub const COLUMNS: [&str; 10] =
    ["time", "enterprise", "site", "meter", "medium", "quantity", "kind", "unit", "value", "quality"];

const MESSAGE: &str = "
message reading {
  REQUIRED INT64 time (TIMESTAMP(MILLIS,true));
  REQUIRED BYTE_ARRAY enterprise (STRING);
  REQUIRED BYTE_ARRAY site (STRING);
  REQUIRED BYTE_ARRAY meter (STRING);
  REQUIRED BYTE_ARRAY medium (STRING);
  REQUIRED BYTE_ARRAY quantity (STRING);
  REQUIRED BYTE_ARRAY kind (STRING);
  REQUIRED BYTE_ARRAY unit (STRING);
  OPTIONAL DOUBLE value;
  REQUIRED BYTE_ARRAY quality (STRING);
}";

/// The schema every store file is written with.
pub fn schema() -> Arc<Type> {
    // The message is a constant of this crate; a parse failure is a bug caught by every test.
    Arc::new(parse_message_type(MESSAGE).expect("the reading schema is valid"))
}

/// Writer settings: rows are sorted by series then time, so time deltas are small and constant
/// (delta encoding) and the string columns are long runs of one dictionary entry.
pub fn properties() -> Arc<WriterProperties> {
    Arc::new(
        WriterProperties::builder()
            .set_writer_version(WriterVersion::PARQUET_1_0)
            .set_compression(Compression::ZSTD(ZstdLevel::default()))
            .set_statistics_enabled(EnabledStatistics::Chunk)
            .set_column_dictionary_enabled(ColumnPath::from("time"), false)
            .set_column_encoding(ColumnPath::from("time"), Encoding::DELTA_BINARY_PACKED)
            .set_created_by(format!("readings {}", env!("CARGO_PKG_VERSION")))
            .build(),
    )
}
