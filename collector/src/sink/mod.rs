//! Where readings go once journalled: each sink reads the journal at its own cursor.

pub mod driver;
pub mod influxdb;
pub mod parquet;
