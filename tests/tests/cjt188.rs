//! CJ/T 188 water and heat meters behind one serial server passing raw frames (a Python meter
//! written from the published examples, tests/servers/cjt188_server.py), with a third meter on
//! the bus that never answers: the two read back exactly, each value converted by its own unit
//! code (kWh of heat into GJ), the heat meter's temperatures and working hours beside them, and
//! keep their cadence; the dead one costs its timeout.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use e2e::{free_port, run_collector, stored_readings, summary_row};
use readings::{Quality, Unit};

struct Meters(Child);

impl Drop for Meters {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn water_and_heat_meters_read_back_exactly_and_a_dead_one_costs_its_timeout() {
    let port = free_port();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("servers/cjt188_server.py");
    let mut child = Command::new("python3")
        .arg(script)
        .args(["--port", &port.to_string(), "--clock-now", "--water", "10:00000000000001:1234.56", "--heat", "20:00000000000002:98765.43:12.34:1.2345:4321.09"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("python3 runs the CJ/T 188 meters");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "listening");
    let _meters = Meters(child);

    let dir = tempfile::tempdir().unwrap();
    let device = |name: &str, kind: &str, address: &str, extra: &str| {
        format!("[[cjt188.devices]]\nname = \"{name}\"\nhost = \"127.0.0.1\"\nport = {port}\nmeter_type = \"{kind}\"\naddress = \"{address}\"\ninterval = \"1s\"\n{extra}\n")
    };
    let text = format!(
        "[gateway]\nenterprise = \"91350100M000100Y43\"\nsite = \"plant-1\"\n\n[clock]\ntrusted = true\n\n[storage]\ndata_dir = \"data\"\n\n[sinks.parquet]\nmax_age = \"1s\"\n\n{}{}{}",
        device("water-main", "cold_water", "00000000000001", ""),
        device("heat-1", "heat", "00000000000002", ""),
        device("water-dead", "cold_water", "00000000000003", "timeout = \"300ms\""),
    );
    let config = dir.path().join("collector.toml");
    std::fs::write(&config, text).unwrap();
    // Twice: the settlement-day values are stored once across restarts.
    assert!(run_collector(&config, "3s").status.success());
    let out = run_collector(&config, "6s");
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(summary_row(&stdout, "water-main").last().map(String::as_str), Some("-"), "{stdout}");
    assert_eq!(summary_row(&stdout, "heat-1").last().map(String::as_str), Some("-"), "{stdout}");
    assert!(summary_row(&stdout, "water-dead").iter().any(|c| c.starts_with("timeout=")), "{stdout}");

    let stored = stored_readings(dir.path());
    let values = |meter: &str, quantity: &str| -> Vec<(i64, Option<f64>, Quality)> {
        let mut v: Vec<_> = stored.iter().filter(|r| r.meter.as_str() == meter && r.quantity.to_string() == quantity && r.quality != Quality::MeterMemory).map(|r| (r.time.timestamp(), r.value, r.quality)).collect();
        v.sort_by_key(|x| x.0);
        v
    };
    let gj = Unit::KWh.convert(98765.43, Unit::GJ).unwrap();
    for (meter, quantity, want) in [
        ("water-main", "volume", 1234.56),
        ("heat-1", "heat_energy", gj),
        ("heat-1", "heat_power", 12.34),
        ("heat-1", "volume_flow", 1.2345),
        ("heat-1", "volume", 4321.09),
        // The server's fixed supply and return temperatures and working hours.
        ("heat-1", "supply_temperature", 75.5),
        ("heat-1", "return_temperature", 45.25),
        ("heat-1", "operating_time", 1234.0),
    ] {
        let got = values(meter, quantity);
        assert!(got.len() >= 4, "{meter} {quantity}: {got:?}");
        assert!(got.iter().all(|(_, v, q)| *v == Some(want) && *q == Quality::Good), "{meter} {quantity}: {got:?}, want {want}");
        // One reading every 1 s slot from the first to the last: the dead meter cost only its
        // own timeout.
        // The second run's slots: one a second from its first to its last.
        let second: Vec<_> = got.iter().filter(|g| g.0 >= got.last().unwrap().0 - 3).collect();
        assert!(second.len() >= 4, "{meter} {quantity}: {got:?}");
    }
    // The settlement-day values: once each, at the 1st of this month 00:00 in UTC+8 (the
    // meters settle on the 1st), from the meter's memory.
    let cst = chrono::FixedOffset::east_opt(8 * 3600).unwrap();
    let first = {
        use chrono::{Datelike, TimeZone};
        let today = chrono::Utc::now().with_timezone(&cst).date_naive();
        cst.from_local_datetime(&today.with_day(1).unwrap().and_hms_opt(0, 0, 0).unwrap()).unwrap().timestamp()
    };
    let memory: Vec<(String, String, i64, Option<f64>)> = stored
        .iter()
        .filter(|r| r.quality == Quality::MeterMemory)
        .map(|r| (r.meter.to_string(), r.quantity.to_string(), r.time.timestamp(), r.value))
        .collect();
    let heat = Unit::KWh.convert(98765.43 - 100.0, Unit::GJ).unwrap();
    assert_eq!(memory.len(), 2, "{memory:?}");
    assert!(memory.contains(&("water-main".into(), "volume".into(), first, Some(1224.56))), "{memory:?}");
    assert!(memory.contains(&("heat-1".into(), "heat_energy".into(), first, Some(heat))), "{memory:?}");
    let dead = values("water-dead", "volume");
    assert!(!dead.is_empty() && dead.iter().all(|(_, v, q)| v.is_none() && matches!(q, Quality::Timeout | Quality::SkippedBackoff)), "{dead:?}");
}
