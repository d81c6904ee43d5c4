//! The Parquet store, scanned lazily: the `date=` partitions outside the range are never opened,
//! and the filters on time, kind, quantity and enterprise are pushed into the scan.

use std::path::Path;

use chrono::{DateTime, Utc};
use polars::prelude::*;
use readings::{Medium, Quality};

use super::{CounterReadings, CONSUMPTION_QUANTITIES};

/// Scans every partition of the store lazily; `date` comes from the hive path.
pub fn scan_store(store: &Path) -> anyhow::Result<LazyFrame> {
    anyhow::ensure!(store.is_dir(), "{} is not a directory; pass the store's root (<data_dir>/readings)", store.display());
    // Only complete files: the writer's temporary files live under .tmp/ with another extension.
    let pattern = format!("{}/date=*/*.parquet", store.display());
    let args = ScanArgsParquet {
        hive_options: HiveOptions { enabled: Some(true), hive_start_idx: 0, schema: None, try_parse_dates: true },
        ..Default::default()
    };
    LazyFrame::scan_parquet(PlRefPath::new(pattern.as_str()), args).map_err(|e| anyhow::anyhow!("scanning {pattern}: {e}"))
}

/// The counter readings of `[from, to)` (UTC), optionally of some enterprises only.
pub fn counters_from_parquet(store: &Path, from: DateTime<Utc>, to: DateTime<Utc>, enterprises: &[String]) -> anyhow::Result<Vec<CounterReadings>> {
    let df = counters_query(store, from, to, enterprises)?.collect().map_err(|e| anyhow::anyhow!("reading counters from {}: {e}", store.display()))?;
    from_frame(&df)
}

/// The lazy query behind [`counters_from_parquet`], before it runs.
pub fn counters_query(store: &Path, from: DateTime<Utc>, to: DateTime<Utc>, enterprises: &[String]) -> anyhow::Result<LazyFrame> {
    let (from_ms, to_ms) = (from.timestamp_millis(), to.timestamp_millis());
    // Partitions are UTC days: prune by date first, then by the exact instant.
    let mut filter = col("date")
        .gt_eq(lit(from.date_naive()))
        .and(col("date").lt_eq(lit(to.date_naive())))
        .and(col("time").cast(DataType::Int64).gt_eq(lit(from_ms)))
        .and(col("time").cast(DataType::Int64).lt(lit(to_ms)))
        .and(col("kind").cast(DataType::String).eq(lit("counter")));
    let quantities = CONSUMPTION_QUANTITIES.iter().map(|q| col("quantity").cast(DataType::String).eq(lit(*q))).reduce(|a, b| a.or(b)).expect("quantities");
    filter = filter.and(quantities);
    if let Some(any) = enterprises.iter().map(|e| col("enterprise").cast(DataType::String).eq(lit(e.as_str()))).reduce(|a, b| a.or(b)) {
        filter = filter.and(any);
    }
    let text = |c: &str| col(c).cast(DataType::String);
    let df = scan_store(store)?
        .filter(filter)
        .select([
            text("enterprise"),
            text("site"),
            text("meter"),
            text("medium"),
            text("quantity"),
            text("unit"),
            text("quality"),
            col("time").cast(DataType::Int64).alias("time"),
            col("value"),
        ])
        .sort(["enterprise", "meter", "quantity", "time"], SortMultipleOptions::default());
    Ok(df)
}

/// Groups a sorted frame of counter rows into one [`CounterReadings`] per counter.
pub fn from_frame(df: &DataFrame) -> anyhow::Result<Vec<CounterReadings>> {
    let s = |name: &str| -> anyhow::Result<&StringChunked> { Ok(df.column(name)?.str()?) };
    let (ent, site, meter, medium, quantity, unit, quality) = (s("enterprise")?, s("site")?, s("meter")?, s("medium")?, s("quantity")?, s("unit")?, s("quality")?);
    let time = df.column("time")?.i64()?;
    let value = df.column("value")?.f64()?;
    let mut out: Vec<CounterReadings> = Vec::new();
    for i in 0..df.height() {
        let key = (ent.get(i).unwrap_or(""), meter.get(i).unwrap_or(""), quantity.get(i).unwrap_or(""));
        let same = out.last().is_some_and(|c| (c.enterprise.as_str(), c.meter.as_str(), c.quantity.as_str()) == key);
        if !same {
            let medium: Medium = medium.get(i).unwrap_or("").parse().map_err(|e| anyhow::anyhow!("row {i}: {e}"))?;
            out.push(CounterReadings {
                enterprise: key.0.to_owned(),
                site: site.get(i).unwrap_or("").to_owned(),
                meter: key.1.to_owned(),
                medium,
                quantity: key.2.to_owned(),
                unit: unit.get(i).unwrap_or("").to_owned(),
                points: Vec::new(),
                unusable: Vec::new(),
            });
        }
        let c = out.last_mut().expect("pushed above");
        let q: Quality = quality.get(i).unwrap_or("").parse().map_err(|e| anyhow::anyhow!("row {i}: {e}"))?;
        c.push(time.get(i).unwrap_or(i64::MIN), value.get(i), q);
    }
    Ok(out)
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
}
