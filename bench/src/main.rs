//! `bench`: every benchmark of BENCHMARKS.md as a command that prints its figures. Build it in
//! release (`cargo run --release -p bench -- <what>`); none of them is a pass/fail test.

mod analytics_scale;
mod compare;
mod footprint;
mod ingest;
mod meter_lines;
mod modbus;
mod store;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Prints throughput, timing and size figures for the collector and the analytics job.
#[derive(Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    what: What,
}

#[derive(Subcommand)]
enum What {
    /// The journal alone: readings appended and fsynced per second, in groups of the default size.
    Journal {
        /// Readings to append.
        #[arg(long, default_value_t = 2_000_000)]
        readings: u64,
        /// Directory for the journal (default: a temporary one; put it on the disk you care about).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// The Parquet store: readings written per second in the sink's batches, and bytes per reading.
    Store {
        #[arg(long, default_value_t = 5_000_000)]
        readings: u64,
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Modbus requests per cycle for each built-in profile against one per value, and the share
    /// of an RS-485 line a cycle takes at 9600 and 115200 baud.
    ModbusPlan,
    /// The wire time of a cycle of each DL/T 645 profile and CJ/T 188 meter kind at 2400 and
    /// 9600 baud, one request per item against block reads.
    MeterLines,
    /// One poll cycle of N simulated Modbus TCP devices (each its own address, each answering
    /// after `--delay`) against one such device alone.
    ModbusFleet {
        #[arg(long, default_value_t = 200)]
        devices: usize,
        /// How long each simulated meter takes to answer.
        #[arg(long, default_value = "50ms")]
        delay: String,
        /// Seconds to poll (one cycle a second).
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
    /// Monthly accounts over a year of readings of a scaled-up demo fleet: generation, store
    /// size, and the accounts' time and peak memory (measured in a child process).
    Analytics {
        /// Readings to generate (about; whole counters over a year).
        #[arg(long, default_value_t = 10_000_000)]
        readings: u64,
        /// Directory for the store (default: a temporary one). Kept if given.
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Runs the accounts of `analytics` on a store and reports peak memory (used by `analytics`).
    #[command(hide = true)]
    AccountsChild { config: PathBuf, store: PathBuf, from: String, to: String, out: PathBuf },
    /// The collector's release binary size and its resident memory polling N simulated devices.
    Footprint {
        #[arg(long, default_value_t = 50)]
        devices: usize,
        #[arg(long, default_value_t = 20)]
        seconds: u64,
        /// The collector binary (default: target/release/collector next to this one).
        #[arg(long)]
        collector: Option<PathBuf>,
    },
    /// The same simulated plant polled every second by the collector, by a Python script on
    /// pymodbus and paho-mqtt, and by Node-RED with node-red-contrib-modbus: readings per second,
    /// CPU and memory of each. Needs Mosquitto; install the other two with
    /// bench/compare/install.sh (a contender not installed is reported, not fatal).
    Compare {
        #[arg(long, default_value_t = 50)]
        devices: usize,
        /// Seconds measured per contender, after the warm-up.
        #[arg(long, default_value_t = 30)]
        seconds: u64,
        /// Seconds each contender runs before the measurement starts.
        #[arg(long, default_value_t = 10)]
        warmup: u64,
        /// The collector binary (default: target/release/collector next to this one).
        #[arg(long)]
        collector: Option<PathBuf>,
        /// Node-RED's install directory (default: target/compare/node-red).
        #[arg(long)]
        node_red: Option<PathBuf>,
    },
    /// MQTT readings per second end to end (Mosquitto -> collector -> journal, fsync on) next to
    /// the same broker's raw delivery rate to `mosquitto_sub`, in the same run. Needs Mosquitto.
    Ingest {
        /// Messages to publish (each carries two readings).
        #[arg(long, default_value_t = 200_000)]
        messages: u64,
    },
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::new(std::env::var("RUST_LOG").unwrap_or_else(|_| "error".into()))).with_writer(std::io::stderr).init();
    let result = match Cli::parse().what {
        What::Journal { readings, dir } => store::journal(readings, dir),
        What::Store { readings, dir } => store::parquet(readings, dir),
        What::ModbusPlan => modbus::plan(),
        What::MeterLines => meter_lines::run(),
        What::ModbusFleet { devices, delay, seconds } => modbus::fleet(devices, &delay, seconds),
        What::Analytics { readings, dir } => analytics_scale::run(readings, dir),
        What::AccountsChild { config, store, from, to, out } => analytics_scale::child(&config, &store, &from, &to, &out),
        What::Footprint { devices, seconds, collector } => footprint::run(devices, seconds, collector),
        What::Ingest { messages } => ingest::run(messages),
        What::Compare { devices, seconds, warmup, collector, node_red } => compare::run(devices, seconds, warmup, collector, node_red),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// The workspace root (config/, bench/compare/): the current directory when it holds them, else
/// above this crate's sources.
pub fn workspace_root() -> PathBuf {
    if std::path::Path::new("config/demo").is_dir() && std::path::Path::new("bench/compare").is_dir() {
        PathBuf::from(".")
    } else {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
    }
}

/// A machine line for the figures: CPU model, cores, memory.
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo").ok().and_then(|t| t.lines().find_map(|l| l.strip_prefix("model name").map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned()))).unwrap_or_default();
    let mem = std::fs::read_to_string("/proc/meminfo").ok().and_then(|t| t.lines().find_map(|l| l.strip_prefix("MemTotal:").and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok()))).unwrap_or(0);
    format!("{cpu}, {} cores, {:.1} GiB", std::thread::available_parallelism().map_or(0, |n| n.get()), mem as f64 / 1048576.0)
}

/// The head of a benchmark collector's config: its identity, `data_dir`, and the Parquet sink
/// writing at least every `max_age`; the benchmark appends its devices or MQTT section.
pub fn collector_config_head(data_dir: &std::path::Path, max_age: &str) -> String {
    format!(
        "[gateway]\nenterprise = \"bench\"\nsite = \"bench\"\n[clock]\ntrusted = true\n[storage]\ndata_dir = {:?}\n[sinks.parquet]\nmax_age = \"{max_age}\"\n",
        data_dir.display().to_string()
    )
}

/// Peak and current resident memory of a process, MiB, from /proc.
pub fn memory_mib(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| status.lines().find_map(|l| l.strip_prefix(name).and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())).unwrap_or(0.0) / 1024.0;
    (field("VmHWM:"), field("VmRSS:"))
}
