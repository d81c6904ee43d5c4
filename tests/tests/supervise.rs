//! A task that panics stops the whole collector with a non-zero exit (so systemd or Docker
//! restarts it), naming the task; nothing it had journalled is lost on the restart.
//!
//! No task of the collector panics on purpose, so the test names one in `COLLECTOR_PANIC_TASK`
//! (`NAME@MS`) and the supervisor makes it panic that long after it starts
//! (collector/src/supervise.rs). Were a task spawned outside the supervisor, or its end not
//! watched, the process would run on until `--for` and exit 0.

use std::process::Command;
use std::time::{Duration, Instant};

use e2e::{bin, device, stored_readings, write_config, Sim};

/// Runs the collector for at most `run_for` with `task` made to panic after `after_ms`.
fn run_with_panic(config: &std::path::Path, task: &str, after_ms: u64, run_for: &str) -> (std::process::Output, Duration) {
    let started = Instant::now();
    let out = Command::new(bin("collector"))
        .args(["run", "--config"])
        .arg(config)
        .args(["--for", run_for])
        .env("RUST_LOG", "info")
        .env("COLLECTOR_PANIC_TASK", format!("{task}@{after_ms}"))
        .output()
        .expect("collector runs");
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    (out, started.elapsed())
}

#[test]
fn a_panicking_task_stops_the_collector_non_zero_naming_it() {
    let sim = Sim::start(&["--device", "1=eastron_sdm630", "--device", "2=eastron_sdm630"]);
    for task in ["the poller of b", "the journal writer", "the health endpoint"] {
        let dir = tempfile::tempdir().unwrap();
        let p = sim.port();
        let devices = [device("a", p, 1, "eastron_sdm630", "1s", ""), device("b", p, 2, "eastron_sdm630", "1s", ""), "[health]\nlisten = \"127.0.0.1:0\"\n".to_owned()];
        let config = write_config(dir.path(), "max_age = \"200ms\"", &devices);
        let (out, took) = run_with_panic(&config, task, 2000, "60s");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{task}: the collector exited 0 after a task panicked:\n{stderr}");
        assert!(took < Duration::from_secs(30), "{task}: the collector ran on for {took:?} after the panic");
        assert!(stderr.contains(&format!("{task} panicked: injected by COLLECTOR_PANIC_TASK")), "{task}: the reason names the task:\n{stderr}");
    }
}

/// The Parquet sink panics before its first delivery (its batches wait up to a minute): the
/// store is empty when the process ends, and the restart delivers the readings the first run
/// journalled, from the journal alone.
#[test]
fn readings_journalled_before_a_sink_panicked_are_delivered_after_the_restart() {
    let sim = Sim::start(&["--device", "1=eastron_sdm630"]);
    let dir = tempfile::tempdir().unwrap();
    let devices = [device("a", sim.port(), 1, "eastron_sdm630", "1s", "")];
    let config = write_config(dir.path(), "max_age = \"60s\"", &devices);
    let (out, _) = run_with_panic(&config, "the parquet sink", 5000, "60s");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("the parquet sink panicked"));
    assert!(stored_readings(dir.path()).is_empty(), "the sink delivered before it panicked: the test shows nothing");

    let restarted = chrono::Utc::now();
    let out = Command::new(bin("collector")).args(["run", "--config"]).arg(&config).args(["--for", "1s"]).output().unwrap();
    assert!(out.status.success(), "the restart: {}", String::from_utf8_lossy(&out.stderr));
    let first_run = stored_readings(dir.path()).into_iter().filter(|r| r.time < restarted).count();
    // The restart's own slots all fall after `restarted`.
    assert!(first_run > 0, "no reading of the first run reached the store after the restart");
}
