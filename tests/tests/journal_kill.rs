//! The journal: a collector killed with SIGKILL loses no reading it had journalled; the next start
//! delivers them to the store, once.

use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::time::Duration;

use chrono::{DateTime, Utc};
use e2e::{bin, device, run_collector, write_config, Sim};

#[test]
fn sigkill_then_restart_delivers_every_journalled_reading_once() {
    let sim = Sim::start(&["--device", "1=eastron_sdm630"]);
    let dir = tempfile::tempdir().unwrap();
    // The sink never flushes on its own: at the kill, every reading exists only in the journal.
    let config = write_config(dir.path(), "max_age = \"1h\"\nmax_rows = 1000000", &[device("m", sim.port(), 1, "eastron_sdm630", "1s", "")]);
    let mut first = Command::new(bin("collector")).args(["run", "--config"]).arg(&config).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(4500));
    first.kill().unwrap(); // SIGKILL
    first.wait().unwrap();
    let killed_at = Utc::now();
    let store = dir.path().join("data/readings");
    let everything = |store: &std::path::Path| readings::store::read_range(store, DateTime::from_timestamp(0, 0).unwrap(), Utc::now()).unwrap();
    assert!(everything(&store).is_empty(), "nothing reached the store before the kill");

    let out = run_collector(&config, "1500ms");
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let recovered: usize = stdout
        .lines()
        .find_map(|l| l.strip_prefix("journal: "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no journal line in:\n{stdout}"));

    let stored = everything(&store);
    let before_kill: Vec<_> = stored.iter().filter(|r| r.time < killed_at).collect();
    // Slots of the first run: consecutive seconds, each with all 16 points, none twice.
    let slots: BTreeSet<i64> = before_kill.iter().map(|r| r.time.timestamp()).collect();
    assert!(slots.len() >= 3, "{slots:?}");
    assert_eq!(slots.last().unwrap() - slots.first().unwrap() + 1, slots.len() as i64, "a slot is missing: {slots:?}");
    assert_eq!(before_kill.len(), slots.len() * 16);
    let unique: BTreeSet<(i64, String)> = stored.iter().map(|r| (r.time.timestamp_millis(), r.quantity.to_string())).collect();
    assert_eq!(unique.len(), stored.len(), "a reading was stored twice");
    // The restart says how many it found in the journal; they are exactly the first run's.
    assert_eq!(recovered, before_kill.len(), "{stdout}");
}
