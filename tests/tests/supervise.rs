//! A task that panics stops the whole collector with a non-zero exit (so systemd or Docker
//! restarts it), naming the task; nothing it had journalled is lost on the restart.
//!
//! No task of the collector panics on purpose, so the test names one in `COLLECTOR_PANIC_TASK`
//! and the supervisor makes it panic two seconds after it starts (collector/src/supervise.rs).
//! Were a task spawned outside the supervisor, or its end not watched, the process would run on
//! until `--for` and exit 0.

use std::process::Command;
use std::time::{Duration, Instant};

use e2e::{bin, device, stored_readings, write_config, Sim};

/// Runs the collector for at most `run_for` with `task` made to panic.
fn run_with_panic(config: &std::path::Path, task: &str, run_for: &str) -> (std::process::Output, Duration) {
    let started = Instant::now();
    let out = Command::new(bin("collector"))
        .args(["run", "--config"])
        .arg(config)
        .args(["--for", run_for])
        .env("RUST_LOG", "info")
        .env("COLLECTOR_PANIC_TASK", task)
        .output()
        .expect("collector runs");
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    (out, started.elapsed())
}

#[test]
fn a_panicking_task_stops_the_collector_non_zero_and_nothing_is_lost() {
    let sim = Sim::start(&["--device", "1=eastron_sdm630", "--device", "2=eastron_sdm630"]);
    for task in ["the parquet sink", "the poller of b", "the journal writer"] {
        let dir = tempfile::tempdir().unwrap();
        let p = sim.port();
        let devices = [device("a", p, 1, "eastron_sdm630", "1s", ""), device("b", p, 2, "eastron_sdm630", "1s", "")];
        let config = write_config(dir.path(), "max_age = \"200ms\"", &devices);
        let (out, took) = run_with_panic(&config, task, "60s");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{task}: the collector exited 0 after a task panicked:\n{stderr}");
        assert!(took < Duration::from_secs(20), "{task}: the collector ran on for {took:?} after the panic");
        assert!(stderr.contains(&format!("{task} panicked: injected by COLLECTOR_PANIC_TASK")), "{task}: the reason names the task:\n{stderr}");

        // Restarted, it delivers what the first run journalled: readings from before the panic.
        let restarted = chrono::Utc::now();
        let out = Command::new(bin("collector")).args(["run", "--config"]).arg(&config).args(["--for", "2s"]).output().unwrap();
        assert!(out.status.success(), "{task}: the restart: {}", String::from_utf8_lossy(&out.stderr));
        let stored = stored_readings(dir.path());
        let before = stored.iter().filter(|r| r.time < restarted - chrono::Duration::seconds(1)).count();
        assert!(before > 0, "{task}: readings of the first run reached the store after the restart ({} stored)", stored.len());
    }
}
