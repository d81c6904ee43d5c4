//! A wall clock stepped backwards does not stop polling (issue 12, item 10).
//!
//! The collector runs under libfaketime (Debian's `faketime`, installed by tests/run) with its
//! wall clock read from a file the test rewrites: four seconds in, the clock goes back two
//! minutes. The monotonic clock is left alone (`FAKETIME_DONT_FAKE_MONOTONIC`), as NTP or an
//! operator's `date -s` would leave it. A poller that slept until its next slot by the wall
//! clock would be silent for those two minutes; this one re-plans within a second, counts the
//! step in `/metrics` and logs it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use e2e::{bin, curl, device, free_port, stored_readings, write_config, Sim};

/// libfaketime's multi-threaded build, where Debian's `faketime` package puts it (under the
/// machine's multiarch directory).
fn libfaketime() -> PathBuf {
    let found = std::fs::read_dir("/usr/lib").ok().into_iter().flatten().flatten().map(|e| e.path().join("faketime/libfaketimeMT.so.1")).find(|p| p.exists());
    found.unwrap_or_else(|| panic!("no /usr/lib/*/faketime/libfaketimeMT.so.1: install Debian's faketime package (tests/run does)"))
}

/// Sets the offset libfaketime reads: written beside and renamed, so that it never reads a
/// half-written file.
fn set_offset(file: &Path, offset: &str) {
    let tmp = file.with_extension("new");
    std::fs::write(&tmp, format!("{offset}\n")).unwrap();
    std::fs::rename(&tmp, file).unwrap();
}

#[test]
fn a_backward_clock_step_does_not_stop_polling() {
    let library = libfaketime();
    let sim = Sim::start(&["--device", "1=eastron_sdm630"]);
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let devices = [device("m1", sim.port(), 1, "eastron_sdm630", "1s", ""), format!("[health]\nlisten = \"127.0.0.1:{port}\"\n")];
    let config = write_config(dir.path(), "max_age = \"500ms\"", &devices);
    let offset = dir.path().join("faketime");
    set_offset(&offset, "+0");
    let child = Command::new(bin("collector"))
        .args(["run", "--config"])
        .arg(&config)
        .args(["--for", "14s"])
        .env("RUST_LOG", "info")
        .env("LD_PRELOAD", &library)
        .env("FAKETIME_TIMESTAMP_FILE", &offset)
        .env("FAKETIME_NO_CACHE", "1")
        .env("FAKETIME_DONT_FAKE_MONOTONIC", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(4));
    let stepped_at = chrono::Utc::now();
    set_offset(&offset, "-120");
    std::thread::sleep(Duration::from_secs(4));
    let metrics = curl(&[&format!("http://127.0.0.1:{port}/metrics")]);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("{stderr}");
    assert!(out.status.success(), "{stderr}");

    let steps = metrics.lines().find(|l| l.starts_with("collector_clock_steps_total")).unwrap_or_else(|| panic!("{metrics}"));
    assert_eq!(steps.split_whitespace().last(), Some("1"), "one step counted: {steps}");
    assert!(stderr.contains("the wall clock was stepped; polling follows the new time"), "the step is logged");

    // Readings before the step carry the real time; after it, two minutes less.
    let stored = stored_readings(dir.path());
    let times: std::collections::BTreeSet<_> = stored.iter().filter(|r| r.meter.as_str() == "m1").map(|r| r.time).collect();
    let before = times.iter().filter(|t| **t > stepped_at - chrono::Duration::seconds(30)).count();
    let after = times.iter().filter(|t| **t < stepped_at - chrono::Duration::seconds(60)).count();
    assert!(before >= 2, "polls before the step: {times:?}");
    // About ten 1 s slots remain after the step; a poller waiting out the two minutes has none.
    assert!(after >= 6, "polls after the clock went back two minutes: {after} ({times:?})");
}
