//! Modbus efficiency: how few requests the planner sends, how much of a serial line a cycle
//! takes, and how a fleet of devices polls concurrently.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use collector::config::{Config, Endpoint};
use collector::modbus::profile::BUILTIN;
use collector::modbus::rtu::exchange_time;
use collector::stats::Stats;
use meter_sim::{DeviceSpec, Simulator};

/// A config with one device per built-in profile on a serial line at `baud`.
fn profiles_on_a_line(baud: u32) -> anyhow::Result<Config> {
    let mut text = format!(
        "[gateway]\nenterprise = \"bench\"\nsite = \"bench\"\n[storage]\ndata_dir = \"/tmp/bench\"\n\
         [[modbus.serial_lines]]\nname = \"rs485\"\ndevice = \"/dev/null\"\nbaud = {baud}\nparity = \"even\"\n"
    );
    for (i, (name, _)) in BUILTIN.iter().enumerate() {
        text.push_str(&format!("[[modbus.devices]]\nname = \"{name}\"\nline = \"rs485\"\nunit = {}\nprofile = \"{name}\"\ninterval = \"15s\"\n", i + 1));
    }
    Config::parse(Path::new("bench.toml"), &text).map_err(|e| anyhow::anyhow!("{e}"))
}

/// Requests per cycle for each built-in profile (every point due) against one request per
/// value, and each cycle's time on an RS-485 line at 9600 and 115200 baud, 8E1.
pub fn plan() -> anyhow::Result<()> {
    println!("{:<22} {:>7} {:>9} {:>7} {:>9} {:>13} {:>13} {:>13} {:>13}", "profile", "values", "requests", "ratio", "registers", "9600 ms", "9600 naive", "115200 ms", "115200 naive");
    let slow = profiles_on_a_line(9600)?;
    let fast = profiles_on_a_line(115_200)?;
    let (mut total_values, mut total_requests) = (0, 0);
    let mut cycle = [0.0f64; 4];
    for (d9, d115) in slow.devices.iter().zip(&fast.devices) {
        let (values, requests) = d9.cycle_requests(None);
        let items = d9.items(0..d9.map.points.len());
        let wire = |d: &collector::config::Device, naive: bool| -> f64 {
            let Endpoint::Serial(line) = &d.endpoint else { return 0.0 };
            if naive {
                items.iter().map(|i| exchange_time(line, i.location.data_type.words()).as_secs_f64()).sum::<f64>() * 1000.0
            } else {
                d.cycle_requests(None).1.iter().map(|r| exchange_time(line, r.count).as_secs_f64()).sum::<f64>() * 1000.0
            }
        };
        let figures = [wire(d9, false), wire(d9, true), wire(d115, false), wire(d115, true)];
        for (c, f) in cycle.iter_mut().zip(figures) {
            *c += f;
        }
        let registers: u16 = requests.iter().map(|r| r.count).sum();
        println!(
            "{:<22} {values:>7} {:>9} {:>7.3} {registers:>9} {:>13.1} {:>13.1} {:>13.1} {:>13.1}",
            d9.meter.as_str(),
            requests.len(),
            requests.len() as f64 / items.len() as f64,
            figures[0],
            figures[1],
            figures[2],
            figures[3]
        );
        total_values += items.len();
        total_requests += requests.len();
    }
    println!("all profiles: {total_requests} requests for {total_values} values ({:.3} of one request per value)", total_requests as f64 / total_values as f64);
    println!(
        "one meter of each profile on one line, all points every 15 s: {:.0} ms a cycle at 9600 baud ({:.1} % of the line; {:.1} % one request per value), {:.1} ms at 115200 ({:.2} %; {:.2} %)",
        cycle[0],
        cycle[0] / 150.0,
        cycle[1] / 150.0,
        cycle[2],
        cycle[2] / 150.0,
        cycle[3] / 150.0
    );
    println!("(wire time only: 8-byte request and 5+2n-byte answer at 11 bits a character, plus 3.5 characters of silence each; the meters' own turnaround comes on top)");
    Ok(())
}

/// Polls `devices` simulated meters, each on its own loopback address and answering after
/// `delay`, for `seconds`, and the same with one device; prints each cycle's worst time.
pub fn fleet(devices: usize, delay: &str, seconds: u64) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let one = runtime.block_on(poll_fleet(1, delay, seconds))?;
    let many = runtime.block_on(poll_fleet(devices, delay, seconds))?;
    println!("1 device: worst cycle {} ms", one.0);
    println!(
        "{devices} devices: worst cycle {} ms (median device's worst {} ms), {} skipped slots, {} failed requests: {:.2}x the single device",
        many.0,
        many.1,
        many.2,
        many.3,
        many.0 as f64 / one.0.max(1) as f64
    );
    println!("(meters simulated in the same process as the collector, on the same {} cores: {})", std::thread::available_parallelism().map_or(0, |n| n.get()), crate::machine());
    Ok(())
}

/// (worst cycle ms, median device's worst, skipped slots, failed requests)
async fn poll_fleet(devices: usize, delay: &str, seconds: u64) -> anyhow::Result<(u64, u64, u64, u64)> {
    let spec: DeviceSpec = format!("1=eastron_sdm630:slow={delay}@1").parse().map_err(anyhow::Error::msg)?;
    let sim = Arc::new(Simulator::new(&[spec], 1, None, None).map_err(anyhow::Error::msg)?);
    let dir = tempfile::tempdir()?;
    let mut text = crate::collector_config_head(dir.path(), "5s");
    for i in 0..devices {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.context("a loopback port")?;
        let port = listener.local_addr()?.port();
        tokio::spawn(meter_sim::serve(listener, Arc::clone(&sim), 0.0));
        text.push_str(&format!("[[modbus.devices]]\nname = \"m{i:03}\"\nhost = \"127.0.0.1\"\nport = {port}\nunit = 1\nprofile = \"eastron_sdm630\"\ninterval = \"1s\"\ntimeout = \"2s\"\n"));
    }
    let path = dir.path().join("collector.toml");
    std::fs::write(&path, &text)?;
    let config = Config::load(&path).map_err(|e| anyhow::anyhow!("{e}"))?;
    let stats = Arc::new(Stats::default());
    collector::run::run(config, Arc::clone(&stats), tokio::time::sleep(Duration::from_secs(seconds))).await?;
    let s = stats.snapshot();
    let mut worst: Vec<u64> = s.devices.values().map(|c| c.cycle_ms_max).collect();
    worst.sort_unstable();
    let skipped = s.devices.values().map(|c| c.skipped_slots()).sum();
    let failed = s.devices.values().map(|c| c.request_failures).sum();
    Ok((worst.last().copied().unwrap_or(0), worst.get(worst.len() / 2).copied().unwrap_or(0), skipped, failed))
}
