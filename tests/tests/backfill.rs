//! Meter-side backfill: two DL/T 645 meters on a line keep the totals of their last twelve
//! settlement days (the 1st of each month at 00:00, UTC+8). The collector stores each once,
//! stamped with the settlement's time and the quality `meter_memory`, and a second run stores
//! nothing again; the meter whose clock is two hours off gets `clock_unsynced` instead. With no
//! live reading in the last whole month, `analytics accounts` takes that month's electricity
//! from the two settlement totals that bound it.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use chrono::{Datelike, FixedOffset, NaiveDate, TimeZone, Utc};
use e2e::{run_collector, stored_readings, SerialPair};
use readings::Quality;

struct Bus(Child);

impl Drop for Bus {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

const PROFILE: &str = "[profile]\nname = \"energy\"\nvendor = \"test\"\nmodel = \"m\"\nprotocol = \"dlt645-2007\"\nmedium = \"electricity\"\nsource = \"s\"\nverified = false\n\n\
[[items]]\nname = \"active_energy_import\"\ndi = \"00010000\"\nquantity = \"active_energy_import\"\nkind = \"counter\"\nunit = \"kWh\"\nformat = \"XXXXXX.XX\"\n";

#[test]
fn settlement_day_totals_are_stored_once_with_the_meters_time() {
    let pair = SerialPair::start();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("servers/mixed_bus.py");
    let mut child = Command::new("python3")
        .arg(script)
        .args(["--serial", pair.b.to_str().unwrap()])
        .args(["--dlt645", "000012345678:00010000:5000", "--dlt645-clock", "000012345678:0", "--dlt645-billing", "000012345678:00010000:5000:100"])
        .args(["--dlt645", "000012345679:00010000:900", "--dlt645-clock", "000012345679:7200", "--dlt645-billing", "000012345679:00010000:900:10"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("python3 runs the bus");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "listening");
    let _bus = Bus(child);

    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("profiles")).unwrap();
    std::fs::write(dir.path().join("profiles/energy.toml"), PROFILE).unwrap();
    let dlt = |name: &str, address: &str| format!("[[dlt645.devices]]\nname = \"{name}\"\nline = \"rs485-1\"\naddress = \"{address}\"\nprofile = \"energy\"\ninterval = \"2s\"\n");
    let text = format!(
        "[gateway]\nenterprise = \"91350100M000100Y43\"\nsite = \"demo-plant\"\n\n[clock]\ntrusted = true\n\n[storage]\ndata_dir = \"data\"\n\n[sinks.parquet]\nmax_age = \"1s\"\n\n\
         [[modbus.serial_lines]]\nname = \"rs485-1\"\ndevice = \"{}\"\nbaud = 9600\nparity = \"even\"\n\n[dlt645]\nprofiles_dir = \"profiles\"\n\n{}{}",
        pair.a.display(),
        dlt("main-incomer", "000012345678"),
        dlt("boundary-drifting", "000012345679"),
    );
    let config = dir.path().join("collector.toml");
    std::fs::write(&config, text).unwrap();

    // The 1st of each of the last twelve months at 00:00 in UTC+8, newest first.
    let cst = FixedOffset::east_opt(8 * 3600).unwrap();
    let today = Utc::now().with_timezone(&cst).date_naive();
    let starts: Vec<i64> = (0..12)
        .map(|n| {
            let months = today.year() * 12 + today.month0() as i32 - n;
            let first = NaiveDate::from_ymd_opt(months.div_euclid(12), months.rem_euclid(12) as u32 + 1, 1).unwrap();
            cst.from_local_datetime(&first.and_hms_opt(0, 0, 0).unwrap()).unwrap().timestamp_millis()
        })
        .collect();

    for run in 0..2 {
        // Polls fall on wall-clock multiples of the interval: a 2 s interval puts at least two
        // live polls in a 5 s run wherever it starts (a 5 s interval in a 4 s run could miss).
        let out = run_collector(&config, "5s");
        assert!(out.status.success(), "run {run}");
        let stored = stored_readings(dir.path());
        let memory = |meter: &str| -> Vec<(i64, Option<f64>, Quality)> {
            let mut v: Vec<_> = stored
                .iter()
                .filter(|r| r.meter.as_str() == meter && matches!(r.quality, Quality::MeterMemory | Quality::ClockUnsynced))
                .map(|r| (r.time.timestamp_millis(), r.value, r.quality))
                .collect();
            v.sort_by_key(|x| std::cmp::Reverse(x.0));
            v
        };
        let good = memory("main-incomer");
        let want: Vec<(i64, Option<f64>, Quality)> = starts.iter().enumerate().map(|(i, t)| (*t, Some(5000.0 - 100.0 * (i + 1) as f64), Quality::MeterMemory)).collect();
        assert_eq!(good, want, "run {run}: twelve settlement totals, each once");
        let drifting = memory("boundary-drifting");
        assert_eq!(drifting.len(), 12, "run {run}: {drifting:?}");
        assert!(drifting.iter().all(|(_, _, q)| *q == Quality::ClockUnsynced), "a meter clock 2 h off: {drifting:?}");
        // The live readings go on beside them.
        assert!(stored.iter().any(|r| r.meter.as_str() == "main-incomer" && r.quality == Quality::Good && r.value == Some(5000.0)));
    }

    // The demo plant of config/analytics.example.toml: main-incomer is its boundary meter. The
    // last whole month is bounded by settlements 1 and 2: 4900 - 4800 = 100 kWh.
    let month = |t: i64| chrono::DateTime::from_timestamp_millis(t).unwrap().with_timezone(&cst).format("%Y-%m-%d").to_string();
    let reference = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/analytics.example.toml");
    let out = dir.path().join("accounts");
    let run = Command::new(e2e::bin("analytics"))
        .args(["accounts", "--config"])
        .arg(&reference)
        .args(["--store"])
        .arg(dir.path().join("data/readings"))
        .args(["--from", &month(starts[1]), "--to", &month(starts[0]), "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let csv = std::fs::read_to_string(out.join("accounts.csv")).unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let row: Vec<&str> = lines.next().unwrap().split(',').collect();
    let kwh: f64 = row[header.iter().position(|h| *h == "electricity_net_kwh").unwrap()].parse().unwrap();
    assert_eq!(kwh, 100.0, "{csv}");
}
