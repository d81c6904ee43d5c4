//! `meter-sim`: serve simulated meters over Modbus TCP.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use clap::Parser;
use meter_sim::{serve, DeviceSpec, Simulator};
use tracing_subscriber::EnvFilter;

/// Serves simulated energy, water and steam meters over Modbus TCP, one unit id per meter, each
/// with a built-in profile's register map, a daily and weekly load shape, counters that only
/// grow, and optional faults.
///
/// Prints `listening on ADDRESS` once bound (use port 0 to let the system choose).
#[derive(Parser)]
#[command(version, about, long_about)]
struct Cli {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:5020")]
    listen: String,
    /// A meter: UNIT=PROFILE[:OPTIONS], options comma-separated: rated=N (kW, m3/h or t/h),
    /// exceptions=SHARE, slow=DURATION@SHARE, dead, rollover (integer counters wrap a minute after
    /// start), holes (exception 02 for registers no point covers). Repeat for more meters.
    #[arg(long = "device", required = true)]
    devices: Vec<DeviceSpec>,
    /// Seed of the meters' sizes, counter starts and noise.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Serve the values of this instant (RFC 3339) forever, instead of following the clock.
    #[arg(long)]
    freeze_at: Option<DateTime<Utc>>,
    /// Share of requests on which the connection is dropped instead of answered.
    #[arg(long, default_value_t = 0.0)]
    drop_connections: f64,
    /// Directory of extra profiles (NAME.toml), searched before the built-in ones.
    #[arg(long)]
    profiles_dir: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    let sim = Simulator::new(&cli.devices, cli.seed, cli.freeze_at, cli.profiles_dir.as_deref()).map_err(anyhow::Error::msg)?;
    let listener = tokio::net::TcpListener::bind(&cli.listen).await.with_context(|| format!("binding {}", cli.listen))?;
    println!("listening on {}", listener.local_addr()?);
    let sim = Arc::new(sim);
    tokio::select! {
        r = serve(listener, Arc::clone(&sim), cli.drop_connections) => r.context("serving")?,
        _ = tokio::signal::ctrl_c() => {}
    }
    let (served, refused) = sim.counts();
    eprintln!("served {served} requests, refused {refused}");
    Ok(())
}
