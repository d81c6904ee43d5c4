//! The analytics job at scale: a year of the demo fleet, repeated until it holds the readings
//! asked for, written to the Parquet store; then monthly accounts over it in a child process,
//! whose peak memory is read from /proc when it ends.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use analytics::jobs::Source;
use analytics::period::PeriodKind;
use anyhow::Context as _;
use chrono::{Duration, NaiveDate};
use meter_sim::fleet::{self, Fleet};
use readings::store::StoreWriter;

/// The demo fleet file.
fn fleet_file() -> PathBuf {
    crate::workspace_root().join("config/demo/fleet.toml")
}

pub fn run(readings: u64, dir: Option<PathBuf>) -> anyhow::Result<()> {
    let base = Fleet::load(&fleet_file()).map_err(|e| anyhow::anyhow!("{e}"))?;
    let window = (NaiveDate::from_ymd_opt(2025, 1, 1).context("a date")?, NaiveDate::from_ymd_opt(2026, 1, 1).context("a date")?);
    let per_counter = 365 * 96;
    let counters_per_copy = base.history_counters().len() as u64;
    let copies = readings.div_ceil(counters_per_copy * per_counter).max(1) as usize;
    let fleet = base.scaled(copies)?;
    let counters = fleet.history_counters();
    let (_temp, root) = match dir {
        Some(d) => (None, d),
        None => {
            let t = tempfile::tempdir()?;
            let p = t.path().to_owned();
            (Some(t), p)
        }
    };
    let store = root.join("readings");
    anyhow::ensure!(!store.exists(), "{} exists; give an empty --dir", store.display());
    println!("{} plants ({} copies of the demo fleet), {} counters, a reading every 15 min over {}..{}", fleet.plant.len(), copies, counters.len(), window.0, window.1);

    let writer = StoreWriter::open(&store)?;
    let from = window.0.and_hms_opt(0, 0, 0).context("midnight")?.and_utc();
    let to = window.1.and_hms_opt(0, 0, 0).context("midnight")?.and_utc();
    let started = Instant::now();
    let mut written = 0u64;
    meter_sim::history::generate(&counters, from, to, Duration::minutes(15), |day| {
        written += day.len() as u64;
        writer.write(day).map(|_| ())
    })?;
    let generate_s = started.elapsed().as_secs_f64();
    let bytes = crate::store::dir_bytes(&store);
    println!("generated and stored {written} readings in {generate_s:.1} s ({:.0}/s); store {:.1} MiB, {:.2} bytes/reading", written as f64 / generate_s, bytes as f64 / 1048576.0, bytes as f64 / written as f64);

    let fleet_path = std::fs::canonicalize(fleet_file())?;
    let config_dir = fleet_path.parent().and_then(Path::parent).context("config/ above config/demo/")?;
    let config = fleet::write_analytics_inputs(&fleet, window, &root, config_dir)?;

    let out = root.join("accounts");
    let started = Instant::now();
    let child = Command::new(std::env::current_exe()?)
        .arg("accounts-child")
        .args([&config, &store])
        .args([window.0.to_string(), window.1.to_string()])
        .arg(&out)
        .output()
        .context("running the accounts")?;
    let wall = started.elapsed().as_secs_f64();
    let stdout = String::from_utf8_lossy(&child.stdout);
    anyhow::ensure!(child.status.success(), "the accounts failed:\n{}", String::from_utf8_lossy(&child.stderr));
    let peak = stdout.lines().find_map(|l| l.strip_prefix("peak_rss_mib ")).unwrap_or("?");
    let rows = stdout.lines().filter(|l| l.contains(" 2025-")).count();
    println!("monthly accounts over {written} readings: {wall:.1} s wall, peak RSS {peak} MiB, {rows} enterprise-months");
    println!("{}", stdout.lines().find(|l| l.contains("enterprise-periods from")).unwrap_or(""));
    println!("machine: {}", crate::machine());
    Ok(())
}

/// In the child: the accounts, then this process's peak resident memory.
pub fn child(config: &Path, store: &Path, from: &str, to: &str, out: &Path) -> anyhow::Result<()> {
    let from: NaiveDate = from.parse()?;
    let to: NaiveDate = to.parse()?;
    analytics::jobs::accounts(config, Source::Parquet(Some(store.to_owned())), from, to, PeriodKind::Month, None, &[], out)?;
    println!("peak_rss_mib {:.0}", crate::memory_mib(std::process::id()).0);
    Ok(())
}
