//! `analytics`: the energy metering centre's batch job. For now it summarises what a store holds;
//! accounts, indicators and leader candidates build on the same scan.

use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};
use polars::prelude::*;

/// Turns stored meter readings into energy, water and carbon accounts (coming), starting from a
/// summary of what the store holds.
#[derive(Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Per meter and quantity: readings, readings without a value, first and last time, range.
    Summary {
        /// The Parquet store's root (the collector's `<data_dir>/readings`).
        #[arg(long)]
        store: PathBuf,
    },
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Summary { store } => summary(&store),
    }
}

/// Scans every partition of the store lazily; `date` comes from the hive path.
fn scan_store(store: &Path) -> anyhow::Result<LazyFrame> {
    anyhow::ensure!(store.is_dir(), "{} is not a directory; pass the store's root (<data_dir>/readings)", store.display());
    // Only complete files: the writer's temporary files live under .tmp/ with another extension.
    let pattern = format!("{}/date=*/*.parquet", store.display());
    let args = ScanArgsParquet {
        hive_options: HiveOptions { enabled: Some(true), hive_start_idx: 0, schema: None, try_parse_dates: true },
        ..Default::default()
    };
    LazyFrame::scan_parquet(PlRefPath::new(pattern.as_str()), args).map_err(|e| anyhow::anyhow!("scanning {pattern}: {e}"))
}

fn summary(store: &Path) -> anyhow::Result<()> {
    let df = scan_store(store)?
        .group_by([col("enterprise"), col("site"), col("meter"), col("medium"), col("quantity"), col("unit")])
        .agg([
            len().alias("readings"),
            col("value").null_count().alias("without_value"),
            // Physical milliseconds: formatting a zoned datetime would need polars' time-zone
            // database, which this build leaves out.
            col("time").cast(DataType::Int64).min().alias("first"),
            col("time").cast(DataType::Int64).max().alias("last"),
            col("value").min().alias("min"),
            col("value").max().alias("max"),
        ])
        .sort(["meter", "quantity"], SortMultipleOptions::default())
        .collect()
        .map_err(|e| anyhow::anyhow!("summarising the store: {e}"))?;
    let text = |name: &str| -> anyhow::Result<Vec<String>> {
        let c = df.column(name)?.cast(&DataType::String)?;
        Ok(c.str()?.iter().map(|v| v.unwrap_or("").to_owned()).collect())
    };
    let mut cols: Vec<Vec<String>> = ["meter", "quantity", "unit", "readings", "without_value", "first", "last", "min", "max"]
        .iter()
        .map(|c| text(c))
        .collect::<anyhow::Result<_>>()?;
    for col in &mut cols[5..7] {
        for v in col.iter_mut() {
            if let Some(t) = v.parse::<i64>().ok().and_then(chrono::DateTime::from_timestamp_millis) {
                *v = t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
            }
        }
    }
    println!("{:<22} {:<26} {:<6} {:>9} {:>9} {:<28} {:<28} {:>14} {:>14}", "meter", "quantity", "unit", "readings", "no value", "first", "last", "min", "max");
    for row in 0..df.height() {
        println!(
            "{:<22} {:<26} {:<6} {:>9} {:>9} {:<28} {:<28} {:>14} {:>14}",
            cols[0][row], cols[1][row], cols[2][row], cols[3][row], cols[4][row], cols[5][row], cols[6][row], cols[7][row], cols[8][row]
        );
    }
    let total: u64 = cols[3].iter().filter_map(|v| v.parse::<u64>().ok()).sum();
    println!("{} series, {total} readings", df.height());
    Ok(())
}
