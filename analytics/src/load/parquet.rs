//! The Parquet store, scanned lazily: the files of `date=` partitions outside the range are
//! never opened, and the filters on time, kind, quantity and enterprise are pushed into the scan.
//! Files other tools wrote are read too (docs/store.md, "Files from other tools"); a file that
//! cannot be read is named.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use polars::prelude::*;
use readings::{Medium, Quality};

use super::files::{brief, check_footers, describe, first_failing, partition_of, store_files};
use super::{convert, series_name, to_canonical, usable, CounterReadings, CONSUMPTION_QUANTITIES};

/// Days of readings turned into counter series per scan. Only one such slice is in memory as a
/// polars frame (its id columns are text, some 170 bytes a row); the series keep 16 bytes a
/// reading. A year of 100 M readings is 2 M rows a slice.
const SLICE_DAYS: i64 = 7;

/// A counter: enterprise, site, meter, quantity. Without the site, two sites' meters of one name
/// would be one series, with resets wherever their values cross.
type CounterKey = (String, String, String, String);

/// Files of the store with how their `time` column is typed (see [`check_footers`]).
type FileGroups = Vec<(DataType, Vec<PathBuf>)>;

/// Scans every file of the store lazily: `time` in ms since the epoch (UTC), and `value` the
/// reading's value however the file stored it ([`value_expr`]). An empty store, and files that
/// cannot be read, are errors naming them.
pub fn scan_store(store: &Path) -> anyhow::Result<LazyFrame> {
    let groups = checked_files(store, None)?;
    anyhow::ensure!(!groups.is_empty(), "{}", no_files(store));
    scan_groups(&groups, None, None).map_err(|e| anyhow::anyhow!("scanning {}: {}", store.display(), brief(&e)))
}

/// The store's files of the UTC days `[first, last]` (all when `None`), checked and grouped;
/// every file that cannot be read is named at once.
fn checked_files(store: &Path, days: Option<(NaiveDate, NaiveDate)>) -> anyhow::Result<FileGroups> {
    anyhow::ensure!(store.is_dir(), "{} is not a directory; pass the store's root (<data_dir>/readings)", store.display());
    let (groups, problems) = check_footers(&store_files(store, days)?);
    anyhow::ensure!(problems.is_empty(), "the store has files that cannot be read:\n  {}", describe(&problems));
    Ok(groups)
}

/// What to say of a store without a single file.
fn no_files(store: &Path) -> String {
    format!("{} holds no readings: no date=YYYY-MM-DD/*.parquet file under it; pass the store's root (<data_dir>/readings)", store.display())
}

/// A lazy frame over the files: each group scanned with its own `time` type and `filter`
/// applied in the scan, then `time` as ms since the epoch and `value` decoded, the groups
/// concatenated; `file_column` names a column with each row's file. No time zone is converted
/// (this polars build has no time-zone database): each type's instants are read as they are,
/// and a timestamp without a zone is taken as UTC, as the store keeps time.
fn scan_groups(groups: &[(DataType, Vec<PathBuf>)], filter: Option<Expr>, file_column: Option<&str>) -> PolarsResult<LazyFrame> {
    let mut frames = Vec::with_capacity(groups.len());
    for (time, files) in groups {
        let paths: Vec<PlRefPath> = files.iter().map(|f| PlRefPath::new(f.display().to_string().as_str())).collect();
        let mut scan = scan_sources(ScanSources::Paths(paths.into()), time.clone(), file_column)?;
        if let Some(f) = &filter {
            scan = scan.filter(f.clone());
        }
        frames.push(scan.with_columns([time_ms().alias("time"), value_expr().alias("value")]));
    }
    match frames.len() {
        0 => polars_bail!(NoData: "no files to scan"),
        1 => Ok(frames.remove(0)),
        _ => concat(frames, UnionArgs::default()),
    }
}

/// A scan of `sources` whose `time` is of type `time`, with the store's other columns, as
/// lenient as the values allow (see [`cast_policy`]).
fn scan_sources(sources: ScanSources, time: DataType, file_column: Option<&str>) -> PolarsResult<LazyFrame> {
    let options = ParquetOptions { schema: Some(Arc::new(file_schema(time))), ..Default::default() };
    let args = UnifiedScanArgs {
        // The files are listed, and the partitions pruned, by the caller.
        hive_options: HiveOptions { enabled: Some(false), hive_start_idx: 0, schema: None, try_parse_dates: false },
        glob: false,
        cast_columns_policy: cast_policy(),
        // Files written before the decimal value columns lack them (the footer check makes sure
        // no other column is missing); columns another tool added (pandas' index) are not read.
        missing_columns_policy: MissingColumnsPolicy::Insert,
        extra_columns_policy: ExtraColumnsPolicy::Ignore,
        include_file_paths: file_column.map(PlSmallStr::from),
        ..Default::default()
    };
    Ok(DslBuilder::scan_parquet(sources, options, args)?.build().into())
}

/// What a file another tool wrote may differ in without changing a value: a float32 or integer
/// value widens exactly to a double, integer decimals widen, a dictionary string column is
/// still text. Nothing that would lose part of a value (a double narrowed) is allowed. Time
/// types are not cast here (see [`scan_groups`]).
fn cast_policy() -> CastColumnsPolicy {
    CastColumnsPolicy { integer_upcast: true, integer_to_float_cast: true, float_upcast: true, categorical_to_string: true, ..CastColumnsPolicy::ERROR_ON_MISMATCH }
}

/// The columns of a store file (readings::store::COLUMNS) as polars reads them, `time` of type
/// `time` (the collector's files: ms, "adjusted to UTC", which polars names +00:00).
fn file_schema(time: DataType) -> Schema {
    let mut schema = Schema::default();
    for c in readings::store::COLUMNS {
        let dtype = match c {
            "time" => time.clone(),
            "value" => DataType::Float64,
            "value_mantissa" => DataType::Int64,
            "value_scale" => DataType::Int32,
            _ => DataType::String,
        };
        schema.insert(c.into(), dtype);
    }
    schema
}

/// A stored instant as ms since the epoch, whatever the unit of its column.
fn time_ms() -> Expr {
    col("time").dt().timestamp(TimeUnit::Milliseconds)
}

/// A failed scan of the whole store (the summary's) as an error naming the first file that
/// fails alone, with polars' reason.
pub fn scan_error(store: &Path, e: &PolarsError) -> anyhow::Error {
    match checked_files(store, None) {
        Ok(groups) => match groups.iter().find_map(|(time, files)| first_failing(files, |f| read_one(time, f))) {
            Some(p) => anyhow::anyhow!("reading {p}"),
            None => anyhow::anyhow!("reading {}: {}", store.display(), brief(e)),
        },
        Err(listing) => listing,
    }
}

/// Reads one file whole, as a scan would: how a failed scan finds the file behind it.
fn read_one(time: &DataType, file: &Path) -> PolarsResult<()> {
    scan_groups(&[(time.clone(), vec![file.to_owned()])], None, None)?.collect().map(|_| ())
}

/// A stored reading's value: its mantissa over a power of ten where the store kept it as a
/// decimal, else the double. The division is the one `readings::store` checked on writing
/// (powers of ten are exact doubles), so the value is bit for bit the one written.
pub fn value_expr() -> Expr {
    let pow10 = readings::POW10.iter().enumerate().rev().fold(lit(NULL).cast(DataType::Float64), |rest, (k, p)| {
        when(col("value_scale").eq(lit(k as i32))).then(lit(*p)).otherwise(rest)
    });
    let decimal = col("value_mantissa").cast(DataType::Float64) / pow10;
    when(col("value_mantissa").is_not_null()).then(decimal).otherwise(col("value"))
}

/// The counter readings of `[from, to)` (UTC), optionally of some enterprises only, loaded a
/// slice of days at a time; one [`CounterReadings`] per counter (enterprise, site, meter,
/// quantity), sorted so, points by time, values in the quantity's canonical unit. Errors name
/// the file: one cut short or lacking a column, one polars fails on, one whose unit is not of
/// the quantity's dimension.
pub fn counters_from_parquet(store: &Path, from: DateTime<Utc>, to: DateTime<Utc>, enterprises: &[String]) -> anyhow::Result<Vec<CounterReadings>> {
    let days = (from.date_naive(), to.date_naive());
    let groups = checked_files(store, Some(days))?;
    if groups.is_empty() {
        anyhow::ensure!(!store_files(store, None)?.is_empty(), "{}", no_files(store));
        tracing::warn!(store = %store.display(), from = %days.0, to = %days.1, "the store has no files for these days");
        return Ok(Vec::new());
    }
    let mut counters: BTreeMap<CounterKey, CounterReadings> = BTreeMap::new();
    let slice = chrono::Duration::days(SLICE_DAYS);
    let mut start = from;
    while start < to {
        let end = (start + slice).min(to);
        let slice_groups = of_days(&groups, start, end);
        let df = match slice_groups.is_empty() {
            true => None,
            false => Some(counters_of(&slice_groups, start, end, enterprises).and_then(|q| q.collect()).map_err(|e| read_error(store, &slice_groups, start, end, &e))?),
        };
        // Slices left, this one included: a new counter's vector is sized for all of them at
        // once, as growth by doubling could hold twice the readings at the peak.
        let slices_left = ((to - start).num_seconds() as f64 / slice.num_seconds() as f64).ceil() as usize;
        let refused = match &df {
            Some(df) => add_groups(df, &mut counters, slices_left)?,
            None => Vec::new(),
        };
        if !refused.is_empty() {
            let lines: Vec<String> = refused.iter().map(|r| refused_line(&slice_groups, start, end, r)).collect();
            anyhow::bail!("readings that cannot be used (convert or remove them):\n  {}", lines.join("\n  "));
        }
        start = end;
    }
    let mut out: Vec<CounterReadings> = counters.into_values().collect();
    for c in &mut out {
        // Stable: of two readings at one instant the first stored stays first.
        c.points.sort_by_key(|p| p.0);
        c.unusable.sort_by_key(|p| p.0);
    }
    Ok(out)
}

/// The files of the UTC days `[from, to]` touches: partitions are UTC days.
fn of_days(groups: &[(DataType, Vec<PathBuf>)], from: DateTime<Utc>, to: DateTime<Utc>) -> FileGroups {
    let (first, last) = (from.date_naive(), to.date_naive());
    groups
        .iter()
        .map(|(t, files)| (t.clone(), files.iter().filter(|f| partition_of(f).is_some_and(|d| d >= first && d <= last)).cloned().collect::<Vec<_>>()))
        .filter(|(_, files)| !files.is_empty())
        .collect()
}

/// A failed scan's error, naming the first file that fails alone.
fn read_error(store: &Path, groups: &[(DataType, Vec<PathBuf>)], from: DateTime<Utc>, to: DateTime<Utc>, e: &PolarsError) -> anyhow::Error {
    let failing = groups.iter().find_map(|(time, files)| first_failing(files, |f| read_one(time, f)));
    match failing {
        Some(p) => anyhow::anyhow!("reading counters from {p}"),
        None => anyhow::anyhow!("reading counters of {}..{} from {}: {}", from.date_naive(), to.date_naive(), store.display(), brief(e)),
    }
}

/// Rows of a series that cannot be used: its key, the column and stored text at fault (a unit
/// of another dimension, a medium or quality this build does not know), and why.
struct Refused {
    key: CounterKey,
    column: &'static str,
    text: String,
    why: String,
}

/// One line naming the files of the slice that hold a refused series with its text at fault.
fn refused_line(groups: &[(DataType, Vec<PathBuf>)], from: DateTime<Utc>, to: DateTime<Utc>, r: &Refused) -> String {
    let (e, s, m, q) = &r.key;
    let of_series = in_range(from, to)
        .and(col("enterprise").eq(lit(e.as_str())))
        .and(col("site").eq(lit(s.as_str())))
        .and(col("meter").eq(lit(m.as_str())))
        .and(col("quantity").eq(lit(q.as_str())))
        // An empty text is what a null cell reads as.
        .and(if r.text.is_empty() { col(r.column).is_null().or(col(r.column).eq(lit(""))) } else { col(r.column).eq(lit(r.text.as_str())) });
    let files = scan_groups(groups, Some(of_series), Some("file"))
        .and_then(|scan| scan.select([col("file")]).unique_stable(None, UniqueKeepStrategy::First).collect())
        .and_then(|df| crate::frame::strings(&df, "file"))
        .unwrap_or_else(|e| vec![format!("(files not found: {})", brief(&e))]);
    format!("{}: series {}: {}", files.join(", "), series_name(e, s, m, q), r.why)
}

/// Rows of `[from, to)`.
fn in_range(from: DateTime<Utc>, to: DateTime<Utc>) -> Expr {
    time_ms().gt_eq(lit(from.timestamp_millis())).and(time_ms().lt(lit(to.timestamp_millis())))
}

/// The lazy query behind one slice of [`counters_from_parquet`]: one row per counter and stored
/// unit, with the times and values of its usable readings, and the times and qualities of the
/// rest, as lists.
pub fn counters_query(store: &Path, from: DateTime<Utc>, to: DateTime<Utc>, enterprises: &[String]) -> anyhow::Result<LazyFrame> {
    let groups = checked_files(store, Some((from.date_naive(), to.date_naive())))?;
    anyhow::ensure!(!groups.is_empty(), "{} has no files for {}..{}", store.display(), from.date_naive(), to.date_naive());
    counters_of(&groups, from, to, enterprises).map_err(|e| anyhow::anyhow!("scanning {}: {}", store.display(), brief(&e)))
}

/// [`counters_query`] over files already listed and checked.
fn counters_of(groups: &[(DataType, Vec<PathBuf>)], from: DateTime<Utc>, to: DateTime<Utc>, enterprises: &[String]) -> PolarsResult<LazyFrame> {
    let mut filter = in_range(from, to).and(col("kind").eq(lit("counter")));
    let quantities = CONSUMPTION_QUANTITIES.iter().map(|q| col("quantity").eq(lit(*q))).reduce(|a, b| a.or(b)).expect("quantities");
    filter = filter.and(quantities);
    if let Some(any) = enterprises.iter().map(|e| col("enterprise").eq(lit(e.as_str()))).reduce(|a, b| a.or(b)) {
        filter = filter.and(any);
    }
    let usable_quality = Quality::ALL.iter().filter(|q| usable(**q)).map(|q| col("quality").eq(lit(q.as_str()))).reduce(|a, b| a.or(b)).expect("usable qualities");
    // A null quality compares as null, which both filters below would drop: it is unusable, so
    // it reaches the refusal with its file named instead of vanishing.
    let usable_row = usable_quality.fill_null(lit(false)).and(col("value").is_not_null());
    let df = scan_groups(groups, Some(filter), None)?
        .select([col("enterprise"), col("site"), col("meter"), col("medium"), col("quantity"), col("unit"), col("quality"), col("time"), col("value")])
        .group_by([col("enterprise"), col("site"), col("meter"), col("medium"), col("quantity"), col("unit")])
        .agg([
            col("time").filter(usable_row.clone()).alias("time"),
            col("value").filter(usable_row.clone()).alias("value"),
            col("time").filter(usable_row.clone().not()).alias("unusable_time"),
            col("quality").filter(usable_row.not()).alias("unusable_quality"),
        ]);
    Ok(df)
}

/// Appends each counter row of a slice (see [`counters_query`]) to its counter, its values
/// converted into the quantity's canonical unit; returns the rows whose unit cannot be.
fn add_groups(df: &DataFrame, counters: &mut BTreeMap<CounterKey, CounterReadings>, slices_left: usize) -> anyhow::Result<Vec<Refused>> {
    let s = |name: &str| -> anyhow::Result<&StringChunked> { Ok(df.column(name)?.str()?) };
    let (ent, site, meter, medium, quantity, unit) = (s("enterprise")?, s("site")?, s("meter")?, s("medium")?, s("quantity")?, s("unit")?);
    let (time, value) = (df.column("time")?.list()?, df.column("value")?.list()?);
    let (bad_time, bad_quality) = (df.column("unusable_time")?.list()?, df.column("unusable_quality")?.list()?);
    let mut refused = Vec::new();
    for i in 0..df.height() {
        let (t, v) = (time.get_as_series(i), value.get_as_series(i));
        let text = |c: &StringChunked| c.get(i).unwrap_or("").to_owned();
        let key = (text(ent), text(site), text(meter), text(quantity));
        let stored_unit = text(unit);
        let (canonical, factor) = match to_canonical(&key.3, &stored_unit) {
            Ok(u) => u,
            Err(why) => {
                refused.push(Refused { key, column: "unit", text: stored_unit, why });
                continue;
            }
        };
        let stored_medium = text(medium);
        let medium: Medium = match stored_medium.parse() {
            Ok(m) => m,
            Err(err) => {
                refused.push(Refused { key, column: "medium", text: stored_medium, why: err.to_string() });
                continue;
            }
        };
        let qualities = match (bad_time.get_as_series(i), bad_quality.get_as_series(i)) {
            (Some(t), Some(q)) => {
                let mut parsed = Vec::with_capacity(t.len());
                for (t, q) in t.i64()?.into_no_null_iter().zip(q.str()?.iter()) {
                    let q = q.unwrap_or("");
                    match q.parse::<Quality>() {
                        Ok(quality) => parsed.push((t, quality)),
                        Err(err) => {
                            refused.push(Refused { key: key.clone(), column: "quality", text: q.to_owned(), why: err.to_string() });
                            break;
                        }
                    }
                }
                parsed
            }
            _ => Vec::new(),
        };
        let counter = match counters.entry(key) {
            std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::btree_map::Entry::Vacant(e) => {
                let (enterprise, site, meter, quantity) = e.key().clone();
                let points = Vec::with_capacity(t.as_ref().map_or(0, |t| t.len()) * slices_left);
                e.insert(CounterReadings { enterprise, site, meter, medium, quantity, unit: canonical.symbol().to_owned(), points, unusable: Vec::new() })
            }
        };
        if let (Some(t), Some(v)) = (t, v) {
            counter.points.extend(t.i64()?.into_no_null_iter().zip(v.f64()?.into_no_null_iter().map(|v| convert(v, factor))));
        }
        counter.unusable.extend(qualities);
    }
    Ok(refused)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The optimised plan filters inside the scan: partitions outside the dates are pruned and
    /// the rest filtered as they are read, not after loading the store.
    #[test]
    fn filters_are_pushed_into_the_scan() {
        let dir = tempfile::tempdir().unwrap();
        for day in ["2026-01-01", "2026-02-01", "2026-03-01"] {
            std::fs::create_dir_all(dir.path().join(format!("date={day}"))).unwrap();
        }
        let r = |t: &str| -> readings::Reading {
            readings::Reading {
                time: t.parse().unwrap(),
                enterprise: "E1".parse().unwrap(),
                site: "s".parse().unwrap(),
                meter: "m".parse().unwrap(),
                medium: Medium::Water,
                quantity: "volume".parse().unwrap(),
                kind: readings::Kind::Counter,
                unit: readings::Unit::M3,
                value: Some(1.0),
                quality: Quality::Good,
            }
        };
        let rows = [r("2026-01-01T01:00:00Z"), r("2026-02-01T01:00:00Z"), r("2026-03-01T01:00:00Z")];
        readings::store::StoreWriter::open(dir.path()).unwrap().write(&rows).unwrap();
        let (from, to) = ("2026-02-01T00:00:00Z".parse().unwrap(), "2026-02-02T00:00:00Z".parse().unwrap());
        let plan = counters_query(dir.path(), from, to, &["E1".into()]).unwrap().explain(true).unwrap();
        println!("{plan}");
        let scan = plan.lines().skip_while(|l| !l.contains("Parquet SCAN")).collect::<Vec<_>>().join("\n");
        assert!(scan.contains("SELECTION"), "the filter runs in the scan:\n{plan}");
        assert!(scan.contains("date=2026-02-01") && !scan.contains("date=2026-01-01") && !scan.contains("date=2026-03-01"), "other days pruned:\n{plan}");
        let got = counters_from_parquet(dir.path(), from, to, &["E1".into()]).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].points.len(), 1);
    }

    /// A store with a file from before the decimal value columns (it sorts first) and newer
    /// files, over more days than one slice: every value comes back bit for bit, in time order,
    /// unusable rows apart with their quality.
    #[test]
    fn old_and_new_files_load_together_across_slices() {
        let dir = tempfile::tempdir().unwrap();
        let r = |t: &str, value: Option<f64>, quality: Quality| readings::Reading {
            time: t.parse().unwrap(),
            enterprise: "91350100M000100Y43".parse().unwrap(),
            site: "s".parse().unwrap(),
            meter: "m".parse().unwrap(),
            medium: Medium::Electricity,
            quantity: "active_energy_import".parse().unwrap(),
            kind: readings::Kind::Counter,
            unit: readings::Unit::KWh,
            value,
            quality,
        };
        let old_day = dir.path().join("date=2026-01-01");
        std::fs::create_dir_all(&old_day).unwrap();
        let old = [r("2026-01-01T01:00:00Z", Some(100.25), Quality::Good), r("2026-01-01T02:00:00Z", None, Quality::Timeout)];
        readings::store::write_file_without_decimals(&old_day.join("part-0.parquet"), &old).unwrap();
        let widened = f64::from(230.1f32);
        let new = [
            r("2026-01-09T00:00:00Z", Some(0.1 + 0.2), Quality::Estimated),
            r("2026-01-02T00:00:00Z", Some(101.5), Quality::Good),
            r("2026-01-02T01:00:00Z", Some(widened), Quality::Good),
            r("2026-01-02T02:00:00Z", Some(1e9), Quality::OutOfRange),
        ];
        readings::store::StoreWriter::open(dir.path()).unwrap().write(&new).unwrap();
        let ms = |t: &str| t.parse::<DateTime<Utc>>().unwrap().timestamp_millis();
        let got = counters_from_parquet(dir.path(), "2026-01-01T00:00:00Z".parse().unwrap(), "2026-01-10T00:00:00Z".parse().unwrap(), &[]).unwrap();
        assert_eq!(got.len(), 1);
        let bits: Vec<(i64, u64)> = got[0].points.iter().map(|&(t, v)| (t, v.to_bits())).collect();
        let expected = [("2026-01-01T01:00:00Z", 100.25), ("2026-01-02T00:00:00Z", 101.5), ("2026-01-02T01:00:00Z", widened), ("2026-01-09T00:00:00Z", 0.1 + 0.2)];
        assert_eq!(bits, expected.iter().map(|&(t, v)| (ms(t), v.to_bits())).collect::<Vec<_>>());
        assert_eq!(got[0].unusable, vec![(ms("2026-01-01T02:00:00Z"), Quality::Timeout), (ms("2026-01-02T02:00:00Z"), Quality::OutOfRange)]);
    }
}
