//! The Parquet store, scanned lazily: the `date=` partitions outside the range are never opened,
//! and the filters on time, kind, quantity and enterprise are pushed into the scan.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use polars::prelude::*;
use readings::{Medium, Quality};

use super::{usable, CounterReadings, CONSUMPTION_QUANTITIES};

/// Days of readings turned into counter series per scan. Only one such slice is in memory as a
/// polars frame (its id columns are text, some 170 bytes a row); the series keep 16 bytes a
/// reading. A year of 100 M readings is 2 M rows a slice.
const SLICE_DAYS: i64 = 7;

/// Scans every partition of the store lazily; `date` comes from the hive path, and `value` is
/// the reading's value however the file stored it ([`value_expr`]).
pub fn scan_store(store: &Path) -> anyhow::Result<LazyFrame> {
    anyhow::ensure!(store.is_dir(), "{} is not a directory; pass the store's root (<data_dir>/readings)", store.display());
    // Only complete files: the writer's temporary files live under .tmp/ with another extension.
    let pattern = format!("{}/date=*/*.parquet", store.display());
    let args = ScanArgsParquet {
        hive_options: HiveOptions { enabled: Some(true), hive_start_idx: 0, schema: None, try_parse_dates: true },
        // Files written before the decimal value columns lack them; the schema is given so the
        // first file found does not decide which columns exist.
        schema: Some(Arc::new(file_schema()?)),
        allow_missing_columns: true,
        ..Default::default()
    };
    let scan = LazyFrame::scan_parquet(PlRefPath::new(pattern.as_str()), args).map_err(|e| anyhow::anyhow!("scanning {pattern}: {e}"))?;
    Ok(scan.with_column(value_expr().alias("value")))
}

/// The columns of a store file (readings::store::COLUMNS) as polars reads them.
fn file_schema() -> anyhow::Result<Schema> {
    // polars names the zone of a Parquet timestamp "adjusted to UTC" +00:00.
    let utc = TimeZone::opt_try_new(Some("+00:00")).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut schema = Schema::default();
    for c in readings::store::COLUMNS {
        let dtype = match c {
            "time" => DataType::Datetime(TimeUnit::Milliseconds, utc.clone()),
            "value" => DataType::Float64,
            "value_mantissa" => DataType::Int64,
            "value_scale" => DataType::Int32,
            _ => DataType::String,
        };
        schema.insert(c.into(), dtype);
    }
    Ok(schema)
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
/// slice of days at a time; one [`CounterReadings`] per counter, sorted by enterprise, meter
/// and quantity, points by time.
pub fn counters_from_parquet(store: &Path, from: DateTime<Utc>, to: DateTime<Utc>, enterprises: &[String]) -> anyhow::Result<Vec<CounterReadings>> {
    let mut counters: BTreeMap<(String, String, String), CounterReadings> = BTreeMap::new();
    let slice = chrono::Duration::days(SLICE_DAYS);
    let mut start = from;
    while start < to {
        let end = (start + slice).min(to);
        let df = counters_query(store, start, end, enterprises)?.collect().map_err(|e| anyhow::anyhow!("reading counters from {}: {e}", store.display()))?;
        // Slices left, this one included: a new counter's vector is sized for all of them at
        // once, as growth by doubling could hold twice the readings at the peak.
        let slices_left = ((to - start).num_seconds() as f64 / slice.num_seconds() as f64).ceil() as usize;
        add_groups(&df, &mut counters, slices_left)?;
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

/// The lazy query behind one slice of [`counters_from_parquet`]: one row per counter, with the
/// times and values of its usable readings, and the times and qualities of the rest, as lists.
pub fn counters_query(store: &Path, from: DateTime<Utc>, to: DateTime<Utc>, enterprises: &[String]) -> anyhow::Result<LazyFrame> {
    let (from_ms, to_ms) = (from.timestamp_millis(), to.timestamp_millis());
    // Partitions are UTC days: prune by date first, then by the exact instant.
    let mut filter = col("date")
        .gt_eq(lit(from.date_naive()))
        .and(col("date").lt_eq(lit(to.date_naive())))
        .and(col("time").cast(DataType::Int64).gt_eq(lit(from_ms)))
        .and(col("time").cast(DataType::Int64).lt(lit(to_ms)))
        .and(col("kind").eq(lit("counter")));
    let quantities = CONSUMPTION_QUANTITIES.iter().map(|q| col("quantity").eq(lit(*q))).reduce(|a, b| a.or(b)).expect("quantities");
    filter = filter.and(quantities);
    if let Some(any) = enterprises.iter().map(|e| col("enterprise").eq(lit(e.as_str()))).reduce(|a, b| a.or(b)) {
        filter = filter.and(any);
    }
    let usable_quality = Quality::ALL.iter().filter(|q| usable(**q)).map(|q| col("quality").eq(lit(q.as_str()))).reduce(|a, b| a.or(b)).expect("usable qualities");
    let usable_row = usable_quality.and(col("value").is_not_null());
    let df = scan_store(store)?
        .filter(filter)
        .select([
            col("enterprise"),
            col("site"),
            col("meter"),
            col("medium"),
            col("quantity"),
            col("unit"),
            col("quality"),
            col("time").cast(DataType::Int64).alias("time"),
            col("value"),
        ])
        .group_by([col("enterprise"), col("site"), col("meter"), col("medium"), col("quantity"), col("unit")])
        .agg([
            col("time").filter(usable_row.clone()).alias("time"),
            col("value").filter(usable_row.clone()).alias("value"),
            col("time").filter(usable_row.clone().not()).alias("unusable_time"),
            col("quality").filter(usable_row.not()).alias("unusable_quality"),
        ]);
    Ok(df)
}

/// Appends each counter row of a slice (see [`counters_query`]) to its counter.
fn add_groups(df: &DataFrame, counters: &mut BTreeMap<(String, String, String), CounterReadings>, slices_left: usize) -> anyhow::Result<()> {
    let s = |name: &str| -> anyhow::Result<&StringChunked> { Ok(df.column(name)?.str()?) };
    let (ent, site, meter, medium, quantity, unit) = (s("enterprise")?, s("site")?, s("meter")?, s("medium")?, s("quantity")?, s("unit")?);
    let (time, value) = (df.column("time")?.list()?, df.column("value")?.list()?);
    let (bad_time, bad_quality) = (df.column("unusable_time")?.list()?, df.column("unusable_quality")?.list()?);
    for i in 0..df.height() {
        let (t, v) = (time.get_as_series(i), value.get_as_series(i));
        let text = |c: &StringChunked| c.get(i).unwrap_or("").to_owned();
        let key = (text(ent), text(meter), text(quantity));
        let counter = match counters.entry(key) {
            std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::btree_map::Entry::Vacant(e) => {
                let medium: Medium = medium.get(i).unwrap_or("").parse().map_err(|err| anyhow::anyhow!("counter {:?}: {err}", e.key()))?;
                let (enterprise, meter, quantity) = e.key().clone();
                let points = Vec::with_capacity(t.as_ref().map_or(0, |t| t.len()) * slices_left);
                e.insert(CounterReadings { enterprise, site: text(site), meter, medium, quantity, unit: text(unit), points, unusable: Vec::new() })
            }
        };
        if let (Some(t), Some(v)) = (t, v) {
            counter.points.extend(t.i64()?.into_no_null_iter().zip(v.f64()?.into_no_null_iter()));
        }
        if let (Some(t), Some(q)) = (bad_time.get_as_series(i), bad_quality.get_as_series(i)) {
            for (t, q) in t.i64()?.into_no_null_iter().zip(q.str()?.iter()) {
                let q: Quality = q.unwrap_or("").parse().map_err(|e| anyhow::anyhow!("counter {}/{}: {e}", counter.meter, counter.quantity))?;
                counter.unusable.push((t, q));
            }
        }
    }
    Ok(())
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
