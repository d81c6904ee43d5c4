//! The collector's footprint: its release binary's size, and its resident memory while it polls
//! simulated devices (served by this process, measured in the collector's).

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use meter_sim::{DeviceSpec, Simulator};

/// The built-in profiles, each simulated meter takes the next.
const PROFILES: [&str; 6] = ["eastron_sdm630", "chint_dtsu666", "schneider_iem3000", "acrel_adw300", "tuf2000m", "generic_vortex_steam"];

/// Serves `devices` simulated meters, each on its own loopback port (a plant of Modbus TCP
/// meters), all profiles in turn, from tasks of the current runtime; returns the collector's
/// `[[modbus.devices]]` for them, polled every second.
pub async fn simulated_plant(devices: usize) -> anyhow::Result<String> {
    let specs: Vec<DeviceSpec> = PROFILES.iter().enumerate().map(|(i, p)| format!("{}={p}", i + 1).parse().map_err(anyhow::Error::msg)).collect::<anyhow::Result<_>>()?;
    let sim = Arc::new(Simulator::new(&specs, 1, None, None).map_err(anyhow::Error::msg)?);
    let mut text = String::new();
    for i in 0..devices {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        tokio::spawn(meter_sim::serve(listener, Arc::clone(&sim), 0.0));
        let k = i % PROFILES.len();
        text.push_str(&format!("[[modbus.devices]]\nname = \"m{i:03}\"\nhost = \"127.0.0.1\"\nport = {port}\nunit = {}\nprofile = \"{}\"\ninterval = \"1s\"\n", k + 1, PROFILES[k]));
    }
    Ok(text)
}

pub fn run(devices: usize, seconds: u64, collector: Option<PathBuf>) -> anyhow::Result<()> {
    let collector = match collector {
        Some(c) => c,
        None => std::env::current_exe()?.with_file_name("collector"),
    };
    let size = std::fs::metadata(&collector).with_context(|| format!("{} (build it: cargo build --release -p collector)", collector.display()))?.len();
    println!("collector binary {}: {:.1} MiB", collector.display(), size as f64 / 1048576.0);

    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let dir = tempfile::tempdir()?;
    let devices_toml = runtime.block_on(simulated_plant(devices))?;
    let config = dir.path().join("collector.toml");
    std::fs::write(&config, crate::collector_config_head(dir.path(), "10s") + &devices_toml)?;
    let child = Command::new(&collector).args(["run", "--config"]).arg(&config).stdout(Stdio::piped()).stderr(Stdio::null()).spawn()?;
    let pid = child.id();
    let mut samples = Vec::new();
    runtime.block_on(async {
        for _ in 0..seconds {
            tokio::time::sleep(Duration::from_secs(1)).await;
            samples.push(crate::memory_mib(pid).1);
        }
    });
    let (peak, now) = crate::memory_mib(pid);
    let _ = Command::new("kill").args(["-TERM", &pid.to_string()]).status();
    let out = child.wait_with_output()?;
    let summary = String::from_utf8_lossy(&out.stdout);
    let good: u64 = summary.lines().filter_map(|l| l.split_whitespace().nth(4)?.parse::<u64>().ok()).sum();
    println!(
        "collector polling {devices} Modbus TCP devices every second for {seconds} s: RSS {now:.1} MiB at the end (min {:.1}, max {:.1} over the run), peak {peak:.1} MiB; {good} good readings",
        samples.iter().copied().fold(f64::INFINITY, f64::min),
        samples.iter().copied().fold(0.0, f64::max)
    );
    println!("machine: {}", crate::machine());
    Ok(())
}
