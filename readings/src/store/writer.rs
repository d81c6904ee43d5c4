//! Writes batches of readings into the partitioned store.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parquet::data_type::{ByteArray, ByteArrayType, DoubleType, Int32Type, Int64Type};
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::Type;

use super::schema::{mantissa, properties, schema, schema_without_decimals, series_scale, COLUMNS};
use super::{partition_name, StoreError};
use crate::model::Reading;

const TMP_DIR: &str = ".tmp";
const TMP_SUFFIX: &str = ".partial";

/// Writes readings as Parquet files under a store root. Cheap to share between tasks.
#[derive(Debug)]
pub struct StoreWriter {
    root: PathBuf,
    tmp: PathBuf,
    seq: AtomicU64,
}

impl StoreWriter {
    /// Opens (creating if needed) a store at `root` and removes temporary files a crash left.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let root = root.into();
        let tmp = root.join(TMP_DIR);
        fs::create_dir_all(&tmp).map_err(StoreError::io(&tmp))?;
        for entry in fs::read_dir(&tmp).map_err(StoreError::io(&tmp))? {
            let path = entry.map_err(StoreError::io(&tmp))?.path();
            if path.extension().is_some_and(|e| e == &TMP_SUFFIX[1..]) {
                fs::remove_file(&path).map_err(StoreError::io(&path))?;
            }
        }
        Ok(Self { root, tmp, seq: AtomicU64::new(0) })
    }

    /// The store's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Writes `readings` durably: one new file per UTC day they fall on, each synced and renamed
    /// into its partition before this returns. Returns the files written.
    pub fn write(&self, readings: &[Reading]) -> Result<Vec<PathBuf>, StoreError> {
        let mut by_day: BTreeMap<chrono::NaiveDate, Vec<&Reading>> = BTreeMap::new();
        for r in readings {
            by_day.entry(r.time.date_naive()).or_default().push(r);
        }
        let mut written = Vec::with_capacity(by_day.len());
        for (day, mut rows) in by_day {
            rows.sort_by(|a, b| {
                (&a.enterprise, &a.site, &a.meter, a.quantity, a.time)
                    .cmp(&(&b.enterprise, &b.site, &b.meter, b.quantity, b.time))
            });
            let rows = series_by_first_value(&rows);
            let dir = self.root.join(partition_name(day));
            let created = !dir.exists();
            fs::create_dir_all(&dir).map_err(StoreError::io(&dir))?;
            let name = format!(
                "part-{}-{}-{}.parquet",
                rows[0].time.timestamp_millis(),
                std::process::id(),
                self.seq.fetch_add(1, Ordering::Relaxed)
            );
            let tmp = self.tmp.join(format!("{name}{TMP_SUFFIX}"));
            let dest = dir.join(&name);
            let moved = write_file(&tmp, &rows, schema(), stored_values(&rows)).and_then(|()| fs::rename(&tmp, &dest).map_err(StoreError::io(&dest)));
            if let Err(e) = moved {
                // A half-written file (a full disk, most often) would hold its blocks until the
                // next start; the batch is written again whole.
                let _ = fs::remove_file(&tmp);
                return Err(e);
            }
            sync_dir(&dir)?;
            if created {
                sync_dir(&self.root)?;
            }
            written.push(dest);
        }
        Ok(written)
    }
}

fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(StoreError::io(dir))
}

/// Writes `rows` to `path` in the layout of store files before the decimal value columns (every
/// value a double), for tests that readers still read them.
#[doc(hidden)]
pub fn write_file_without_decimals(path: &Path, rows: &[Reading]) -> Result<(), StoreError> {
    let rows: Vec<&Reading> = rows.iter().collect();
    let stored = rows.iter().map(|r| r.value.map_or(Stored::Missing, Stored::Double)).collect();
    write_file(path, &rows, schema_without_decimals(), stored)
}

/// Writes one file; `stored` holds how each row's value is stored (see [`stored_values`]).
fn write_file(path: &Path, rows: &[&Reading], schema: Arc<Type>, stored: Vec<Stored>) -> Result<(), StoreError> {
    let file = File::create(path).map_err(StoreError::io(path))?;
    let perr = StoreError::parquet;
    let mut writer = SerializedFileWriter::new(file, schema, properties()).map_err(perr(path))?;
    let mut group = writer.next_row_group().map_err(perr(path))?;
    let mut index = 0;
    while let Some(mut column) = group.next_column().map_err(perr(path))? {
        match COLUMNS[index] {
            "time" => {
                let v: Vec<i64> = rows.iter().map(|r| r.time.timestamp_millis()).collect();
                column.typed::<Int64Type>().write_batch(&v, None, None)
            }
            "value" => {
                let (present, levels) = optional(stored.iter().map(|s| match s {
                    Stored::Double(v) => Some(*v),
                    _ => None,
                }));
                column.typed::<DoubleType>().write_batch(&present, Some(&levels), None)
            }
            "value_mantissa" => {
                let (present, levels) = optional(stored.iter().map(|s| match s {
                    Stored::Decimal(m, _) => Some(*m),
                    _ => None,
                }));
                column.typed::<Int64Type>().write_batch(&present, Some(&levels), None)
            }
            "value_scale" => {
                let (present, levels) = optional(stored.iter().map(|s| match s {
                    Stored::Decimal(_, k) => Some(*k as i32),
                    _ => None,
                }));
                column.typed::<Int32Type>().write_batch(&present, Some(&levels), None)
            }
            name => {
                let v: Vec<ByteArray> = rows.iter().map(|r| ByteArray::from(text_column(r, name).as_str())).collect();
                column.typed::<ByteArrayType>().write_batch(&v, None, None)
            }
        }
        .map_err(perr(path))?;
        column.close().map_err(perr(path))?;
        index += 1;
    }
    group.close().map_err(perr(path))?;
    let file = writer.into_inner().map_err(perr(path))?;
    file.sync_all().map_err(StoreError::io(path))
}

/// Series ranges of rows sorted by series: `(start, end)` of each run of one series.
fn series_runs(rows: &[&Reading]) -> Vec<(usize, usize)> {
    let mut runs = Vec::new();
    let mut start = 0;
    while start < rows.len() {
        let first = rows[start];
        let same = |r: &&&Reading| r.enterprise == first.enterprise && r.site == first.site && r.meter == first.meter && r.quantity == first.quantity;
        let end = start + rows[start..].iter().take_while(same).count();
        runs.push((start, end));
        start = end;
    }
    runs
}

/// Puts the series of rows sorted by series in the order of their first value (series without
/// a value first), each series still in time order. The delta encoding takes one minimum per
/// block of 128 values, and a block nearly always spans two series of a day: a big downward
/// step from one series to the next would widen every value of the block, an upward step in
/// value order widens only its own 32. On a day of 363 counters this halved the value column.
fn series_by_first_value<'a>(rows: &[&'a Reading]) -> Vec<&'a Reading> {
    let mut runs: Vec<(Option<f64>, usize, usize)> = series_runs(rows).into_iter().map(|(start, end)| (rows[start..end].iter().find_map(|r| r.value), start, end)).collect();
    runs.sort_by(|a, b| match (a.0, b.0) {
        (Some(x), Some(y)) => x.total_cmp(&y),
        (x, y) => x.is_some().cmp(&y.is_some()),
    });
    runs.into_iter().flat_map(|(_, start, end)| rows[start..end].iter().copied()).collect()
}

/// How one row's value is stored.
#[derive(Debug, Clone, Copy)]
enum Stored {
    Missing,
    Double(f64),
    /// Mantissa and scale: the value is `mantissa / 10^scale`.
    Decimal(i64, u32),
}

/// How each row's value is stored: as a decimal with the scale of its series where every value
/// of the series in this file has one (one scale per series and file keeps the mantissas of a
/// counter in step, so their deltas stay small), else as a double. Rows are grouped by series.
fn stored_values(rows: &[&Reading]) -> Vec<Stored> {
    let mut out = Vec::with_capacity(rows.len());
    for (start, end) in series_runs(rows) {
        let scale = series_scale(rows[start..end].iter().filter_map(|r| r.value));
        out.extend(rows[start..end].iter().map(|r| match (r.value, scale) {
            (None, _) => Stored::Missing,
            (Some(v), Some(k)) => mantissa(v, k).map_or(Stored::Double(v), |m| Stored::Decimal(m, k)),
            (Some(v), None) => Stored::Double(v),
        }));
    }
    out
}

/// The present values of an optional column and its definition levels (1 present, 0 null).
fn optional<T>(values: impl Iterator<Item = Option<T>>) -> (Vec<T>, Vec<i16>) {
    let mut present = Vec::new();
    let levels = values
        .map(|v| {
            let level = i16::from(v.is_some());
            present.extend(v);
            level
        })
        .collect();
    (present, levels)
}

fn text_column(r: &Reading, name: &str) -> String {
    match name {
        "enterprise" => r.enterprise.to_string(),
        "site" => r.site.to_string(),
        "meter" => r.meter.to_string(),
        "medium" => r.medium.to_string(),
        "quantity" => r.quantity.to_string(),
        "kind" => r.kind.to_string(),
        "unit" => r.unit.to_string(),
        "quality" => r.quality.to_string(),
        other => unreachable!("column {other} is not a text column"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Kind, Measure, Medium, Quality, Quantity};
    use crate::units::Unit;

    /// A good reading of 5 kWh on 2026-11-23.
    fn reading() -> Reading {
        Reading {
            time: "2026-11-23T01:00:00Z".parse().unwrap(),
            enterprise: "91350100M000100Y43".parse().unwrap(),
            site: "s".parse().unwrap(),
            meter: "m".parse().unwrap(),
            medium: Medium::Electricity,
            quantity: Quantity::total(Measure::ActiveEnergyImport),
            kind: Kind::Counter,
            unit: Unit::KWh,
            value: Some(5.0),
            quality: Quality::Good,
        }
    }

    /// A decimal whose scale no writer produces is refused by the reader with the file, the row
    /// and the column, not read as some other value.
    #[test]
    fn a_scale_out_of_range_is_a_located_error() {
        let dir = tempfile::tempdir().unwrap();
        let day = dir.path().join("date=2026-11-23");
        fs::create_dir_all(&day).unwrap();
        let r = reading();
        let path = day.join("bad.parquet");
        write_file(&path, &[&r], schema(), vec![Stored::Decimal(5, 12)]).unwrap();
        let err = super::super::read_range(dir.path(), r.time, r.time + chrono::Duration::seconds(1)).unwrap_err().to_string();
        assert!(err.contains("bad.parquet: row 0: column value_mantissa: expected a mantissa and a scale of 0..=9"), "{err}");
    }

    /// A write that fails after its temporary file was made (here the rename: the destination is
    /// taken by a directory) leaves no `.partial` behind to hold the disk's blocks, and the same
    /// batch is written whole once the way is clear.
    #[test]
    fn a_failed_write_leaves_no_partial_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = StoreWriter::open(dir.path()).unwrap();
        let r = reading();
        let blocker = dir.path().join("date=2026-11-23").join(format!("part-{}-{}-0.parquet", r.time.timestamp_millis(), std::process::id()));
        fs::create_dir_all(blocker.join("in-the-way")).unwrap();
        assert!(store.write(std::slice::from_ref(&r)).is_err());
        let left: Vec<_> = fs::read_dir(&store.tmp).unwrap().map(|e| e.unwrap().path()).collect();
        assert!(left.is_empty(), "left behind: {left:?}");
        fs::remove_dir_all(&blocker).unwrap();
        let written = store.write(std::slice::from_ref(&r)).unwrap();
        assert_eq!(super::super::read_range(dir.path(), r.time, r.time + chrono::Duration::seconds(1)).unwrap(), vec![r], "{written:?}");
    }
}
