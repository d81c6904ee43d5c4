//! A journal at its budget under the block policy: polling pauses (counted as skipped slots),
//! nothing already journalled is lost, and SIGTERM still ends the collector promptly.

use std::time::{Duration, Instant};

use e2e::{device, free_port, run_collector, summary_row, write_config, Sim};

#[test]
fn a_full_journal_pauses_polling_and_shutdown_still_ends() {
    let sim = Sim::start(&["--device", "1=eastron_sdm630", "--device", "2=eastron_sdm630", "--device", "3=eastron_sdm630"]);
    let dir = tempfile::tempdir().unwrap();
    let influx_down = free_port();
    // InfluxDB never answers, so its cursor holds every segment; 8 KiB fill in about two seconds.
    let sinks = format!(
        "max_age = \"500ms\"\n\n[sinks.influxdb]\nurl = \"http://127.0.0.1:{influx_down}\"\napi = \"v1\"\ndatabase = \"energy\"\nretry_backoff = \"100ms\"\nmax_backoff = \"200ms\"\n\n[journal]\nsegment_bytes = 4096\nbudget_bytes = 8192\nwhen_full = \"block\"\nsync_delay = \"50ms\""
    );
    let p = sim.port();
    let devices = [device("a", p, 1, "eastron_sdm630", "1s", ""), device("b", p, 2, "eastron_sdm630", "1s", ""), device("c", p, 3, "eastron_sdm630", "1s", "")];
    let config = write_config(dir.path(), &sinks, &devices);
    let started = Instant::now();
    let out = run_collector(&config, "6s");
    assert!(out.status.success());
    assert!(started.elapsed() < Duration::from_secs(20), "shutdown took {:?}", started.elapsed());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("journal has no room: holding new readings"), "{stderr}");
    let skipped: u64 = ["a", "b", "c"].iter().map(|d| summary_row(&stdout, d)[2].parse::<u64>().unwrap()).sum();
    assert!(skipped > 0, "polling paused while the journal was full:\n{stdout}");

    // Everything that was journalled reached the Parquet store; InfluxDB still owes all of it.
    let stored = readings::store::read_range(&dir.path().join("data/readings"), chrono::DateTime::from_timestamp(0, 0).unwrap(), chrono::Utc::now()).unwrap();
    let journal = stdout.lines().find(|l| l.starts_with("journal:")).unwrap();
    let undelivered: usize = journal.split(", ").find_map(|p| p.strip_suffix(" undelivered")).and_then(|n| n.parse().ok()).unwrap();
    assert_eq!(undelivered, stored.len(), "{journal}");
}
