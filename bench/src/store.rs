//! The journal and the Parquet store on their own: how many readings a second each takes.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context as _;
use chrono::{DateTime, Duration, Utc};
use collector::journal::{Journal, JournalConfig};
use meter_sim::history::{generate, HistoryCounter};
use readings::{Measure, Medium, Quantity, Reading};

/// `count` realistic readings: 15-minute counters of 100 meters from 2026-01-01.
fn sample(count: u64) -> Vec<Reading> {
    let counters: Vec<HistoryCounter> = (0..100)
        .map(|i| HistoryCounter {
            enterprise: "91350100M000100Y43".parse().expect("a valid id"),
            site: "works".parse().expect("a valid site"),
            meter: format!("meter-{i:03}").parse().expect("a valid meter"),
            medium: Medium::Electricity,
            quantity: Quantity::total(Measure::ActiveEnergyImport),
            rated: 50.0 + f64::from(i),
            start_value: 1000.0 * f64::from(i),
            decimals: meter_sim::fleet::COUNTER_DECIMALS,
        })
        .collect();
    let from: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().expect("a time");
    let days = (count / (100 * 96) + 1) as i64;
    let mut out = Vec::with_capacity(count as usize);
    let _ = generate(&counters, from, from + Duration::days(days), Duration::minutes(15), |day| {
        out.extend_from_slice(day);
        Ok::<_, ()>(())
    });
    out.truncate(count as usize);
    out
}

/// Where a run writes: a fresh subdirectory of `dir` (removed by the caller when done), or a
/// temporary directory (removed when the returned guard drops).
fn work_dir(dir: Option<PathBuf>) -> anyhow::Result<(Option<tempfile::TempDir>, PathBuf)> {
    match dir {
        Some(d) => {
            std::fs::create_dir_all(&d).with_context(|| format!("creating {}", d.display()))?;
            let run = d.join(format!("bench-{}", std::process::id()));
            Ok((None, run))
        }
        None => {
            let t = tempfile::tempdir().context("a temporary directory")?;
            let p = t.path().join("run");
            Ok((Some(t), p))
        }
    }
}

/// Appends readings 100 at a time (a poll cycle or a burst of MQTT messages) and fsyncs every
/// `sync_records` of the default config, as the journal writer does under load.
pub fn journal(count: u64, dir: Option<PathBuf>) -> anyhow::Result<()> {
    let readings = sample(count);
    let (temp, path) = work_dir(dir)?;
    let config = JournalConfig { budget_bytes: u64::MAX / 2, ..JournalConfig::default() };
    let group = config.sync_records;
    let (mut journal, _) = Journal::open(&path, config, &["parquet"]).context("opening the journal")?;
    let started = Instant::now();
    let mut since_sync = 0;
    let mut syncs = 0u64;
    for chunk in readings.chunks(100) {
        journal.append(chunk)?;
        since_sync += chunk.len();
        if since_sync >= group {
            journal.sync()?;
            syncs += 1;
            since_sync = 0;
        }
    }
    journal.sync()?;
    let s = started.elapsed().as_secs_f64();
    let bytes = journal.disk_bytes();
    println!("journal: {} readings appended in batches of 100, fsync every {group}: {:.2} s, {:.0} readings/s, {syncs} fsyncs ({:.0}/s), {:.1} bytes/reading on disk", readings.len(), s, readings.len() as f64 / s, syncs as f64 / s, bytes as f64 / readings.len() as f64);
    println!("machine: {}; journal in {}", crate::machine(), path.display());
    if temp.is_none() {
        std::fs::remove_dir_all(&path).ok();
    }
    Ok(())
}

/// Writes readings through the Parquet store in the sink's default batches (10,000).
pub fn parquet(count: u64, dir: Option<PathBuf>) -> anyhow::Result<()> {
    let readings = sample(count);
    let (temp, path) = work_dir(dir)?;
    let writer = readings::store::StoreWriter::open(&path).context("opening the store")?;
    let started = Instant::now();
    let mut files = 0;
    for chunk in readings.chunks(10_000) {
        files += writer.write(chunk)?.len();
    }
    let s = started.elapsed().as_secs_f64();
    let bytes = dir_bytes(&path);
    println!("parquet store: {} readings in batches of 10000: {:.2} s, {:.0} readings/s, {files} files, {:.2} bytes/reading", readings.len(), s, readings.len() as f64 / s, bytes as f64 / readings.len() as f64);
    println!("machine: {}; store in {}", crate::machine(), path.display());
    if temp.is_none() {
        std::fs::remove_dir_all(&path).ok();
    }
    Ok(())
}

/// Bytes of the files under `dir`.
pub fn dir_bytes(dir: &std::path::Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .map(|e| {
            let p = e.path();
            if p.is_dir() {
                dir_bytes(&p)
            } else {
                e.metadata().map_or(0, |m| m.len())
            }
        })
        .sum()
}
