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
pub use schema::COLUMNS;
pub use writer::{write_file_without_decimals, StoreWriter};

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
    fn values_with_a_short_decimal_form_are_stored_as_mantissas_and_read_back_bit_for_bit() {
        use schema::{mantissa, series_scale};
        assert_eq!(series_scale([1.5, 2.25, 1000.0].into_iter()), Some(2));
        assert_eq!(mantissa(12345.67, 2), Some(1234567));
        assert_eq!(series_scale([0.1 + 0.2].into_iter()), None, "0.30000000000000004 has no short form");
        assert_eq!(series_scale([f64::from(230.1f32)].into_iter()), None, "a widened float stays a double");
        assert_eq!(series_scale([-0.0].into_iter()), None, "-0.0 keeps its sign as a double");
        assert_eq!(series_scale([f64::NAN].into_iter()), None);
        assert_eq!(series_scale([1e17].into_iter()), None, "past 2^53");

        let dir = tempfile::tempdir().unwrap();
        let store = StoreWriter::open(dir.path()).unwrap();
        let t0 = Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 0).unwrap().timestamp_millis();
        let values = [Some(1000.01), None, Some(1000.1), Some(1002.0), Some(0.1 + 0.2)];
        let mut input: Vec<Reading> = values.iter().enumerate().map(|(i, &v)| reading(t0 + i as i64 * 900_000, "m1", v)).collect();
        input.push(reading(t0, "m2", Some(f64::from(230.1f32))));
        input.push(reading(t0, "m3", Some(7.0)));
        let files = store.write(&input).unwrap();
        let back = read_range(store.root(), DateTime::from_timestamp_millis(t0).unwrap(), DateTime::from_timestamp_millis(t0 + 86_400_000).unwrap()).unwrap();
        let bits = |rs: &[Reading]| {
            let mut v: Vec<_> = rs.iter().map(|r| (r.meter.to_string(), r.time, r.value.map(f64::to_bits), r.quality)).collect();
            v.sort();
            v
        };
        assert_eq!(bits(&back), bits(&input));

        // m1 has a value without a short form, so its whole series stays doubles; m3 is decimal.
        let reader = parquet::file::reader::SerializedFileReader::new(std::fs::File::open(&files[0]).unwrap()).unwrap();
        let rows: Vec<String> = parquet::file::reader::FileReader::get_row_iter(&reader, None).unwrap().map(|r| r.unwrap().to_string()).collect();
        assert!(rows.iter().any(|r| r.contains("meter: \"m3\"") && r.contains("value: null") && r.contains("value_mantissa: 7") && r.contains("value_scale: 0")), "{rows:#?}");
        assert!(rows.iter().any(|r| r.contains("meter: \"m1\"") && r.contains("value: 1000.01") && r.contains("value_mantissa: null")), "{rows:#?}");
        // Series in the order of their first value: m3 (7), m2 (230.1), m1 (1000.01).
        let order: Vec<&str> = rows.iter().filter_map(|r| ["m1", "m2", "m3"].into_iter().find(|m| r.contains(&format!("meter: \"{m}\"")))).collect();
        assert_eq!(order, ["m3", "m2", "m1", "m1", "m1", "m1", "m1"]);
    }

    /// Files written before the decimal columns existed (ten columns) are still read.
    #[test]
    fn files_without_the_decimal_columns_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let day = dir.path().join("date=2026-11-23");
        std::fs::create_dir_all(&day).unwrap();
        let r = reading(Utc.with_ymd_and_hms(2026, 11, 23, 1, 0, 0).unwrap().timestamp_millis(), "m1", Some(12.5));
        write_file_without_decimals(&day.join("old.parquet"), std::slice::from_ref(&r)).unwrap();
        let reader = parquet::file::reader::SerializedFileReader::new(std::fs::File::open(day.join("old.parquet")).unwrap()).unwrap();
        assert_eq!(parquet::file::reader::FileReader::metadata(&reader).file_metadata().schema_descr().num_columns(), 10);
        let back = read_range(dir.path(), r.time, r.time + chrono::Duration::seconds(1)).unwrap();
        assert_eq!(back, vec![r]);
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
