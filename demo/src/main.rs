//! `demo`: the whole collection path on the embedded default, with nothing to install. Simulated
//! meters of every built-in profile serve Modbus TCP on loopback, the collector polls them into
//! the Parquet store, and a summary of what was stored is printed at the end.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use clap::Parser;
use collector::config::Config;
use collector::stats::Stats;
use meter_sim::{DeviceSpec, Simulator};
use readings::{Kind, Quality};

/// Runs simulated meters and the collector for a while, then summarises the Parquet store.
#[derive(Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    /// Where the collector keeps its data (the store is `<data-dir>/readings`).
    #[arg(long, default_value = "demo-data")]
    data_dir: PathBuf,
    /// How long to collect.
    #[arg(long, default_value_t = 20)]
    seconds: u64,
}

/// The simulated plant: every built-in profile on one gateway, plus a meter that fails now and then.
const DEVICES: &[(&str, u8, &str, &str)] = &[
    ("main-incomer", 1, "eastron_sdm630", "rated=180"),
    ("workshop-a", 2, "chint_dtsu666", "rated=60"),
    ("compressors", 3, "schneider_iem3000", "rated=90,exceptions=0.1"),
    ("office", 4, "acrel_adw300", "rated=15"),
    ("water-main", 5, "tuf2000m", "rated=12"),
    ("steam-header", 6, "generic_vortex_steam", "rated=3"),
];

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into());
    tracing_subscriber_init(&filter);

    // 1. The meters.
    let specs: Vec<DeviceSpec> = DEVICES
        .iter()
        .map(|(_, unit, profile, opts)| format!("{unit}={profile}:{opts}").parse().map_err(anyhow::Error::msg))
        .collect::<anyhow::Result<_>>()?;
    let sim = Arc::new(Simulator::new(&specs, 2026, None, None).map_err(anyhow::Error::msg)?);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.context("binding a loopback port for the simulator")?;
    let addr = listener.local_addr()?;
    tokio::spawn(meter_sim::serve(listener, Arc::clone(&sim), 0.0));
    println!("simulated plant: {} meters serving Modbus TCP on {addr}", DEVICES.len());

    // 2. The collector's config, as a plant engineer would write it.
    std::fs::create_dir_all(&cli.data_dir).with_context(|| format!("creating {}", cli.data_dir.display()))?;
    let data_dir = std::fs::canonicalize(&cli.data_dir)?;
    let mut text = format!(
        "[gateway]\nenterprise = \"91350100M000100Y43\"\nsite = \"demo-plant\"\n\n[storage]\ndata_dir = {:?}\n\n[sinks.parquet]\nmax_age = \"5s\"\n",
        data_dir.display().to_string()
    );
    for (name, unit, profile, _) in DEVICES {
        text.push_str(&format!(
            "\n[[modbus.devices]]\nname = \"{name}\"\nhost = \"127.0.0.1\"\nport = {}\nunit = {unit}\nprofile = \"{profile}\"\ninterval = \"1s\"\ntimeout = \"500ms\"\n",
            addr.port()
        ));
    }
    let config_path = data_dir.join("collector.toml");
    std::fs::write(&config_path, &text)?;
    let config = Config::load(&config_path).map_err(|e| anyhow::anyhow!("{e}"))?;
    let store = config.store_dir();
    println!("collector config: {}", config_path.display());

    // 3. Collect, with progress.
    let stats = Arc::new(Stats::default());
    let started: DateTime<Utc> = Utc::now();
    let run_for = Duration::from_secs(cli.seconds);
    let collector = tokio::spawn(collector::run::run(config, Arc::clone(&stats), tokio::time::sleep(run_for)));
    let mut progress = tokio::time::interval(Duration::from_secs(5));
    progress.tick().await;
    for elapsed in (5..cli.seconds).step_by(5) {
        progress.tick().await;
        let s = stats.snapshot();
        let good: u64 = s.devices.values().map(|c| c.readings_good).sum();
        let failed: u64 = s.devices.values().map(|c| c.request_failures).sum();
        let written: u64 = s.sinks.values().map(|c| c.readings).sum();
        println!("  {elapsed:>3}/{} s: {good} good readings, {failed} failed requests, {written} stored", cli.seconds);
    }
    let summary = collector.await.context("the collector task")??;
    println!("\ncollector summary:\n{summary}");

    // 4. What the store now holds.
    let stored = readings::store::read_range(&store, started - chrono::Duration::seconds(1), Utc::now() + chrono::Duration::seconds(1))
        .context("reading the store back")?;
    println!("\nthe Parquet store at {} holds {} readings from this run:", store.display(), stored.len());
    println!("{:<14} {:<24} {:>8} {:>8} {:>16} {:>16}", "meter", "quantity", "readings", "not good", "last value", "consumed");
    let mut keys: Vec<(String, String)> = stored.iter().map(|r| (r.meter.to_string(), r.quantity.to_string())).collect();
    keys.sort();
    keys.dedup();
    for (meter, quantity) in keys {
        let mut rows: Vec<_> = stored.iter().filter(|r| r.meter.as_str() == meter && r.quantity.to_string() == quantity).collect();
        rows.sort_by_key(|r| r.time);
        let flagged = rows.iter().filter(|r| r.quality != Quality::Good).count();
        let values: Vec<f64> = rows.iter().filter(|r| r.quality == Quality::Good).filter_map(|r| r.value).collect();
        let unit = rows[0].unit;
        let last = values.last().map_or("-".to_owned(), |v| format!("{v:.3} {unit}"));
        let consumed = match (rows[0].kind, values.first(), values.last()) {
            (Kind::Counter, Some(a), Some(b)) => format!("{:.3} {unit}", b - a),
            _ => String::new(),
        };
        println!("{meter:<14} {quantity:<24} {:>8} {flagged:>8} {last:>16} {consumed:>16}", rows.len());
    }
    println!("\nnext: `cargo run -p analytics -- summary --store {}` scans the same store with polars", store.display());
    Ok(())
}

fn tracing_subscriber_init(filter: &str) {
    // The demo prints its own progress; logs only say what went wrong unless RUST_LOG asks.
    let _ = tracing::subscriber::set_global_default(
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_writer(std::io::stderr)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .finish(),
    );
}
