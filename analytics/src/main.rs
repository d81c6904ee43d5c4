//! `analytics`: the energy metering centre's batch job: what a store holds, the energy, water and
//! carbon accounts with their intensity indicators and data-quality evidence, and the leader
//! candidates with their report.

use std::path::{Path, PathBuf};

use analytics::config::AnalyticsConfig;
use analytics::jobs::{column_texts, print_columns, Source};
use analytics::leaders;
use analytics::load::influxdb::{InfluxAuth, InfluxSource};
use analytics::load::scan_store;
use analytics::period::PeriodKind;
use analytics::reference::{ElectricityMethod, Reference};
use chrono::NaiveDate;
use clap::{Parser, Subcommand};
use polars::prelude::*;

/// Turns stored meter readings into energy, water and carbon accounts per enterprise and period,
/// with intensity indicators and the data-quality evidence behind every figure, and picks
/// energy-efficiency and water-efficiency leader candidates per product group.
#[derive(Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Per enterprise, site, meter and quantity: readings, readings without a value, readings by
    /// quality (good, out_of_range, timeout ...), first and last time (China Standard Time), range.
    Summary {
        /// The Parquet store's root (the collector's `<data_dir>/readings`).
        #[arg(long)]
        store: PathBuf,
    },
    /// Energy-efficiency and water-efficiency leader candidates per product group over the
    /// window `--from`..`--to` (typically a year): eligibility with every failed gate named,
    /// ranking, group median and benchmark, savings; writes index.html (the overview),
    /// report.html (the groups), a page per enterprise, print.html, leaders.xlsx (every table),
    /// and leaders_enterprises and leaders_groups with the monthly and window account tables
    /// behind them (CSV and Parquet); docs/report.md.
    Leaders {
        /// The analytics config (config/analytics.example.toml).
        #[arg(long)]
        config: PathBuf,
        /// The directory of leader rules; overrides `[reference] leaders` of the config.
        #[arg(long)]
        rules: Option<PathBuf>,
        #[command(flatten)]
        source: SourceArgs,
        /// First local date of the window (YYYY-MM-DD).
        #[arg(long)]
        from: NaiveDate,
        /// Local date after the window (YYYY-MM-DD).
        #[arg(long)]
        to: NaiveDate,
        /// Directory for the tables.
        #[arg(long)]
        out: PathBuf,
        /// Also print the report (print.html: the overview, then an enterprise per A4 page) to
        /// report.pdf through headless Chromium; fails saying so if none is installed.
        #[arg(long)]
        pdf: bool,
    },
    /// Validate the analytics config and every reference file it names, and say what they hold:
    /// enterprises, meters, production rows, and each coefficient with its source.
    Check {
        /// The analytics config (config/analytics.example.toml).
        #[arg(long)]
        config: PathBuf,
    },
    /// Energy (physical units and tce), water and CO2 accounts per enterprise and period, the
    /// intensity indicators, and the data-quality evidence, written as Parquet and CSV tables:
    /// meters (one row per counter and period: the evidence), media, accounts, quality,
    /// findings (meter configuration) and exclusions (flagged readings by reason).
    Accounts {
        /// The analytics config: reference data files and accounting choices
        /// (config/analytics.example.toml).
        #[arg(long)]
        config: PathBuf,
        #[command(flatten)]
        source: SourceArgs,
        /// First local date (YYYY-MM-DD); the period containing it is reported whole.
        #[arg(long)]
        from: NaiveDate,
        /// Local date after the last one reported (YYYY-MM-DD).
        #[arg(long)]
        to: NaiveDate,
        /// Period length.
        #[arg(long, value_enum, default_value = "month")]
        period: PeriodKind,
        /// Electricity to coal equivalent: the equivalent-value method (the default) or the
        /// equal-value method (needs that year's row in the coefficient table).
        #[arg(long, value_enum)]
        electricity_method: Option<ElectricityMethod>,
        /// Only these enterprises (repeat the option).
        #[arg(long = "enterprise")]
        enterprises: Vec<String>,
        /// Directory for the tables.
        #[arg(long)]
        out: PathBuf,
    },
}

/// Where the readings are: the Parquet store, or InfluxDB.
#[derive(clap::Args)]
struct SourceArgs {
    /// The Parquet store's root; overrides `[store] parquet` of the config.
    #[arg(long, conflicts_with = "influxdb")]
    store: Option<PathBuf>,
    /// Read from InfluxDB at this URL instead (InfluxQL on /query). A token in the environment
    /// variable INFLUX_TOKEN, or INFLUX_USERNAME and INFLUX_PASSWORD, are sent.
    #[arg(long, requires = "database")]
    influxdb: Option<String>,
    /// The InfluxDB database (or a 2.x bucket's DBRP mapping).
    #[arg(long)]
    database: Option<String>,
    /// The measurement the collector writes to.
    #[arg(long, default_value = "reading")]
    measurement: String,
    /// Let InfluxDB reduce each counter to its last value per this many minutes.
    #[arg(long, requires = "influxdb")]
    downsample_minutes: Option<u64>,
}

impl SourceArgs {
    fn source(self) -> Source {
        match self.influxdb {
            Some(url) => Source::Influx(InfluxSource {
                url,
                database: self.database.unwrap_or_default(),
                measurement: self.measurement,
                auth: influx_auth(),
                downsample: self.downsample_minutes.map(|m| std::time::Duration::from_secs(60 * m)),
            }),
            None => Source::Parquet(self.store),
        }
    }
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let result = match Cli::parse().command {
        Command::Summary { store } => summary(&store),
        Command::Check { config } => check(&config),
        Command::Leaders { config, rules, source, from, to, out, pdf } => analytics::jobs::leaders(&config, rules, source.source(), from, to, &out, pdf).map(|_| ()),
        Command::Accounts { config, source, from, to, period, electricity_method, enterprises, out } => {
            analytics::jobs::accounts(&config, source.source(), from, to, period, electricity_method, &enterprises, &out)
        }
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn check(config_path: &Path) -> anyhow::Result<()> {
    let config = AnalyticsConfig::load(config_path).map_err(|e| anyhow::anyhow!("{e}"))?;
    let reference = Reference::load(&config).map_err(|e| anyhow::anyhow!("{e}\n{} problem(s) in the reference data", e.0.len()))?;
    println!("config {} is valid", config_path.display());
    println!("enterprises: {} in {}", reference.enterprises.len(), config.enterprises.display());
    for e in reference.enterprises.values() {
        println!("  {} {} ({}, {} grid, product group {})", e.id, e.name, e.industry.as_str(), e.grid_region, e.product_group);
    }
    println!("meters: {} in {}", reference.meters.len(), config.meters.display());
    println!("production: {} rows in {}", reference.production.len(), config.production.display());
    let mark = |check: bool| if check { "  [check]" } else { "" };
    println!("coal equivalent ({}):", reference.coefficients.energy_file);
    for r in &reference.coefficients.energy {
        println!("  {:<12} {:>10} kgce/{:<4} {}{}", r.medium.as_str(), r.kgce_per_unit, r.unit.symbol(), r.source, mark(r.check));
    }
    println!("emission factors ({}):", reference.coefficients.emission_file);
    for r in &reference.coefficients.grid {
        println!("  grid {} {:<10} {:>8} kgCO2/kWh  {}{}", r.year, r.region.as_str(), r.kg_co2_per_kwh, r.source, mark(r.check));
    }
    for (what, rows) in [("fuel", &reference.coefficients.fuel), ("heat", &reference.coefficients.heat), ("biomass (memo)", &reference.coefficients.biomass)] {
        for r in rows {
            println!("  {what:<14} {:<12} {:>8} kgCO2/{:<4} {}{}", r.medium.as_str(), r.kg_co2_per_unit, r.unit.symbol(), r.source, mark(r.check));
        }
    }
    for r in &reference.coefficients.grid_non_fossil {
        println!("  grid non-fossil share {} {:>6}  {}{}", r.year, r.share, r.source, mark(r.check));
    }
    let p = &reference.process_factors;
    if !p.file.is_empty() {
        println!("process emissions ({}): {} activity rows", p.file, reference.process.len());
        for g in &p.groups {
            println!("  {:<16} {:<10}  {}{}", g.product_group, g.method.as_str(), g.source, mark(g.check));
        }
        if let Some(k) = &p.clinker {
            println!("  clinker: {} tCO2/t CaO, {} tCO2/t MgO ({}); default {} tCO2/t clinker ({}){}", k.t_co2_per_t_cao, k.t_co2_per_t_mgo, k.source, k.default_t_co2_per_t_clinker, k.default_source, mark(k.check));
        }
        for c in &p.carbonates {
            println!("  {:<10} {} tCO2/t  {}{}", c.material.as_str(), c.t_co2_per_t, c.source, mark(c.check));
        }
    }
    println!("green electricity: {} rows; non-fossil share by {}", reference.green.len(), config.non_fossil_method.as_str());
    match &config.metering_points {
        Some(path) => {
            let equipped = reference.points.iter().filter(|p| p.meter.is_some()).count();
            println!("metering points: {} in {}, {equipped} with a meter installed", reference.points.len(), path.display());
        }
        None => println!("metering points: none listed (no equipping rates)"),
    }
    let grades: Vec<&str> = reference.quality.grade.iter().map(|g| g.grade.as_str()).collect();
    println!("data quality ({}): {} requirements, grades {}", config.data_quality.display(), reference.quality.requirement.len(), grades.join(", "));
    if let Some(dir) = &config.leaders {
        let rules = leaders::rules::load_dir(dir, &grades).map_err(|e| anyhow::anyhow!("{}", readings::config_file::ConfigErrors(e)))?;
        println!("leader rules ({}):", dir.display());
        for g in &rules {
            for p in &g.programme {
                println!("  {} / {}: {} ({}){}", g.product_group, p.programme.as_str(), p.indicator.column(), p.unit, mark(p.check));
            }
        }
    }
    Ok(())
}

/// Credentials from the environment, never from the command line (which other users of the
/// machine can see).
fn influx_auth() -> InfluxAuth {
    if let Ok(token) = std::env::var("INFLUX_TOKEN") {
        return InfluxAuth::Token(token.trim().to_owned());
    }
    match std::env::var("INFLUX_USERNAME") {
        Ok(user) => InfluxAuth::Basic { user, password: std::env::var("INFLUX_PASSWORD").unwrap_or_default() },
        Err(_) => InfluxAuth::None,
    }
}

fn summary(store: &Path) -> anyhow::Result<()> {
    let series = [col("enterprise"), col("site"), col("meter"), col("medium"), col("quantity"), col("unit")];
    let scan_error = |e: PolarsError| analytics::load::parquet::scan_error(store, &e).context("summarising the store");
    let df = scan_store(store)?
        .group_by(series.clone())
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
        .sort(["enterprise", "site", "meter", "quantity"], SortMultipleOptions::default())
        .collect()
        .map_err(scan_error)?;
    // Readings per quality: an out_of_range row is not a reading to account, and says so.
    let by_quality = scan_store(store)?
        .group_by([col("enterprise"), col("site"), col("meter"), col("quantity"), col("quality")])
        .agg([len().alias("n")])
        .sort(["quality"], SortMultipleOptions::default())
        .collect()
        .map_err(scan_error)?;
    let key = |df: &DataFrame| -> anyhow::Result<Vec<String>> {
        let parts = column_texts(df, &["enterprise", "site", "meter", "quantity"], None)?;
        Ok((0..df.height()).map(|r| parts.iter().map(|c| c[r].as_str()).collect::<Vec<_>>().join("\u{1f}")).collect())
    };
    let mut qualities: std::collections::BTreeMap<String, Vec<String>> = std::collections::BTreeMap::new();
    let q = column_texts(&by_quality, &["quality", "n"], None)?;
    for (k, (quality, n)) in key(&by_quality)?.into_iter().zip(q[0].iter().zip(&q[1])) {
        qualities.entry(k).or_default().push(format!("{quality} {n}"));
    }
    let mut cols = column_texts(&df, &["enterprise", "site", "meter", "quantity", "unit", "readings", "without_value", "first", "last", "min", "max"], None)?;
    let cst = chrono::FixedOffset::east_opt(8 * 3600).ok_or_else(|| anyhow::anyhow!("the +08:00 offset"))?;
    for col in &mut cols[7..9] {
        for v in col.iter_mut() {
            if let Some(t) = v.parse::<i64>().ok().and_then(chrono::DateTime::from_timestamp_millis) {
                *v = t.with_timezone(&cst).format("%Y-%m-%d %H:%M:%S").to_string();
            }
        }
    }
    let breakdown: Vec<String> = key(&df)?.iter().map(|k| qualities.get(k).map_or("-".to_owned(), |q| q.join(", "))).collect();
    cols.insert(7, breakdown);
    print_columns(&["enterprise", "site", "meter", "quantity", "unit", "readings", "no value", "by quality", "first (CST)", "last (CST)", "min", "max"], &cols, 5);
    let total: u64 = cols[5].iter().filter_map(|v| v.parse::<u64>().ok()).sum();
    let enterprises: std::collections::BTreeSet<&String> = cols[0].iter().collect();
    println!("{} series of {} enterprise(s), {total} readings; times in China Standard Time (UTC+08:00)", df.height(), enterprises.len());
    Ok(())
}
