//! The embedded store: Parquet files in a hive-partitioned directory, one partition per UTC day
//! (`date=YYYY-MM-DD/`), readable by polars (`scan_parquet` with hive partitioning) with no
//! other setup.
//!
//! A file appears in its partition only once it is complete: it is written under `<root>/.tmp/`,
//! synced, and renamed into place, so a reader never sees half a file and a crash leaves at most
//! a stray temporary file, removed on the next open.

mod reader;
mod schema;
mod writer;

use std::path::PathBuf;

pub use reader::{partitions_in_range, read_range};
pub use writer::StoreWriter;

/// What went wrong reading or writing the store, with the file concerned.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: {source}")]
    Parquet { path: PathBuf, source: parquet::errors::ParquetError },
    #[error("{path}: row {row}: column {column}: {message}")]
    BadRow { path: PathBuf, row: usize, column: &'static str, message: String },
}

impl StoreError {
    fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> StoreError {
        let path = path.into();
        move |source| StoreError::Io { path, source }
    }
    fn parquet(path: impl Into<PathBuf>) -> impl FnOnce(parquet::errors::ParquetError) -> StoreError {
        let path = path.into();
        move |source| StoreError::Parquet { path, source }
    }
}

/// The partition directory name of a UTC date.
pub fn partition_name(date: chrono::NaiveDate) -> String {
    format!("date={}", date.format("%Y-%m-%d"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Kind, Measure, Medium, Quality, Quantity, Reading};
    use crate::units::Unit;
    use chrono::{DateTime, TimeZone, Utc};

    fn reading(ms: i64, meter: &str, value: Option<f64>) -> Reading {
        Reading {
            time: DateTime::from_timestamp_millis(ms).unwrap(),
            enterprise: "91350100M000100Y43".parse().unwrap(),
            site: "plant-1".parse().unwrap(),
            meter: meter.parse().unwrap(),
            medium: Medium::Electricity,
            quantity: Quantity::total(Measure::ActiveEnergyImport),
            kind: Kind::Counter,
            unit: Unit::KWh,
            value,
            quality: if value.is_some() { Quality::Good } else { Quality::Timeout },
        }
    }

    #[test]
    fn round_trip_across_two_days_with_nulls() {
        let dir = tempfile::tempdir().unwrap();
        let store = StoreWriter::open(dir.path().join("readings")).unwrap();
        let midnight = Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 0).unwrap().timestamp_millis();
        let input = vec![
            reading(midnight - 15_000, "m2", Some(1.5)),
            reading(midnight + 15_000, "m1", Some(12345.678)),
            reading(midnight - 30_000, "m1", None),
            reading(midnight, "m1", Some(f64::MAX)),
        ];
        let files = store.write(&input).unwrap();
        assert_eq!(files.len(), 2);
        assert!(files[0].to_string_lossy().contains("date=2026-11-22"));
        assert!(files[1].to_string_lossy().contains("date=2026-11-23"));

        let from = DateTime::from_timestamp_millis(midnight - 60_000).unwrap();
        let to = DateTime::from_timestamp_millis(midnight + 60_000).unwrap();
        let mut back = read_range(store.root(), from, to).unwrap();
        back.sort_by_key(|r| r.time);
        let mut expected = input.clone();
        expected.sort_by_key(|r| r.time);
        assert_eq!(back, expected);

        // The range is half-open and prunes by time inside a partition.
        let only = read_range(store.root(), DateTime::from_timestamp_millis(midnight).unwrap(), to).unwrap();
        assert_eq!(only.len(), 2);
    }

    #[test]
    fn stale_temporary_files_are_removed_on_open() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(".tmp")).unwrap();
        std::fs::write(dir.path().join(".tmp/part-1.parquet.partial"), b"torn").unwrap();
        StoreWriter::open(dir.path()).unwrap();
        assert_eq!(std::fs::read_dir(dir.path().join(".tmp")).unwrap().count(), 0);
    }
}
