//! Reads readings back for a time range. The analytics job scans the store with polars; this
//! reader serves the collector's summaries and tests, which must not link polars.

use std::fs::{self, File};
use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate, Utc};
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::Field;

use super::schema::{decimal_value, COLUMNS, MAX_SCALE};
use super::{partition_name, StoreError};
use crate::model::Reading;

/// Partition directories that exist under `root` for the UTC days `from..to` touches.
pub fn partitions_in_range(root: &Path, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut day: NaiveDate = from.date_naive();
    let last = to.date_naive();
    while day <= last {
        let dir = root.join(partition_name(day));
        if dir.is_dir() {
            out.push(dir);
        }
        match day.succ_opt() {
            Some(next) => day = next,
            None => break,
        }
    }
    out
}

/// Every reading with `from <= time < to`, in file order (grouped by series, each in time order).
pub fn read_range(root: &Path, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Vec<Reading>, StoreError> {
    let mut out = Vec::new();
    for dir in partitions_in_range(root, from, to) {
        let mut files: Vec<PathBuf> = fs::read_dir(&dir)
            .map_err(StoreError::io(&dir))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
            .collect();
        files.sort();
        for file in files {
            read_file(&file, from, to, &mut out)?;
        }
    }
    Ok(out)
}

fn read_file(path: &Path, from: DateTime<Utc>, to: DateTime<Utc>, out: &mut Vec<Reading>) -> Result<(), StoreError> {
    let file = File::open(path).map_err(StoreError::io(path))?;
    let reader = SerializedFileReader::new(file).map_err(StoreError::parquet(path))?;
    let rows = reader.get_row_iter(None).map_err(StoreError::parquet(path))?;
    for (n, row) in rows.enumerate() {
        let row = row.map_err(StoreError::parquet(path))?;
        let cells: Vec<&Field> = row.get_column_iter().map(|(_, f)| f).collect();
        // Files from before the decimal columns have the first ten.
        if cells.len() != COLUMNS.len() && cells.len() != 10 {
            return Err(bad(path, n, "*", format!("{} columns, expected {}", cells.len(), COLUMNS.len())));
        }
        let time = match cells[0] {
            Field::TimestampMillis(ms) => DateTime::from_timestamp_millis(*ms)
                .ok_or_else(|| bad(path, n, "time", format!("{ms} ms is out of range")))?,
            other => return Err(bad(path, n, "time", format!("expected a millisecond timestamp, found {other:?}"))),
        };
        if time < from || time >= to {
            continue;
        }
        let decimal = match (cells.get(10), cells.get(11)) {
            (Some(Field::Long(m)), Some(Field::Int(s))) if (0..=MAX_SCALE as i32).contains(s) => Some(decimal_value(*m, *s as u32)),
            (None | Some(Field::Null), None | Some(Field::Null)) => None,
            (m, s) => return Err(bad(path, n, "value_mantissa", format!("expected a mantissa and a scale of 0..={MAX_SCALE}, found {m:?} and {s:?}"))),
        };
        let value = match (cells[8], decimal) {
            (Field::Null, decimal) => decimal,
            (Field::Double(v), None) => Some(*v),
            (other, _) => return Err(bad(path, n, "value", format!("expected a double or a decimal, found {other:?} and {decimal:?}"))),
        };
        // Text columns by their index in COLUMNS, parsed into their types.
        macro_rules! parsed {
            ($i:literal) => {
                match cells[$i] {
                    Field::Str(s) => s.parse().map_err(|e| bad(path, n, COLUMNS[$i], format!("{e}")))?,
                    other => return Err(bad(path, n, COLUMNS[$i], format!("expected a string, found {other:?}"))),
                }
            };
        }
        out.push(Reading {
            time,
            enterprise: parsed!(1),
            site: parsed!(2),
            meter: parsed!(3),
            medium: parsed!(4),
            quantity: parsed!(5),
            kind: parsed!(6),
            unit: parsed!(7),
            value,
            quality: parsed!(9),
        });
    }
    Ok(())
}

fn bad(path: &Path, row: usize, column: &'static str, message: String) -> StoreError {
    StoreError::BadRow { path: path.to_owned(), row, column, message }
}
