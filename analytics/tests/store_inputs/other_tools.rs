//! Store files other tools wrote, and files that cannot be read (issue 12, item 17): what is
//! valid is read, and every error names the file.
//!
//! The pyarrow test needs a python3 with pyarrow: the system's if it has one, else pyarrow
//! (pinned) installed by pip into the target directory once (some 40 MB from PyPI, a few
//! seconds); it fails, saying so, when neither works.



use std::path::{Path, PathBuf};
use std::process::Command;

use analytics::load::{counters_from_parquet, scan_store};
use crate::common::{electricity, store, t, ENTERPRISE};
use polars::prelude::*;
use readings::Unit;

/// The pyarrow pip installs when the system has none.
const PYARROW: &str = "pyarrow==26.0.1";

/// A `python3` command that can import pyarrow.
fn python_with_pyarrow() -> Command {
    let imports = |pythonpath: Option<&Path>| {
        let mut c = Command::new("python3");
        c.args(["-c", "import pyarrow"]);
        if let Some(p) = pythonpath {
            c.env("PYTHONPATH", p);
        }
        c.output().is_ok_and(|o| o.status.success())
    };
    if imports(None) {
        return Command::new("python3");
    }
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join(PYARROW.replace("==", "-"));
    if !imports(Some(&target)) {
        let out = Command::new("python3")
            .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--target"])
            .arg(&target)
            .arg(PYARROW)
            .output()
            .expect("running python3 -m pip");
        assert!(out.status.success(), "this test needs pyarrow: install python3-pip, or pyarrow itself; pip said:\n{}", String::from_utf8_lossy(&out.stderr));
    }
    let mut c = Command::new("python3");
    c.env("PYTHONPATH", &target);
    c
}

/// Writes a counter with pyarrow's defaults (`pa.table`, `pq.write_table(table, path)`): the
/// Arrow schema is stored in the file, its time zone `UTC`. `time_unit` "ns" and large strings
/// are what a pandas frame hands pyarrow; "us" is what pyarrow makes of Python datetimes when
/// no type is given, and what Spark writes. `values` "float" is a float32 column (a tool keeping
/// registers as they came), "int" an int64 one (a counter kept in whole units).
const PYARROW_SCRIPT: &str = r#"
import sys, datetime as dt
import pyarrow as pa, pyarrow.parquet as pq
path, meter, unit, strings, values = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[6]
string = pa.large_string() if strings == "large" else pa.string()
t0 = dt.datetime(2026, 1, 1, 1, 0, tzinfo=dt.timezone.utc)
times = [t0 + dt.timedelta(hours=h) for h in range(4)]
col = lambda v: pa.array([v] * 4, type=string)
value = {
    "double": pa.array([100.25 + h for h in range(4)]),
    "float": pa.array([100.25 + h for h in range(4)], type=pa.float32()),
    "int": pa.array([100 + h for h in range(4)], type=pa.int64()),
}[values]
time = pa.array(times) if unit == "default" else pa.array(times, type=pa.timestamp(unit, tz="UTC"))
table = pa.table({
    "time": time,
    "enterprise": col(sys.argv[5]), "site": col("plant"), "meter": col(meter),
    "medium": col("electricity"), "quantity": col("active_energy_import"), "kind": col("counter"),
    "unit": col("kWh"), "value": value, "quality": col("good"),
})
pq.write_table(table, path)
print(sorted(pq.read_metadata(path).metadata.keys()))
"#;

/// A store with a collector file and pyarrow files of the same day (times in ms, ns, and us as
/// Python datetimes come out untyped; values as doubles, float32 and int64), read together.
#[test]
fn a_file_pyarrow_wrote_with_default_options_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let points: Vec<_> = (0..4).map(|h| (t("2026-01-01T01:00") + chrono::Duration::hours(h), 100.25 + h as f64)).collect();
    let root = store(dir.path(), "readings", &electricity("plant", "gateway", Unit::KWh, &points));
    let files = [
        ("pyarrow-ms", "ms", "plain", "double"),
        ("pandas-ns", "ns", "large", "double"),
        ("python-us", "default", "plain", "double"),
        ("spark-us-float", "us", "plain", "float"),
        ("whole-kwh", "ms", "plain", "int"),
    ];
    for (meter, unit, strings, values) in files {
        let path = root.join(format!("date=2026-01-01/{meter}.parquet"));
        let out = python_with_pyarrow().args(["-c", PYARROW_SCRIPT]).arg(&path).args([meter, unit, strings, ENTERPRISE, values]).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert!(String::from_utf8_lossy(&out.stdout).contains("ARROW:schema"), "pyarrow stored its schema");
    }
    let counters = counters_from_parquet(&root, t("2026-01-01T00:00"), t("2026-01-02T00:00"), &[]).unwrap();
    let expected: Vec<(i64, f64)> = points.iter().map(|&(time, v)| (time.timestamp_millis(), v)).collect();
    let whole: Vec<(i64, f64)> = points.iter().map(|&(time, v)| (time.timestamp_millis(), v.floor())).collect();
    assert_eq!(counters.iter().map(|c| c.meter.as_str()).collect::<Vec<_>>(), ["gateway", "pandas-ns", "pyarrow-ms", "python-us", "spark-us-float", "whole-kwh"]);
    for c in &counters {
        let want = if c.meter == "whole-kwh" { &whole } else { &expected };
        assert_eq!(&c.points, want, "{}", c.series());
    }
    let summary = scan_store(&root).unwrap().group_by([col("meter")]).agg([len()]).collect().unwrap();
    assert_eq!(summary.height(), 6, "{summary}");
}

/// A file without a column a reading needs is named with the column; the store's other files
/// are not.
#[test]
fn a_file_without_a_needed_column_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let points = [(t("2026-01-01T01:00"), 1.0), (t("2026-01-01T02:00"), 2.0)];
    let root = store(dir.path(), "readings", &electricity("plant", "grid", Unit::KWh, &points));
    let bad = root.join("date=2026-01-01/no-quality.parquet");
    let mut df = frame(&[t("2026-01-01T03:00").timestamp_millis()], Series::new("value".into(), [3.0])).drop("quality").unwrap();
    write(&bad, &mut df);
    let e = counters_from_parquet(&root, t("2026-01-01T00:00"), t("2026-01-02T00:00"), &[]).unwrap_err().to_string();
    assert!(e.contains(&format!("{}: has no column quality", bad.display())), "{e}");
    assert_eq!(e.matches(".parquet").count(), 1, "only the bad file is named: {e}");
}

/// A medium or quality this build does not know (another tool's vocabulary, or none) is refused,
/// naming the file, the series and the text, not taken as some other value.
#[test]
fn an_unknown_medium_or_quality_names_the_file() {
    // A null quality (a tool that left the cell empty) reads as the empty text.
    for (column, text) in [("medium", Some("electric")), ("quality", Some("questionable")), ("quality", None)] {
        let dir = tempfile::tempdir().unwrap();
        let points = [(t("2026-01-01T01:00"), 1.0), (t("2026-01-01T02:00"), 2.0)];
        let root = store(dir.path(), "readings", &electricity("plant", "grid", Unit::KWh, &points));
        let bad = root.join(format!("date=2026-01-01/other-{column}-{}.parquet", text.unwrap_or("null")));
        let mut df = frame(&[t("2026-01-01T03:00").timestamp_millis()], Series::new("value".into(), [3.0]));
        df.with_column(Series::new(column.into(), [text]).into_column()).unwrap();
        write(&bad, &mut df);
        let e = counters_from_parquet(&root, t("2026-01-01T00:00"), t("2026-01-02T00:00"), &[]).unwrap_err().to_string();
        println!("{e}");
        let series = format!("series {ENTERPRISE}/plant/grid/active_energy_import: unknown {column} \"{}\"", text.unwrap_or(""));
        assert!(e.contains(&format!("{}: {series}", bad.display())), "{e}");
        assert_eq!(e.matches(".parquet").count(), 1, "only the bad file is named: {e}");
    }
}

/// Without Python: polars stores an Arrow schema too; its timestamp (asked in `UTC`) comes back
/// without a zone, another type than the collector's `+00:00`, which the scan used to refuse.
#[test]
fn a_file_with_a_stored_arrow_schema_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let day = dir.path().join("date=2026-01-01");
    std::fs::create_dir_all(&day).unwrap();
    let mut df = frame(&[t("2026-01-01T01:00").timestamp_millis(), t("2026-01-01T02:00").timestamp_millis()], Series::new("value".into(), [1.5, 2.5]));
    write(&day.join("utc.parquet"), &mut df);
    let counters = counters_from_parquet(dir.path(), t("2026-01-01T00:00"), t("2026-01-02T00:00"), &[]).unwrap();
    assert_eq!(counters.len(), 1);
    assert_eq!(counters[0].points, [(t("2026-01-01T01:00").timestamp_millis(), 1.5), (t("2026-01-01T02:00").timestamp_millis(), 2.5)]);
}

/// A file cut short (a copy interrupted, a full disk) is named, with why; the others are not.
#[test]
fn a_truncated_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let points: Vec<_> = (0..48).map(|h| (t("2026-01-01T00:00") + chrono::Duration::hours(h), 10.0 * h as f64)).collect();
    let root = store(dir.path(), "readings", &electricity("plant", "grid", Unit::KWh, &points));
    let files = parquet_files(&root);
    assert_eq!(files.len(), 2);
    let bytes = std::fs::read(&files[1]).unwrap();
    std::fs::write(&files[1], &bytes[..bytes.len() / 2]).unwrap();
    let e = counters_from_parquet(&root, t("2026-01-01T00:00"), t("2026-01-03T00:00"), &[]).unwrap_err().to_string();
    println!("{e}");
    assert!(e.contains(&format!("{}: not a readable Parquet file (cut short?)", files[1].display())), "{e}");
    assert!(!e.contains(&files[0].display().to_string()), "{e}");
    let e = scan_store(&root).err().expect("the summary refuses it too").to_string();
    assert!(e.contains(&files[1].display().to_string()), "{e}");
}

/// A store without a file says so, without polars' query plan.
#[test]
fn an_empty_store_says_so_without_a_query_plan() {
    let dir = tempfile::tempdir().unwrap();
    readings::store::StoreWriter::open(dir.path()).unwrap();
    let want = format!("{} holds no readings: no date=YYYY-MM-DD/*.parquet file under it", dir.path().display());
    let e = counters_from_parquet(dir.path(), t("2026-01-01T00:00"), t("2026-02-01T00:00"), &[]).unwrap_err().to_string();
    assert!(e.starts_with(&want) && !e.contains("plan"), "{e}");
    let e = scan_store(dir.path()).err().expect("an empty store").to_string();
    assert!(e.starts_with(&want) && !e.contains("plan"), "{e}");
}

/// A file whose footer is fine but whose values polars cannot take (text where a number
/// belongs) is named with polars' reason, found by reading the files of the slice one by one.
#[test]
fn a_file_polars_cannot_decode_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let points = [(t("2026-01-01T01:00"), 1.0), (t("2026-01-01T02:00"), 2.0)];
    let root = store(dir.path(), "readings", &electricity("plant", "grid", Unit::KWh, &points));
    let bad = root.join("date=2026-01-01/text-values.parquet");
    let mut df = frame(&[t("2026-01-01T03:00").timestamp_millis()], Series::new("value".into(), ["3.0"]));
    write(&bad, &mut df);
    let e = counters_from_parquet(&root, t("2026-01-01T00:00"), t("2026-01-02T00:00"), &[]).unwrap_err().to_string();
    println!("{e}");
    assert!(e.starts_with(&format!("reading counters from {}: ", bad.display())), "{e}");
    assert!(e.contains("value") && !e.contains("Resolved plan"), "{e}");
}

/// Rows of one counter with `time` in ms in the zone `UTC` and the given `value` column.
fn frame(times: &[i64], value: Series) -> DataFrame {
    let utc = TimeZone::opt_try_new(Some("UTC")).unwrap();
    let time = Series::new("time".into(), times).cast(&DataType::Datetime(TimeUnit::Milliseconds, utc)).unwrap();
    let text = |name: &str, v: &str| Series::new(name.into(), vec![v; times.len()]).into_column();
    DataFrame::new_infer_height(vec![
        time.into_column(),
        text("enterprise", ENTERPRISE),
        text("site", "plant"),
        text("meter", "grid"),
        text("medium", "electricity"),
        text("quantity", "active_energy_import"),
        text("kind", "counter"),
        text("unit", "kWh"),
        value.into_column(),
        text("quality", "good"),
    ])
    .unwrap()
}

fn write(path: &Path, df: &mut DataFrame) {
    ParquetWriter::new(std::fs::File::create(path).unwrap()).finish(df).unwrap();
}

fn parquet_files(root: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root)
        .unwrap()
        .flat_map(|d| std::fs::read_dir(d.unwrap().path()).into_iter().flatten())
        .map(|f| f.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .collect();
    files.sort();
    files
}
