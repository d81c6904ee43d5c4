//! The collector's health endpoint: `/metrics` parses as Prometheus text and its counters move
//! as the simulator's faults happen; `/healthz` answers.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::Duration;

use e2e::{bin, curl, device, free_port, write_config, Sim};

/// Parses the Prometheus text format strictly enough to catch a malformed exposition: every
/// sample's family declared by `# TYPE` before it, names and labels well formed, values numbers.
fn parse(text: &str) -> BTreeMap<String, f64> {
    let name_ok = |n: &str| !n.is_empty() && n.chars().enumerate().all(|(i, c)| c.is_ascii_alphabetic() || c == '_' || c == ':' || (i > 0 && c.is_ascii_digit()));
    let mut types: BTreeMap<String, String> = BTreeMap::new();
    let mut samples = BTreeMap::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("# TYPE name kind");
            assert!(name_ok(name) && ["counter", "gauge"].contains(&kind), "{line}");
            types.insert(name.to_owned(), kind.to_owned());
            continue;
        }
        if line.starts_with("# HELP ") {
            continue;
        }
        assert!(!line.starts_with('#'), "unknown comment: {line}");
        let (series, value) = line.rsplit_once(' ').expect("series value");
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("not a number: {line}"));
        let name = series.split('{').next().unwrap();
        assert!(name_ok(name) && types.contains_key(name), "undeclared or bad name: {line}");
        if let Some(labels) = series.strip_prefix(name).filter(|l| !l.is_empty()) {
            let inner = labels.strip_prefix('{').and_then(|l| l.strip_suffix('}')).unwrap_or_else(|| panic!("labels: {line}"));
            for pair in inner.split("\",") {
                let (k, v) = pair.split_once("=\"").unwrap_or_else(|| panic!("label: {line}"));
                assert!(name_ok(k) && !v.trim_end_matches('"').contains('"'), "label: {line}");
            }
        }
        if types[name] == "counter" {
            assert!(value >= 0.0, "a counter below zero: {line}");
        }
        samples.insert(series.to_owned(), value);
    }
    samples
}

#[test]
fn metrics_parse_and_move_with_the_faults() {
    let sim = Sim::start(&["--device", "1=eastron_sdm630", "--device", "2=acrel_adw300:dead"]);
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let devices = [
        device("healthy", sim.port(), 1, "eastron_sdm630", "1s", "timeout = \"300ms\""),
        device("dead", sim.port(), 2, "acrel_adw300", "1s", "timeout = \"300ms\""),
        format!("[health]\nlisten = \"127.0.0.1:{port}\"\n"),
    ];
    let config = write_config(dir.path(), "max_age = \"1s\"", &devices);
    let mut child = Command::new(bin("collector"))
        .args(["run", "--config"])
        .arg(&config)
        .args(["--for", "7s"])
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let url = |path: &str| format!("http://127.0.0.1:{port}{path}");
    let mut up = false;
    for _ in 0..50 {
        std::thread::sleep(Duration::from_millis(100));
        if Command::new("curl").args(["-sf", &url("/healthz")]).output().is_ok_and(|o| o.status.success()) {
            up = true;
            break;
        }
    }
    assert!(up, "the health endpoint did not answer");
    assert_eq!(curl(&[&url("/healthz")]), "ok\n");

    std::thread::sleep(Duration::from_millis(1500));
    let first = parse(&curl(&[&url("/metrics")]));
    std::thread::sleep(Duration::from_millis(2500));
    let second = parse(&curl(&[&url("/metrics")]));
    assert!(child.wait().unwrap().success());

    let get = |m: &BTreeMap<String, f64>, k: &str| *m.get(k).unwrap_or_else(|| panic!("{k} missing from {m:?}"));
    let healthy = "collector_device_requests_total{device=\"healthy\"}";
    assert!(get(&second, healthy) > get(&first, healthy), "the healthy meter's requests move");
    let good = "collector_device_readings_total{device=\"healthy\",quality=\"good\"}";
    assert!(get(&second, good) > get(&first, good));
    let timeouts = "collector_device_request_failures_total{device=\"dead\",reason=\"timeout\"}";
    assert!(get(&first, timeouts) >= 1.0, "the dead meter's timeouts are counted");
    // Backed off after three failed cycles, re-probed later: its slots are skipped meanwhile.
    let skipped = "collector_device_skipped_slots_total{device=\"dead\"}";
    assert!(get(&second, skipped) > get(&first, skipped) || get(&second, timeouts) > get(&first, timeouts));
    let delivered = "collector_sink_readings_total{sink=\"parquet\"}";
    assert!(get(&second, delivered) > 0.0);
    assert!(second.contains_key("collector_sink_lag_readings{sink=\"parquet\"}") && second.contains_key("collector_journal_bytes"));
    assert!(get(&second, "collector_uptime_seconds") > get(&first, "collector_uptime_seconds"));
}
