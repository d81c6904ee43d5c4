//! The files of the Parquet store, checked before polars scans them: polars' own errors name no
//! file, so a file that cannot be read is found and named here.

use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use polars::prelude::*;

/// Columns a store file must have for its rows to be read at all; the value is in `value`, in
/// `value_mantissa` and `value_scale`, or in both (docs/store.md).
const REQUIRED: [&str; 9] = ["time", "enterprise", "site", "meter", "medium", "quantity", "kind", "unit", "quality"];

/// Why a store file cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {problem}", file.display())]
pub struct FileProblem {
    pub file: PathBuf,
    pub problem: String,
}

/// The store's files (`date=YYYY-MM-DD/*.parquet`) of the UTC days `[first, last]`, or of all
/// days, sorted. Directories not named as partitions (the writer's `.tmp`) are not read.
pub fn store_files(store: &Path, days: Option<(NaiveDate, NaiveDate)>) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let entries = std::fs::read_dir(store).map_err(|e| anyhow::anyhow!("listing {}: {e}", store.display()))?;
    for entry in entries {
        let dir = entry.map_err(|e| anyhow::anyhow!("listing {}: {e}", store.display()))?.path();
        let Some(day) = partition_day(&dir) else { continue };
        if days.is_some_and(|(first, last)| day < first || day > last) || !dir.is_dir() {
            continue;
        }
        for file in std::fs::read_dir(&dir).map_err(|e| anyhow::anyhow!("listing {}: {e}", dir.display()))? {
            let file = file.map_err(|e| anyhow::anyhow!("listing {}: {e}", dir.display()))?.path();
            if file.extension().is_some_and(|e| e == "parquet") {
                out.push(file);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The UTC day of the partition a store file is in.
pub fn partition_of(file: &Path) -> Option<NaiveDate> {
    partition_day(file.parent()?)
}

/// The UTC day of a `date=YYYY-MM-DD` partition directory.
fn partition_day(dir: &Path) -> Option<NaiveDate> {
    let name = dir.file_name()?.to_str()?;
    NaiveDate::parse_from_str(name.strip_prefix("date=")?, "%Y-%m-%d").ok()
}

/// The files that can be read, grouped by how their `time` column is typed (the collector's
/// files are one group; pyarrow's, pandas' and Spark's may each be another), and a problem for
/// each file that is cut short (its footer is at the end), not Parquet, or lacks a column.
pub fn check_footers(files: &[PathBuf]) -> (Vec<(DataType, Vec<PathBuf>)>, Vec<FileProblem>) {
    let mut groups: Vec<(DataType, Vec<PathBuf>)> = Vec::new();
    let mut problems = Vec::new();
    for file in files {
        match check_footer(file) {
            Ok(dtype) => match groups.iter_mut().find(|(d, _)| *d == dtype) {
                Some((_, g)) => g.push(file.clone()),
                None => groups.push((dtype, vec![file.clone()])),
            },
            Err(problem) => problems.push(FileProblem { file: file.clone(), problem }),
        }
    }
    (groups, problems)
}

/// The type polars reads a file's `time` column as, if the file has what a reading needs.
fn check_footer(file: &Path) -> Result<DataType, String> {
    let f = std::fs::File::open(file).map_err(|e| format!("cannot open: {e}"))?;
    let schema = ParquetReader::new(f).schema().map_err(|e| format!("not a readable Parquet file (cut short?): {}", brief(&e)))?;
    let has = |c: &str| schema.get(c).is_some();
    let missing: Vec<&str> = REQUIRED.iter().copied().filter(|c| !has(c)).collect();
    if !missing.is_empty() {
        return Err(format!("has no column {}; a store file needs {}", missing.join(", "), REQUIRED.join(", ")));
    }
    if !has("value") && !has("value_mantissa") {
        return Err("has neither value nor value_mantissa: no reading has a value".into());
    }
    let time = schema.get("time").map(DataType::from_arrow_field).unwrap_or(DataType::Null);
    match time {
        DataType::Datetime(..) => Ok(time),
        other => Err(format!("column time is {other}, not a timestamp")),
    }
}

/// The first of `files` that `read` fails on, with polars' reason: what to say when a scan of
/// many files failed.
pub fn first_failing(files: &[PathBuf], read: impl Fn(&Path) -> PolarsResult<()>) -> Option<FileProblem> {
    files.iter().find_map(|f| read(f).err().map(|e| FileProblem { file: f.clone(), problem: brief(&e) }))
}

/// A polars error without the query plan polars appends to some (meaningless to a user).
pub fn brief(e: &PolarsError) -> String {
    let text = e.to_string();
    let cut = text.find("Resolved plan until failure").unwrap_or(text.len());
    text[..cut].trim_end().to_owned()
}

/// The problems as one message, one file a line.
pub fn describe(problems: &[FileProblem]) -> String {
    problems.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("\n  ")
}
