//! The work of the `analytics` commands, callable from other binaries (the demo runs the same
//! leaders job): load the reference data and the counters, compute the tables, select the
//! candidates, write and print the results.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context as _;
use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use polars::prelude::*;
use tracing::info;

use crate::accounts::{AccountsSpec, Tables};
use crate::config::AnalyticsConfig;
use crate::leaders;
use crate::load::influxdb::InfluxSource;
use crate::load::CounterReadings;
use crate::period::{Period, PeriodKind};
use crate::quality;
use crate::reference::{ElectricityMethod, Reference};

/// Where the readings come from.
pub enum Source {
    /// The Parquet store given on the command line, or else the config's.
    Parquet(Option<PathBuf>),
    Influx(InfluxSource),
}

/// The reference data and the counter readings of a run.
pub struct Job {
    reference: Reference,
    /// The enterprises asked for (all when empty).
    enterprises: Vec<String>,
    counters: Vec<CounterReadings>,
    spec: AccountsSpec,
    started: Instant,
    /// Where the readings came from, as the report's inputs say it.
    source: String,
}

impl Job {
    /// Loads the reference data, then the counters of the periods of `kind` covering
    /// `[from, to)`, with a margin on each side to interpolate the counters at the edges.
    #[allow(clippy::too_many_arguments)]
    pub fn prepare(config_path: &Path, source: Source, from: NaiveDate, to: NaiveDate, kind: PeriodKind, method: Option<ElectricityMethod>, enterprises: &[String]) -> anyhow::Result<(Job, AnalyticsConfig)> {
        anyhow::ensure!(from < to, "--from {from} is not before --to {to}");
        let started = Instant::now();
        let config = AnalyticsConfig::load(config_path).map_err(|e| anyhow::anyhow!("{e}"))?;
        let reference = Reference::load(&config).map_err(|e| anyhow::anyhow!("{e}\n{} problem(s) in the reference data", e.0.len()))?;
        info!(enterprises = reference.enterprises.len(), meters = reference.meters.len(), production_rows = reference.production.len(), "reference data loaded");
        let spec = AccountsSpec { kind, from, to, method: method.unwrap_or(config.electricity_method), gap_h: config.gap_hours, non_fossil: config.non_fossil_method };
        let periods = Period::covering(kind, from, to);
        let margin = chrono::Duration::hours((config.gap_hours * 4.0).ceil() as i64 + 24);
        let mut offsets: Vec<FixedOffset> = reference.enterprises.values().filter(|e| enterprises.is_empty() || enterprises.iter().any(|x| x == e.id.as_str())).map(|e| e.utc_offset).collect();
        if offsets.is_empty() {
            offsets.push(config.utc_offset);
        }
        let (load_from, load_to) = load_range(&periods, &offsets, margin).context("no period")?;
        let (counters, source) = match source {
            Source::Parquet(store) => {
                let store = store.or(config.parquet_store.clone()).context("no store: give --store DIR, --influxdb URL, or [store] parquet in the config")?;
                (crate::load::counters_from_parquet(&store, load_from, load_to, enterprises)?, format!("Parquet store {}", store.display()))
            }
            Source::Influx(influx) => {
                let label = format!("InfluxDB {} database {} measurement {}", influx.url, influx.database, influx.measurement);
                (crate::load::influxdb::counters_from_influxdb(&influx, load_from, load_to, enterprises)?, label)
            }
        };
        let points: usize = counters.iter().map(|c| c.points.len()).sum();
        info!(counters = counters.len(), readings = points, from = %load_from, to = %load_to, elapsed_ms = started.elapsed().as_millis() as u64, "counter readings loaded");
        Ok((Job { reference, enterprises: enterprises.to_vec(), counters, spec, started, source }, config))
    }

    /// The account tables of periods of `kind`.
    pub fn tables(&self, kind: PeriodKind) -> anyhow::Result<Tables> {
        let (tables, notes) = Tables::compute(&self.counters, &self.reference, AccountsSpec { kind, ..self.spec }, &self.enterprises)?;
        for n in &notes {
            tracing::warn!("{n}");
        }
        Ok(tables)
    }

    /// What the run read, and how long it has taken.
    fn done(&self, what: &str, out: &Path) {
        println!("{what} from {}; tables in {}", self.read(), out.display());
    }

    /// "N counters (M readings) in S s".
    pub fn read(&self) -> String {
        let points: usize = self.counters.iter().map(|c| c.points.len()).sum();
        format!("{} counters ({points} readings) in {:.1} s", self.counters.len(), self.started.elapsed().as_secs_f64())
    }
}

/// The UTC instants to load readings for: from the earliest local start of the first period
/// (at any of `offsets`, the enterprises' UTC offsets) less `margin`, to the latest local end of
/// the last plus `margin`, so that the margin counts from each enterprise's own period bounds.
pub fn load_range(periods: &[Period], offsets: &[FixedOffset], margin: chrono::Duration) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let (first, last) = (periods.first()?, periods.last()?);
    let start = offsets.iter().map(|o| first.utc_bounds(*o).0).min()?;
    let end = offsets.iter().map(|o| last.utc_bounds(*o).1).max()?;
    Some((start - margin, end + margin))
}

/// `analytics accounts`: computes, writes and prints the account tables.
#[allow(clippy::too_many_arguments)]
pub fn accounts(
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
    let offsets: Vec<FixedOffset> = job.reference.enterprises.values().filter(|e| enterprises.is_empty() || enterprises.iter().any(|x| x == e.id.as_str())).map(|e| e.utc_offset).collect();
    let what = match kind {
        PeriodKind::Month => "calendar months",
        PeriodKind::Quarter => "calendar quarters",
        PeriodKind::Year => "calendar years",
        PeriodKind::Window => "one period from --from to --to",
    };
    println!("periods: {what} in {}", crate::report::inputs::zone_label(&offsets));
    job.done(&format!("{} enterprise-periods", tables.accounts.height()), out);
    Ok(())
}

/// `analytics leaders`: selects the candidates of every product group and programme, writes the
/// report, the workbook and the tables, prints the short list, and with `pdf` prints the report
/// to `report.pdf`; returns what it selected.
pub fn leaders(config_path: &Path, rules: Option<PathBuf>, source: Source, from: NaiveDate, to: NaiveDate, out: &Path, pdf: bool) -> anyhow::Result<LeadersRun> {
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
            let facts = leaders::facts(&window.accounts, &window_quality, &monthly.accounts, &monthly_quality, &job.reference)?;
            results.push(leaders::select(programme, &group.product_group, &facts, &grades));
        }
    }
    monthly.write(out, "monthly_")?;
    window.write(out, "window_")?;
    let mut enterprises = leaders::assessments_frame(&results)?;
    let mut groups = leaders::groups_frame(&results, &rules)?;
    crate::accounts::write_table(out, "leaders_enterprises", &mut enterprises)?;
    crate::accounts::write_table(out, "leaders_groups", &mut groups)?;
    let offsets: Vec<FixedOffset> = job.reference.enterprises.values().map(|e| e.utc_offset).collect();
    let zone = crate::report::inputs::zone_label(&offsets);
    let months = Period::covering(PeriodKind::Month, from, to).len();
    let periods = format!("{from}..{to} (local dates, end exclusive): {months} calendar month(s) in {zone}, and the window as a whole");
    let inputs = crate::report::inputs::RunInputs::gather(&config, config_path, Some(&dir), job.source.clone(), periods);
    let input = crate::report::ReportInput {
        window: format!("{from}..{to}"),
        zone,
        results: &results,
        rules: &rules,
        reference: &job.reference,
        monthly: &monthly,
        window_tables: &window,
        inputs: &inputs,
    };
    // Every table written as CSV, in the order an analyst reads them.
    let sheets = [
        ("leaders_enterprises", &enterprises),
        ("leaders_groups", &groups),
        ("window_accounts", &window.accounts),
        ("window_quality", &window.quality),
        ("window_findings", &window.findings),
        ("window_exclusions", &window.exclusions),
        ("window_equipping", &window.equipping),
        ("window_media", &window.media),
        ("window_meters", &window.meters),
        ("monthly_accounts", &monthly.accounts),
        ("monthly_quality", &monthly.quality),
        ("monthly_findings", &monthly.findings),
        ("monthly_exclusions", &monthly.exclusions),
        ("monthly_equipping", &monthly.equipping),
        ("monthly_media", &monthly.media),
        ("monthly_meters", &monthly.meters),
    ];
    let report = crate::report::write(out, &input, &sheets)?;
    println!("window {from}..{to}: calendar months in {}", input.zone);
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
    println!(
        "report: {} (groups in {}, one page per enterprise in {}, print version {}, workbook {})",
        report.display(),
        out.join("report.html").display(),
        out.join("enterprises").display(),
        out.join("print.html").display(),
        out.join("leaders.xlsx").display()
    );
    if pdf {
        let path = out.join("report.pdf");
        let browser = crate::report::pdf::print(&out.join("print.html"), &path)?;
        println!("pdf: {} (printed by {})", path.display(), browser.display());
    }
    Ok(LeadersRun { results, report })
}

/// What `leaders` selected, and where its report is.
pub struct LeadersRun {
    /// One per product group and programme.
    pub results: Vec<leaders::GroupResult>,
    /// The report's overview page (index.html).
    pub report: PathBuf,
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
pub fn column_texts(df: &DataFrame, names: &[&str], decimals: Option<usize>) -> anyhow::Result<Vec<Vec<String>>> {
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
pub fn print_columns(headings: &[&str], cols: &[Vec<String>], left: usize) {
    let widths: Vec<usize> = headings.iter().zip(cols).map(|(h, c)| c.iter().map(|v| v.chars().count()).chain([h.len()]).max().unwrap_or(0)).collect();
    let line = |cells: Vec<&str>| {
        let parts: Vec<String> = cells.iter().zip(&widths).enumerate().map(|(i, (v, w))| if i < left { format!("{v:<w$}") } else { format!("{v:>w$}") }).collect();
        println!("{}", parts.join("  ").trim_end());
    };
    line(headings.to_vec());
    let rows = cols.first().map_or(0, Vec::len);
    (0..rows).for_each(|r| line(cols.iter().map(|c| c[r].as_str()).collect()));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A +08:00 month starts at 16:00 UTC the day before: the margin counts from there, not from
    /// UTC midnight of the first day (8 h later). A -05:00 enterprise stretches the end.
    #[test]
    fn the_margin_counts_from_each_local_period_bound() {
        let periods = Period::covering(PeriodKind::Month, NaiveDate::from_ymd_opt(2026, 2, 1).unwrap(), NaiveDate::from_ymd_opt(2026, 3, 1).unwrap());
        let (cst, est) = (FixedOffset::east_opt(8 * 3600).unwrap(), FixedOffset::west_opt(5 * 3600).unwrap());
        let (from, to) = load_range(&periods, &[cst, est], chrono::Duration::hours(28)).unwrap();
        assert_eq!(from.to_rfc3339(), "2026-01-30T12:00:00+00:00", "28 h before 2026-01-31T16:00Z");
        assert_eq!(to.to_rfc3339(), "2026-03-02T09:00:00+00:00", "28 h after 2026-03-01T05:00Z");
        assert_eq!(load_range(&[], &[cst], chrono::Duration::hours(1)), None);
    }
}
