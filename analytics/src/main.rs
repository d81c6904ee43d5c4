//! `analytics`: the energy metering centre's batch job: what a store holds, the energy, water and
//! carbon accounts with their intensity indicators and data-quality evidence, and the leader
//! candidates with their report.

use std::path::{Path, PathBuf};
use std::time::Instant;

use analytics::accounts::{AccountsSpec, Tables};
use analytics::config::AnalyticsConfig;
use analytics::load::influxdb::{InfluxAuth, InfluxSource};
use analytics::leaders;
use analytics::quality;
use analytics::load::{scan_store, CounterReadings};
use analytics::period::{Period, PeriodKind};
use analytics::reference::{ElectricityMethod, Reference};
use anyhow::Context as _;
use chrono::NaiveDate;
use clap::{Parser, Subcommand};
use polars::prelude::*;
use tracing::info;

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
    /// Per meter and quantity: readings, readings without a value, first and last time, range.
    Summary {
        /// The Parquet store's root (the collector's `<data_dir>/readings`).
        #[arg(long)]
        store: PathBuf,
    },
    /// Energy-efficiency and water-efficiency leader candidates per product group over the
    /// window `--from`..`--to` (typically a year): eligibility with every failed gate named,
    /// ranking, group median and benchmark, savings; writes report.html (charts, no network
    /// needed), one page per enterprise, leaders.xlsx, and leaders_enterprises and leaders_groups
    /// with the monthly and window account tables behind them (CSV and Parquet).
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
        Command::Leaders { config, rules, source, from, to, out } => run_leaders(&config, rules, source.source(), from, to, &out),
        Command::Accounts { config, source, from, to, period, electricity_method, enterprises, out } => {
            run_accounts(&config, source.source(), from, to, period, electricity_method, &enterprises, &out)
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
    for r in &reference.coefficients.fuel {
        println!("  {:<15} {:>8} kgCO2/{:<4} {}{}", r.medium.as_str(), r.kg_co2_per_unit, r.unit.symbol(), r.source, mark(r.check));
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

/// Where the readings come from.
enum Source {
    /// The Parquet store given on the command line, or else the config's.
    Parquet(Option<PathBuf>),
    Influx(InfluxSource),
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

/// The reference data and the counter readings of a run.
struct Job {
    reference: Reference,
    /// The enterprises asked for (all when empty).
    enterprises: Vec<String>,
    counters: Vec<CounterReadings>,
    spec: AccountsSpec,
    started: Instant,
}

impl Job {
    /// Loads the reference data, then the counters of the periods of `kind` covering
    /// `[from, to)`, with a margin on each side to interpolate the counters at the edges.
    #[allow(clippy::too_many_arguments)]
    fn prepare(config_path: &Path, source: Source, from: NaiveDate, to: NaiveDate, kind: PeriodKind, method: Option<ElectricityMethod>, enterprises: &[String]) -> anyhow::Result<(Job, AnalyticsConfig)> {
        anyhow::ensure!(from < to, "--from {from} is not before --to {to}");
        let started = Instant::now();
        let config = AnalyticsConfig::load(config_path).map_err(|e| anyhow::anyhow!("{e}"))?;
        let reference = Reference::load(&config).map_err(|e| anyhow::anyhow!("{e}\n{} problem(s) in the reference data", e.0.len()))?;
        info!(enterprises = reference.enterprises.len(), meters = reference.meters.len(), production_rows = reference.production.len(), "reference data loaded");
        let spec = AccountsSpec { kind, from, to, method: method.unwrap_or(config.electricity_method), gap_h: config.gap_hours };
        let periods = Period::covering(kind, from, to);
        let (first, last) = (periods.first().context("no period")?, periods.last().context("no period")?);
        let margin = chrono::Duration::hours((config.gap_hours * 4.0).ceil() as i64 + 24);
        let utc = chrono::FixedOffset::east_opt(0).expect("UTC");
        let (load_from, load_to) = (first.utc_bounds(utc).0 - margin, last.utc_bounds(utc).1 + margin);
        let counters = match source {
            Source::Parquet(store) => {
                let store = store.or(config.parquet_store.clone()).context("no store: give --store DIR, --influxdb URL, or [store] parquet in the config")?;
                analytics::load::counters_from_parquet(&store, load_from, load_to, enterprises)?
            }
            Source::Influx(influx) => analytics::load::influxdb::counters_from_influxdb(&influx, load_from, load_to, enterprises)?,
        };
        let points: usize = counters.iter().map(|c| c.points.len()).sum();
        info!(counters = counters.len(), readings = points, from = %load_from, to = %load_to, elapsed_ms = started.elapsed().as_millis() as u64, "counter readings loaded");
        Ok((Job { reference, enterprises: enterprises.to_vec(), counters, spec, started }, config))
    }

    /// The account tables of periods of `kind`.
    fn tables(&self, kind: PeriodKind) -> anyhow::Result<Tables> {
        let (tables, notes) = Tables::compute(&self.counters, &self.reference, AccountsSpec { kind, ..self.spec }, &self.enterprises)?;
        for n in &notes {
            tracing::warn!("{n}");
        }
        Ok(tables)
    }

    /// What the run read, and how long it has taken.
    fn done(&self, what: &str, out: &Path) {
        let points: usize = self.counters.iter().map(|c| c.points.len()).sum();
        println!("{what} from {} counters ({points} readings) in {:.1} s; tables in {}", self.counters.len(), self.started.elapsed().as_secs_f64(), out.display());
    }
}

#[allow(clippy::too_many_arguments)]
fn run_accounts(
    config_path: &Path,
    source: Source,
    from: NaiveDate,
    to: NaiveDate,
    kind: PeriodKind,
    method: Option<ElectricityMethod>,
    enterprises: &[String],
    out: &Path,
) -> anyhow::Result<()> {
    let (job, _) = Job::prepare(config_path, source, from, to, kind, method, enterprises)?;
    let mut tables = job.tables(kind)?;
    tables.write(out, "")?;
    print_accounts(&tables.accounts, &tables.quality)?;
    job.done(&format!("{} enterprise-periods", tables.accounts.height()), out);
    Ok(())
}

fn run_leaders(config_path: &Path, rules: Option<PathBuf>, source: Source, from: NaiveDate, to: NaiveDate, out: &Path) -> anyhow::Result<()> {
    // Production is reported by month: a window must consist of whole months, or energy and
    // output would not cover the same time.
    use chrono::Datelike as _;
    anyhow::ensure!(from.day() == 1 && to.day() == 1, "--from {from} and --to {to} must be first days of months: production is reported per month");
    let (job, config) = Job::prepare(config_path, source, from, to, PeriodKind::Month, None, &[])?;
    let dir = rules.or(config.leaders.clone()).context("no leader rules: give --rules DIR or [reference] leaders in the config")?;
    let grades: Vec<&str> = job.reference.quality.grade.iter().map(|g| g.grade.as_str()).collect();
    let rules = leaders::rules::load_dir(&dir, &grades).map_err(|e| anyhow::anyhow!("{}", readings::config_file::ConfigErrors(e)))?;
    let mut monthly = job.tables(PeriodKind::Month)?;
    let mut window = job.tables(PeriodKind::Window)?;
    // Each programme is judged on the metering of its own media: its grade, coverage, findings
    // and calibration come from those counters only.
    let mut results = Vec::new();
    for group in &rules {
        for programme in &group.programme {
            let media = programme.programme.media();
            let findings: Vec<_> = window.finding_list.iter().filter(|f| media.contains(&f.medium)).cloned().collect();
            let window_quality = quality::graded(quality::evidence_for(&window.meters, Some(&media))?, &findings, &job.reference.quality)?;
            let monthly_quality = quality::evidence_for(&monthly.meters, Some(&media))?;
            let facts = leaders::facts(&window.accounts, &window_quality, &monthly_quality, &job.reference)?;
            results.push(leaders::select(programme, &group.product_group, &facts, &grades));
        }
    }
    monthly.write(out, "monthly_")?;
    window.write(out, "window_")?;
    let mut enterprises = leaders::assessments_frame(&results)?;
    let mut groups = leaders::groups_frame(&results, &rules)?;
    analytics::accounts::write_table(out, "leaders_enterprises", &mut enterprises)?;
    analytics::accounts::write_table(out, "leaders_groups", &mut groups)?;
    let input = analytics::report::ReportInput {
        window: format!("{from}..{to}"),
        results: &results,
        rules: &rules,
        reference: &job.reference,
        monthly_accounts: &monthly.accounts,
        window_accounts: &window.accounts,
        window_quality: &window.quality,
        window_findings: &window.findings,
        window_exclusions: &window.exclusions,
    };
    let sheets = [
        ("leaders_enterprises", &enterprises),
        ("leaders_groups", &groups),
        ("window_accounts", &window.accounts),
        ("monthly_accounts", &monthly.accounts),
        ("window_quality", &window.quality),
        ("window_findings", &window.findings),
        ("window_exclusions", &window.exclusions),
    ];
    let report = analytics::report::write(out, &input, &sheets)?;
    for r in &results {
        println!(
            "{} / {}: {} enterprises, {} eligible, {} selected{}",
            r.product_group,
            r.programme.as_str(),
            r.enterprises,
            r.eligible,
            r.selected,
            if r.note.is_empty() { String::new() } else { format!(" ({})", r.note) }
        );
        for a in &r.assessments {
            let value = a.value.map_or("-".to_owned(), |v| format!("{v:.3}"));
            let status = if a.selected { "CANDIDATE".to_owned() } else if a.eligible() { "eligible".to_owned() } else { format!("excluded: {}", a.failed.join("; ")) };
            println!("  {:>4} {:<20} {:>12}  {status}", a.rank.map_or("-".to_owned(), |r| r.to_string()), a.enterprise, value);
        }
    }
    job.done(&format!("{} programme-groups", results.len()), out);
    println!("report: {} (one page per enterprise in {}, workbook {})", report.display(), out.join("enterprises").display(), out.join("leaders.xlsx").display());
    Ok(())
}

/// One line per enterprise and period, with its data-quality grade.
fn print_accounts(table: &DataFrame, quality: &DataFrame) -> anyhow::Result<()> {
    let joined = table
        .clone()
        .lazy()
        .join(
            quality.clone().lazy().select([col("enterprise"), col("period"), col("coverage"), col("findings"), col("grade")]),
            [col("enterprise"), col("period")],
            [col("enterprise"), col("period")],
            JoinArgs::new(JoinType::Left),
        )
        .collect()?;
    let names = ["enterprise", "period", "energy_tce", "water_m3", "co2_t", "kgce_per_unit", "product_unit", "coverage", "findings", "grade"];
    let mut cols = column_texts(&joined, &names, Some(3))?;
    let units = cols.remove(6);
    for (v, unit) in cols[5].iter_mut().zip(units) {
        *v = format!("{v}/{unit}");
    }
    let headings = ["enterprise", "period", "energy tce", "water m3", "CO2 t", "kgce/unit", "coverage", "findings", "grade"];
    print_columns(&headings, &cols, 2);
    Ok(())
}

/// The cells of `names` as text, nulls as `-`, floats with `decimals` places if given.
fn column_texts(df: &DataFrame, names: &[&str], decimals: Option<usize>) -> anyhow::Result<Vec<Vec<String>>> {
    names
        .iter()
        .map(|name| {
            let c = df.column(name)?;
            Ok(match (c.dtype(), decimals) {
                (DataType::Float64, Some(d)) => c.f64()?.iter().map(|v| v.map_or("-".into(), |x| format!("{x:.d$}"))).collect(),
                _ => c.cast(&DataType::String)?.str()?.iter().map(|v| v.unwrap_or("-").to_owned()).collect(),
            })
        })
        .collect()
}

/// Prints columns under their headings, each as wide as its widest cell; the first `left` are
/// aligned left, the rest right.
fn print_columns(headings: &[&str], cols: &[Vec<String>], left: usize) {
    let widths: Vec<usize> = headings.iter().zip(cols).map(|(h, c)| c.iter().map(|v| v.chars().count()).chain([h.len()]).max().unwrap_or(0)).collect();
    let line = |cells: Vec<&str>| {
        let parts: Vec<String> = cells.iter().zip(&widths).enumerate().map(|(i, (v, w))| if i < left { format!("{v:<w$}") } else { format!("{v:>w$}") }).collect();
        println!("{}", parts.join("  ").trim_end());
    };
    line(headings.to_vec());
    let rows = cols.first().map_or(0, Vec::len);
    (0..rows).for_each(|r| line(cols.iter().map(|c| c[r].as_str()).collect()));
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
    let mut cols = column_texts(&df, &["meter", "quantity", "unit", "readings", "without_value", "first", "last", "min", "max"], None)?;
    for col in &mut cols[5..7] {
        for v in col.iter_mut() {
            if let Some(t) = v.parse::<i64>().ok().and_then(chrono::DateTime::from_timestamp_millis) {
                *v = t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
            }
        }
    }
    print_columns(&["meter", "quantity", "unit", "readings", "no value", "first", "last", "min", "max"], &cols, 3);
    let total: u64 = cols[3].iter().filter_map(|v| v.parse::<u64>().ok()).sum();
    println!("{} series, {total} readings", df.height());
    Ok(())
}
