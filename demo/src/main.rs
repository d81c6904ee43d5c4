//! `demo`: the whole pipeline on the embedded default, with nothing to install. A simulated fleet
//! of SMEs in several product groups (config/demo/fleet.toml): the gateways of two plants run the
//! real collector live against simulated Modbus TCP and MQTT meters; a year of every plant's
//! counter readings is backfilled into the metering centre's Parquet store with its production;
//! then the analytics job computes the accounts and picks the leader candidates, and the demo
//! says where the report is.

mod broker;
mod live;

use std::path::{Path, PathBuf};
use std::time::Instant;

use analytics::jobs::Source;
use anyhow::Context as _;
use chrono::{Datelike as _, Duration, Utc};
use clap::Parser;
use readings::store::StoreWriter;
use readings::{Kind, Quality};

use crate::broker::BrokerChoice;
use meter_sim::fleet::{self, Fleet};

/// Runs the whole pipeline on a simulated fleet: live collection, a backfilled year, accounts
/// and leader candidates with their report. Nothing to install; a few minutes on 2 cores.
#[derive(Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    /// Where everything goes: gateways/<enterprise>/ (each live gateway's journal and store),
    /// centre/readings (the metering centre's store), centre/reference, centre/report.
    /// Emptied first if a previous demo made it.
    #[arg(long, default_value = "demo-data")]
    data_dir: PathBuf,
    /// How long the live gateways collect.
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// The fleet to simulate.
    #[arg(long, default_value = "config/demo/fleet.toml")]
    fleet: PathBuf,
    /// The directory holding coefficients/, leaders/ and data-quality.toml.
    #[arg(long, default_value = "config")]
    config_dir: PathBuf,
    /// The MQTT broker for the MQTT meters.
    #[arg(long, value_enum, default_value = "auto")]
    broker: BrokerChoice,
    /// Minutes between backfilled counter readings (the collector's usual energy interval is 15).
    #[arg(long, default_value_t = 15)]
    step_minutes: u32,
}

/// Marks a directory the demo made, so a rerun may empty it and nothing else is ever removed.
const MARKER: &str = ".made-by-demo";

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    // The demo prints its own progress; logs only say what went wrong unless RUST_LOG asks.
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| "warn,rumqttd=error".into());
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match run(&cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("demo: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: &Cli) -> anyhow::Result<()> {
    let started = Instant::now();
    let fleet = Fleet::load(&cli.fleet).map_err(|e| anyhow::anyhow!("{e}"))?;
    prepare_dir(&cli.data_dir)?;
    let data_dir = std::fs::canonicalize(&cli.data_dir)?;
    let centre = data_dir.join("centre");
    let store = centre.join("readings");
    let groups: std::collections::BTreeSet<&str> = fleet.plant.iter().map(|p| p.product_group.as_str()).collect();
    println!("fleet: {} plants in {} product groups ({}) from {}", fleet.plant.len(), groups.len(), groups.into_iter().collect::<Vec<_>>().join(", "), cli.fleet.display());

    // 1. Live: the real collector on the live plants' gateways.
    println!("\n1. live collection for {} s", cli.seconds);
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let needs_broker = fleet.plant.iter().any(|p| p.live == Some(fleet::Live::Mqtt));
    let broker = if needs_broker { Some(broker::start(cli.broker, &data_dir)?) } else { None };
    let gateways = runtime.block_on(live::run(&fleet, &data_dir.join("gateways"), cli.seconds, broker.as_ref()))?;
    // The simulated meters stop with the runtime, before their broker does.
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    drop(broker);
    for g in &gateways {
        println!("\n  {} ({}) collector summary:\n{}", g.name, g.plant, indent(&g.summary));
        print_store(&g.store)?;
    }

    // 2. The year behind the accounts.
    let window = fleet::history_window(Utc::now());
    println!("\n2. backfilling {}..{} for {} plants, a counter reading every {} min, into {}", window.0, window.1, fleet.plant.len(), cli.step_minutes, store.display());
    let readings = backfill(&fleet, window, cli.step_minutes, &store)?;
    let config = fleet::write_analytics_inputs(&fleet, window, &centre, &cli.config_dir)
        .with_context(|| format!("writing the reference files and the analytics config into {} (coefficients from {})", centre.display(), cli.config_dir.display()))?;
    // The live gateways' files go to the centre as a file sync would carry them.
    let shipped = ship(&gateways, &store)?;
    println!("  {readings} readings backfilled; {shipped} live files shipped from the gateways; reference files in {}", centre.join("reference").display());

    // 3. Accounts and leaders.
    println!("\n3. accounts and leader candidates over {}..{}", window.0, window.1);
    let out = centre.join("report");
    let run = analytics::jobs::leaders(&config, None, Source::Parquet(Some(store.clone())), window.0, window.1, &out, false)?;

    println!("\nleader candidates:");
    for r in &run.results {
        let picked: Vec<String> = r.assessments.iter().filter(|a| a.selected).map(|a| format!("{} ({})", a.name, a.enterprise)).collect();
        println!("  {:<16} {:<7} {}", r.product_group, r.programme.as_str(), if picked.is_empty() { "none".to_owned() } else { picked.join(", ") });
    }
    println!("\ndone in {:.0} s. Open the report: {}", started.elapsed().as_secs_f64(), run.report.display());
    println!("the same job by hand: cargo run --release -p analytics -- leaders --config {} --store {} --from {} --to {} --out {}", config.display(), store.display(), window.0, window.1, out.display());
    Ok(())
}

/// Creates `dir`, or empties it if a previous demo made it; refuses a directory it did not make.
fn prepare_dir(dir: &Path) -> anyhow::Result<()> {
    if dir.exists() {
        let empty = std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))?.next().is_none();
        anyhow::ensure!(empty || dir.join(MARKER).exists(), "{} exists and was not made by the demo; give another --data-dir", dir.display());
        for sub in ["gateways", "centre"] {
            let path = dir.join(sub);
            if path.exists() {
                std::fs::remove_dir_all(&path).with_context(|| format!("emptying {}", path.display()))?;
            }
        }
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::write(dir.join(MARKER), "made by `demo`; it empties gateways/ and centre/ here when it runs again\n")?;
    Ok(())
}

/// Writes a year of every plant's counters into the store, one day per file, with progress per
/// month; returns the readings written.
fn backfill(fleet: &Fleet, window: (chrono::NaiveDate, chrono::NaiveDate), step_minutes: u32, store: &Path) -> anyhow::Result<u64> {
    anyhow::ensure!(step_minutes > 0, "--step-minutes must be positive");
    let writer = StoreWriter::open(store).with_context(|| format!("opening the store at {}", store.display()))?;
    let counters = fleet.history_counters();
    let from = window.0.and_hms_opt(0, 0, 0).context("midnight")?.and_utc();
    let to = window.1.and_hms_opt(0, 0, 0).context("midnight")?.and_utc();
    let started = Instant::now();
    let mut written = 0u64;
    let mut month = from.month();
    let mut batch = Vec::new();
    meter_sim::history::generate(&counters, from, to, Duration::minutes(i64::from(step_minutes)), |day| {
        let Some(first) = day.first() else { return Ok(()) };
        if first.time.month() != month {
            println!("  {} done: {written} readings, {:.1} s", (first.time - Duration::days(1)).format("%Y-%m"), started.elapsed().as_secs_f64());
            month = first.time.month();
        }
        // A batch is one UTC day, and a plant is silent for whole days: decide once per day.
        let silent: Vec<&readings::EnterpriseId> = fleet.plant.iter().filter(|p| !fleet::reports_at(p, window, first.time)).map(|p| &p.id).collect();
        let keep: &[readings::Reading] = if silent.is_empty() {
            day
        } else {
            batch.clear();
            batch.extend(day.iter().filter(|r| !silent.contains(&&r.enterprise)).cloned());
            &batch
        };
        written += keep.len() as u64;
        if keep.is_empty() {
            return Ok(());
        }
        writer.write(keep).map(|_| ())
    })
    .with_context(|| format!("writing the backfill into {}", store.display()))?;
    println!("  {} done: {written} readings, {:.1} s", (to - Duration::days(1)).format("%Y-%m"), started.elapsed().as_secs_f64());
    Ok(written)
}

/// Copies each gateway's Parquet files into the centre's store, prefixed with the gateway, as a
/// file sync would; returns how many.
fn ship(gateways: &[live::GatewayRun], store: &Path) -> anyhow::Result<usize> {
    let mut n = 0;
    for g in gateways {
        let Ok(days) = std::fs::read_dir(&g.store) else { continue };
        for day in days {
            let day = day?.path();
            let Some(name) = day.file_name().and_then(|n| n.to_str()).filter(|n| n.starts_with("date=")) else { continue };
            let dest_dir = store.join(name);
            std::fs::create_dir_all(&dest_dir)?;
            for file in std::fs::read_dir(&day)? {
                let file = file?.path();
                if file.extension().is_some_and(|e| e == "parquet") {
                    let dest = dest_dir.join(format!("gw-{}-{}", g.plant, file.file_name().and_then(|n| n.to_str()).unwrap_or("part.parquet")));
                    std::fs::copy(&file, &dest).with_context(|| format!("copying {} to {}", file.display(), dest.display()))?;
                    n += 1;
                }
            }
        }
    }
    Ok(n)
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("    {l}")).collect::<Vec<_>>().join("\n")
}

/// Per meter and quantity of a gateway's store: readings, flagged, last value, consumption.
fn print_store(store: &Path) -> anyhow::Result<()> {
    let stored = readings::store::read_range(store, Utc::now() - Duration::days(2), Utc::now() + Duration::days(1)).context("reading a gateway's store back")?;
    println!("    its Parquet store ({}) holds {} readings:", store.display(), stored.len());
    println!("    {:<14} {:<24} {:>8} {:>8} {:>18} {:>14}", "meter", "quantity", "readings", "flagged", "last value", "consumed");
    let mut keys: Vec<(String, String)> = stored.iter().filter(|r| r.kind == Kind::Counter).map(|r| (r.meter.to_string(), r.quantity.to_string())).collect();
    keys.sort();
    keys.dedup();
    for (meter, quantity) in keys {
        let mut rows: Vec<_> = stored.iter().filter(|r| r.meter.as_str() == meter && r.quantity.to_string() == quantity).collect();
        rows.sort_by_key(|r| r.time);
        let flagged = rows.iter().filter(|r| r.quality != Quality::Good).count();
        let values: Vec<f64> = rows.iter().filter(|r| r.quality == Quality::Good).filter_map(|r| r.value).collect();
        let unit = rows[0].unit;
        let last = values.last().map_or("-".to_owned(), |v| format!("{v:.3} {unit}"));
        let consumed = match (values.first(), values.last()) {
            (Some(a), Some(b)) => format!("{:.3} {unit}", b - a),
            _ => String::new(),
        };
        println!("    {meter:<14} {quantity:<24} {:>8} {flagged:>8} {last:>18} {consumed:>14}", rows.len());
    }
    Ok(())
}
